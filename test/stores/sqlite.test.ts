import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from "vitest";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import { describeStoreConformance } from "../../src/testing/conformance/index.ts";

const runner = { describe, it, beforeEach, afterEach, beforeAll, afterAll };
let base = "";
const files = new WeakMap<object, string>();

describeStoreConformance(
  {
    name: "sqlite (file)",
    async setup() {
      base = await mkdtemp(path.join(tmpdir(), "frontdesk-sqlite-"));
    },
    async teardown() {
      await rm(base, { recursive: true, force: true });
    },
    async create({ prefix }) {
      const file = path.join(base, `${prefix}.db`);
      const store = createSqliteStore({ path: file });
      files.set(store, file);
      return store;
    },
    async createPeer(store) {
      const file = files.get(store);
      if (file === undefined) throw new Error("createPeer needs a store made by create");
      return createSqliteStore({ path: file });
    },
  },
  runner,
);

// A private in-process database: not shared, so the suite runs no peer cases against it.
describeStoreConformance(
  { name: "sqlite (:memory:)", create: async () => createSqliteStore({ path: ":memory:" }) },
  runner,
);
