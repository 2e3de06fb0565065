/**
 * The PostgreSQL store's pool and the one context its parts share. Nothing may connect before the
 * first call, the schema must be migrated before any statement runs, and a store must recover on
 * its own once PostgreSQL is back, so the lazy pool, the cached-until-it-fails migration, the retry
 * of serialization failures and the mapping of every backend error to a contract code all live
 * here, where each method's call passes through.
 */
import { createHash } from "node:crypto";
import type { Pool, PoolConfig, QueryResultRow } from "pg";
import pg from "pg";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { SessionKey } from "../../core/model.ts";
import type { ScopedState } from "../types.ts";
import { migrate, SQLSTATE_CONFLICT, SQLSTATE_INVALID, SQLSTATE_NOT_FOUND } from "./migrations.ts";
import { quoteIdentifier, type Statement, type Statements, statements } from "./sql.ts";

/** Where the store reports what it cannot throw: idle connection errors, the durability check. */
export interface PostgresStoreLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

export type HintListener = (lastSeq: number) => void;

/** The local listeners of one session (live.ts keeps them). */
export interface Subscription {
  readonly key: SessionKey;
  readonly listeners: Set<HintListener>;
}

/** A `readScope` waiting for the tick's batch (reads.ts). */
export interface ScopeRead {
  readonly namespace: string;
  readonly scope: "user" | "app";
  readonly owner: string;
  resolve(state: ScopedState): void;
  reject(error: unknown): void;
}

/** What the store's parts share: its settings, its pool, the live connection and the batches. One per store. */
export interface PostgresContext {
  /** The schema, quoted for SQL. */
  readonly schema: string;
  readonly schemaName: string;
  /** Keeps prepared statement names apart per schema on a shared pool. */
  readonly statementTag: string;
  readonly sql: Statements;
  readonly logger: PostgresStoreLogger;
  /** The pool the caller owns, if any: used, never ended. */
  readonly callerPool: Pool | undefined;
  /** The settings of the pool the store opens itself, and of its LISTEN connection then. */
  readonly poolConfig: PoolConfig;
  /** Named in the error when the database is missing. */
  readonly databaseName: string | undefined;
  /** Bound once, so `close()` can detach it from a caller's pool. */
  readonly onPoolError: (error: Error) => void;

  pool: Pool | undefined;
  readyPromise: Promise<void> | undefined;
  durabilityChecked: boolean;
  closed: boolean;
  closing: Promise<void> | undefined;

  /** live.ts: the NOTIFY channel, the subscribers, the LISTEN connection and the outgoing hint batch. */
  readonly channel: string;
  readonly subscriptions: Map<string, Subscription>;
  listenClient: pg.Client | undefined;
  listening: Promise<void> | undefined;
  reconnectTimer: NodeJS.Timeout | undefined;
  reconnectDelayMs: number;
  heartbeat: NodeJS.Timeout | undefined;
  pendingHints: Map<string, string>;
  notifying: Promise<void> | undefined;
  hintTimer: NodeJS.Timeout | undefined;
  lastHintAt: number;
  hintFailureLogged: boolean;

  /** reads.ts: the scope reads asked for in this tick, sent as one query. */
  scopeReads: ScopeRead[] | undefined;
}

export interface ConnectionSettings {
  readonly schemaName: string;
  readonly connectionString: string | undefined;
  readonly callerPool: Pool | undefined;
  readonly poolConfig: PoolConfig;
  readonly logger: PostgresStoreLogger;
  readonly channel: string;
}

