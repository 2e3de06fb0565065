/**
 * The memory domain against Mastra's own InMemoryMemory: the same calls on both, the same answers
 * (times of update aside), on memory, SQLite and Redis. Then what Frontdesk adds: the sessions are
 * first-class (messages and tool cards in the log), one resource can never read or take another's
 * thread, and edits stay appended events with small state.
 */
import type { MastraDBMessage, StorageThreadType } from "@mastra/core/memory";
import { InMemoryStore, type MemoryStorage } from "@mastra/core/storage";
import { afterEach, describe, expect, it } from "vitest";
import { FrontdeskMemoryStorage } from "../../src/adapters/mastra/index.ts";
import { createSessionManager, isFrontdeskError } from "../../src/index.ts";
import { testStores } from "./mastra-stores.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const at = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second));

function message(id: string, threadId: string, resourceId: string, second: number, text: string, extra = {}) {
  return {
    id,
    threadId,
    resourceId,
    role: second % 2 === 0 ? "user" : "assistant",
    createdAt: at(second),
    content: { format: 2, parts: [{ type: "text", text }], content: text, ...extra },
  } as MastraDBMessage;
}

const toolMessage = (id: string, threadId: string, resourceId: string, second: number) =>
  ({
    id,
    threadId,
    resourceId,
    role: "assistant",
    createdAt: at(second),
    content: {
      format: 2,
      parts: [
        {
          type: "tool-invocation",
          toolInvocation: {
            state: "result",
            toolCallId: "call-1",
            toolName: "add",
            args: { a: 2, b: 3 },
            result: { sum: 5 },
          },
        },
        { type: "text", text: "5" },
      ],
      metadata: { kind: "tool" },
    },
  }) as unknown as MastraDBMessage;

/** Answers compared as JSON, with a thread's `updatedAt` left out (each store stamps its own). */
function normalized(value: unknown): unknown {
  if (value === undefined) return "done";
  return JSON.parse(JSON.stringify(value, (key, inner) => (key === "updatedAt" ? undefined : inner)));
}

