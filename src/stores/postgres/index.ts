/**
 * The PostgreSQL store (node-postgres). This module reads the options and wires the parts, each a
 * set of plain functions over one `PostgresContext`: connection.ts (the pool, migrations on first
 * use, retries and error mapping), commands.ts (writes), reads.ts and live.ts (LISTEN/NOTIFY
 * hints); the SQL is in sql.ts and the schema with its functions in migrations.ts.
 */
import type { Pool, PoolConfig } from "pg";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionStore, StoreContext } from "../types.ts";
import * as commands from "./commands.ts";
import { closePool, createContext, guarded, type PostgresStoreLogger } from "./connection.ts";
import { channelFor, closeLive, subscribe } from "./live.ts";
import * as reads from "./reads.ts";

export type { PostgresStoreLogger } from "./connection.ts";

/**
 * Options of the PostgreSQL store. Give a connection (`url` or `connectionString`) or your own
 * `pool`. Options are read once and never mutated.
 * @example createPostgresStore({ url: "postgres://frontdesk:secret@db:5432/app", schema: "frontdesk" })
 */
export interface PostgresStoreOptions {
  /**
   * Connection URL: `postgres://user:password@host:5432/database?sslmode=require`. A `schema` query
   * parameter is taken out and used when the `schema` option is not given.
   */
  url?: string | URL;
  /** Same as `url`, under node-postgres's name. `url` wins when both are given. */
  connectionString?: string;
  /**
   * A pool you own. The store uses it, attaches an `'error'` handler while open, and never ends it;
   * `maxConnections`, `connectionTimeoutMs`, `statementTimeoutMs` and `idleTimeoutMs` then do not apply. Live
   * events open one extra connection with the pool's own settings (`pool.options`).
   */
  pool?: Pool;
  /**
   * Schema holding the store's tables, created on first use. A letter or `_`, then letters, digits
   * or `_`, at most 63 characters; used quoted, so case is kept.
   * @default "frontdesk"
   */
  schema?: string;
  /** Pool size. @default 10 */
  maxConnections?: number;
  /**
   * How long to wait for a connection (new or from a busy pool) before failing with `unavailable`.
   * @default 2000
   */
  connectionTimeoutMs?: number;
  /** Server-side `statement_timeout` for the store's connections; 0 keeps the server's own. @default 30000 */
  statementTimeoutMs?: number;
  /**
   * How long a connection may sit idle in the pool before it is closed; 0 keeps idle connections
   * until the store closes. A new connection costs its first calls about 10 ms (connecting, and
   * PostgreSQL planning the store's functions anew), so closing them after node-postgres's 10 s
   * made every request after a quiet spell that slow.
   * @default 300000
   */
  idleTimeoutMs?: number;
  /** Receives idle-connection errors and the startup durability warning. @default console.warn */
  logger?: PostgresStoreLogger;
}

export const STORE_NAME = "postgres";

const DEFAULT_IDLE_TIMEOUT_MS = 300_000;

/** Schema names the store accepts: a plain identifier, so quoting it is enough. */
export const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const DEFAULT_LOGGER: PostgresStoreLogger = {
  warn: (details, message) => console.warn(`frontdesk: ${message}`, details),
};

/**
 * The PostgreSQL store: shared by any number of server instances, durable once PostgreSQL has
 * acknowledged the commit. Every commit is one statement (a function call) in its own transaction;
 * live events cross instances through LISTEN/NOTIFY. Nothing connects before the first call.
 * @example
 * const store = createPostgresStore({ url: process.env.DATABASE_URL });
 * const manager = createSessionManager({ store });
 */
