/**
 * A key ring in a PostgreSQL table, for several server hosts sharing one session store: every host
 * opens the same ring, `put` settles a race for an owner's first key in the database, and a
 * `delete` on one host is seen by the others once their key cache expires.
 *
 * The ring's database must not be the session store's, nor share its backups (docs/encryption.md,
 * "A key ring shared by several hosts"): PostgreSQL keeps a deleted row's bytes in the table's
 * pages until they are rewritten, and in its WAL, archives and base backups for as long as those
 * are kept. `scrub()` rewrites the table (`VACUUM FULL`) so a destroyed wrapping leaves the
 * table's live files; only the ring's own backup retention bounds the rest.
 */
import type { Pool, PoolConfig } from "pg";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { KeyRing, KeyRingEntry } from "./key-ring.ts";

export interface PostgresKeyRingOptions {
  /**
   * `postgres://user:password@host:5432/database` (or `postgresql://`): a database apart from the
   * session store's. `?schema=` and `?table=` in the URL are read like the options below (the
   * options win); every other parameter (`sslmode`…) goes to node-postgres.
   */
  readonly url: string | URL;
  /**
   * A letter or `_`, then letters, digits or `_`, at most 63 characters; created when missing.
   * @default "public"
   */
  readonly schema?: string;
  /** Same rule as `schema`; created when missing. @default "frontdesk_key_ring" */
  readonly table?: string;
  /** How long to wait for a connection before failing with `unavailable`. @default 2000 */
  readonly connectionTimeoutMs?: number;
  /** Server-side `statement_timeout` of the ring's connections. @default 10000 */
  readonly statementTimeoutMs?: number;
  /** Pool size. @default 4 */
  readonly maxConnections?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Keeps the ring's DDL apart from the session store's migration lock (a different class). */
const CREATE_LOCK_CLASS = 0x6b657972; // "keyr"

/** Rows read per step of `entries()`, so no cursor stays open while the caller writes. */
const PAGE = 256;

interface Row {
  namespace: string;
  owner: string;
  data_key_id: string;
  master_key_id: string;
  wrapped: Buffer;
  created_at: string;
}

// A null owner (the namespace key) is stored as "", which no user id can be.
const toEntry = (row: Row): KeyRingEntry => ({
  namespace: row.namespace,
  userId: row.owner === "" ? null : row.owner,
  dataKeyId: row.data_key_id,
  masterKeyId: row.master_key_id,
  wrapped: Buffer.from(row.wrapped),
  createdAt: Number(row.created_at),
});

/** The URL without the ring's own parameters, and those parameters. */
function splitUrl(url: string | URL): { connectionString: string; schema?: string; table?: string } {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new FrontdeskError("invalid_request", "The key ring's PostgreSQL URL is not a valid URL");
  }
  if (!/^postgres(ql)?:$/i.test(parsed.protocol)) {
    throw new FrontdeskError(
      "invalid_request",
      "The key ring's PostgreSQL URL must start with postgres:// or postgresql://",
    );
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  const table = parsed.searchParams.get("table") ?? undefined;
  parsed.searchParams.delete("schema");
  parsed.searchParams.delete("table");
  return { connectionString: parsed.href, ...(schema && { schema }), ...(table && { table }) };
}

const checkIdentifier = (what: string, name: string): string => {
  if (!IDENTIFIER.test(name)) {
    throw new FrontdeskError("invalid_request", `Invalid key ring ${what} name: must match ${IDENTIFIER.source}`);
  }
  return name;
};

/**
 * Any failure but Frontdesk's own becomes `unavailable`, naming the SQLSTATE or the socket error's
 * code only: node-postgres messages may quote the connection string, password included.
 */
function translate(error: unknown): FrontdeskError {
  if (isFrontdeskError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (code === "3D000") {
    return new FrontdeskError(
      "unavailable",
      "The key ring's PostgreSQL database does not exist: create it (`createdb NAME`), or fix the URL",
      { cause: error },
    );
  }
  const reason = typeof code === "string" ? code : "no connection";
  return new FrontdeskError("unavailable", `The PostgreSQL key ring is unavailable (${reason})`, { cause: error });
}

/**
 * Opens the key ring in table `schema.table` of the database at `url`, creating both when missing
 * (safe when several hosts start at once). Nothing connects before the first call.
 * @example const keyRing = postgresKeyRing({ url: "postgres://frontdesk_keys@keys-db/keys" });
 */
export function postgresKeyRing(options: PostgresKeyRingOptions): KeyRing {
  const split = splitUrl(options.url);
  const schemaName = checkIdentifier("schema", options.schema ?? split.schema ?? "public");
  const tableName = checkIdentifier("table", options.table ?? split.table ?? "frontdesk_key_ring");
  const table = `"${schemaName}"."${tableName}"`;
  const poolConfig: PoolConfig = {
    application_name: "frontdesk-key-ring",
    connectionString: split.connectionString,
    max: options.maxConnections ?? 4,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 2000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    keepAlive: true,
  };
  let pool: Pool | undefined;
  let ready: Promise<void> | undefined;
  let closed = false;

  const getPool = async (): Promise<Pool> => {
    if (pool) return pool;
    const { default: pg } = await import("pg");
    if (closed) throw new FrontdeskError("unavailable", "The key ring is closed");
    if (!pool) {
      pool = new pg.Pool(poolConfig);
      // An idle connection that dies is replaced by the pool; unhandled, the event would end the process.
      pool.on("error", () => undefined);
    }
    return pool;
  };

  /**
   * Creates the schema and table when missing, under a transaction-scoped advisory lock, so hosts
   * starting together never race the catalog. Existence is checked first: a role that may use a
   * table made by its DBA, but not create one, still opens the ring.
   */
  const createTable = async (handle: Pool): Promise<void> => {
    const client = await handle.connect();
    let failure: unknown;
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [CREATE_LOCK_CLASS, table]);
      const { rows } = await client.query<{ schema: boolean; table: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema,
                to_regclass($2) IS NOT NULL AS table`,
        [schemaName, table],
      );
      if (!rows[0]?.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schemaName}"`);
      if (!rows[0]?.table) {
        // COLLATE "C": entries() pages on (namespace, owner) in byte order, whatever the database's locale.
        await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
          namespace TEXT COLLATE "C" NOT NULL,
          owner TEXT COLLATE "C" NOT NULL,
          data_key_id TEXT NOT NULL,
          master_key_id TEXT NOT NULL,
          wrapped BYTEA NOT NULL,
          created_at BIGINT NOT NULL,
          PRIMARY KEY (namespace, owner)
        )`);
      }
      await client.query("COMMIT");
    } catch (error) {
      failure = error;
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release(failure === undefined ? undefined : true);
    }
  };

  const run = async <T>(body: (handle: Pool) => Promise<T>): Promise<T> => {
    if (closed) throw new FrontdeskError("unavailable", "The key ring is closed");
    try {
      const handle = await getPool();
      // A failed creation is not remembered: the next call tries again, so the ring recovers on its own.
      ready ??= createTable(handle).catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      await ready;
      return await body(handle);
    } catch (error) {
      throw translate(error);
    }
  };

  const select = async (handle: Pool, namespace: string, owner: string): Promise<Row | undefined> =>
    (await handle.query<Row>(`SELECT * FROM ${table} WHERE namespace = $1 AND owner = $2`, [namespace, owner])).rows[0];

  return {
    get: (namespace, userId) =>
      run(async (handle) => {
        const row = await select(handle, namespace, userId ?? "");
        return row && toEntry(row);
      }),

    put: (entry) =>
      run(async (handle) => {
        const owner = entry.userId ?? "";
        for (;;) {
          const inserted = await handle.query<Row>(
            `INSERT INTO ${table} (namespace, owner, data_key_id, master_key_id, wrapped, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (namespace, owner) DO NOTHING RETURNING *`,
            [entry.namespace, owner, entry.dataKeyId, entry.masterKeyId, entry.wrapped, entry.createdAt],
          );
          // Lost the race: the winner's row is committed (ON CONFLICT waited for it), and a new
          // statement's snapshot sees it; the same statement's would not.
          const row = inserted.rows[0] ?? (await select(handle, entry.namespace, owner));
          // No row: the winner's key was deleted between the two statements, so the owner has none; try again.
          if (row) return toEntry(row);
        }
      }),

    rewrap: (entry) =>
      run(
        async (handle) =>
          (
            await handle.query(
              `UPDATE ${table} SET master_key_id = $1, wrapped = $2
               WHERE namespace = $3 AND owner = $4 AND data_key_id = $5`,
              [entry.masterKeyId, entry.wrapped, entry.namespace, entry.userId ?? "", entry.dataKeyId],
            )
          ).rowCount === 1,
      ),

    delete: (namespace, userId) =>
      run(
        async (handle) =>
          (await handle.query(`DELETE FROM ${table} WHERE namespace = $1 AND owner = $2`, [namespace, userId ?? ""]))
            .rowCount === 1,
      ),

    async *entries() {
      let after: [string, string] | undefined;
      for (;;) {
        const rows = await run(
          async (handle) =>
            (after
              ? await handle.query<Row>(
                  `SELECT * FROM ${table} WHERE (namespace, owner) > ($1, $2) ORDER BY namespace, owner LIMIT $3`,
                  [after[0], after[1], PAGE],
                )
              : await handle.query<Row>(`SELECT * FROM ${table} ORDER BY namespace, owner LIMIT $1`, [PAGE])
            ).rows,
        );
        for (const row of rows) yield toEntry(row);
        const last = rows.at(-1);
        if (!last || rows.length < PAGE) return;
        after = [last.namespace, last.owner];
      }
    },

    /**
     * Rewrites the table into new files without its deleted and replaced rows. A plain `VACUUM`
     * only marks their space free and leaves their bytes in the page; `VACUUM FULL` copies the live
     * rows out, so it is what removes them, at the price of locking the ring (small: one short row
     * per user) while it runs. Rows an older open transaction may still see are copied too.
     */
    scrub: () =>
      run(async (handle) => {
        await handle.query(`VACUUM FULL ${table}`);
        return { pending: false };
      }),

    async close() {
      if (closed) return;
      closed = true;
      const handle = pool;
      pool = undefined;
      await handle?.end().catch(() => undefined);
    },
  };
}
