/**
 * The embedded SQLite store: one file in WAL mode, safe to share between processes on one
 * machine. This module is the store's face (its options, its factory and its URL form) and wires
 * the parts together: connection.ts opens the database and holds the context every part is passed,
 * statements.ts prepares the SQL, commands.ts writes, reads.ts reads and live.ts hints subscribers.
 */
import { resolve } from "node:path";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionStore, StoreContext } from "../types.ts";
import * as commands from "./commands.ts";
import { closeConnection, createContext, MEMORY_PATH, run, type Settings } from "./connection.ts";
import { CommitQueue } from "./group-commit.ts";
import { stopPolling, subscribe } from "./live.ts";
import * as reads from "./reads.ts";

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

/**
 * Opens a SQLite store. Nothing touches the disk until the first call: the database is opened and
 * migrated once, then every method runs synchronous prepared statements, each write inside a
 * `BEGIN IMMEDIATE` transaction that rolls back on any error; commits submitted in one turn of the
 * event loop share one transaction, a savepoint each.
 * @example const store = createSqliteStore({ path: "./.frontdesk/frontdesk.db" });
 */
export function createSqliteStore(options: SqliteStoreOptions, _context: StoreContext = {}): SessionStore {
  const ctx = createContext(readOptions(options));
  const commits = new CommitQueue(ctx);
  // Other writes go after the commits submitted before them, as they did when each commit ran at once.
  const write = <T>(body: Parameters<typeof run<T>>[1]): Promise<T> => {
    commits.flushAll();
    return run(ctx, body);
  };
  return {
    name: STORE_NAME,
    capabilities: ctx.capabilities,

    // Commits of one turn share a transaction (group-commit.ts), which opens the database and
    // refuses on a closed store when it writes them.
    commit: (commit) => commits.submit(commit),
    touch: (key, times, now) => write((c) => commands.touch(ctx, c, key, times, now)),
    delete: (key, condition) => write((c) => commands.deleteSession(ctx, c, key, condition)),
    // In transactions of its own, the event loop free between them (commands.ts), so not through write.
    sweep: (now, limit) => {
      commits.flushAll();
      return commands.sweep(ctx, now, limit);
    },
    putApiKey: (record) => write((c) => commands.putApiKey(c, record)),
    revokeApiKey: (id, at) => write((c) => commands.revokeApiKey(c, id, at)),

    get: (key, now) => run(ctx, (c) => reads.get(ctx, c, key, now)),
    readEvents: (key, range) => run(ctx, (c) => reads.readEvents(c, key, range)),
    list: (query) => reads.list(ctx, query), // several statements for a text search, each through run
    count: (namespace, userId, now) => run(ctx, (c) => reads.count(c, namespace, userId, now)),
    readScope: (namespace, scope, userId) => run(ctx, (c) => reads.readScope(ctx, c, namespace, scope, userId)),
    eraseScope: (namespace, userId) => write((c) => commands.eraseScope(ctx, c, namespace, userId)),
    scrub: (options) => write((c) => commands.scrub(ctx, c, options?.thorough === true)),
    findIdempotency: (key, idempotencyKey) => run(ctx, (c) => reads.findIdempotency(c, key, idempotencyKey)),
    findApiKey: (hash) => run(ctx, (c) => reads.findApiKey(c, hash)),
    listApiKeys: () => run(ctx, reads.listApiKeys),

    subscribe: (key, onHint) => run(ctx, (c) => subscribe(ctx, c, key, onHint)),

    async close() {
      if (ctx.closed) return;
      commits.flushAll();
      ctx.closed = true;
      stopPolling(ctx);
      ctx.subscriptions.clear();
      closeConnection(ctx);
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