export function createPostgresStore(options: PostgresStoreOptions, _context: StoreContext = {}): SessionStore {
  const connection = splitSchemaParam(options.url !== undefined ? String(options.url) : options.connectionString);
  const connectionString = connection.url;
  const schemaName = options.schema ?? connection.schema ?? "frontdesk";
  if (!SCHEMA_PATTERN.test(schemaName)) {
    throw new FrontdeskError("invalid_request", `Invalid postgres schema name: must match ${SCHEMA_PATTERN.source}`);
  }
  if (connectionString === undefined && options.pool === undefined) {
    throw new FrontdeskError("invalid_request", "The postgres store needs a `url`, a `connectionString` or a `pool`");
  }
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (!Number.isSafeInteger(idleTimeoutMs) || idleTimeoutMs < 0) {
    throw new FrontdeskError("invalid_request", "idleTimeoutMs must be a non-negative integer (ms)");
  }
  const poolConfig: PoolConfig = {
    application_name: "frontdesk",
    ...(connectionString !== undefined ? { connectionString } : {}),
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 2000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idleTimeoutMillis: idleTimeoutMs,
    keepAlive: true,
  };
  const ctx = createContext({
    schemaName,
    connectionString,
    callerPool: options.pool,
    poolConfig,
    logger: options.logger ?? DEFAULT_LOGGER,
    channel: channelFor(schemaName),
  });

  return {
    name: STORE_NAME,
    capabilities: { shared: true },

    commit: guarded(ctx, (commit) => commands.commit(ctx, commit)),
    append: guarded(ctx, (request) => commands.append(ctx, request)),
    touch: guarded(ctx, (key, times, now) => commands.touch(ctx, key, times, now)),
    delete: guarded(ctx, (key, condition) => commands.deleteSession(ctx, key, condition)),
    sweep: guarded(ctx, (now, limit) => commands.sweep(ctx, now, limit)),
    putApiKey: guarded(ctx, (record) => commands.putApiKey(ctx, record)),
    revokeApiKey: guarded(ctx, (id, at) => commands.revokeApiKey(ctx, id, at)),

    get: guarded(ctx, (key, now) => reads.get(ctx, key, now)),
    readEvents: guarded(ctx, (key, range) => reads.readEvents(ctx, key, range)),
    list: guarded(ctx, (query) => reads.list(ctx, query)),
    count: guarded(ctx, (namespace, userId, now) => reads.count(ctx, namespace, userId, now)),
    readScope: guarded(ctx, (namespace, scope, userId) => reads.readScope(ctx, namespace, scope, userId)),
    // No scrub: PostgreSQL keeps removed row versions in its files until VACUUM reuses their space.
    eraseScope: guarded(ctx, (namespace, userId) => commands.eraseScope(ctx, namespace, userId)),
    findIdempotency: guarded(ctx, (key, idempotencyKey) => reads.findIdempotency(ctx, key, idempotencyKey)),
    findApiKey: guarded(ctx, (hash) => reads.findApiKey(ctx, hash)),
    listApiKeys: guarded(ctx, () => reads.listApiKeys(ctx)),

    subscribe: guarded(ctx, (key, onHint) => subscribe(ctx, key, onHint)),

    close(): Promise<void> {
      ctx.closing ??= (async () => {
        ctx.closed = true;
        await closeLive(ctx);
        await closePool(ctx);
      })();
      return ctx.closing;
    },
  };
}

/**
 * `postgres://user:password@host:5432/database?schema=frontdesk` (or `postgresql://`). `schema` is
 * the store's; every other query parameter (`sslmode`, `options`, `application_name`…) goes to
 * node-postgres as is.
 */
export function openFromUrl(url: URL, context: StoreContext & { logger?: PostgresStoreLogger }): SessionStore {
  return createPostgresStore({ url, ...(context.logger ? { logger: context.logger } : {}) }, context);
}

/** Takes the store's own `?schema=` out of a connection URL, so node-postgres never sees it. */
const splitSchemaParam = (url: string | undefined): { url: string | undefined; schema: string | undefined } => {
  if (url === undefined || !/^postgres(ql)?:/i.test(url)) return { url, schema: undefined };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, schema: undefined };
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  if (schema === undefined) return { url, schema };
  parsed.searchParams.delete("schema");
  return { url: parsed.href, schema };
};