/** The calls, the same on both storages; each answer (or error) recorded in order. */
async function script(storage: MemoryStorage): Promise<unknown[]> {
  const answers: unknown[] = [];
  const record = async (name: string, call: () => Promise<unknown>) => {
    try {
      answers.push([name, normalized(await call())]);
    } catch {
      answers.push([name, "error"]);
    }
  };
  const thread = (id: string, resourceId: string, second: number, metadata?: Record<string, unknown>) =>
    ({
      id,
      resourceId,
      title: `title ${id}`,
      createdAt: at(second),
      updatedAt: at(second),
      metadata,
    }) as StorageThreadType;

  await record("save t1", () => storage.saveThread({ thread: thread("t1", "alice", 1, { topic: "math", n: 1 }) }));
  await record("save t2", () => storage.saveThread({ thread: thread("t2", "alice", 2) }));
  await record("save t3", () => storage.saveThread({ thread: thread("t3", "bob", 3, { topic: "math" }) }));
  await record("save t1 messages", () =>
    storage.saveMessages({
      messages: [
        message("m1", "t1", "alice", 10, "hello"),
        toolMessage("m2", "t1", "alice", 11),
        message("m3", "t1", "alice", 12, "same second a", { metadata: { tag: "x" } }),
        message("m4", "t1", "alice", 12, "same second b"),
        message("m5", "t1", "alice", 14, "five"),
        message("m6", "t1", "alice", 15, "six", { metadata: { tag: "x" } }),
      ],
    }),
  );
  await record("save t2, t3 messages", () =>
    storage.saveMessages({
      messages: [message("n1", "t2", "alice", 20, "other thread"), message("b1", "t3", "bob", 21, "bob's")],
    }),
  );
  for (const [name, args] of [
    ["all", { threadId: "t1" }],
    ["newest 2", { threadId: "t1", perPage: 2, orderBy: { field: "createdAt", direction: "DESC" } }],
    ["newest page 1", { threadId: "t1", perPage: 2, page: 1, orderBy: { field: "createdAt", direction: "DESC" } }],
    ["newest page 2", { threadId: "t1", perPage: 2, page: 2, orderBy: { field: "createdAt", direction: "DESC" } }],
    ["newest 3 no total", { threadId: "t1", perPage: 3, includeTotal: false, orderBy: { direction: "DESC" } }],
    ["oldest page 1", { threadId: "t1", perPage: 4, page: 1 }],
    ["all, false", { threadId: "t1", perPage: false }],
    ["as alice", { threadId: "t1", resourceId: "alice", perPage: 3 }],
    ["as bob", { threadId: "t1", resourceId: "bob" }],
    ["dates", { threadId: "t1", filter: { dateRange: { start: at(11), end: at(14), endExclusive: true } } }],
    ["metadata", { threadId: "t1", filter: { metadata: { tag: "x" } } }],
    ["include", { threadId: "t2", perPage: 0, include: [{ id: "m3", withPreviousMessages: 1, withNextMessages: 1 }] }],
    ["include scoped", { threadId: "t2", resourceId: "bob", include: [{ id: "m3", withNextMessages: 1 }] }],
    ["two threads", { threadId: ["t1", "t2"], perPage: 3, orderBy: { direction: "DESC" } }],
    ["empty id", { threadId: "" }],
  ] as const) {
    await record(`list ${name}`, () => storage.listMessages(args as never));
  }
  await record("get t1", () => storage.getThreadById({ threadId: "t1" }));
  await record("get t1 as alice", () => storage.getThreadById({ threadId: "t1", resourceId: "alice" }));
  await record("get t1 as bob", () => storage.getThreadById({ threadId: "t1", resourceId: "bob" }));
  await record("get missing", () => storage.getThreadById({ threadId: "nope" }));
  await record("rename t1", () => storage.updateThread({ id: "t1", title: "renamed" }));
  await record("t1 metadata", () => storage.updateThread({ id: "t1", metadata: { n: 2, extra: true } }));
  await record("update missing", () => storage.updateThread({ id: "nope", title: "x" }));
  await record("threads of alice", () =>
    storage.listThreads({ filter: { resourceId: "alice" }, orderBy: { field: "createdAt", direction: "ASC" } }),
  );
  await record("threads page", () =>
    storage.listThreads({ perPage: 1, page: 1, orderBy: { field: "createdAt", direction: "DESC" } }),
  );
  await record("threads by metadata", () => storage.listThreads({ filter: { metadata: { topic: "math" } } }));
  await record("upsert m5", () =>
    storage.saveMessages({ messages: [message("m5", "t1", "alice", 14, "five, revised")] }),
  );
  await record("update m3", () =>
    storage.updateMessages({ messages: [{ id: "m3", content: { metadata: { edited: true } } } as never] }),
  );
  await record("move m4", () => storage.updateMessages({ messages: [{ id: "m4", threadId: "t2" }] }));
  await record("t1 after edits", () =>
    storage.listMessages({ threadId: "t1", perPage: 3, orderBy: { direction: "DESC" } }),
  );
  await record("t2 after move", () => storage.listMessages({ threadId: "t2" }));
  await record("delete m1", () => storage.deleteMessages(["m1", "unknown"]));
  await record("t1 after delete", () => storage.listMessages({ threadId: "t1", orderBy: { direction: "DESC" } }));
  await record("by id", () => storage.listMessagesById({ messageIds: ["m6", "m1", "m5", "b1", "m4"] }));
  await record("late arrival", () => storage.saveMessages({ messages: [message("m0", "t1", "alice", 5, "late")] }));
  await record("t1 newest after late", () =>
    storage.listMessages({ threadId: "t1", perPage: 2, orderBy: { direction: "DESC" } }),
  );
  await record("t1 oldest after late", () => storage.listMessages({ threadId: "t1", perPage: 2 }));
  await record("no resource", () => storage.getResourceById({ resourceId: "alice" }));
  await record("working memory", async () => {
    const created = await storage.updateResource({ resourceId: "alice", workingMemory: "# Alice", metadata: { a: 1 } });
    const updated = await storage.updateResource({ resourceId: "alice", metadata: { b: 2 } });
    const read = await storage.getResourceById({ resourceId: "alice" });
    return [created.workingMemory, updated.workingMemory, updated.metadata, read?.workingMemory, read?.metadata];
  });
  await record("save resource", async () => {
    await storage.saveResource({ resource: { id: "bob", workingMemory: "# Bob", createdAt: at(1), updatedAt: at(1) } });
    return storage.getResourceById({ resourceId: "bob" });
  });
  await record("delete t2", () => storage.deleteThread({ threadId: "t2" }));
  await record("t2 gone", () => storage.getThreadById({ threadId: "t2" }));
  await record("t2 messages gone", () => storage.listMessagesById({ messageIds: ["n1", "m4"] }));
  await record("threads after delete", () => storage.listThreads({ filter: { resourceId: "alice" } }));
  return answers;
}

describe.each(testStores())("FrontdeskMemoryStorage on $name", (testStore) => {
  const open = () => {
    const { url, cleanup } = testStore.open();
    const storage = new FrontdeskMemoryStorage({ store: url, manager: { defaultTtlMs: null } });
    cleanups.push(cleanup, () => storage.close());
    return { storage, url };
  };

  it("answers every call of the script as Mastra's InMemoryMemory does", async () => {
    const reference = (await new InMemoryStore().getStore("memory")) as MemoryStorage;
    const expected = await script(reference);
    const actual = await script(open().storage);
    for (let index = 0; index < expected.length; index++) expect(actual[index]).toEqual(expected[index]);
    expect(actual).toHaveLength(expected.length);
  });
});

