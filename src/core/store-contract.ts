/**
 * The store contract: everything a backend must do, and nothing more. TTL policy, retries, stats,
 * forks, exports and views live once in `core/`, above this line.
 *
 * Every store must give the same semantics (docs/custom-store.md); `frontdesk/testing`'s
 * `describeStoreConformance` checks them and runs unchanged against every built-in store.
 *
 * Ground rules for implementers:
 * - Every read and write is keyed by the whole {@link SessionKey} `(namespace, userId, id)`.
 *   `userId === null` is its own owner, distinct from every string (stores may encode it as `""`,
 *   which no valid user id can be).
 * - "Expired" is decided by comparing `expiresAt` with the `now` the caller passes, never with the
 *   backend's own clock, so a fake clock drives TTL in tests. An expired session is never returned,
 *   listed, touched or committed to, even before `sweep` removes it. Native expiry (Redis PEXPIRE,
 *   …) may only reclaim space, later than `expiresAt`.
 * - Values handed in and out are plain JSON; a store never returns an object a caller could change
 *   stored data through: it copies or re-parses, or hands out values it deep-froze when storing.
 * - Failures of the backend itself become `FrontdeskError("unavailable", …, { cause })`; contract
 *   violations become the codes named below. Never return `false` for a failed write.
 */
import type { JsonObject, SessionEvent, SessionHeader, SessionKey, SessionStatus, StateDelta } from "./model.ts";
import type { StatsDelta } from "./state.ts";

export type StoreName = "memory" | "sqlite" | "fs" | "redis" | "postgres" | (string & {});

export interface StoreCapabilities {
  /**
   * Several processes or server instances may open the same backend at once and see each other's
   * commits (sqlite, fs, redis, postgres; not memory). The conformance suite's peer cases run only
   * when this is true, with the harness's `createPeer`.
   */
  readonly shared: boolean;
  /**
   * Its calls never wait for I/O: they do it synchronously, blocking the event loop (an embedded
   * driver such as better-sqlite3), or have none (memory). Requests that arrive during one write are
   * then only read after it, so the core lets I/O already due run before it closes a group of appends.
   */
  readonly blocking?: boolean;
}

/** A write to a shared `user:` or `app:` scope, checked and applied in the same atomic unit as its commit. */
export interface ScopedWrite {
  readonly scope: "user" | "app";
  /**
   * The scope's version the writer read (0 when the scope has never been written). A mismatch
   * fails the whole commit with `conflict`, so concurrent read-modify-writes of a shared key
   * cannot lose updates.
   */
  readonly expectedVersion: number;
  /** Keys (with their `user:`/`app:` prefix) to set; `null` deletes. */
  readonly delta: StateDelta;
}

export interface ScopedState {
  readonly state: JsonObject;
  /** +1 per committed write; 0 when never written. */
  readonly version: number;
}

