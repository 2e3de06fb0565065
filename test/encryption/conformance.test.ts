import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from "vitest";
import { encryptedStore } from "../../src/encryption/encrypted-store.ts";
import { memoryKeyRing } from "../../src/encryption/key-ring.ts";
import { staticMasterKeys } from "../../src/encryption/master-keys.ts";
import { sqliteKeyRing } from "../../src/encryption/sqlite-key-ring.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { describeStoreConformance } from "../../src/testing/index.ts";

const runner = { describe, it, beforeEach, afterEach, beforeAll, afterAll };
const masterKeys = staticMasterKeys([{ id: "k1", key: randomBytes(32) }]);

describeStoreConformance(
  {
    name: "encrypted memory",
    create: async () =>
      encryptedStore(createMemoryStore(), { masterKeys, keyRing: memoryKeyRing(), closeKeyRing: true }),
  },
  runner,
);

let base = "";
const files = new WeakMap<SessionStore, string>();
const encryptedSqlite = (file: string): SessionStore =>
  // Each instance opens the key ring file itself, as another process would.
  encryptedStore(createSqliteStore({ path: file }), {
    masterKeys,
    keyRing: sqliteKeyRing(`${file}.keyring`),
    closeKeyRing: true,
  });

describeStoreConformance(
  {
    name: "encrypted sqlite",
    async setup() {
      base = await mkdtemp(path.join(tmpdir(), "frontdesk-encrypted-sqlite-"));
    },
    async teardown() {
      await rm(base, { recursive: true, force: true });
    },
    async create({ prefix }) {
      const file = path.join(base, `${prefix}.db`);
      const store = encryptedSqlite(file);
      files.set(store, file);
      return store;
    },
    async createPeer(store) {
      const file = files.get(store);
      if (file === undefined) throw new Error("createPeer needs a store made by create");
      return encryptedSqlite(file);
    },
  },
  runner,
);
