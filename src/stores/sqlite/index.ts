import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import { LruMap } from "../../core/lru-map.ts";
import { type JsonObject, type SessionHeader, type SessionKey, scopeKeyId, sessionKeyId } from "../../core/model.ts";
import { applyDelta, deepFreeze } from "../../core/state.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import { isExpired } from "../shared/list-filter.ts";
import type {
  ApiKeyRecord,
  Commit,
  CommitResult,
  DeleteCondition,
  EventRange,
  IdempotencyRecord,
  ListPage,
  ListQuery,
  ScopedState,
  SessionStore,
  StoreCapabilities,
  StoreContext,
  Unsubscribe,
} from "../types.ts";
import {
  buildListStatement,
  buildTextScanStatement,
  TEXT_MATCH_FUNCTION,
  TEXT_SCAN_ROWS,
  textMatch,
} from "./list-query.ts";
import { migrate } from "./migrations.ts";

/** The embedded store: one SQLite file in WAL mode, safe to share between processes on one machine. */
export interface SqliteStoreOptions {
  /**
   * The database file, resolved against the working directory (its folder is created when
   * missing), or `":memory:"` for a private database that lives and dies with this store.
   */
  readonly path: string;
  /**
   * What an acknowledged commit survives (`PRAGMA synchronous`).
   * - `"full"`: every commit is fsynced before it returns, so it survives a process crash and a
   *   power loss or OS crash.
   * - `"normal"`: survives a process crash, and the database is never corrupted, but a power loss
   *   or OS crash may roll back the most recent commits. Faster: the WAL is fsynced at checkpoints only.
   * @default "full"
   */
  readonly durability?: "full" | "normal";
  /**
   * How long a write waits for another connection's write lock before failing with `unavailable`,
   * in milliseconds. better-sqlite3 is synchronous, so the wait blocks this process's event loop.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
  /**
   * How often, in milliseconds, subscribed sessions are checked for commits made by other
   * processes on the same file. Runs only while something is subscribed; one cheap
   * `PRAGMA data_version` per tick when nothing changed.
   * @default 50
   */
  readonly pollIntervalMs?: number;
}

export const STORE_NAME = "sqlite";

/** Statements whose SQL depends on a list query's shape; a bound keeps odd callers from growing it forever. */
const MAX_CACHED_LIST_STATEMENTS = 64;

const MEMORY_PATH = ":memory:";

/** An event's row id is `(rid << 32) + seq` (see migrations.ts), which bounds both parts. */
const MAX_SEQ = 2 ** 32 - 1;
const MAX_RID = 2 ** 31 - 1;

/**
 * Opens a SQLite store. Nothing touches the disk until the first call: the database is opened and
 * migrated once, then every method runs synchronous prepared statements, each write inside one
 * `BEGIN IMMEDIATE` transaction that rolls back on any error.
 * @example const store = createSqliteStore({ path: "./.frontdesk/frontdesk.db" });
 */
