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
import { API_KEY_PATTERN, hashApiKey, sameHash } from "./api-keys.ts";

/** The caller of one request: always a user, possibly an admin. */
export interface Principal {
  readonly keyId: string;
  readonly userId: string;
  readonly admin: boolean;
}

/** Subprotocol prefix carrying a key on a browser WebSocket. */
export const WS_BEARER_PROTOCOL_PREFIX = "frontdesk.bearer.";
/** The subprotocol the server selects for WebSocket clients. */
export const WS_PROTOCOL = "frontdesk.v1";

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

export const unauthorized = (message = "A valid API key is required: Authorization: Bearer <key>"): FrontdeskError =>
  new FrontdeskError("unauthorized", message);

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

interface CacheEntry {
  at: number;
  lookup: Promise<ApiKeyRecord | undefined>;
}

export interface AuthenticatorOptions {
  store: SessionStore;
  clock: Clock;
  /** How long a lookup (hit or miss) is reused. @default 500 */
  cacheTtlMs?: number;
  /** Lookups kept. @default 10_000 */
  maxEntries?: number;
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

  /** The principal of a presented key. Throws `unauthorized` for no, malformed, unknown or revoked keys. */
  async authenticate(key: string | undefined): Promise<Principal> {
    if (key === undefined) throw unauthorized();
    if (!API_KEY_PATTERN.test(key)) throw unauthorized("Unknown or revoked API key");
    const hash = hashApiKey(key);
    const record = await this.lookup(hash);
    // Fail closed: anything short of a live, matching, well-formed record is a refusal.
    if (!record || record.revokedAt !== null || !sameHash(record.hash, hash)) {
      throw unauthorized("Unknown or revoked API key");
    }
    let userId: string;
    try {
      userId = assertUserId(record.userId);
    } catch {
      throw unauthorized("Unknown or revoked API key");
    }
    return { keyId: record.id, userId, admin: record.admin === true };
  }

  private lookup(hash: string): Promise<ApiKeyRecord | undefined> {
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    if (cached && now - cached.at < this.cacheTtlMs && now >= cached.at) return cached.lookup;
    const lookup = this.store.findApiKey(hash);
    const entry: CacheEntry = { at: now, lookup };
    this.cache.set(hash, entry);
    // A failed lookup (backend outage) is not remembered: the next request asks again.
    lookup.catch(() => {
      if (this.cache.get(hash) === entry) this.cache.delete(hash);
    });
    return lookup.catch((error: unknown) => {
      throw isFrontdeskError(error)
        ? error
        : new FrontdeskError("unavailable", "The key store is unavailable", { cause: error });
    });
  }
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