describe("FrontdeskMemoryStorage: what Frontdesk adds", () => {
  it("stores a thread as the resource's session, its messages as message events and tool cards, its edits as appended events with small state", async () => {
    const sessions = await createSessionManager({ store: "memory:", defaultTtlMs: null });
    const storage = new FrontdeskMemoryStorage({ sessions });
    await storage.saveThread({
      thread: { id: "t1", resourceId: "alice", title: "Sums", createdAt: at(1), updatedAt: at(1) },
    });
    const many = Array.from({ length: 50 }, (_, index) =>
      message(`m${index}`, "t1", "alice", 10 + index, `text ${index}`),
    );
    await storage.saveMessages({ messages: [...many, toolMessage("tool", "t1", "alice", 100)] });
    await storage.saveMessages({ messages: [message("m3", "t1", "alice", 13, "revised")] });
    await storage.deleteMessages(["m4"]);

    const alice = sessions.forUser("alice");
    const session = await alice.get("t1");
    expect(session.title).toBe("Sums");
    expect(session.stats.messages).toBe(51);
    expect(session.stats.toolCalls).toBe(1);
    const events = await alice.readEvents("t1");
    expect(events.filter((event) => event.type === "message")).toHaveLength(51);
    expect(events.filter((event) => event.type === "tool_result")).toMatchObject([
      { invocationId: "call-1", tool: "add", output: { sum: 5 }, status: "success" },
    ]);
    // Only the revised and the deleted message are named in the state, not the other 49.
    expect(Object.keys((session.state.mastra as { changed: object }).changed).sort()).toEqual(["m3", "m4"]);
    const { messages } = await storage.listMessages({
      threadId: "t1",
      perPage: 2,
      page: 23,
      orderBy: { direction: "DESC" },
    });
    expect(messages.map((stored) => [stored.id, stored.content.content])).toEqual([
      ["m3", "revised"],
      ["m2", "text 2"],
    ]);
    // Another owner sees nothing of it.
    await expect(sessions.forUser("bob").get("t1")).rejects.toMatchObject({ code: "not_found" });
    await storage.close();
  });

  it("refuses to hand a resource's thread to another resource by saving it under the same id", async () => {
    const storage = new FrontdeskMemoryStorage({ manager: { defaultTtlMs: null } });
    await storage.saveThread({ thread: { id: "t1", resourceId: "alice", createdAt: at(1), updatedAt: at(1) } });
    await storage.saveMessages({ messages: [message("m1", "t1", "alice", 10, "alice's secret")] });
    const taken = storage.saveThread({
      thread: { id: "t1", resourceId: "mallory", createdAt: at(2), updatedAt: at(2) },
    });
    await expect(taken).rejects.toSatisfy((error: unknown) => isFrontdeskError(error, "conflict"));
    expect(await storage.getThreadById({ threadId: "t1", resourceId: "mallory" })).toBeNull();
    expect((await storage.listMessages({ threadId: "t1", resourceId: "mallory" })).messages).toEqual([]);
    expect((await storage.getThreadById({ threadId: "t1" }))?.resourceId).toBe("alice");
    await storage.close();
  });

  it("moves a thread with its history to another resource", async () => {
    const storage = new FrontdeskMemoryStorage({ manager: { defaultTtlMs: null } });
    await storage.saveThread({ thread: { id: "t1", resourceId: "alice", createdAt: at(1), updatedAt: at(1) } });
    await storage.saveMessages({ messages: [message("m1", "t1", "alice", 10, "hello")] });
    const moved = await storage.updateThreadResourceId({ threadId: "t1", resourceId: "carol" });
    expect(moved.resourceId).toBe("carol");
    expect(await storage.getThreadById({ threadId: "t1", resourceId: "alice" })).toBeNull();
    const { messages } = await storage.listMessages({ threadId: "t1", resourceId: "carol" });
    expect(messages.map((stored) => [stored.id, stored.resourceId])).toEqual([["m1", "carol"]]);
    await storage.close();
  });

  it("rejects messages for a thread that was never saved, and writes nothing", async () => {
    const storage = new FrontdeskMemoryStorage();
    const save = storage.saveMessages({ messages: [message("m1", "ghost", "alice", 10, "lost")] });
    await expect(save).rejects.toSatisfy((error: unknown) => isFrontdeskError(error, "not_found"));
    expect((await storage.listMessagesById({ messageIds: ["m1"] })).messages).toEqual([]);
    await storage.close();
  });
});
