import { randomBytes, randomUUID } from "node:crypto";
import { FrontdeskError } from "./errors.ts";

/** Client-chosen session ids. Also what keeps ids safe as path segments. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** User ids may be e-mail-like; same first-character rule so none can be `.`/`..`. */
export const USER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;
export const NAMESPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** 128 bits from the CSPRNG, hex so it always matches SESSION_ID_PATTERN; no time or counter part. */
export const newSessionId = (): string => randomBytes(16).toString("hex");

/** Event and invocation ids: unique, not secret; randomUUID draws from a cached entropy pool, so appends stay cheap. */
export const newEventId = (): string => `ev_${randomUUID()}`;

const check = (kind: string, pattern: RegExp, value: unknown): string => {
  if (typeof value !== "string" || !pattern.test(value)) {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 40)) : typeof value;
    throw new FrontdeskError("invalid_request", `Invalid ${kind} ${shown}: must match ${pattern.source}`);
  }
  return value;
};

export const assertSessionId = (value: unknown): string => check("session id", SESSION_ID_PATTERN, value);
export const assertUserId = (value: unknown): string => check("user id", USER_ID_PATTERN, value);
export const assertNamespace = (value: unknown): string => check("namespace", NAMESPACE_PATTERN, value);
export const assertIdempotencyKey = (value: unknown): string =>
  check("idempotency key", IDEMPOTENCY_KEY_PATTERN, value);
