/**
 * LangGraph's own conformance suite for checkpoint savers, unchanged, against `FrontdeskSaver` on
 * every store: the default spec (put, putWrites, getTuple, list, deleteThread) and the opt-in
 * `DeltaChannel` history tests. The suite is written for Jest-style globals, so they are provided
 * from vitest before it loads. Each checkpointer it creates gets a fresh namespace on one store per
 * backend, which isolates it as the suite requires without opening a store per test.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { type OpenedStore, STORES } from "./langgraph-stores.ts";

Object.assign(globalThis, { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach });
const { specTest, deltaChannelHistoryTests } = await import("@langchain/langgraph-checkpoint-validation");

for (const store of STORES) {
  describe.skipIf(!store.available)(`FrontdeskSaver on ${store.name}`, () => {
    let opened: OpenedStore | undefined;
    let namespaces = 0;
    const initializer = {
      checkpointerName: `FrontdeskSaver (${store.name})`,
      beforeAllTimeout: 30_000,
      async beforeAll() {
        opened ??= await store.open();
      },
      async createCheckpointer() {
        opened ??= await store.open();
        namespaces += 1;
        return new FrontdeskSaver({ sessions: opened.sessions, namespace: `lgv${namespaces}` });
      },
      async destroyCheckpointer(saver: FrontdeskSaver) {
        await saver.close();
      },
    };
    afterAll(async () => {
      await opened?.close();
      opened = undefined;
    });
    specTest(initializer);
    deltaChannelHistoryTests(initializer);
  });
}