export function createContext(settings: ConnectionSettings): PostgresContext {
  const { schemaName, logger } = settings;
  const schema = quoteIdentifier(schemaName);
  // Prepared statement names are per connection and must not collide across schemas sharing a pool.
  const statementTag =
    schemaName.length <= 40 ? schemaName : createHash("sha256").update(schemaName).digest("hex").slice(0, 40);
  return {
    schema,
    schemaName,
    statementTag,
    sql: statements(schema, statementTag),
    logger,
    callerPool: settings.callerPool,
    poolConfig: settings.poolConfig,
    databaseName: databaseOf(settings.connectionString, settings.callerPool),
    onPoolError: (error) => {
      logger.warn(
        { code: (error as { code?: string }).code },
        "an idle PostgreSQL connection failed; the pool replaces it",
      );
    },
    pool: undefined,
    readyPromise: undefined,
    durabilityChecked: false,
    closed: false,
    closing: undefined,
    channel: settings.channel,
    subscriptions: new Map(),
    listenClient: undefined,
    listening: undefined,
    reconnectTimer: undefined,
    reconnectDelayMs: 100,
    heartbeat: undefined,
    pendingHints: new Map(),
    notifying: undefined,
    hintTimer: undefined,
    lastHintAt: Number.NEGATIVE_INFINITY,
    hintFailureLogged: false,
    scopeReads: undefined,
  };
}

const getPool = (ctx: PostgresContext): Pool => {
  if (ctx.pool) return ctx.pool;
  const pool = ctx.callerPool ?? new pg.Pool(ctx.poolConfig);
  pool.on("error", ctx.onPoolError);
  ctx.pool = pool;
  return pool;
};

/** One statement on a pooled connection; a {@link Statement} is prepared once per connection. */
export const query = <R extends QueryResultRow>(
  ctx: PostgresContext,
  statement: Statement | string,
  values?: unknown[],
) =>
  getPool(ctx).query<R>(
    typeof statement === "string"
      ? { text: statement, values }
      : { name: statement.name, text: statement.text, values },
  );

const checkDurability = async (ctx: PostgresContext, client: pg.PoolClient): Promise<void> => {
  const { rows } = await client.query<{ synchronous_commit: string; fsync: string }>(
    "SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync",
  );
  const row = rows[0];
  if (row?.synchronous_commit === "off") {
    ctx.logger.warn(
      { setting: "synchronous_commit", value: "off", schema: ctx.schemaName },
      "PostgreSQL synchronous_commit is off: commits are acknowledged before they are durable, so a server crash can lose the last ones",
    );
  }
  if (row?.fsync === "off") {
    ctx.logger.warn(
      { setting: "fsync", value: "off", schema: ctx.schemaName },
      "PostgreSQL fsync is off: a server crash can lose or corrupt data",
    );
  }
};

const ready = (ctx: PostgresContext): Promise<void> =>
  (ctx.readyPromise ??= (async () => {
    const client = await getPool(ctx).connect();
    let failure: unknown;
    try {
      await migrate(client, ctx.schema, ctx.schemaName);
      if (!ctx.durabilityChecked) {
        ctx.durabilityChecked = true;
        await checkDurability(ctx, client).catch(() => undefined);
      }
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      client.release(failure === undefined ? undefined : true);
    }
  })().catch((error: unknown) => {
    // Not cached: the next call migrates again, so the store recovers once PostgreSQL is back.
    ctx.readyPromise = undefined;
    throw error;
  }));

/** The one wrapper every public method goes through: open check, migrations, error translation. */
export const guarded =
  <A extends unknown[], R>(ctx: PostgresContext, body: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    if (ctx.closed) throw new FrontdeskError("unavailable", "The postgres store is closed");
    try {
      await ready(ctx);
      return await body(...args);
    } catch (error) {
      throw translateError(error, ctx.databaseName);
    }
  };

const SERIALIZATION_ATTEMPTS = 5;
const RETRYABLE_SQLSTATES = new Set(["40001", "40P01"]);

/** Runs a write again after a serialization failure or deadlock, which PostgreSQL rolled back whole. */
export async function retryingConflicts<R>(write: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= SERIALIZATION_ATTEMPTS || code === undefined || !RETRYABLE_SQLSTATES.has(code)) throw error;
      await sleep(Math.random() * 10 * attempt);
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Ends the pool the store opened, or lets go of the caller's. */
export async function closePool(ctx: PostgresContext): Promise<void> {
  const { pool } = ctx;
  if (pool && ctx.callerPool) pool.off("error", ctx.onPoolError);
  else if (pool) await pool.end().catch(() => undefined);
}