export function createSqliteStore(options: SqliteStoreOptions, _context: StoreContext = {}): SessionStore {
  const settings = readOptions(options);
  const capabilities: StoreCapabilities = { shared: settings.path !== MEMORY_PATH, blocking: true };
  const subscriptions = new Map<string, Subscription>();
  let connection: Connection | undefined;
  let closed = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let seenDataVersion = 0;
  const cache = new ReadCache();

  const ready = (): Connection => {
    if (closed) throw new FrontdeskError("unavailable", "The SQLite store is closed");
    // A failed open is not remembered, so the next call retries (the file may have been locked).
    connection ??= openConnection(settings);
    return connection;
  };

  /** The single wrapper every public method goes through: setup, then driver errors translated. */
  const run = async <T>(body: (c: Connection) => T): Promise<T> => {
    try {
      return body(ready());
    } catch (error) {
      throw translateError(error);
    }
  };

  /** A `q=` list, read a few rows per statement (see TEXT_SCAN_ROWS) with the event loop free between. */
  const listMatchingText = async (query: ListQuery): Promise<ListPage> => {
    const items: ReturnType<typeof parseHeader>[] = [];
    let after = query.after;
    for (;;) {
      const rows = await run((c) => {
        const { sql, params } = buildTextScanStatement(query, after);
        return c.listStatement(sql).all(...params) as TextScanRow[];
      });
      for (const row of rows) {
        if (row.matched !== 1) continue;
        if (items.length >= query.limit) return { items, hasMore: true };
        items.push(parseHeader(row));
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < TEXT_SCAN_ROWS) return { items, hasMore: false };
      after = { value: last.position, userId: last.user_id, id: last.id };
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };

  const hint = (subscription: Subscription, lastSeq: number): void => {
    for (const listener of subscription.listeners) queueMicrotask(() => listener(lastSeq));
  };

  const poll = (): void => {
    if (!connection || subscriptions.size === 0) return;
    try {
      const dataVersion = connection.dataVersion.get() as number;
      if (dataVersion === seenDataVersion) return;
      for (const subscription of subscriptions.values()) {
        const row = connection.selectMark.get(...subscription.keyParams) as MarkRow | undefined;
        const mark = markOf(row);
        if (mark !== subscription.mark) {
          subscription.mark = mark;
          hint(subscription, row?.last_seq ?? 0);
        }
      }
      // Only once every key was checked: a failure half way leaves the change for the next tick.
      seenDataVersion = dataVersion;
    } catch {
      // Hints are best effort (listeners re-read the log by seq): the next tick retries, and a lasting failure
      // surfaces to the listener's own reads.
    }
  };

  const stopPolling = (): void => {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = undefined;
  };

  return {
    name: STORE_NAME,
    capabilities,

    commit: (commit: Commit): Promise<CommitResult> =>
      run((c) => {
        cache.forgetCommit(commit);
        const rid = c.commit.immediate(commit);
        const { version, lastSeq } = commit.header;
        const subscription = subscriptions.get(sessionKeyId(commit.key));
        if (subscription) {
          subscription.mark = `${rid}:${version}`;
          hint(subscription, lastSeq);
        }
        return { version, lastSeq };
      }),

    get: (key, now) =>
      run((c) => {
        cache.revalidate(c);
        const id = sessionKeyId(key);
        const cached = cache.headers.get(id);
        if (cached) return isExpired(cached, now) ? undefined : cached;
        const row = c.selectHeader.get(key.namespace, ownerOf(key.userId), key.id, now) as HeaderRow | undefined;
        if (!row) return undefined;
        const header = deepFreeze(parseHeader(row));
        cache.headers.set(id, header);
        return header;
      }),

    touch: (key, times, now) =>
      run((c) => {
        cache.headers.delete(sessionKeyId(key));
        const params = [times.expiresAt, times.lastAccessedAt, key.namespace, ownerOf(key.userId), key.id, now];
        return c.write.immediate(c.touch, params) > 0;
      }),

    readEvents: (key, range: EventRange) =>
      run((c) => {
        const types = range.types && range.types.length > 0 ? JSON.stringify(range.types) : undefined;
        const statement =
          range.order === "desc" ? (types ? c.eventsDescTyped : c.eventsDesc) : types ? c.eventsAscTyped : c.eventsAsc;
        // seq > after ⟺ seq > floor(after), and seq < before ⟺ seq < ceil(before), for whole seqs.
        const after = Math.min(Math.max(Math.floor(range.after ?? 0), 0), MAX_SEQ);
        const before = Math.min(Math.max(Math.ceil(range.before ?? MAX_SEQ + 1), 0), MAX_SEQ + 1);
        const params: unknown[] = [after, before, key.namespace, ownerOf(key.userId), key.id];
        if (types) params.push(types);
        params.push(range.limit === undefined ? -1 : Math.max(0, Math.ceil(range.limit)));
        return (statement.all(...params) as string[]).map((body) => JSON.parse(body));
      }),

    list: (query: ListQuery): Promise<ListPage> =>
      query.text
        ? listMatchingText(query)
        : run((c) => {
            const { sql, params } = buildListStatement(query);
            const rows = c.listStatement(sql).all(...params) as HeaderRow[];
            const hasMore = rows.length > query.limit;
            if (hasMore) rows.length = Math.max(0, query.limit);
            return { items: rows.map(parseHeader), hasMore };
          }),

    count: (namespace, userId, now) => run((c) => c.count.get(namespace, ownerOf(userId), now) as number),

    delete: (key, condition) =>
      run((c) => {
        cache.headers.delete(sessionKeyId(key));
        const removed = condition
          ? c.deleteAtVersion.immediate(key, condition)
          : c.write.immediate(c.deleteSession, [key.namespace, ownerOf(key.userId), key.id]) > 0;
        const subscription = subscriptions.get(sessionKeyId(key));
        if (removed && subscription) {
          subscription.mark = "";
          hint(subscription, 0);
        }
        return removed;
      }),

    sweep: (now, limit) =>
      run((c) => {
        cache.headers.clear();
        return c.write.immediate(c.sweep, [now, Math.max(0, limit)]);
      }),

    readScope: (namespace, scope, userId) =>
      run((c): ScopedState => {
        cache.revalidate(c);
        const id = scopeKeyId(namespace, scope, userId);
        const cached = cache.scopes.get(id);
        if (cached) return cached;
        const row = c.selectScope.get(namespace, scope, scopeOwner(scope, userId)) as ScopeRow | undefined;
        const read = deepFreeze(
          row ? { state: JSON.parse(row.state), version: row.version } : { state: {}, version: 0 },
        );
        cache.scopes.set(id, read);
        return read;
      }),

    findIdempotency: (key, idempotencyKey) =>
      run((c): IdempotencyRecord | undefined => {
        const row = c.selectIdempotency.get(key.namespace, ownerOf(key.userId), key.id, idempotencyKey) as
          | IdempotencyRow
          | undefined;
        return row
          ? {
              key: idempotencyKey,
              fingerprint: row.fingerprint,
              firstSeq: row.first_seq,
              lastSeq: row.last_seq,
              version: row.version,
              at: row.at,
            }
          : undefined;
      }),

    subscribe: (key, onHint) =>
      run((c): Unsubscribe => {
        const id = sessionKeyId(key);
        let subscription = subscriptions.get(id);
        if (!subscription) {
          if (subscriptions.size === 0) {
            // The baseline is read before the marks, so a peer commit in between is seen next tick.
            seenDataVersion = c.dataVersion.get() as number;
            if (capabilities.shared) {
              pollTimer = setInterval(poll, settings.pollIntervalMs);
              pollTimer.unref();
            }
          }
          const keyParams = [key.namespace, ownerOf(key.userId), key.id] as const;
          const mark = markOf(c.selectMark.get(...keyParams) as MarkRow | undefined);
          subscription = { keyParams, mark, listeners: new Set() };
          subscriptions.set(id, subscription);
        }
        const entry = subscription;
        // A wrapper per call, so subscribing one function twice needs two unsubscribes.
        const listener = (lastSeq: number): void => onHint(lastSeq);
        entry.listeners.add(listener);
        return async () => {
          entry.listeners.delete(listener);
          if (entry.listeners.size === 0 && subscriptions.get(id) === entry) {
            subscriptions.delete(id);
            if (subscriptions.size === 0) stopPolling();
          }
        };
      }),

    putApiKey: (record) =>
      run((c) => {
        try {
          c.write.immediate(c.insertApiKey, [
            record.id,
            record.hash,
            record.prefix,
            record.userId,
            record.admin ? 1 : 0,
            record.label,
            record.createdAt,
            record.revokedAt,
            record.requestsPerSecond ?? null,
          ]);
        } catch (error) {
          if (isConstraintError(error)) {
            throw new FrontdeskError("conflict", "An API key with this id or hash exists", { cause: error });
          }
          throw error;
        }
      }),

    findApiKey: (hash) =>
      run((c) => {
        const row = c.selectApiKey.get(hash) as ApiKeyRow | undefined;
        return row ? apiKeyOf(row) : undefined;
      }),

    listApiKeys: () => run((c) => (c.listApiKeys.all() as ApiKeyRow[]).map(apiKeyOf)),

    revokeApiKey: (id, at) => run((c) => c.write.immediate(c.revokeApiKey, [at, id]) > 0),

    async close() {
      if (closed) return;
      closed = true;
      stopPolling();
      subscriptions.clear();
      const open = connection;
      connection = undefined;
      try {
        open?.db.close();
      } catch (error) {
        throw translateError(error);
      }
    },
  };
}

/**
 * `sqlite:./relative/path.db`, `sqlite:/absolute/path.db` or `sqlite::memory:`, with optional
 * `?durability=normal|full`, `busyTimeoutMs=` and `pollIntervalMs=` query parameters.
 */
export function openFromUrl(url: URL, context: StoreContext): SessionStore {
  if (url.host !== "") {
    throw new FrontdeskError(
      "invalid_request",
      "A sqlite: URL names a local file: sqlite:./path.db, sqlite:/abs/path.db or sqlite::memory:",
    );
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new FrontdeskError("invalid_request", "The sqlite: URL's path is not valid percent-encoding");
  }
  const options: { -readonly [K in keyof SqliteStoreOptions]: SqliteStoreOptions[K] } = { path };
  for (const [name, value] of url.searchParams) {
    if (name === "durability") options.durability = value as SqliteStoreOptions["durability"];
    else if (name === "busyTimeoutMs") options.busyTimeoutMs = value === "" ? Number.NaN : Number(value);
    else if (name === "pollIntervalMs") options.pollIntervalMs = value === "" ? Number.NaN : Number(value);
    else {
      throw new FrontdeskError(
        "invalid_request",
        `Unknown sqlite: URL parameter "${name}": expected durability, busyTimeoutMs or pollIntervalMs`,
      );
    }
  }
  return createSqliteStore(options, context);
}

interface Settings {
  path: string;
  durability: "full" | "normal";
  busyTimeoutMs: number;
  pollIntervalMs: number;
}

function readOptions(options: SqliteStoreOptions): Settings {
  const { path, durability = "full", busyTimeoutMs = 5000, pollIntervalMs = 50 } = options;
  if (typeof path !== "string" || path === "") {
    throw new FrontdeskError("invalid_request", 'The SQLite store needs a file path or ":memory:"');
  }
  if (durability !== "full" && durability !== "normal") {
    throw new FrontdeskError("invalid_request", 'durability must be "full" or "normal"');
  }
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 2 ** 31 - 1) {
    throw new FrontdeskError("invalid_request", "busyTimeoutMs must be a whole number of milliseconds ≥ 0");
  }
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 1) {
    throw new FrontdeskError("invalid_request", "pollIntervalMs must be a number of milliseconds ≥ 1");
  }
  return { path: path === MEMORY_PATH ? path : resolve(path), durability, busyTimeoutMs, pollIntervalMs };
}

