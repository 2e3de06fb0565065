/**
 * The Redis key layout (docs/stores/redis.md has the table). The store's sessions are spread over
 * `buckets` hash tags: every key of one owner (its sessions, their events and idempotency records,
 * its `user:` scope and its own indexes) carries its bucket's tag, and so does that bucket's share
 * of the namespace-wide indexes and of the expiry index. On Redis Cluster a bucket is one slot, so
 * every write a session makes with its owner's state is one single-slot script, atomic with its
 * index entries; a namespace-wide listing or a sweep reads every bucket. Owner-less sessions are
 * spread by their id. Only the `app:` scope and the owner-less `user:` scope are namespace-wide and
 * live outside the buckets (commands.ts commits them in two phases on a Cluster).
 *
 * Segments are escaped so that `:`, `{`, `}` and `#` never appear raw inside one, which keeps the
 * layout injective: two different session keys can never share a Redis key.
 */
import { FrontdeskError } from "../../core/errors.ts";
import { LruMap } from "../../core/lru-map.ts";
import { type SessionKey, sessionKeyId } from "../../core/model.ts";
import { clusterSlot } from "./slots.ts";

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
  /** Pub/sub channel for commit hints; it shares the session's slot, so a Cluster's scripts can SPUBLISH it. */
  readonly channel: string;
  /** ZSETs of the namespace (the bucket's share), member {@link member}, score createdAt / updatedAt. */
  readonly namespaceCreated: string;
  readonly namespaceUpdated: string;
  /** ZSETs of the owner in the namespace: createdAt, updatedAt, expiresAt (+inf = never). */
  readonly ownerCreated: string;
  readonly ownerUpdated: string;
  readonly ownerExpiry: string;
  /** ZSET of the bucket's sessions by expiresAt, member {@link ref}, for sweep. */
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
  readonly prefix: string;
  /** How many buckets the sessions are spread over: fixed for the store's life (the layout marker keeps it). */
  readonly buckets: number;
  session(key: SessionKey): SessionKeys;
  userScope(namespace: string, userId: string | null): ScopeKeys;
  appScope(namespace: string): ScopeKeys;
  /** Whether a scope's keys share the session's slot, so the commit script can write them itself. */
  scopeInSessionSlot(key: SessionKey, scope: "user" | "app"): boolean;
  /**
   * The indexes `list` walks, one per bucket it can hold entries in: the owner's single one when the
   * query names an owner, else every bucket's share of the namespace's (or of the owner-less sessions').
   */
  listIndexes(namespace: string, userId: string | null | undefined, orderBy: "createdAt" | "updatedAt"): string[];
  /** The owner's expiry indexes (every bucket's for the owner-less), for `count`. */
  ownerExpiries(namespace: string, userId: string | null): string[];
  /** Every bucket's expiry index, for `sweep`. */
  readonly expiries: readonly string[];
  /** A two-phase commit's decision record, in the session's slot (commands.ts). */
  decision(key: SessionKey, transaction: string): string;
  /** The lease a two-phase commit holds on an out-of-slot scope while it commits (commands.ts). */
  scopeLease(scope: ScopeKeys): string;
  /** The string key that records the layout and the bucket count (connection.ts checks it at startup). */
  readonly layoutMarker: string;
  readonly apiKeys: ApiKeyKeys;
  /** The session a namespace/owner index member points at; undefined when malformed. */
  parseMember(namespace: string, member: string): SessionKey | undefined;
  /** The session an expiry index member points at; undefined when malformed. */
  parseRef(ref: string): SessionKey | undefined;
}

/** The largest bucket count: one bucket per Cluster slot. */
export const MAX_BUCKETS = 16_384;

