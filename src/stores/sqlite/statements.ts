/**
 * Every SQL statement the SQLite store runs, prepared once per connection, with the row shapes
 * they return and the read cache in front of them. The SQL lives here, in one place, so the schema
 * (migrations.ts) and the queries that lean on its indexes can be read side by side; what the
 * statements are for, and the checks around them, live in commands.ts, reads.ts and live.ts.
 */
import type Database from "better-sqlite3";
import { LruMap } from "../../core/lru-map.ts";
import { type SessionHeader, scopeKeyId, sessionKeyId } from "../../core/model.ts";
import type { Commit, ScopedState } from "../types.ts";

/** An event's row id is `(rid << 32) + seq` (see migrations.ts), which bounds both parts. */
export const MAX_SEQ = 2 ** 32 - 1;
export const MAX_RID = 2 ** 31 - 1;

/** Statements whose SQL depends on a list query's shape; a bound keeps odd callers from growing it forever. */
const MAX_CACHED_LIST_STATEMENTS = 64;

/** The database and its statements, prepared once when the connection opens. */
export interface Connection {
  db: Database.Database;
  /**
   * Runs `body(c, arg)` in one IMMEDIATE transaction and returns its result; any throw rolls the
   * whole of it back. The body is a plain function, so a call allocates no closure.
   */
  transaction: { immediate<A, R>(body: (c: Connection, arg: A) => R, c: Connection, arg: A): R };
  /** Runs one write statement in its own IMMEDIATE transaction; returns the rows it changed. */
  write: Database.Transaction<(statement: Database.Statement, params: readonly unknown[]) => number>;

  // The commit's steps (commands.ts).
  deleteExpired: Database.Statement;
  insertSession: Database.Statement;
  updateSession: Database.Statement;
  /** updateSession for a commit that leaves the columns outside {@link APPEND_COLUMNS} as they were. */
  updateSessionAppend: Database.Statement;
  updateCreatedAt: Database.Statement;
  selectVersion: Database.Statement;
  insertEvent: Database.Statement;
  removeEvents: Database.Statement;
  rewriteEvent: Database.Statement;
  writeScope: Database.Statement;
  putIdempotency: Database.Statement;
  deleteLiveAtVersion: Database.Statement;
  // The other writes (commands.ts).
  touch: Database.Statement;
  deleteSession: Database.Statement;
  sweep: Database.Statement;
  eraseScope: Database.Statement;
  insertApiKey: Database.Statement;
  revokeApiKey: Database.Statement;
  // Reads (reads.ts).
  selectHeader: Database.Statement;
  eventsAsc: Database.Statement;
  eventsDesc: Database.Statement;
  eventsAscTyped: Database.Statement;
  eventsDescTyped: Database.Statement;
  listStatement(sql: string): Database.Statement;
  count: Database.Statement;
  selectScope: Database.Statement;
  selectIdempotency: Database.Statement;
  selectApiKey: Database.Statement;
  listApiKeys: Database.Statement;
  // Freshness: the read cache and the poll for other processes' commits (live.ts).
  selectMark: Database.Statement;
  dataVersion: Database.Statement;
  // Maintenance (commands.ts).
  checkpoint: Database.Statement;
}

