/**
 * The Redis key layout (docs/stores/redis.md has the table). Every key of one session carries the
 * hash tag `{s:<namespace>:<owner>:<id>}`, so a session lives in one Cluster slot. Segments are
 * escaped so that `:`, `{`, `}` and `#` never appear raw inside one, which keeps the layout
 * injective: two different session keys can never share a Redis key.
 */
import { FrontdeskError } from "../../core/errors.ts";
import { LruMap } from "../../core/lru-map.ts";
import { type SessionKey, sessionKeyId } from "../../core/model.ts";

/** Stands for the `null` owner; a real owner can never encode to it because `#` is escaped. */
const NULL_OWNER = "#";

// Everything outside printable ASCII and non-ASCII, i.e. ASCII controls, space and DEL, plus the specials.
const ESCAPED = /[%:{}#]|[^!-~\u0080-\uffff]/g;

/** `%XX`-escapes the separator, the hash-tag braces, `#`, `%` itself and ASCII controls/space. */
export const escapeSegment = (segment: string): string =>
  segment.replace(ESCAPED, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);

export const unescapeSegment = (segment: string): string =>
  segment.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

const ownerSegment = (userId: string | null): string => (userId === null ? NULL_OWNER : escapeSegment(userId));
const parseOwner = (segment: string): string | null => (segment === NULL_OWNER ? null : unescapeSegment(segment));

/** Every key one session owns or is indexed under. */
export interface SessionKeys {
  /**
   * HASH: `j` header JSON as the last commit wrote it, and the mutable fields on their own, laid
   * over it on read (docs/stores/redis.md lists them): `v` version, `s` lastSeq, `x` expiresAt
   * ("" = never), `a` lastAccessedAt, `u` updatedAt, `t` ttlMs, `b` absoluteExpiresAt, stats.
   * Once events were removed: `g` how many, `p` the runs of seqs still stored (scripts.ts).
   */
  readonly header: string;
  /** LIST of event JSON in seq order; seq n sits at index n - 1 until events are removed. */
  readonly events: string;
  /** HASH idempotency key → record JSON. */
  readonly idempotency: string;
  /** Pub/sub channel for commit hints (channels are not keys: no slot). */
  readonly channel: string;
  /** ZSETs of the namespace, member {@link member}, score createdAt / updatedAt. */
  readonly namespaceCreated: string;
  readonly namespaceUpdated: string;
  /** ZSETs of the owner in the namespace: createdAt, updatedAt, expiresAt (+inf = never). */
  readonly ownerCreated: string;
  readonly ownerUpdated: string;
  readonly ownerExpiry: string;
  /** ZSET of every session of the store by expiresAt, member {@link ref}, for sweep. */
  readonly expiry: string;
  /** `<owner>:<id>`: the member in namespace and owner indexes. */
  readonly member: string;
  /** `<namespace>:<owner>:<id>`: the member in the store-wide expiry index. */
  readonly ref: string;
}

export interface ScopeKeys {
  /** HASH state key → value JSON (a one-level merge patch maps onto HSET/HDEL). */
  readonly state: string;
  /** STRING integer version, absent = 0. */
  readonly version: string;
}

export interface ApiKeyKeys {
  /** HASH id → record JSON (with `revokedAt: null`). */
  readonly records: string;
  /** HASH hash → id. */
  readonly byHash: string;
  /** HASH id → revokedAt, set once. */
  readonly revoked: string;
}

/** Builds and parses the keys of one store; `prefix` is the `keyPrefix` option. */
export interface Keyspace {
  session(key: SessionKey): SessionKeys;
  userScope(namespace: string, userId: string | null): ScopeKeys;
  appScope(namespace: string): ScopeKeys;
  /** The index `list` walks: the owner's when the query names one, else the namespace's. */
  listIndex(namespace: string, userId: string | null | undefined, orderBy: "createdAt" | "updatedAt"): string;
  ownerExpiry(namespace: string, userId: string | null): string;
  readonly expiry: string;
  readonly apiKeys: ApiKeyKeys;
  /** The session a namespace/owner index member points at; undefined when malformed. */
  parseMember(namespace: string, member: string): SessionKey | undefined;
  /** The session an expiry index member points at; undefined when malformed. */
  parseRef(ref: string): SessionKey | undefined;
}

export function createKeyspace(prefix: string): Keyspace {
  if (prefix.length === 0 || /[{}\s]/.test(prefix)) {
    throw new FrontdeskError(
      "invalid_request",
      "The Redis keyPrefix must be non-empty, without braces or whitespace (they would break hash tags)",
    );
  }
  const ns = (namespace: string): string => `${prefix}:{n:${escapeSegment(namespace)}}`;
  const owner = (namespace: string, userId: string | null): string =>
    `${prefix}:{o:${escapeSegment(namespace)}:${ownerSegment(userId)}}`;
  const expiry = `${prefix}:{x}:expiry`;

  return {
    session(key) {
      const member = `${ownerSegment(key.userId)}:${escapeSegment(key.id)}`;
      const ref = `${escapeSegment(key.namespace)}:${member}`;
      const base = `${prefix}:{s:${ref}}`;
      const ownerBase = owner(key.namespace, key.userId);
      const nsBase = ns(key.namespace);
      return {
        header: `${base}:h`,
        events: `${base}:e`,
        idempotency: `${base}:i`,
        channel: `${base}:hint`,
        namespaceCreated: `${nsBase}:created`,
        namespaceUpdated: `${nsBase}:updated`,
        ownerCreated: `${ownerBase}:created`,
        ownerUpdated: `${ownerBase}:updated`,
        ownerExpiry: `${ownerBase}:expiry`,
        expiry,
        member,
        ref,
      };
    },
    userScope(namespace, userId) {
      const base = `${prefix}:{u:${escapeSegment(namespace)}:${ownerSegment(userId)}}`;
      return { state: `${base}:state`, version: `${base}:version` };
    },
    appScope(namespace) {
      const base = `${prefix}:{a:${escapeSegment(namespace)}}`;
      return { state: `${base}:state`, version: `${base}:version` };
    },
    listIndex(namespace, userId, orderBy) {
      const base = userId === undefined ? ns(namespace) : owner(namespace, userId);
      return `${base}:${orderBy === "createdAt" ? "created" : "updated"}`;
    },
    ownerExpiry: (namespace, userId) => `${owner(namespace, userId)}:expiry`,
    expiry,
    apiKeys: {
      records: `${prefix}:{k}:records`,
      byHash: `${prefix}:{k}:by-hash`,
      revoked: `${prefix}:{k}:revoked`,
    },
    parseMember(namespace, member) {
      const parts = member.split(":");
      if (parts.length !== 2) return undefined;
      return { namespace, userId: parseOwner(parts[0] as string), id: unescapeSegment(parts[1] as string) };
    },
    parseRef(ref) {
      const parts = ref.split(":");
      if (parts.length !== 3) return undefined;
      return {
        namespace: unescapeSegment(parts[0] as string),
        userId: parseOwner(parts[1] as string),
        id: unescapeSegment(parts[2] as string),
      };
    },
  };
}

/** The KEYS of APPEND, first in its argument array: {@link AppendKeys.appendKeys}. */
export const APPEND_KEYS = 7;

export interface AppendKeys extends SessionKeys {
  /** header, events, idempotency, namespace updated, owner updated, owner expiry, store expiry */
  readonly appendKeys: readonly string[];
}

/** Most-recently used sessions' key strings, so a hot session's keys are built (and escaped) once. */
const SESSION_KEYS_CACHED = 1024;

export const cachedSessionKeys = (keys: Keyspace): ((key: SessionKey) => AppendKeys) => {
  const cache = new LruMap<string, AppendKeys>(SESSION_KEYS_CACHED);
  return (key) => {
    const id = sessionKeyId(key);
    const hit = cache.get(id);
    if (hit) return hit;
    const k = keys.session(key);
    const entry: AppendKeys = {
      ...k,
      appendKeys: [k.header, k.events, k.idempotency, k.namespaceUpdated, k.ownerUpdated, k.ownerExpiry, k.expiry],
    };
    cache.set(id, entry);
    return entry;
  };
};
