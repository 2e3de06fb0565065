/**
 * Pages of a thread's messages against Mastra's own InMemoryMemory, on histories fast-check makes:
 * many messages saved in the same second (a page's edge falls inside groups of equal `createdAt`),
 * deletions, and pages read newest first and oldest first. FrontdeskMemoryStorage reads such pages
 * from one end of the log, going back only as far as the edge's group needs; whatever the history,
 * the page must be the one Mastra's sort gives.
 */
import type { MastraDBMessage, StorageThreadType } from "@mastra/core/memory";
import { InMemoryStore, type MemoryStorage } from "@mastra/core/storage";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrontdeskMemoryStorage } from "../../src/adapters/mastra/index.ts";
import { testStores } from "./mastra-stores.ts";

const at = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second));

const message = (index: number, second: number): MastraDBMessage =>
  ({
    id: `m${index}`,
    threadId: "t",
    resourceId: "alice",
    role: index % 2 === 0 ? "user" : "assistant",
    createdAt: at(second),
    content: { format: 2, parts: [{ type: "text", text: `message ${index}` }] },
  }) as MastraDBMessage;

/** Each step saves a batch of messages, later in time or in the same second, or deletes some. */
const history: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ save: fc.integer({ min: 1, max: 12 }), advance: fc.integer({ min: 0, max: 2 }) }),
    },
    { weight: 1, arbitrary: fc.record({ remove: fc.array(fc.nat(80), { minLength: 1, maxLength: 4 }) }) },
  ),
  { minLength: 1, maxLength: 12 },
);

const page: fc.Arbitrary<Query> = fc.record({
  perPage: fc.integer({ min: 1, max: 20 }),
  page: fc.nat(4),
  direction: fc.constantFrom("ASC" as const, "DESC" as const),
  resource: fc.boolean(),
});

type Step = { save: number; advance: number } | { remove: number[] };
type Query = { perPage: number; page: number; direction: "ASC" | "DESC"; resource: boolean };

async function play(storage: MemoryStorage, steps: readonly Step[]) {
  const now = at(0);
  await storage.saveThread({
    thread: { id: "t", resourceId: "alice", title: "t", createdAt: now, updatedAt: now } as StorageThreadType,
  });
  let index = 0;
  let second = 0;
  for (const step of steps) {
    if ("save" in step) {
      second += step.advance;
      const batch = Array.from({ length: step.save }, () => message(index++, second));
      await storage.saveMessages({ messages: batch });
    } else {
      await storage.deleteMessages(step.remove.map((n) => `m${n}`));
    }
  }
}

async function read(storage: MemoryStorage, query: Query) {
  const result = await storage.listMessages({
    threadId: "t",
    ...(query.resource ? { resourceId: "alice" } : {}),
    perPage: query.perPage,
    page: query.page,
    orderBy: { field: "createdAt", direction: query.direction },
  });
  return { ids: result.messages.map((found) => found.id), total: result.total, hasMore: result.hasMore };
}

describe.each(testStores())("FrontdeskMemoryStorage pages on $name", (testStore) => {
  it("match InMemoryMemory's, with ties at the page's edge and deletions", async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.array(page, { minLength: 1, maxLength: 6 }), async (steps, queries) => {
        const reference = (await new InMemoryStore().getStore("memory")) as MemoryStorage;
        const { url, cleanup } = testStore.open();
        const storage = new FrontdeskMemoryStorage({ store: url, manager: { defaultTtlMs: null } });
        try {
          await play(reference, steps);
          await play(storage, steps);
          for (const query of queries) expect(await read(storage, query)).toEqual(await read(reference, query));
        } finally {
          await storage.close();
          await cleanup();
        }
      }),
      // A networked store's run opens a database of its own each time: fewer runs there.
      { numRuns: testStore.name === "memory" || testStore.name === "sqlite" ? 60 : 15 },
    );
  });
});