export function createKeyspace(prefix: string, buckets = 1): Keyspace {
  if (prefix.length === 0 || /[{}\s]/.test(prefix)) {
    throw new FrontdeskError(
      "invalid_request",
      "The Redis keyPrefix must be non-empty, without braces or whitespace (they would break hash tags)",
    );
  }
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw new FrontdeskError(
      "invalid_request",
      `The Redis store option buckets must be a whole number from 1 to ${MAX_BUCKETS}`,
    );
  }
  const tags = bucketTags(buckets);
  const bucketBase = (bucket: number): string => `${prefix}:{${tags[bucket]}}`;
  const bases = tags.map((_, bucket) => bucketBase(bucket));
  const ownerBucket = (namespace: string, userId: string): number => bucketOf(`${namespace}\u0000${userId}`, buckets);
  const sessionBucket = (key: SessionKey): number =>
    key.userId === null
      ? bucketOf(`${key.namespace}\u0000\u0000${key.id}`, buckets)
      : ownerBucket(key.namespace, key.userId);
  const ownerPart = (namespace: string, userId: string | null): string =>
    `o:${escapeSegment(namespace)}:${ownerSegment(userId)}`;
  const nsPart = (namespace: string): string => `n:${escapeSegment(namespace)}`;
  // Owner-less sessions are spread over every bucket, and so are their owner indexes.
  const ownerBases = (namespace: string, userId: string | null): readonly string[] =>
    userId === null ? bases : [bases[ownerBucket(namespace, userId)] as string];
  const scopeKeys = (base: string): ScopeKeys => ({ state: `${base}:state`, version: `${base}:version` });

  return {
    prefix,
    buckets,
    session(key) {
      const member = `${ownerSegment(key.userId)}:${escapeSegment(key.id)}`;
      const ref = `${escapeSegment(key.namespace)}:${member}`;
      const bucket = bases[sessionBucket(key)] as string;
      const base = `${bucket}:s:${ref}`;
      const ownerBase = `${bucket}:${ownerPart(key.namespace, key.userId)}`;
      const nsBase = `${bucket}:${nsPart(key.namespace)}`;
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
        expiry: `${bucket}:x`,
        member,
        ref,
      };
    },
    userScope(namespace, userId) {
      // The owner-less scope is shared by sessions in every bucket, so it has a slot of its own.
      if (userId === null) return scopeKeys(`${prefix}:{u:${escapeSegment(namespace)}:${NULL_OWNER}}`);
      return scopeKeys(
        `${bases[ownerBucket(namespace, userId)]}:u:${escapeSegment(namespace)}:${escapeSegment(userId)}`,
      );
    },
    appScope: (namespace) => scopeKeys(`${prefix}:{a:${escapeSegment(namespace)}}`),
    scopeInSessionSlot: (key, scope) => scope === "user" && key.userId !== null,
    listIndexes(namespace, userId, orderBy) {
      const suffix = orderBy === "createdAt" ? "created" : "updated";
      if (userId === undefined) return bases.map((base) => `${base}:${nsPart(namespace)}:${suffix}`);
      return ownerBases(namespace, userId).map((base) => `${base}:${ownerPart(namespace, userId)}:${suffix}`);
    },
    ownerExpiries: (namespace, userId) =>
      ownerBases(namespace, userId).map((base) => `${base}:${ownerPart(namespace, userId)}:expiry`),
    expiries: bases.map((base) => `${base}:x`),
    decision: (key, transaction) => `${bases[sessionBucket(key)]}:tx:${escapeSegment(transaction)}`,
    scopeLease: (scope) => `${scope.state.slice(0, -":state".length)}:lease`,
    layoutMarker: `${prefix}:layout`,
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

/** FNV-1a over the UTF-16 code units: stable across processes and versions, which the layout needs. */
const bucketOf = (text: string, buckets: number): number => {
  if (buckets === 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
};

/** Redis Cluster's slot count. */
const SLOTS = 16_384;
const tagTables = new Map<number, readonly string[]>();

/**
 * One hash tag per bucket, each hashing to its own Cluster slot, evenly spaced over the 16,384 so
 * that buckets spread evenly over masters that own contiguous slot ranges (redis-cli's default).
 * Bucket b's tag is the first `t<i>` whose slot is b's; found once per bucket count (~100k CRC16s
 * for 256 buckets, a few milliseconds). The tags are part of the stored layout: never change this.
 */
export const bucketTags = (buckets: number): readonly string[] => {
  const known = tagTables.get(buckets);
  if (known) return known;
  if (buckets === 1) return ["t"];
  const wanted = new Map<number, number>();
  for (let bucket = 0; bucket < buckets; bucket++) wanted.set(Math.floor((bucket * SLOTS) / buckets), bucket);
  const tags: string[] = new Array(buckets);
  for (let i = 0; wanted.size > 0; i++) {
    const tag = `t${i}`;
    const bucket = wanted.get(clusterSlot(tag));
    if (bucket === undefined) continue;
    tags[bucket] = tag;
    wanted.delete(clusterSlot(tag));
  }
  tagTables.set(buckets, tags);
  return tags;
};

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