/** Records an idempotent append so a retry returns the first result. */
export interface IdempotencyRecord {
  readonly key: string;
  /** A hash of the request body: the same key with another body is a `conflict`. */
  readonly fingerprint: string;
  /** The seqs the first request appended, and the version it produced. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly version: number;
  readonly at: number;
}

/**
 * The one write primitive. Applied whole or not at all:
 * 1. `expectedVersion === 0` (create): succeeds when no session has the key, or the one that has
 *    it is expired at `now` (that one is removed with its events first). Otherwise `conflict`.
 * 2. `expectedVersion > 0`: the session must exist, be unexpired at `now` and be at exactly that
 *    version. Absent or expired: `not_found`. Another version: `conflict` with
 *    `details.currentVersion`.
 * A store may refuse a malformed commit (a header naming another key, a version other than
 * `expectedVersion + 1`, events that do not continue the log) with `invalid_request`
 * (`stores/shared/commit-shape.ts` checks exactly this).
 * 3. Then: the header is replaced by `header`, `events` are stored (their seqs are exactly
 *    `previousLastSeq + 1 … header.lastSeq`, gapless, computed by the core), `scoped` writes are
 *    checked and applied, `idempotency` is recorded. Subscribers of the key get a hint.
 */
export interface Commit {
  readonly key: SessionKey;
  readonly expectedVersion: number;
  /** The complete new header; `header.version === expectedVersion + 1`. */
  readonly header: SessionHeader;
  readonly events: readonly SessionEvent[];
  readonly scoped?: readonly ScopedWrite[];
  readonly idempotency?: IdempotencyRecord;
  /**
   * Stored events removed in the same atomic unit: every seq with `after < seq < before`
   * (pruning). Applied before `rewrites`. Seqs are never reused: the header's `lastSeq` does not
   * move back, and later events keep their seqs.
   */
  readonly removeEvents?: { readonly after: number; readonly before: number };
  /**
   * Events that replace the stored event with the same seq, in the same atomic unit: redaction
   * tombstones, the `frontdesk.pruned` marker, content sealed in place. Each seq is ≥ 1 and ≤ the
   * previous `lastSeq`. After the commit no byte of the replaced event may be readable through the
   * store, and an embedded store's {@link SessionStore.scrub} makes it unreadable on disk too.
   */
  readonly rewrites?: readonly SessionEvent[];
  /** The caller's clock, for the expiry check. */
  readonly now: number;
}

/**
 * Makes {@link SessionStore.delete} a compare-and-delete: the check and the removal are one atomic
 * unit, so a commit or delete racing it lands wholly before (the check then
 * sees its version) or wholly after (it then finds the session gone).
 */
export interface DeleteCondition {
  /** Delete only a session at exactly this version; another version is `conflict`. */
  readonly expectedVersion: number;
  /** The caller's clock, for the expiry check: a session expired at `now` counts as absent. */
  readonly now: number;
}

/**
 * A plain append for {@link SessionStore.append}: events that change neither state nor status, so
 * the store can apply the whole change server-side. The core sends one only when it would commit
 * exactly this through {@link Commit}: the outcome must be the one `get` + `commit` would give.
 */
export interface AppendRequest {
  readonly key: SessionKey;
  /**
   * The events without their seq. The store gives them `previousLastSeq + 1 …` in order and stores
   * each as `{ seq, ...event }` (seq first, then the event's own keys in their order).
   */
  readonly events: readonly Omit<SessionEvent, "seq">[];
  /** What the events add to the header's stats (`applyStatsDelta` is the meaning). */
  readonly stats: StatsDelta;
  /** When set, a live session at another version is not changed: outcome `version_mismatch`. */
  readonly expectedVersion?: number;
  /** A live session whose `lastSeq + events.length` would exceed this is not changed: `full`. */
  readonly maxEventsPerSession: number;
  /**
   * When set and the key already has a record: outcome `replayed` with it, nothing changed. Else
   * the append stores `{ key, fingerprint, firstSeq, lastSeq, version, at: now }` with it.
   */
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
  /** The caller's clock: the expiry check, and the new `updatedAt`/`lastAccessedAt`. */
  readonly now: number;
}

/**
 * The verdict of {@link SessionStore.append}, checked in this order: absent or expired at `now` →
 * `not_found`; an idempotency record for the key → `replayed`; over the event limit → `full`;
 * another version than `expectedVersion` → `version_mismatch`; else `appended`. Only `appended`
 * changed anything.
 */
export type AppendOutcome =
  | { readonly outcome: "appended"; readonly version: number; readonly lastSeq: number }
  | { readonly outcome: "replayed"; readonly record: IdempotencyRecord }
  | { readonly outcome: "not_found" }
  | { readonly outcome: "full" }
  | { readonly outcome: "version_mismatch"; readonly currentVersion: number };

export interface CommitResult {
  readonly version: number;
  readonly lastSeq: number;
}

export interface EventRange {
  /** Only events with seq > after. @default 0 */
  readonly after?: number;
  /** Only events with seq < before. */
  readonly before?: number;
  /** At most this many. @default all */
  readonly limit?: number;
  /** Only these types. */
  readonly types?: readonly string[];
  /**
   * `desc` returns the newest first, so "the last k events" costs O(k) whatever the history's
   * length. @default "asc"
   */
  readonly order?: "asc" | "desc";
}

export interface ListCursor {
  /** The order field's value of the last item returned. */
  readonly value: number;
  readonly userId: string | null;
  readonly id: string;
}

export interface ListQuery {
  readonly namespace: string;
  /** `undefined`: every owner (admin views); otherwise exactly this owner (`null` included). */
  readonly userId?: string | null;
  readonly status?: readonly SessionStatus[];
  /** Every one of these tags must be present. */
  readonly tags?: readonly string[];
  /** Case-insensitive substring of the title or the purpose. */
  readonly text?: string;
  readonly createdAfter?: number;
  readonly createdBefore?: number;
  readonly updatedAfter?: number;
  readonly updatedBefore?: number;
  readonly orderBy: "createdAt" | "updatedAt";
  readonly order: "asc" | "desc";
  readonly limit: number;
  /**
   * Keyset position: return only items strictly after it in (orderBy, userId, id) order, where a
   * null userId sorts as "". Stable: paging an unchanged set returns every item exactly once.
   */
  readonly after?: ListCursor;
  /** Expired sessions are never listed. */
  readonly now: number;
}

export interface ListPage {
  readonly items: SessionHeader[];
  /** True when more items follow the last one returned. */
  readonly hasMore: boolean;
}

export interface ApiKeyRecord {
  readonly id: string;
  /** Hex SHA-256 of the whole secret key; the secret itself is never stored. */
  readonly hash: string;
  /** The first characters of the key, for people to tell keys apart. Not secret. */
  readonly prefix: string;
  readonly userId: string;
  readonly admin: boolean;
  readonly label: string | null;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  /** Requests a second this key may make on each instance; null or absent: the server's default. */
  readonly requestsPerSecond?: number | null;
}

export type Unsubscribe = () => Promise<void>;

/** One backend. Every method but `append` is required; every method returns a Promise. */
export interface SessionStore {
  readonly name: StoreName;
  readonly capabilities: StoreCapabilities;