/** Everything opened for one database: the connection and its statements, prepared once. */
interface Connection {
  db: Database.Database;
  commit: Database.Transaction<(commit: Commit) => number>;
  /** Runs one write statement in its own IMMEDIATE transaction; returns the rows it changed. */
  write: Database.Transaction<(statement: Database.Statement, params: readonly unknown[]) => number>;
  selectHeader: Database.Statement;
  touch: Database.Statement;
  eventsAsc: Database.Statement;
  eventsDesc: Database.Statement;
  eventsAscTyped: Database.Statement;
  eventsDescTyped: Database.Statement;
  listStatement(sql: string): Database.Statement;
  count: Database.Statement;
  deleteSession: Database.Statement;
  /** The conditional delete: one IMMEDIATE transaction; true when deleted, false when absent or expired. */
  deleteAtVersion: Database.Transaction<(key: SessionKey, condition: DeleteCondition) => boolean>;
  sweep: Database.Statement;
  selectScope: Database.Statement;
  selectIdempotency: Database.Statement;
  selectMark: Database.Statement;
  dataVersion: Database.Statement;
  insertApiKey: Database.Statement;
  selectApiKey: Database.Statement;
  listApiKeys: Database.Statement;
  revokeApiKey: Database.Statement;
}

interface Subscription {
  readonly keyParams: readonly [string, string, string];
  /** `rid:version` of the session when last seen, "" when absent: any commit changes it. */
  mark: string;
  readonly listeners: Set<(lastSeq: number) => void>;
}

