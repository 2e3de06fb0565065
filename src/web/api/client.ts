/**
 * The console's only way to the server: HTTP API v1 (docs/http-api.md), same origin, with the signed-in
 * key in `Authorization: Bearer`. Errors become {@link ApiError} with the body's code; a 401 signs
 * the user out (see auth.ts); a network failure flips the connection banner (see connection.ts).
 */
import type { SessionEvent, SessionHeader, SessionStatus } from "../../core/model.ts";
import { currentKey, expireSignIn } from "./auth.ts";
import { connection } from "./connection.ts";

export type Session = SessionHeader;
export type FrontdeskEvent = SessionEvent;
export type { SessionStatus };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The server could not be reached (or answered 502-504): retried, never shown as a hard error. */
export class NetworkError extends Error {
  constructor(message = "The server cannot be reached") {
    super(message);
    this.name = "NetworkError";
  }
}

export type Query = Record<string, string | number | readonly string[] | undefined | null>;

export interface RequestOptions {
  method?: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Sign-in checks a key itself: a 401 there is an answer, not an expiry. */
  noSignOut?: boolean;
  key?: string;
}

export const isAbort = (error: unknown): boolean => error instanceof DOMException && error.name === "AbortError";

export function urlOf(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const item of value) params.append(name, item);
    else params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export const sessionPath = (id: string, rest = ""): string => `/v1/sessions/${encodeURIComponent(id)}${rest}`;

async function errorOf(response: Response): Promise<ApiError> {
  let code = "internal";
  let message = `The server answered ${response.status}`;
  let details: Record<string, unknown> = {};
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string; details?: unknown } };
    if (body?.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      if (body.error.details && typeof body.error.details === "object") {
        details = body.error.details as Record<string, unknown>;
      }
    }
  } catch {
    // Not our error body (a proxy in between): keep the status line.
  }
  return new ApiError(response.status, code, message, details);
}

/** Sends one request; resolves with the raw response when it is a 2xx, else throws. */
export async function send(path: string, options: RequestOptions = {}): Promise<Response> {
  const key = options.key ?? currentKey();
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (key) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(urlOf(path, options.query), {
      method: options.method ?? "GET",
      headers,
      body,
      signal: options.signal,
      cache: "no-store",
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    connection.reportFailure();
    throw new NetworkError();
  }
  if (response.status >= 502 && response.status <= 504) {
    connection.reportFailure();
    throw new NetworkError(`The server answered ${response.status}`);
  }
  connection.reportSuccess();
  if (response.ok) return response;
  const error = await errorOf(response);
  if (error.status === 401 && !options.noSignOut) expireSignIn(error.message);
  throw error;
}

/** JSON request → JSON answer, with the ETag when there is one. */
export async function request<T>(
  path: string,
  options: RequestOptions = {},
): Promise<{ data: T; etag: string | null }> {
  const response = await send(path, options);
  const etag = response.headers.get("etag");
  if (response.status === 204) return { data: undefined as T, etag };
  return { data: (await response.json()) as T, etag };
}

export const getJson = async <T>(path: string, options: RequestOptions = {}): Promise<T> =>
  (await request<T>(path, options)).data;

export interface SessionPage {
  items: Session[];
  nextCursor: string | null;
}

export interface EventPage {
  items: FrontdeskEvent[];
  nextAfter: number | null;
}

/** `?userId=` names the owner: admin keys act on any user's session; a user's own id is always allowed. */
export const ownerQuery = (userId: string | null | undefined): Query => (userId ? { userId } : {});

export const describeError = (error: unknown): string => {
  if (error instanceof ApiError) return error.message;
  if (error instanceof NetworkError) return "The server cannot be reached right now.";
  if (error instanceof Error) return error.message;
  return String(error);
};
