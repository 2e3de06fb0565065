/**
 * Who is calling. Keys travel only in `Authorization: Bearer <key>` (or, for browsers opening a
 * WebSocket, as the subprotocol `frontdesk.bearer.<key>`), never in a URL. Lookups go by the key's
 * SHA-256; the found record's hash is compared in constant time. Lookups are cached for at most
 * `cacheTtlMs` so a key revoked on another instance stops working within that time.
 */
import type { Clock } from "../core/clock.ts";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import { assertUserId } from "../core/ids.ts";
import { LruMap } from "../core/lru-map.ts";
import type { ApiKeyRecord, SessionStore } from "../stores/types.ts";
import { API_KEY_PATTERN, hashApiKey, SHA256_HEX, sameHexDigest } from "./api-keys.ts";

/** The caller of one request: always a user, possibly an admin. */
export interface Principal {
  readonly keyId: string;
  readonly userId: string;
  readonly admin: boolean;
  /** The key's own request rate (`keys create --rate-limit`); null: the server's default. */
  readonly requestsPerSecond: number | null;
}

/** Subprotocol prefix carrying a key on a browser WebSocket. */
export const WS_BEARER_PROTOCOL_PREFIX = "frontdesk.bearer.";
/** The subprotocol the server selects for WebSocket clients. */
export const WS_PROTOCOL = "frontdesk.v1";

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The realm every `WWW-Authenticate` challenge names (MCP's included). */
export const AUTH_REALM = "frontdesk";
const CHALLENGE = `Bearer realm="${AUTH_REALM}"`;
/** Refusals of a key that was presented but is not (or no longer) a live key. */
const INVALID_TOKEN = new WeakSet<object>();

export const unauthorized = (message = "A valid API key is required: Authorization: Bearer <key>"): FrontdeskError =>
  new FrontdeskError("unauthorized", message);

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 9110 §11.6.1, RFC 6750 §3): a key that was sent
 * but is unknown, revoked or malformed adds `error="invalid_token"`; a request without one gets
 * the bare challenge, which says only which scheme to use.
 */
export const challengeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && INVALID_TOKEN.has(error)
    ? `${CHALLENGE}, error="invalid_token", error_description="The API key is unknown, revoked or malformed"`
    : CHALLENGE;

