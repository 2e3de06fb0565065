/**
 * The SQLite store's connection and the one context its parts share. The database is opened and
 * migrated lazily, by the first call, and every call passes through {@link run}: that is where a
 * closed store refuses, a failed open is retried, and driver errors become contract codes that
 * name no path.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { StoreCapabilities } from "../types.ts";
import { TEXT_MATCH_FUNCTION, textMatch } from "./list-query.ts";
import { migrate } from "./migrations.ts";
import { type Connection, prepareStatements, ReadCache } from "./statements.ts";

export const MEMORY_PATH = ":memory:";

/** The store's options, checked and with their defaults filled in. */
export interface Settings {
  path: string;
  durability: "full" | "normal";
  busyTimeoutMs: number;
  pollIntervalMs: number;
}

/** The local subscribers of one session (live.ts keeps them). */
export interface Subscription {
  readonly keyParams: readonly [string, string, string];
  /** `rid:version` of the session when last seen, "" when absent: any commit changes it. */
  mark: string;
  readonly listeners: Set<(lastSeq: number) => void>;
}

/** What the store's parts share: its settings, its connection, the read cache and the subscriptions. One per store. */
export interface SqliteContext {
  readonly settings: Settings;
  readonly capabilities: StoreCapabilities;
  readonly cache: ReadCache;
  /** By session key id. */
  readonly subscriptions: Map<string, Subscription>;
  connection: Connection | undefined;
  closed: boolean;
  pollTimer: NodeJS.Timeout | undefined;
  /** `PRAGMA data_version` when the poll last looked at every subscribed session. */
  seenDataVersion: number;
}

export function createContext(settings: Settings): SqliteContext {
  return {
    settings,
    capabilities: { shared: settings.path !== MEMORY_PATH, blocking: true },
    cache: new ReadCache(),
    subscriptions: new Map(),
    connection: undefined,
    closed: false,
    pollTimer: undefined,
    seenDataVersion: 0,
  };
}

export function ready(ctx: SqliteContext): Connection {
  if (ctx.closed) throw new FrontdeskError("unavailable", "The SQLite store is closed");
  // A failed open is not remembered, so the next call retries (the file may have been locked).
  ctx.connection ??= openConnection(ctx.settings);
  return ctx.connection;
}

/** The single wrapper every public method goes through: setup, then driver errors translated. */
export async function run<T>(ctx: SqliteContext, body: (c: Connection) => T): Promise<T> {
  try {
    return body(ready(ctx));
  } catch (error) {
    throw translateError(error);
  }
}

/** Closes the database; the caller has already marked the store closed and stopped the poll. */
export function closeConnection(ctx: SqliteContext): void {
  const open = ctx.connection;
  ctx.connection = undefined;
  try {
    open?.db.close();
  } catch (error) {
    throw translateError(error);
  }
}

function openConnection(settings: Settings): Connection {
  let db: Database.Database | undefined;
  try {
    if (settings.path !== MEMORY_PATH) mkdirSync(dirname(settings.path), { recursive: true });
    db = new Database(settings.path, { timeout: settings.busyTimeoutMs });
    enableWal(db, settings);
    db.pragma(`synchronous = ${settings.durability === "full" ? "FULL" : "NORMAL"}`);
    // Deleted and overwritten rows (delete, erasure, redaction, pruning) are zeroed in their pages,
    // and freed pages zeroed too, so removed content does not linger in the file (see scrub in
    // commands.ts for what this does not reach). An append frees only its session row's old copy,
    // in a page it writes anyway, so it writes no more bytes than without it.
    db.pragma("secure_delete = ON");
    db.function(TEXT_MATCH_FUNCTION, { deterministic: true }, textMatch);
    migrate(db);
    return prepareStatements(db);
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

const errorCode = (error: unknown): string =>
  error instanceof Database.SqliteError ? error.code : error instanceof Error ? error.name : "unknown error";

const isBusyError = (error: unknown): boolean =>
  error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY");

export const isConstraintError = (error: unknown): boolean =>
  error instanceof Database.SqliteError && error.code.startsWith("SQLITE_CONSTRAINT");

/** Driver failures become `unavailable`, with a message that names no path; our own errors pass through. */
export function translateError(error: unknown): unknown {
  if (isFrontdeskError(error) || !(error instanceof Database.SqliteError)) return error;
  const message = isBusyError(error)
    ? "The SQLite database stayed locked by another writer for longer than busyTimeoutMs"
    : `The SQLite store failed (${error.code})`;
  return new FrontdeskError("unavailable", message, { cause: error });
}
