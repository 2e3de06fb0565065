/**
 * Where a test can put a store of its own, by store URL: memory, SQLite in a temp file, the file
 * store in a temp folder, and the shared Redis and PostgreSQL test servers under a prefix of their
 * own (test/support/backends.ts). Each `open()` hands out a fresh URL and what removes everything
 * written under it, so suites that build on URLs (the adapters', which open stores themselves)
 * share one definition of the five places.
 *
 * A shared server whose URL is unset is unavailable: suites skip it on a laptop, and under CI
 * vitest.config.ts refuses to start instead.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POSTGRES, REDIS, type SharedBackend, uniquePrefix } from "./backends.ts";

export type StoreName = "memory" | "sqlite" | "file" | "redis" | "postgres";

export interface StoreLocation {
  name: StoreName;
  available: boolean;
  /** A fresh store URL of this test's own, and what removes what was written there. */
  open(): { url: string; cleanup(): Promise<void> };
}

const inTempDir = (name: StoreName, scheme: string, path: string): StoreLocation => ({
  name,
  available: true,
  open() {
    const dir = mkdtempSync(join(tmpdir(), `fd-${name}-`));
    return { url: `${scheme}${join(dir, path)}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
});

const onServer = (backend: SharedBackend & { name: StoreName }): StoreLocation => ({
  name: backend.name,
  available: Boolean(backend.url),
  open() {
    const url = backend.url as string;
    const prefix = uniquePrefix(`fd${backend.name.slice(0, 2)}`);
    return { url: backend.scoped(url, prefix), cleanup: () => backend.cleanup(url, prefix) };
  },
});

const LOCATIONS: Record<StoreName, StoreLocation> = {
  memory: { name: "memory", available: true, open: () => ({ url: "memory:", cleanup: async () => undefined }) },
  sqlite: inTempDir("sqlite", "sqlite:", "sessions.db"),
  file: inTempDir("file", "file:", "sessions"),
  redis: onServer(REDIS),
  postgres: onServer(POSTGRES),
};

/** The named places, in the order given, with the unavailable ones left out. */
export const storeLocations = (...names: StoreName[]): StoreLocation[] =>
  names.map((name) => LOCATIONS[name]).filter((location) => location.available);

/** The named places, in the order given, unavailable ones included (for suites that report a skip). */
export const allStoreLocations = (...names: StoreName[]): StoreLocation[] => names.map((name) => LOCATIONS[name]);