export interface HeaderRow {
  header: string;
  expires_at: number | null;
  last_accessed_at: number;
}
/** A row of a text search's scan: a header, its keyset position, and whether the text matches. */
export interface TextScanRow extends HeaderRow {
  position: number;
  /** "" for a session without an owner, which sorts the same as null in a cursor. */
  user_id: string;
  id: string;
  matched: number;
}
export interface VersionRow {
  version: number;
  expires_at: number | null;
  last_seq: number;
}
export interface MarkRow {
  rid: number;
  version: number;
  last_seq: number;
}
/** `PRAGMA wal_checkpoint`: busy 1 when a lock stopped it; log and checkpointed count WAL frames. */
export interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}
export interface ScopeRow {
  state: string;
  version: number;
}
export interface IdempotencyRow {
  fingerprint: string;
  first_seq: number;
  last_seq: number;
  version: number;
  at: number;
}
export interface ApiKeyRow {
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

export const ownerOf = (userId: string | null): string => userId ?? "";
export const scopeOwner = (scope: "user" | "app", userId: string | null): string =>
  scope === "app" ? "" : ownerOf(userId);

const LIVE = "(expires_at IS NULL OR expires_at > ?)";
const BY_KEY = "namespace = ? AND user_id = ? AND id = ?";
/**
 * Written by a commit that leaves status, title, purpose and tags as they were (an append, as a
 * rule): the indexes on status and the tag trigger are then not touched at all, one WAL page less.
 */
export const APPEND_COLUMNS = ["version", "last_seq", "updated_at", "last_accessed_at", "expires_at", "header"];

/**
 * Written on every other commit: the append's columns, then the listed fields. created_at is not
 * among them: an UPDATE rewrites the index entries of every column it sets, changed or not, and
 * createdAt does not change after the create.
 */
const UPDATED_COLUMNS = [...APPEND_COLUMNS, "status", "title", "purpose", "tags"];

export function prepareStatements(db: Database.Database): Connection {
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
    transaction: db.transaction(
      (body: (c: Connection, arg: unknown) => unknown, c: Connection, arg: unknown): unknown => body(c, arg),
    ) as unknown as Connection["transaction"],
    write: db.transaction((statement: Database.Statement, params: readonly unknown[]) =>
      Number(statement.run(...params).changes),
    ),

    deleteExpired: db.prepare(`DELETE FROM sessions WHERE ${BY_KEY} AND expires_at <= ?`),
    insertSession: db
      .prepare(
        `INSERT INTO sessions (${UPDATED_COLUMNS.join(", ")}, created_at, namespace, user_id, id)
         VALUES (${UPDATED_COLUMNS.map(() => "?").join(", ")}, ?, ?, ?, ?)
         ON CONFLICT (namespace, user_id, id) DO NOTHING RETURNING rid`,
      )
      .pluck(),
    updateSession: db.prepare(
      `UPDATE sessions SET ${UPDATED_COLUMNS.map((column) => `${column} = ?`).join(", ")}
       WHERE ${BY_KEY} AND version = ? AND last_seq = ? AND ${LIVE} RETURNING rid, created_at`,
    ),
    updateSessionAppend: db.prepare(
      `UPDATE sessions SET ${APPEND_COLUMNS.map((column) => `${column} = ?`).join(", ")}
       WHERE ${BY_KEY} AND version = ? AND last_seq = ? AND ${LIVE} RETURNING rid, created_at`,
    ),
    updateCreatedAt: db.prepare("UPDATE sessions SET created_at = ? WHERE rid = ?"),
    selectVersion: db.prepare(`SELECT version, expires_at, last_seq FROM sessions WHERE ${BY_KEY}`),
    insertEvent: db.prepare("INSERT INTO events (eid, type, body) VALUES ((? << 32) + ?, ?, ?)"),
    // Both bounds are exclusive seqs of one session (rid), so the DELETE is one rowid range scan.
    removeEvents: db.prepare("DELETE FROM events WHERE eid > (? << 32) + ? AND eid < (? << 32) + ?"),
    rewriteEvent: db.prepare("UPDATE events SET type = ?, body = ? WHERE eid = (? << 32) + ?"),
    writeScope: db.prepare(
      `INSERT INTO scopes (namespace, scope, owner, state, version) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (namespace, scope, owner) DO UPDATE SET state = excluded.state, version = excluded.version`,
    ),
    putIdempotency: db.prepare(
      `INSERT OR REPLACE INTO idempotency (rid, key, fingerprint, first_seq, last_seq, version, at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    // The version and expiry are matched in the DELETE itself (the cascade trigger takes the events,
    // tags and idempotency records with the row); only a miss reads the row, to tell absent from stale.
    deleteLiveAtVersion: db.prepare(`DELETE FROM sessions WHERE ${BY_KEY} AND version = ? AND ${LIVE}`),

    touch: db.prepare(`UPDATE sessions SET expires_at = ?, last_accessed_at = ? WHERE ${BY_KEY} AND ${LIVE}`),
    deleteSession: db.prepare(`DELETE FROM sessions WHERE ${BY_KEY}`),
    sweep: db.prepare(
      "DELETE FROM sessions WHERE rid IN (SELECT rid FROM sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
    ),
    eraseScope: db.prepare("DELETE FROM scopes WHERE namespace = ? AND scope = 'user' AND owner = ?"),
    insertApiKey: db.prepare(
      `INSERT INTO api_keys (id, hash, prefix, user_id, admin, label, created_at, revoked_at, requests_per_second)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    revokeApiKey: db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),

    selectHeader: db.prepare(`SELECT header, expires_at, last_accessed_at FROM sessions WHERE ${BY_KEY} AND ${LIVE}`),
    eventsAsc: events("ASC", false),
    eventsDesc: events("DESC", false),
    eventsAscTyped: events("ASC", true),
    eventsDescTyped: events("DESC", true),
    listStatement,
    count: db.prepare(`SELECT count(*) FROM sessions WHERE namespace = ? AND user_id = ? AND ${LIVE}`).pluck(),
    selectScope: db.prepare("SELECT state, version FROM scopes WHERE namespace = ? AND scope = ? AND owner = ?"),
    selectIdempotency: db.prepare(
      `SELECT fingerprint, first_seq, last_seq, version, at FROM idempotency
       WHERE rid = (SELECT rid FROM sessions WHERE ${BY_KEY}) AND key = ?`,
    ),
    selectApiKey: db.prepare("SELECT * FROM api_keys WHERE hash = ?"),
    listApiKeys: db.prepare("SELECT * FROM api_keys ORDER BY created_at, rowid"),

    selectMark: db.prepare(`SELECT rid, version, last_seq FROM sessions WHERE ${BY_KEY}`),
    dataVersion: db.prepare("PRAGMA data_version").pluck(),
    checkpoint: db.prepare("PRAGMA wal_checkpoint(TRUNCATE)"),
  };
}

/** Sessions and scoped states a read cache holds at most. */
const READ_CACHE_ENTRIES = 1024;

/**
 * Headers and scoped states this connection has read, served again without a query for as long as
 * the database holds exactly them. A commit by any other connection or process moves `PRAGMA
 * data_version`, which empties the cache before the next read; this store's own writes (which do
 * not move it) drop what they change before they run. Values are deep-frozen, so handing the same
 * one out twice is safe. Expiry is still decided per read, against the caller's `now`.
 */
export class ReadCache {
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
