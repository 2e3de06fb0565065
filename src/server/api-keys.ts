/**
 * API keys: `fd_` + base64url(32 random bytes) (256 bits). The store keeps only the SHA-256 of the
 * key and a short non-secret prefix for people to tell keys apart; the key itself is shown once.
 */
import { hash as oneShotHash, randomBytes } from "node:crypto";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { FrontdeskError } from "../core/errors.ts";
import { assertUserId } from "../core/ids.ts";
import type { ApiKeyRecord, SessionStore } from "../stores/types.ts";

export type { ApiKeyRecord };

export const API_KEY_PREFIX = "fd_";
/** Exactly what {@link createApiKey} makes; anything else is refused before any store lookup. */
export const API_KEY_PATTERN = /^fd_[A-Za-z0-9_-]{43}$/;
/** Characters of the key kept in the record's `prefix`. */
export const API_KEY_PREFIX_LENGTH = 10;

/** Hex SHA-256 of the whole key: what the store keeps and looks up. */
export const hashApiKey = (key: string): string => oneShotHash("sha256", key, "hex");

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Constant-time equality of two lowercase hex SHA-256 digests: every character is compared, with
 * no branch on the data, so the time says nothing about where they differ. Works on the strings
 * themselves, because the request path would otherwise allocate two Buffers per request.
 */
export function sameHexDigest(a: string, b: string): boolean {
  if (a.length !== 64 || b.length !== 64) return false;
  let difference = 0;
  for (let i = 0; i < 64; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

export interface CreateApiKeyInput {
  /** The owner: every request made with the key is scoped to this user. */
  userId: string;
  /** Admin keys see every user's sessions. @default false */
  admin?: boolean;
  /** A note for people, e.g. "ci". @default null */
  label?: string | null;
  /**
   * Requests a second the key may make on each instance (its bucket holds twice that), in place of
   * the server's `limits.requestsPerSecond`; kept with the key, so every instance applies it.
   * @default null (the server's default)
   */
  requestsPerSecond?: number | null;
  clock?: Clock;
}

/** The most a key's own rate may be: far above what one instance serves, so in effect no limit. */
export const MAX_KEY_REQUESTS_PER_SECOND = 1_000_000;

const ownRateOf = (value: number | null | undefined): number | null => {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > MAX_KEY_REQUESTS_PER_SECOND) {
    throw new FrontdeskError(
      "invalid_request",
      `requestsPerSecond: must be a number above 0 and at most ${MAX_KEY_REQUESTS_PER_SECOND}`,
    );
  }
  return value;
};

/**
 * Creates a key and stores its hash. The returned `key` is the only copy of the secret.
 * @example const { key } = await createApiKey(store, { userId: "alice" });
 */
export async function createApiKey(
  store: SessionStore,
  input: CreateApiKeyInput,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const userId = assertUserId(input.userId);
  const label = input.label ?? null;
  if (label !== null && (typeof label !== "string" || label.length > 200 || /[\r\n]/.test(label))) {
    throw new FrontdeskError("invalid_request", "A key label is one line of at most 200 characters");
  }
  const requestsPerSecond = ownRateOf(input.requestsPerSecond);
  const key = API_KEY_PREFIX + randomBytes(32).toString("base64url");
  const record: ApiKeyRecord = {
    id: `key_${randomBytes(8).toString("hex")}`,
    hash: hashApiKey(key),
    prefix: key.slice(0, API_KEY_PREFIX_LENGTH),
    userId,
    admin: input.admin === true,
    label,
    createdAt: (input.clock ?? SYSTEM_CLOCK).now(),
    revokedAt: null,
    // Only a key with a rate of its own carries the field, as records written before it existed.
    ...(requestsPerSecond === null ? {} : { requestsPerSecond }),
  };
  await store.putApiKey(record);
  return { key, record };
}

/** Every key record (revoked ones included), oldest first. Never contains a secret. */
export async function listApiKeys(store: SessionStore): Promise<ApiKeyRecord[]> {
  return store.listApiKeys();
}

/**
 * Revokes a key named by its id (`key_…`), its prefix (`fd_…`, at least 6 characters), or the
 * whole key. False when nothing live matches; `invalid_request` when a prefix matches several
 * live keys. Other server instances stop accepting it within their cache time (≈ 500 ms).
 */
export async function revokeApiKey(
  store: SessionStore,
  idOrPrefix: string,
  clock: Clock = SYSTEM_CLOCK,
): Promise<boolean> {
  if (typeof idOrPrefix !== "string" || idOrPrefix.length === 0) {
    throw new FrontdeskError("invalid_request", "Name the key to revoke by its id or prefix");
  }
  const keys = await store.listApiKeys();
  let match = keys.find((key) => key.id === idOrPrefix);
  if (!match && API_KEY_PATTERN.test(idOrPrefix)) {
    const hash = hashApiKey(idOrPrefix);
    match = keys.find((key) => sameHexDigest(key.hash, hash));
  }
  if (!match && idOrPrefix.length >= 6) {
    const candidates = keys.filter((key) => key.revokedAt === null && key.prefix.startsWith(idOrPrefix));
    if (candidates.length > 1) {
      throw new FrontdeskError(
        "invalid_request",
        `The prefix ${idOrPrefix} matches ${candidates.length} keys: use the id`,
      );
    }
    match = candidates[0];
  }
  if (!match || match.revokedAt !== null) return false;
  return store.revokeApiKey(match.id, clock.now());
}