const INVALID_INPUT_SQLSTATES = new Set(["22P02", "22021", "22P05", "22001", "22003", "54000"]);

/** The SQLSTATE of a connection to a database that does not exist. */
const SQLSTATE_NO_DATABASE = "3D000";

/** The database a connection string or pool names, when it says; PostgreSQL's default is the user's name. */
function databaseOf(connectionString: string | undefined, pool: Pool | undefined): string | undefined {
  if (pool) return pool.options.database ?? undefined;
  if (connectionString === undefined) return undefined;
  try {
    const url = new URL(connectionString);
    const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
    return name !== "" ? name : decodeURIComponent(url.username) || undefined;
  } catch {
    return undefined;
  }
}

/** What to do about a database that is not there: the operator creates it, or fixes the URL. */
function missingDatabase(error: unknown, configured: string | undefined): FrontdeskError {
  // The server names the database in its message (never a secret); the configured name is the fallback.
  const reported = /database "(.+)" does not exist/.exec(String((error as { message?: unknown }).message))?.[1];
  const name = reported ?? configured;
  if (name === undefined) {
    return new FrontdeskError(
      "unavailable",
      "The PostgreSQL database in the URL does not exist: create it (`createdb NAME` or `CREATE DATABASE`), or fix the URL",
      { cause: error },
    );
  }
  const shellName = /^[\w.-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`;
  const sqlName = `"${name.replaceAll('"', '""')}"`;
  return new FrontdeskError(
    "unavailable",
    `The PostgreSQL database "${name}" does not exist: create it with \`createdb ${shellName}\` (or \`CREATE DATABASE ${sqlName};\` in psql), or fix the database name in the URL`,
    { cause: error },
  );
}

/** Backend errors become the contract's codes; messages never carry the cause's text (it may hold secrets). */
function translateError(error: unknown, databaseName?: string): unknown {
  if (isFrontdeskError(error)) return error;
  const { code, detail, message } = error as { code?: unknown; detail?: unknown; message?: unknown };
  if (code === SQLSTATE_NO_DATABASE) return missingDatabase(error, databaseName);
  if (code === SQLSTATE_NOT_FOUND) return new FrontdeskError("not_found", "Session not found");
  if (code === SQLSTATE_INVALID) {
    return new FrontdeskError(
      "invalid_request",
      message === "rewrite"
        ? "A commit may only rewrite events already in the log"
        : "The commit's events must continue the log without a gap",
    );
  }
  if (code === SQLSTATE_CONFLICT) {
    const currentVersion = Number(detail);
    const scope = typeof message === "string" && message.startsWith("scope:") ? message.slice(6) : undefined;
    if (scope) {
      return new FrontdeskError("conflict", `The ${scope}: state changed since it was read`, {
        details: { scope, currentVersion },
      });
    }
    if (message === "idempotency") {
      return new FrontdeskError("conflict", "This idempotency key was already used", { cause: error });
    }
    return new FrontdeskError(
      "conflict",
      message === "session exists" ? "A session with this id already exists" : "The session changed since it was read",
      { details: { currentVersion } },
    );
  }
  if (code === "23505")
    return new FrontdeskError("conflict", "A record with this key already exists", { cause: error });
  if (typeof code === "string" && INVALID_INPUT_SQLSTATES.has(code)) {
    return new FrontdeskError("invalid_request", `PostgreSQL rejected the value (SQLSTATE ${code})`, { cause: error });
  }
  if (typeof code === "string" && (code.startsWith("42") || code.startsWith("XX"))) {
    return new FrontdeskError("internal", `PostgreSQL store error (SQLSTATE ${code})`, { cause: error });
  }
  const reason = typeof code === "string" ? code : "no connection";
  return new FrontdeskError("unavailable", `PostgreSQL is unavailable (${reason})`, { cause: error });
}
