/**
 * A key ring in its own SQLite file: never the session store's file, and never in its backups
 * (docs/encryption.md, "Backups"). Several processes on one machine may share it (WAL mode, as
 * the SQLite store). A deleted key must not survive in the file: `secure_delete` zeroes the row's
 * bytes in the page, and a `wal_checkpoint(TRUNCATE)` after each delete moves that page into the
 * database and empties the write-ahead log, which still held the page as it was.
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { KeyRing, KeyRingEntry } from "./key-ring.ts";

export interface SqliteKeyRingOptions {
  /**
   * How long a write waits for another process's write lock, in milliseconds (it blocks this
   * process's event loop, as better-sqlite3 is synchronous).
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
}

interface Row {
  namespace: string;
  owner: string;
  data_key_id: string;
  master_key_id: string;
  wrapped: Buffer;
  created_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS data_keys (
  namespace TEXT NOT NULL,
  owner TEXT NOT NULL,
  data_key_id TEXT NOT NULL,
  master_key_id TEXT NOT NULL,
  wrapped BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, owner)
) WITHOUT ROWID`;

/** Rows read per step of `entries()`, so no statement stays open while the caller writes. */
const PAGE = 256;

// A null owner (the namespace key) is stored as "", which no user id can be.
const toEntry = (row: Row): KeyRingEntry => ({
  namespace: row.namespace,
  userId: row.owner === "" ? null : row.owner,
  dataKeyId: row.data_key_id,
  masterKeyId: row.master_key_id,
  wrapped: Buffer.from(row.wrapped),
  createdAt: row.created_at,
});

/**
 * Opens (creating when missing, readable by its owner only) the key ring at `path`. Nothing is
 * opened until the first call.
 * @example const keyRing = sqliteKeyRing("/var/lib/frontdesk/keyring.db");
 */
export function sqliteKeyRing(path: string, options: SqliteKeyRingOptions = {}): KeyRing {
  let db: BetterSqlite3.Database | undefined;
  let opening: Promise<BetterSqlite3.Database> | undefined;
  let closed = false;
  /** A checkpoint that a reader stopped from truncating the log: retried by every later write. */
  let scrubPending = false;

  const open = async (): Promise<BetterSqlite3.Database> => {
    const { default: Database } = await import("better-sqlite3");
    mkdirSync(dirname(path), { recursive: true });
    const created = !existsSync(path);
    const handle = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
    try {
      if (created) chmodSync(path, 0o600);
      handle.pragma("journal_mode = WAL");
      // Losing a write here loses every value its key sealed: fsync each one.
      handle.pragma("synchronous = FULL");
      handle.pragma("secure_delete = ON");
      handle.exec(SCHEMA);
      return handle;
    } catch (error) {
      handle.close();
      throw error;
    }
  };

  const run = async <T>(body: (handle: BetterSqlite3.Database) => T): Promise<T> => {
    if (closed) throw new FrontdeskError("unavailable", "The key ring is closed");
    try {
      if (!db) {
        // A failed open is not remembered: the next call tries again.
        opening ??= open().finally(() => {
          opening = undefined;
        });
        db = await opening;
      }
      return body(db);
    } catch (error) {
      if (isFrontdeskError(error)) throw error;
      const code = (error as { code?: unknown }).code;
      throw new FrontdeskError("unavailable", `The key ring failed (${typeof code === "string" ? code : "error"})`, {
        cause: error,
      });
    }
  };

  /** Truncates the write-ahead log, so pages as they were before a delete or rewrap are gone. */
  const checkpoint = (handle: BetterSqlite3.Database): boolean => {
    const [result] = handle.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    scrubPending = (result?.busy ?? 0) !== 0;
    return !scrubPending;
  };

  const write = <T>(body: (handle: BetterSqlite3.Database) => T): Promise<T> =>
    run((handle) => {
      const result = handle.transaction(() => body(handle)).immediate();
      if (scrubPending) checkpoint(handle);
      return result;
    });

  return {
    get: (namespace, userId) =>
      run((handle) => {
        const row = handle
          .prepare("SELECT * FROM data_keys WHERE namespace = ? AND owner = ?")
          .get(namespace, userId ?? "") as Row | undefined;
        return row && toEntry(row);
      }),

    put: (entry) =>
      write((handle) => {
        const owner = entry.userId ?? "";
        handle
          .prepare(
            `INSERT INTO data_keys (namespace, owner, data_key_id, master_key_id, wrapped, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, owner) DO NOTHING`,
          )
          .run(entry.namespace, owner, entry.dataKeyId, entry.masterKeyId, entry.wrapped, entry.createdAt);
        return toEntry(
          handle
            .prepare("SELECT * FROM data_keys WHERE namespace = ? AND owner = ?")
            .get(entry.namespace, owner) as Row,
        );
      }),

    rewrap: (entry) =>
      write(
        (handle) =>
          handle
            .prepare(
              "UPDATE data_keys SET master_key_id = ?, wrapped = ? WHERE namespace = ? AND owner = ? AND data_key_id = ?",
            )
            .run(entry.masterKeyId, entry.wrapped, entry.namespace, entry.userId ?? "", entry.dataKeyId).changes === 1,
      ),

    delete: (namespace, userId) =>
      run((handle) => {
        const removed =
          handle
            .transaction(
              () =>
                handle.prepare("DELETE FROM data_keys WHERE namespace = ? AND owner = ?").run(namespace, userId ?? "")
                  .changes,
            )
            .immediate() === 1;
        checkpoint(handle);
        return removed;
      }),

    async *entries() {
      let after: [string, string] | undefined;
      for (;;) {
        const rows = await run(
          (handle) =>
            (after
              ? handle
                  .prepare(
                    "SELECT * FROM data_keys WHERE (namespace, owner) > (?, ?) ORDER BY namespace, owner LIMIT ?",
                  )
                  .all(after[0], after[1], PAGE)
              : handle.prepare("SELECT * FROM data_keys ORDER BY namespace, owner LIMIT ?").all(PAGE)) as Row[],
        );
        for (const row of rows) yield toEntry(row);
        const last = rows.at(-1);
        if (!last || rows.length < PAGE) return;
        after = [last.namespace, last.owner];
      }
    },

    scrub: () => run((handle) => ({ pending: !checkpoint(handle) })),

    async close() {
      if (closed) return;
      closed = true;
      const handle = db ?? (await opening?.catch(() => undefined));
      db = undefined;
      handle?.close();
    },
  };
}
