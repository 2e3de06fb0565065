/**
 * The five stores the LangGraph adapter's tests run on (test/support/store-locations.ts): memory,
 * SQLite, the file store, Redis and PostgreSQL, each a manager on a location of its own. A shared
 * backend whose URL is unset is skipped, except under CI, where vitest.config.ts already refuses to
 * start.
 */
import { createSessionManager, type SessionManager } from "../../src/index.ts";
import { allStoreLocations, type StoreLocation } from "../support/store-locations.ts";

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

/** A manager with no TTL on a fresh location, closed and cleaned up together. */
const managed = (location: StoreLocation): StoreCase => ({
  name: location.name,
  available: location.available,
  async open() {
    const { url, cleanup } = location.open();
    const sessions = await createSessionManager({ store: url, defaultTtlMs: null });
    return {
      sessions,
      url,
      async close() {
        await sessions.store.close();
        await cleanup();
      },
    };
  },
});

export const STORES: readonly StoreCase[] = allStoreLocations("memory", "sqlite", "file", "redis", "postgres").map(
  managed,
);