interface HeaderRow {
  header: string;
  expires_at: number | null;
  last_accessed_at: number;
}
interface TextScanRow extends HeaderRow {
  position: number;
  /** "" for a session without an owner, which sorts the same as null in a cursor. */
  user_id: string;
  id: string;
  matched: number;
}
interface VersionRow {
  version: number;
  expires_at: number | null;
  last_seq: number;
}
interface MarkRow {
  rid: number;
  version: number;
  last_seq: number;
}
interface ScopeRow {
  state: string;
  version: number;
}
interface IdempotencyRow {
  fingerprint: string;
  first_seq: number;
  last_seq: number;
  version: number;
  at: number;
}
interface ApiKeyRow {
  id: string;
  hash: string;
  prefix: string;
  user_id: string;
  admin: number;
  label: string | null;
  created_at: number;
  revoked_at: number | null;
  requests_per_second: number | null;
}

const LIVE = "(expires_at IS NULL OR expires_at > ?)";
const BY_KEY = "namespace = ? AND user_id = ? AND id = ?";
/**
 * Written on every commit. created_at is not among them: an UPDATE rewrites the index entries of
 * every column it sets, changed or not, and createdAt does not change after the create.
 */
const UPDATED_COLUMNS = [
  "version",
  "last_seq",
  "status",
  "title",
  "purpose",
  "tags",
  "updated_at",
  "last_accessed_at",
  "expires_at",
  "header",
];

