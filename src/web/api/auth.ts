/**
 * The signed-in key, kept only in this tab's sessionStorage (never localStorage, never a cookie,
 * never a URL): closing the tab forgets it, and signing out clears it at once.
 */
import { useSyncExternalStore } from "react";

export interface SignIn {
  key: string;
  /** Admin keys list every user's sessions and act on them with `?userId=`. */
  admin: boolean;
}

const STORAGE_KEY = "frontdesk.console.signIn";

let current: SignIn | null = read();
/** Why the user was signed out, shown once on the sign-in page. */
let notice: string | null = null;
const listeners = new Set<() => void>();

function read(): SignIn | null {
  try {
    const text = sessionStorage.getItem(STORAGE_KEY);
    if (!text) return null;
    const value = JSON.parse(text) as Partial<SignIn>;
    return typeof value.key === "string" ? { key: value.key, admin: value.admin === true } : null;
  } catch {
    return null;
  }
}

function emit(): void {
  for (const listener of listeners) listener();
}

export const currentKey = (): string | null => current?.key ?? null;

export function signIn(value: SignIn): void {
  current = value;
  notice = null;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
  emit();
}

export function signOut(message: string | null = null): void {
  current = null;
  notice = message;
  sessionStorage.removeItem(STORAGE_KEY);
  emit();
}

/** A 401 from any call: the key expired or was revoked. */
export function expireSignIn(serverMessage: string): void {
  if (!current) return;
  signOut(`Your API key is no longer accepted (${serverMessage.replace(/\.$/, "")}). Sign in again.`);
}

export const signInNotice = (): string | null => notice;

const subscribe = (listener: () => void): (() => void) => {
  listeners.add(listener);
  return () => listeners.delete(listener);
};

export const useSignIn = (): SignIn | null => useSyncExternalStore(subscribe, () => current);
