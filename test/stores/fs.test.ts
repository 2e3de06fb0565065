import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as vitest from "vitest";
import { createFsStore } from "../../src/stores/fs/index.ts";
import { describeStoreConformance } from "../../src/testing/conformance/index.ts";

let base = "";
const roots = new WeakMap<object, string>();

describeStoreConformance(
  {
    name: "fs",
    async setup() {
      base = await mkdtemp(path.join(tmpdir(), "frontdesk-fs-"));
    },
    async teardown() {
      await rm(base, { recursive: true, force: true });
    },
    async create({ prefix }) {
      const root = path.join(base, prefix);
      const store = createFsStore({ root });
      roots.set(store, root);
      return store;
    },
    async createPeer(store) {
      const root = roots.get(store);
      if (root === undefined) throw new Error("createPeer needs a store made by create");
      return createFsStore({ root });
    },
  },
  vitest,
);