function openConnection(settings: Settings): Connection {
  let db: Database.Database | undefined;
  try {
    if (settings.path !== MEMORY_PATH) mkdirSync(dirname(settings.path), { recursive: true });
    db = new Database(settings.path, { timeout: settings.busyTimeoutMs });
    enableWal(db, settings);
    db.pragma(`synchronous = ${settings.durability === "full" ? "FULL" : "NORMAL"}`);
    db.function(TEXT_MATCH_FUNCTION, { deterministic: true }, textMatch);
    migrate(db);
    return prepare(db);
  } catch (error) {
    try {
      db?.close();
    } catch {
      // The open already failed; that error is the one to report.
    }
    if (isFrontdeskError(error)) throw error;
    throw new FrontdeskError("unavailable", `Could not open the SQLite database (${errorCode(error)})`, {
      cause: error,
    });
  }
}

/**
 * Switching a new file to WAL needs a moment of exclusive access that the busy handler does not
 * always wait for, so processes opening one new file together retry here (openai-agents PR #4987).
 */
function enableWal(db: Database.Database, settings: Settings): void {
  if (settings.path === MEMORY_PATH) return;
  const deadline = Date.now() + settings.busyTimeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") {
        throw new FrontdeskError("unavailable", `SQLite could not switch to WAL mode (it reports "${String(mode)}")`);
      }
      return;
    } catch (error) {
      if (!isBusyError(error) || Date.now() >= deadline) throw error;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}