/** The key in an Authorization header, or in a WebSocket subprotocol list; undefined when none. */
export function credentialOf(
  headers: Record<string, string | string[] | undefined>,
  websocket: boolean,
): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === "string" && authorization.length > 0) {
    const match = BEARER.exec(authorization);
    if (!match) throw unauthorized("The Authorization header must be: Bearer <key>");
    return match[1];
  }
  if (websocket) {
    const offered = headers["sec-websocket-protocol"];
    const list = (Array.isArray(offered) ? offered.join(",") : (offered ?? "")).split(",").map((p) => p.trim());
    const carrying = list.filter((p) => p.startsWith(WS_BEARER_PROTOCOL_PREFIX));
    if (carrying.length > 1) throw unauthorized("Offer one frontdesk.bearer.<key> subprotocol");
    if (carrying[0] !== undefined) return carrying[0].slice(WS_BEARER_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

/** A live key as the cache keeps it: who it is, and the stored hash for the constant-time check. */
interface KnownKey {
  readonly principal: Principal;
  /** The stored SHA-256, lowercase hex. */
  readonly hash: string;
}

interface CacheEntry {
  readonly at: number;
  readonly lookup: Promise<KnownKey | null>;
  /** Set once the lookup has answered (null: no usable key), so later requests need no promise. */
  known?: KnownKey | null;
}

export interface AuthenticatorOptions {
  store: SessionStore;
  clock: Clock;
  /** How long a lookup (hit or miss) is reused. @default 500 */
  cacheTtlMs?: number;
  /** Lookups kept. @default 10_000 */
  maxEntries?: number;
}

const unknownKey = (): FrontdeskError => {
  const error = unauthorized("Unknown or revoked API key");
  INVALID_TOKEN.add(error);
  return error;
};

/** A rate an admin stored with the key; anything else leaves the key on the server's default. */
const ownRateOf = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? value : null;

/** Fail closed: anything short of a live, well-formed record is no key at all. */
function knownKeyOf(record: ApiKeyRecord | undefined): KnownKey | null {
  if (!record || record.revokedAt !== null || !SHA256_HEX.test(record.hash)) return null;
  let userId: string;
  try {
    userId = assertUserId(record.userId);
  } catch {
    return null;
  }
  const principal: Principal = Object.freeze({
    keyId: record.id,
    userId,
    admin: record.admin === true,
    requestsPerSecond: ownRateOf(record.requestsPerSecond),
  });
  return { principal, hash: record.hash };
}

export class Authenticator {
  private readonly cache: LruMap<string, CacheEntry>;
  private readonly store: SessionStore;
  private readonly clock: Clock;
  private readonly cacheTtlMs: number;

  constructor(options: AuthenticatorOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.cacheTtlMs = options.cacheTtlMs ?? 500;
    this.cache = new LruMap(options.maxEntries ?? 10_000);
  }

  /** The principal of a presented key. Rejects with `unauthorized` for no, malformed, unknown or revoked keys. */
  async authenticate(key: string | undefined): Promise<Principal> {
    return this.resolve(key);
  }

  /**
   * {@link authenticate} for the request path: answers at once (or throws) when the key's lookup is
   * cached and settled, and returns a promise only while the store is being asked.
   */
  resolve(key: string | undefined): Principal | Promise<Principal> {
    if (key === undefined) throw unauthorized();
    if (!API_KEY_PATTERN.test(key)) throw unknownKey();
    const digest = hashApiKey(key);
    const entry = this.lookup(digest);
    if (entry.known !== undefined) return principalMatching(entry.known, digest);
    return entry.lookup.then((known) => principalMatching(known, digest));
  }

  private lookup(hash: string): CacheEntry {
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    if (cached && now - cached.at < this.cacheTtlMs && now >= cached.at) return cached;
    const entry: CacheEntry = {
      at: now,
      // Promise.resolve: a store may answer with any thenable, and the request hook tells a
      // pending answer from a settled one by `instanceof Promise`.
      lookup: Promise.resolve(this.store.findApiKey(hash)).then(
        (record) => {
          entry.known = knownKeyOf(record);
          return entry.known;
        },
        (error: unknown) => {
          // A failed lookup (backend outage) is not remembered: the next request asks again.
          if (this.cache.get(hash) === entry) this.cache.delete(hash);
          throw isFrontdeskError(error)
            ? error
            : new FrontdeskError("unavailable", "The key store is unavailable", { cause: error });
        },
      ),
    };
    this.cache.set(hash, entry);
    return entry;
  }
}

/** The found record's hash is compared with the presented key's in constant time, even though the lookup went by it. */
function principalMatching(known: KnownKey | null, digest: string): Principal {
  if (!known || !sameHexDigest(known.hash, digest)) throw unknownKey();
  return known.principal;
}

/**
 * The user a request acts for. Non-admin keys always act for their own user; asking for another
 * is `forbidden` (it says nothing about whether any session exists). Admin keys act for the user
 * named by `?userId=` or `X-Frontdesk-User`, else for their own.
 */
export function actingUserOf(principal: Principal, query: unknown, headers: Record<string, unknown>): string {
  const fromQuery = (query as { userId?: unknown } | undefined)?.userId;
  const fromHeader = headers["x-frontdesk-user"];
  if (fromQuery !== undefined && fromHeader !== undefined && fromQuery !== fromHeader) {
    throw new FrontdeskError("invalid_request", "userId and X-Frontdesk-User name different users");
  }
  const requested = fromQuery ?? fromHeader;
  if (requested === undefined || requested === principal.userId) return principal.userId;
  if (!principal.admin) throw new FrontdeskError("forbidden", "Only admin keys may act for another user");
  return assertUserId(requested);
}

/** For listing: admins without a named user see every owner (`undefined`); everyone else sees their own. */
export function listingUserOf(
  principal: Principal,
  query: unknown,
  headers: Record<string, unknown>,
): string | undefined {
  const named =
    (query as { userId?: unknown } | undefined)?.userId !== undefined || headers["x-frontdesk-user"] !== undefined;
  if (principal.admin && !named) return undefined;
  return actingUserOf(principal, query, headers);
}