  /** See {@link Commit}. Throws `conflict` or `not_found`; writes nothing then. */
  commit(commit: Commit): Promise<CommitResult>;
  /**
   * Optional: a plain append in one atomic step (one round trip on a networked store), instead of
   * the core's `get` + `commit`. It does exactly what that commit would: checks (see
   * {@link AppendOutcome}), then stores the events with the next seqs and sets `version + 1`,
   * `lastSeq`, `stats` (with {@link AppendRequest.stats}), `updatedAt = lastAccessedAt = now` and
   * `expiresAt = min(now + ttlMs, absoluteExpiresAt)` (null parts left out), records the
   * idempotency key and hints subscribers. Resolves `undefined` to decline (the core then takes
   * the `get` + `commit` path), having changed nothing. Stores without it lose nothing but speed.
   */
  append?(request: AppendRequest): Promise<AppendOutcome | undefined>;
  /** The header, or undefined when absent or expired at `now`. Never reads events. */
  get(key: SessionKey, now: number): Promise<SessionHeader | undefined>;
  /**
   * Moves `expiresAt` and `lastAccessedAt` only; never the version, state or events.
   * False when absent or expired at `now` (an expired session is never revived).
   */
  touch(key: SessionKey, times: { expiresAt: number | null; lastAccessedAt: number }, now: number): Promise<boolean>;
  /** Events in seq order (or reverse with `order: "desc"`). Empty when the session has none; does not check expiry. */
  readEvents(key: SessionKey, range: EventRange): Promise<SessionEvent[]>;
  list(query: ListQuery): Promise<ListPage>;
  /** Unexpired sessions of one owner in a namespace, for the sessions-per-user limit. */
  count(namespace: string, userId: string | null, now: number): Promise<number>;
  /**
   * Removes header, events and idempotency records together, and hints subscribers with `0`.
   * - Without `condition`: whatever is stored under the key goes, expired or not. False when there
   *   was nothing.
   * - With `condition` (see {@link DeleteCondition}), checked and applied atomically:
   *   absent or expired at `condition.now` → false, and nothing is touched (an expired session is
   *   left to `sweep`); live at another version than `condition.expectedVersion` → `conflict` with
   *   `details.currentVersion`, and nothing is deleted; live at exactly that version → removed,
   *   true.
   */
  delete(key: SessionKey, condition?: DeleteCondition): Promise<boolean>;
  /** Deletes up to `limit` sessions expired at `now`, with their events. Returns how many. */
  sweep(now: number, limit: number): Promise<number>;

  /** The shared scope's state; `{ state: {}, version: 0 }` when never written. */
  readScope(namespace: string, scope: "user" | "app", userId: string | null): Promise<ScopedState>;
  /**
   * Removes one owner's `user:` state (erasure). A later write starts again from version 0.
   * False when there was none.
   */
  eraseScope(namespace: string, userId: string | null): Promise<boolean>;
  /**
   * Optional, for stores that keep files: makes content removed by `delete`, `removeEvents` and
   * `rewrites` unreadable in the files themselves (free pages zeroed, write-ahead log
   * checkpointed and truncated). `pending` when something (a reader holding the WAL) stops it from
   * finishing now; calling it again later finishes it.
   *
   * `thorough` also rebuilds every page (SQLite's VACUUM), which reaches the stale copies of rows a
   * B-tree rebalance leaves in pages' unused space; it rewrites the whole file under the write lock,
   * so it is for a maintenance window or an offline command, not a serving process.
   */
  scrub?(options?: { readonly thorough?: boolean }): Promise<{ readonly pending: boolean }>;
  /**
   * Optional, for stores that hold key material (the encrypting wrapper): destroys the owner's data
   * key, so whatever of theirs is left anywhere (a backup, a session not yet deleted) can no longer
   * be read. Erasure calls it first. Idempotent.
   */
  forgetUser?(namespace: string, userId: string): Promise<void>;
  findIdempotency(key: SessionKey, idempotencyKey: string): Promise<IdempotencyRecord | undefined>;

  /**
   * Calls `onHint(lastSeq)` after commits to the key, including commits made by peers on a shared
   * backend. A hint, not a delivery: listeners re-read the log by seq, so a lost, late or repeated
   * hint never loses or duplicates an event.
   */
  subscribe(key: SessionKey, onHint: (lastSeq: number) => void): Promise<Unsubscribe>;

  putApiKey(record: ApiKeyRecord): Promise<void>;
  findApiKey(hash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Sets `revokedAt` once; false when there is no such key or it was already revoked. */
  revokeApiKey(id: string, at: number): Promise<boolean>;

  /** Closes what the store opened (never a client the caller passed in). Idempotent. */
  close(): Promise<void>;
}

/** What every store factory takes besides its own options. */
export interface StoreContext {
  /** Used only for background work such as polling; expiry always uses the `now` passed in. */
  readonly clock?: { now(): number };
}