function prepare(db: Database.Database): Connection {
  const selectHeader = db.prepare(
    `SELECT header, expires_at, last_accessed_at FROM sessions WHERE ${BY_KEY} AND ${LIVE}`,
  );
  const deleteExpired = db.prepare(`DELETE FROM sessions WHERE ${BY_KEY} AND expires_at <= ?`);
  const insertSession = db
    .prepare(
      `INSERT INTO sessions (${UPDATED_COLUMNS.join(", ")}, created_at, namespace, user_id, id)
       VALUES (${UPDATED_COLUMNS.map(() => "?").join(", ")}, ?, ?, ?, ?)
       ON CONFLICT (namespace, user_id, id) DO NOTHING RETURNING rid`,
    )
    .pluck();
  const updateSession = db.prepare(
    `UPDATE sessions SET ${UPDATED_COLUMNS.map((column) => `${column} = ?`).join(", ")}
     WHERE ${BY_KEY} AND version = ? AND last_seq = ? AND ${LIVE} RETURNING rid, created_at`,
  );
  const updateCreatedAt = db.prepare("UPDATE sessions SET created_at = ? WHERE rid = ?");
  const selectVersion = db.prepare(`SELECT version, expires_at, last_seq FROM sessions WHERE ${BY_KEY}`);
  const insertEvent = db.prepare("INSERT INTO events (eid, type, body) VALUES ((? << 32) + ?, ?, ?)");
  const selectScope = db.prepare("SELECT state, version FROM scopes WHERE namespace = ? AND scope = ? AND owner = ?");
  const writeScope = db.prepare(
    `INSERT INTO scopes (namespace, scope, owner, state, version) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (namespace, scope, owner) DO UPDATE SET state = excluded.state, version = excluded.version`,
  );
  const putIdempotency = db.prepare(
    `INSERT OR REPLACE INTO idempotency (rid, key, fingerprint, first_seq, last_seq, version, at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );

  const commit = db.transaction((c: Commit): number => {
    const { key, header, now } = c;
    const owner = ownerOf(key.userId);
    const columns = [
      header.version,
      header.lastSeq,
      header.status,
      header.title,
      header.purpose,
      JSON.stringify(header.tags),
      header.updatedAt,
      header.lastAccessedAt,
      header.expiresAt,
      JSON.stringify(header),
    ];
    // Checks and writes interleave; any throw rolls the whole transaction back, so a refused commit leaves nothing.
    let rid: number | undefined;
    if (c.expectedVersion === 0) {
      deleteExpired.run(key.namespace, owner, key.id, now);
      rid = insertSession.get(...columns, header.createdAt, key.namespace, owner, key.id) as number | undefined;
      if (rid === undefined) {
        const current = selectVersion.get(key.namespace, owner, key.id) as VersionRow | undefined;
        throw new FrontdeskError("conflict", "A session with this id already exists", {
          details: { currentVersion: current?.version },
        });
      }
      assertCommitShape(c, 0);
    } else {
      // The stored last_seq is matched in the UPDATE itself, so checking that the events continue
      // the log costs no extra read; a miss is diagnosed below.
      const previousLastSeq = header.lastSeq - c.events.length;
      const updated = updateSession.get(
        ...columns,
        key.namespace,
        owner,
        key.id,
        c.expectedVersion,
        previousLastSeq,
        now,
      ) as { rid: number; created_at: number } | undefined;
      if (updated === undefined) {
        const current = selectVersion.get(key.namespace, owner, key.id) as VersionRow | undefined;
        if (!current || (current.expires_at !== null && current.expires_at <= now)) {
          throw new FrontdeskError("not_found", "Session not found");
        }
        if (current.version !== c.expectedVersion) {
          throw new FrontdeskError("conflict", "The session changed since it was read", {
            details: { currentVersion: current.version },
          });
        }
        assertCommitShape(c, current.last_seq);
        throw new FrontdeskError("conflict", "The session changed since it was read");
      }
      assertCommitShape(c, previousLastSeq);
      rid = updated.rid;
      if (updated.created_at !== header.createdAt) updateCreatedAt.run(header.createdAt, rid);
    }
    if (header.lastSeq > MAX_SEQ) {
      throw new FrontdeskError("invalid_request", `A session holds at most ${MAX_SEQ} events`);
    }
    if (rid > MAX_RID) throw new FrontdeskError("unavailable", "The SQLite store has used up its session row ids");
    for (const write of c.scoped ?? []) {
      const scopeOwnerId = scopeOwner(write.scope, key.userId);
      const row = selectScope.get(key.namespace, write.scope, scopeOwnerId) as ScopeRow | undefined;
      const version = row?.version ?? 0;
      if (version !== write.expectedVersion) {
        throw new FrontdeskError("conflict", `The ${write.scope}: state changed since it was read`, {
          details: { scope: write.scope, currentVersion: version },
        });
      }
      const state = applyDelta(row ? (JSON.parse(row.state) as JsonObject) : {}, write.delta);
      writeScope.run(key.namespace, write.scope, scopeOwnerId, JSON.stringify(state), version + 1);
    }
    for (const event of c.events) insertEvent.run(rid, event.seq, event.type, JSON.stringify(event));
    const record = c.idempotency;
    if (record) {
      putIdempotency.run(
        rid,
        record.key,
        record.fingerprint,
        record.firstSeq,
        record.lastSeq,
        record.version,
        record.at,
      );
    }
    return rid;
  });

  // The version and expiry are matched in the DELETE itself (the cascade trigger takes the events,
  // tags and idempotency records with the row); only a miss reads the row, to tell absent from stale.
  const deleteLiveAtVersion = db.prepare(`DELETE FROM sessions WHERE ${BY_KEY} AND version = ? AND ${LIVE}`);
  const deleteAtVersion = db.transaction((key: SessionKey, condition: DeleteCondition): boolean => {
    const owner = ownerOf(key.userId);
    const { expectedVersion, now } = condition;
    if (deleteLiveAtVersion.run(key.namespace, owner, key.id, expectedVersion, now).changes > 0) return true;
    const current = selectVersion.get(key.namespace, owner, key.id) as VersionRow | undefined;
    if (!current || (current.expires_at !== null && current.expires_at <= now)) return false;
    throw new FrontdeskError("conflict", "The session changed since it was read", {
      details: { currentVersion: current.version },
    });
  });

  const events = (order: "ASC" | "DESC", typed: boolean): Database.Statement =>
    db
      .prepare(
        `SELECT e.body FROM sessions s JOIN events e ON e.eid > (s.rid << 32) + ? AND e.eid < (s.rid << 32) + ?
         WHERE s.namespace = ? AND s.user_id = ? AND s.id = ?
         ${typed ? "AND e.type IN (SELECT value FROM json_each(?))" : ""}
         ORDER BY e.eid ${order} LIMIT ?`,
      )
      .pluck();

  const listStatements = new Map<string, Database.Statement>();
  const listStatement = (sql: string): Database.Statement => {
    let statement = listStatements.get(sql);
    if (!statement) {
      if (listStatements.size >= MAX_CACHED_LIST_STATEMENTS) {
        listStatements.delete(listStatements.keys().next().value as string);
      }
      statement = db.prepare(sql);
      listStatements.set(sql, statement);
    }
    return statement;
  };

  return {
    db,
    commit,
    write: db.transaction((statement: Database.Statement, params: readonly unknown[]) =>
      Number(statement.run(...params).changes),
    ),
    selectHeader,
    touch: db.prepare(`UPDATE sessions SET expires_at = ?, last_accessed_at = ? WHERE ${BY_KEY} AND ${LIVE}`),
    eventsAsc: events("ASC", false),
    eventsDesc: events("DESC", false),
    eventsAscTyped: events("ASC", true),
    eventsDescTyped: events("DESC", true),
    listStatement,
    count: db.prepare(`SELECT count(*) FROM sessions WHERE namespace = ? AND user_id = ? AND ${LIVE}`).pluck(),
    deleteSession: db.prepare(`DELETE FROM sessions WHERE ${BY_KEY}`),
    deleteAtVersion,
    sweep: db.prepare(
      "DELETE FROM sessions WHERE rid IN (SELECT rid FROM sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
    ),
    selectScope,
    selectIdempotency: db.prepare(
      `SELECT fingerprint, first_seq, last_seq, version, at FROM idempotency
       WHERE rid = (SELECT rid FROM sessions WHERE ${BY_KEY}) AND key = ?`,
    ),
    selectMark: db.prepare(`SELECT rid, version, last_seq FROM sessions WHERE ${BY_KEY}`),
    dataVersion: db.prepare("PRAGMA data_version").pluck(),
    insertApiKey: db.prepare(
      `INSERT INTO api_keys (id, hash, prefix, user_id, admin, label, created_at, revoked_at, requests_per_second)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    selectApiKey: db.prepare("SELECT * FROM api_keys WHERE hash = ?"),
    listApiKeys: db.prepare("SELECT * FROM api_keys ORDER BY created_at, rowid"),
    revokeApiKey: db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
  };
}

