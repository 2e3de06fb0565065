import type { Database } from "better-sqlite3";
import { FrontdeskError } from "../../core/errors.ts";

/**
 * Schema changes in order; `PRAGMA user_version` holds how many have been applied. Append only:
 * a released migration is never edited, a change is a new entry.
 */
export const MIGRATIONS: readonly string[] = [
  `
  -- One row per session. The header JSON is the record; the columns copy the fields that queries
  -- filter or order on. user_id is '' for a null owner, which no valid user id can be.
  -- AUTOINCREMENT so a deleted session's rid is never handed to a new one.
  CREATE TABLE sessions (
    rid              INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace        TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    last_seq         INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    title            TEXT,
    purpose          TEXT,
    tags             TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_accessed_at INTEGER NOT NULL,
    expires_at       INTEGER,
    header           TEXT    NOT NULL,
    UNIQUE (namespace, user_id, id)
  );
  -- Keyset pages for one owner, and for every owner (admin views), in both orders.
  CREATE INDEX sessions_owner_created ON sessions (namespace, user_id, created_at, id);
  CREATE INDEX sessions_owner_updated ON sessions (namespace, user_id, updated_at, id);
  CREATE INDEX sessions_created ON sessions (namespace, created_at, user_id, id);
  CREATE INDEX sessions_updated ON sessions (namespace, updated_at, user_id, id);
  CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL;

  CREATE TABLE session_tags (
    rid INTEGER NOT NULL,
    tag TEXT    NOT NULL,
    PRIMARY KEY (rid, tag)
  ) WITHOUT ROWID;
  CREATE INDEX session_tags_tag ON session_tags (tag, rid);

  -- Keyed by one integer, eid = (rid << 32) + seq, so an append writes a single B-tree and "the last
  -- k events" is a rowid range scan. A separate (rid, seq) index would cost one more page per
  -- append, and WITHOUT ROWID would drag bodies of hundreds of KiB into the interior pages.
  CREATE TABLE events (
    eid  INTEGER PRIMARY KEY,
    type TEXT    NOT NULL,
    body TEXT    NOT NULL,
    rid  INTEGER GENERATED ALWAYS AS (eid >> 32) VIRTUAL,
    seq  INTEGER GENERATED ALWAYS AS (eid & 4294967295) VIRTUAL
  );

  CREATE TABLE idempotency (
    rid         INTEGER NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (rid, key)
  ) WITHOUT ROWID;

  -- owner is the user id ('' for null) for scope 'user', and always '' for scope 'app'.
  CREATE TABLE scopes (
    namespace TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    owner     TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (namespace, scope, owner)
  );

  CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    prefix     TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    admin      INTEGER NOT NULL,
    label      TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );

  -- Triggers keep the tag index and the cascade inside the statement that changes a session, so
  -- delete, sweep and create-over-expired cannot leave orphans whichever path removes the row.
  CREATE TRIGGER sessions_tags_insert AFTER INSERT ON sessions WHEN new.tags <> '[]' BEGIN
    INSERT OR IGNORE INTO session_tags (rid, tag) SELECT new.rid, value FROM json_each(new.tags);
  END;
  CREATE TRIGGER sessions_tags_update AFTER UPDATE OF tags ON sessions WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM session_tags WHERE rid = old.rid;
    INSERT OR IGNORE INTO session_tags (rid, tag) SELECT new.rid, value FROM json_each(new.tags);
  END;
  CREATE TRIGGER sessions_cascade AFTER DELETE ON sessions BEGIN
    DELETE FROM events WHERE eid >= old.rid << 32 AND eid < (old.rid + 1) << 32;
    DELETE FROM session_tags WHERE rid = old.rid;
    DELETE FROM idempotency WHERE rid = old.rid;
  END;
  `,
  `
  -- A key's own request rate (requests a second); NULL: the server's default.
  ALTER TABLE api_keys ADD COLUMN requests_per_second REAL;
  `,
  `
  -- Lists of every owner filtered on one status (admin views), newest or oldest first: without it
  -- a rare status is found by walking sessions_created through every other status. tags rides in
  -- the entry so list-query.ts's tag prefilter rejects rows without reading them from the table.
  -- Commits set status and tags, so each one rewrites its entry in place (the key does not move).
  CREATE INDEX sessions_status_created ON sessions (namespace, status, created_at, user_id, id, tags);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema to {@link SCHEMA_VERSION}. The version is re-read inside an IMMEDIATE
 * transaction, so two processes opening a new file at once apply each migration exactly once.
 */
export function migrate(db: Database): void {
  const readVersion = (): number => db.pragma("user_version", { simple: true }) as number;
  if (readVersion() === SCHEMA_VERSION) return;
  db.transaction(() => {
    const from = readVersion();
    if (from > SCHEMA_VERSION) {
      throw new FrontdeskError(
        "unavailable",
        `The SQLite database has schema version ${from}, newer than this Frontdesk supports (${SCHEMA_VERSION})`,
      );
    }
    for (let version = from; version < SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
