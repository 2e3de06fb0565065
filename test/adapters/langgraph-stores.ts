/**
 * The five stores the LangGraph adapter's tests run on: memory, SQLite (a temp file), the file
 * store (a temp dir), and Redis and PostgreSQL through test/support/backends.ts (a scoped prefix of
 * their own, removed afterwards). A shared backend whose URL is unset is skipped, except under CI,
 * where vitest.config.ts already refuses to start.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSessionManager, type SessionManager } from "../../src/index.ts";
import { POSTGRES, REDIS, type SharedBackend, uniquePrefix } from "../support/backends.ts";

export interface OpenedStore {
  sessions: SessionManager;
  /** Where a second process can open the same store. */
  url: string;
  close(): Promise<void>;
}

export interface StoreCase {
  name: string;
  available: boolean;
  open(): Promise<OpenedStore>;
}

const local = (name: string, scheme: string, make: (dir: string) => string): StoreCase => ({
  name,
  available: true,
  async open() {
    const dir = mkdtempSync(join(tmpdir(), `fd-lg-${name}-`));
    const url = scheme === "memory:" ? "memory:" : `${scheme}${make(dir)}`;
    const sessions = await createSessionManager({ store: url, defaultTtlMs: null });
    return {
      sessions,
      url,
      async close() {
        await sessions.store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

const shared = (backend: SharedBackend): StoreCase => ({
  name: backend.name,
  available: Boolean(backend.url),
  async open() {
    const base = backend.url as string;
    const prefix = uniquePrefix("fdlg");
    const url = backend.scoped(base, prefix);
    const sessions = await createSessionManager({ store: url, defaultTtlMs: null });
    return {
      sessions,
      url,
      async close() {
        await sessions.store.close();
        await backend.cleanup(base, prefix);
      },
    };
  },
});

export const STORES: readonly StoreCase[] = [
  local("memory", "memory:", () => ""),
  local("sqlite", "sqlite:", (dir) => join(dir, "frontdesk.db")),
  local("file", "file:", (dir) => join(dir, "sessions")),
  shared(REDIS),
  shared(POSTGRES),
];
