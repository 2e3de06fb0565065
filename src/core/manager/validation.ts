/**
 * Checks of what callers pass in, each failing with `invalid_request` that names the value and what
 * it must be: schema parsing, counts and times, optional texts, TTLs, list cursors, and the
 * fingerprint that tells a retried idempotent append from a different one.
 */
import { createHash } from "node:crypto";
import type { z } from "zod";
import { FrontdeskError } from "../errors.ts";
import { describeIssues } from "../issues.ts";
import type { ListCursor } from "../store-contract.ts";
import type { SessionRef } from "./types.ts";

export const invalid = (message: string): FrontdeskError => new FrontdeskError("invalid_request", message);

export const parseWith = <T>(schema: z.ZodType<T>, value: unknown, what: string): T => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // A failure of the whole value reads `status: must be one of …`; one inside it names the value first.
    const described = describeIssues(parsed.error.issues, { root: what });
    throw invalid(described.startsWith(`${what}: `) ? described : `Invalid ${what}: ${described}`);
  }
  return parsed.data;
};

export const validTtl = (ttl: number | null): number | null => {
  if (ttl === null) return null;
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw invalid("A TTL is a positive whole number of milliseconds, or null for none");
  }
  return ttl;
};

export const positiveInt = (value: number, name: string): number => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${name} must be a positive whole number`);
  }
  return value;
};

export const nonNegativeInt = (value: number, name: string): number => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${name} must be a whole number ≥ 0`);
  }
  return value;
};

export const optionalTime = (value: number | undefined, name: string): number | undefined =>
  value === undefined ? undefined : nonNegativeInt(value, name);

export const optionalText = (value: string | null | undefined, name: string, max: number): string | null => {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw invalid(`${name} must be a string`);
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  return value;
};

/** The id a reference names, for a result's `sessionId` even when the reference is not valid. */
export const refId = (ref: SessionRef): string => (typeof ref === "string" ? ref : String(ref?.id ?? ""));

/** Tells a retried idempotent append (same body) from a different one under the same key. */
export const fingerprint = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex");

export const encodeCursor = (cursor: ListCursor): string => Buffer.from(JSON.stringify(cursor)).toString("base64url");

export const decodeCursor = (text: string): ListCursor => {
  try {
    const value = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as ListCursor;
    if (
      typeof value.value === "number" &&
      typeof value.id === "string" &&
      (value.userId === null || typeof value.userId === "string")
    ) {
      return { value: value.value, userId: value.userId, id: value.id };
    }
  } catch {
    // fall through to the error below
  }
  throw invalid("Invalid cursor: pass the nextCursor of a previous page unchanged");
};