const ownerOf = (userId: string | null): string => userId ?? "";
const scopeOwner = (scope: "user" | "app", userId: string | null): string => (scope === "app" ? "" : ownerOf(userId));

/** Sessions and scoped states a read cache holds at most. */
const READ_CACHE_ENTRIES = 1024;

/**
 * Headers and scoped states this connection has read, served again without a query for as long as
 * the database holds exactly them. A commit by any other connection or process moves `PRAGMA
 * data_version`, which empties the cache before the next read; this store's own writes (which do
 * not move it) drop what they change before they run. Values are deep-frozen, so handing the same
 * one out twice is safe. Expiry is still decided per read, against the caller's `now`.
 */
class ReadCache {
  readonly headers = new LruMap<string, SessionHeader>(READ_CACHE_ENTRIES);
  readonly scopes = new LruMap<string, ScopedState>(READ_CACHE_ENTRIES);
  private dataVersion: number | undefined;
  private checkedInThisRun = false;

  /**
   * Checked once per synchronous run of JavaScript: reads issued together (a session and its
   * scopes) share one check, and no I/O, so no request, can arrive before the next run checks again.
   */
  revalidate(c: Connection): void {
    if (this.checkedInThisRun) return;
    const current = c.dataVersion.get() as number;
    if (current !== this.dataVersion) {
      this.headers.clear();
      this.scopes.clear();
      this.dataVersion = current;
    }
    this.checkedInThisRun = true;
    queueMicrotask(() => {
      this.checkedInThisRun = false;
    });
  }

