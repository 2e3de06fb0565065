/**
 * The stores the adapter's tests run on: memory, SQLite in a temp file, and the shared Redis and
 * PostgreSQL test servers (each under a prefix of its own, removed afterwards). A shared store
 * whose URL is unset is skipped on a laptop and fails under CI, as the store suites do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POSTGRES, REDIS, type SharedBackend, uniquePrefix } from "../../support/backends.ts";

export interface TestStore {
  name: string;
  /** A store URL of this test's own; `cleanup` removes what was written under it. */
  open(): { url: string; cleanup: () => Promise<void> };
}

const sqlite: TestStore = {
  name: "sqlite",
  open() {
    const dir = mkdtempSync(join(tmpdir(), "fd-openai-agents-"));
    return {
      url: `sqlite:${join(dir, "sessions.db")}`,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const memory: TestStore = { name: "memory", open: () => ({ url: "memory:", cleanup: async () => {} }) };

function shared(backend: SharedBackend): TestStore | undefined {
  const url = backend.url;
  if (!url) {
    if (process.env.CI) throw new Error(`${backend.variable} is not set: CI must test the ${backend.name} store`);
    return undefined;
  }
  return {
    name: backend.name,
    open() {
      const prefix = uniquePrefix("fdoa");
      return { url: backend.scoped(url, prefix), cleanup: () => backend.cleanup(url, prefix) };
    },
  };
}

const present = (stores: (TestStore | undefined)[]): TestStore[] => stores.filter((s): s is TestStore => !!s);

/** Every store: for the behaviour tests. */
export const ALL_STORES = present([memory, sqlite, shared(REDIS), shared(POSTGRES)]);
/** SQLite and one shared store: for the runner and the multi-process tests. */
export const DURABLE_STORES = present([sqlite, shared(REDIS) ?? shared(POSTGRES)]);
