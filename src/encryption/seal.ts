/**
 * One sealed value: AES-256-GCM over the JSON text of a value, under a data key, bound to its place
 * by additional authenticated data (AAD). The stored form is a plain string, so it fits wherever the
 * value stood (a state value, a metadata value, a field of an event) on every store:
 *
 * ```
 * fd:enc:1:<dataKeyId>:<base64url(iv ‖ ciphertext ‖ tag)>
 * ```
 *
 * The data key id says which key opens it without a lookup table; the AAD (namespace, owner,
 * session, field) is not stored: the reader rebuilds it from where it found the value, so a value
 * copied into another session, another field or another user's data does not open.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { FrontdeskError } from "../core/errors.ts";
import type { SessionKey } from "../core/model.ts";

export const SEALED_PREFIX = "fd:enc:1:";
const ALGORITHM = "aes-256-gcm";
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const DATA_KEY_BYTES = 32;

/** An unwrapped data key and the id sealed values name it by. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * Random IVs drawn in blocks: one `randomFillSync` per 1024 seals instead of one per seal. A random
 * 96-bit IV is safe for 2^32 seals under one key (NIST SP 800-38D), far beyond one user's history.
 */
const ivPool = Buffer.alloc(IV_BYTES * 1024);
let ivOffset = ivPool.length;
const nextIv = (): Buffer => {
  if (ivOffset + IV_BYTES > ivPool.length) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
};

/** True for a string in the sealed form; every other value is plaintext (written before encryption). */
export const isSealed = (value: unknown): value is string =>
  typeof value === "string" && value.startsWith(SEALED_PREFIX);

/** The id of the data key that sealed `sealed`, or undefined when the string is malformed. */
export const dataKeyIdOf = (sealed: string): string | undefined => {
  const end = sealed.indexOf(":", SEALED_PREFIX.length);
  return end > SEALED_PREFIX.length ? sealed.slice(SEALED_PREFIX.length, end) : undefined;
};

/** Seals `text` (one GCM operation). */
export function sealText(key: DataKey, aad: string, text: string): string {
  const iv = nextIv();
  const cipher = createCipheriv(ALGORITHM, key.key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = cipher.update(text, "utf8");
  const last = cipher.final();
  const sealed = Buffer.concat([iv, body, last, cipher.getAuthTag()]);
  return `${SEALED_PREFIX}${key.id}:${sealed.toString("base64url")}`;
}

/** Seals the JSON text of `value`. */
export const sealJson = (key: DataKey, aad: string, value: unknown): string =>
  sealText(key, aad, JSON.stringify(value));

export const integrityFailure = (): FrontdeskError =>
  new FrontdeskError(
    "internal",
    "A sealed value failed its integrity check: it was altered, or moved from the place it was written to",
    { details: { reason: "integrity" } },
  );

/** Opens a text sealed by {@link sealText} at the same `aad`; `internal` when it does not authenticate. */
export function unsealText(key: Buffer, aad: string, sealed: string): string {
  const start = sealed.indexOf(":", SEALED_PREFIX.length) + 1;
  const bytes = Buffer.from(sealed.slice(start), "base64url");
  if (start === 0 || bytes.length < IV_BYTES + TAG_BYTES) throw integrityFailure();
  try {
    const decipher = createDecipheriv(ALGORITHM, key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return (
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES), undefined, "utf8") + decipher.final("utf8")
    );
  } catch {
    throw integrityFailure();
  }
}

/** Opens a value sealed by {@link sealJson}. */
export function unsealJson(key: Buffer, aad: string, sealed: string): unknown {
  const text = unsealText(key, aad, sealed);
  try {
    return JSON.parse(text);
  } catch {
    throw integrityFailure();
  }
}

// The places a value is bound to. No namespace, user id, session id or event id holds a NUL, so
// joining on it names exactly one place; a null owner is "" (which no user id can be).
const place = (...parts: string[]): string => parts.join("\u0000");

/** An event of a session, by its id (seqs are given by the store, after sealing). */
export const eventPlace = (key: SessionKey, eventId: string): string =>
  place("fd1", "event", key.namespace, key.userId ?? "", key.id, eventId);

/** A value of a session's own state or metadata, by its key. */
export const headerPlace = (key: SessionKey, field: "state" | "metadata", name: string): string =>
  place("fd1", field, key.namespace, key.userId ?? "", key.id, name);

/** A value of the shared `user:` state of one owner, or of the namespace's `app:` state. */
export const scopePlace = (namespace: string, scope: "user" | "app", userId: string | null, name: string): string =>
  place("fd1", scope, namespace, scope === "app" ? "" : (userId ?? ""), name);