  forgetCommit(commit: Commit): void {
    this.headers.delete(sessionKeyId(commit.key));
    for (const write of commit.scoped ?? []) {
      this.scopes.delete(scopeKeyId(commit.key.namespace, write.scope, commit.key.userId));
    }
  }
}
const markOf = (row: MarkRow | undefined): string => (row ? `${row.rid}:${row.version}` : "");

/** `touch` moves only the two columns, so they, not the header JSON, hold the current values. */
function parseHeader(row: HeaderRow): SessionHeader {
  const header = JSON.parse(row.header) as SessionHeader;
  header.expiresAt = row.expires_at;
  header.lastAccessedAt = row.last_accessed_at;
  return header;
}

const apiKeyOf = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  hash: row.hash,
  prefix: row.prefix,
  userId: row.user_id,
  admin: row.admin === 1,
  label: row.label,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
  ...(row.requests_per_second === null ? {} : { requestsPerSecond: row.requests_per_second }),
});

const errorCode = (error: unknown): string =>
  error instanceof Database.SqliteError ? error.code : error instanceof Error ? error.name : "unknown error";

const isBusyError = (error: unknown): boolean =>
  error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY");

const isConstraintError = (error: unknown): boolean =>
  error instanceof Database.SqliteError && error.code.startsWith("SQLITE_CONSTRAINT");

/** Driver failures become `unavailable`, with a message that names no path; our own errors pass through. */
function translateError(error: unknown): unknown {
  if (isFrontdeskError(error) || !(error instanceof Database.SqliteError)) return error;
  const message = isBusyError(error)
    ? "The SQLite database stayed locked by another writer for longer than busyTimeoutMs"
    : `The SQLite store failed (${error.code})`;
  return new FrontdeskError("unavailable", message, { cause: error });
}
