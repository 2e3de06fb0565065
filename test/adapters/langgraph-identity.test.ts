/**
 * One FrontdeskSaver serving many users: `configurable.user_id` (or `userId`) names the owner of
 * each call and wins over the saver's `userId` default, so two users' threads with the same
 * `thread_id` never mix, on memory, SQLite and Redis. Bad input is refused with a FrontdeskError
 * and stores nothing.
 */
import type { BaseMessage } from "@langchain/core/messages";
import { emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { describe, expect, it, onTestFinished } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { createSessionManager, FrontdeskError } from "../../src/index.ts";
import { chatGraph, userTurn } from "../fixtures/langgraph-chat.ts";
import { STORES } from "./langgraph-stores.ts";

const texts = (messages: readonly BaseMessage[]) => messages.map((m) => String(m.content));
const collect = async <T>(items: AsyncIterable<T>) => {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
};

for (const store of STORES.filter((s) => ["memory", "sqlite", "redis"].includes(s.name))) {
  describe.skipIf(!store.available)(`FrontdeskSaver identity on ${store.name}`, () => {
    it("keeps two users' threads with the same thread_id apart, and user_id wins over the default", async () => {
      const opened = await store.open();
      onTestFinished(() => opened.close());
      const saver = new FrontdeskSaver({ sessions: opened.sessions, userId: "default-user" });
      const graph = chatGraph(saver);
      const as = (user?: string) => ({ configurable: { thread_id: "shared", ...(user ? { user_id: user } : {}) } });

      await graph.invoke({ messages: [userTurn(1)] }, as("alice"));
      await graph.invoke({ messages: [userTurn(2)] }, { configurable: { thread_id: "shared", userId: "bob" } });
      await graph.invoke({ messages: [userTurn(3)] }, as());

      const alice = await saver.getTuple(as("alice"));
      const bob = await saver.getTuple(as("bob"));
      const fallback = await saver.getTuple(as());
      expect(texts(alice?.checkpoint.channel_values.messages as BaseMessage[])[0]).toBe("message number 1");
      expect(texts(bob?.checkpoint.channel_values.messages as BaseMessage[])[0]).toBe("message number 2");
      expect(texts(fallback?.checkpoint.channel_values.messages as BaseMessage[])[0]).toBe("message number 3");
      expect(await saver.getTuple(as("carol"))).toBeUndefined();
      expect(await collect(saver.list(as("carol")))).toEqual([]);
      expect(await collect(saver.list({ configurable: { user_id: "carol" } }))).toEqual([]);

      const aliceHistory = await collect(saver.list({ configurable: { user_id: "alice" } }));
      expect(aliceHistory.length).toBeGreaterThan(0);
      for (const tuple of aliceHistory) {
        const messages = (tuple.checkpoint.channel_values.messages ?? []) as BaseMessage[];
        expect(texts(messages).some((text) => text.includes("number 2") || text.includes("number 3"))).toBe(false);
      }

      // The sessions are the owners' own, in Frontdesk too.
      const sessions = opened.sessions;
      expect((await sessions.forUser("alice").get("shared")).stats.messages).toBe(2);
      expect((await sessions.forUser("bob").get("shared")).stats.messages).toBe(2);
      await expect(sessions.forUser("carol").get("shared")).rejects.toMatchObject({ code: "not_found" });

      await saver.deleteThread("shared", { userId: "bob" });
      expect(await saver.getTuple(as("bob"))).toBeUndefined();
      expect(await saver.getTuple(as("alice"))).toBeDefined();
      await saver.deleteThread("shared");
      expect(await saver.getTuple(as())).toBeUndefined();
      expect(await saver.getTuple(as("alice"))).toBeDefined();
    });
  });
}

describe("FrontdeskSaver input checks", () => {
  it("refuses a missing thread_id, a non-string user_id or checkpoint id with invalid_request, storing nothing", async () => {
    const saver = new FrontdeskSaver();
    const checkpoint = emptyCheckpoint();
    const meta = { source: "input" as const, step: -1, parents: {} };
    const refusals = [
      saver.put({ configurable: {} }, checkpoint, meta, {}),
      saver.put({ configurable: { thread_id: "t", user_id: 42 } }, checkpoint, meta, {}),
      saver.put({ configurable: { thread_id: "t", checkpoint_ns: 7 } }, checkpoint, meta, {}),
      saver.put({ configurable: { thread_id: "t" } }, { ...checkpoint, id: "" }, meta, {}),
      saver.putWrites({ configurable: { thread_id: "t" } }, [["a", 1]], "task"),
      saver.putWrites({ configurable: { thread_id: "t", checkpoint_id: "c" } }, [["a", 1]], ""),
    ];
    for (const refused of refusals) {
      const error = await refused.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(FrontdeskError);
      expect((error as FrontdeskError).code).toBe("invalid_request");
    }
    expect(await collect(saver.list({ configurable: {} }))).toEqual([]);
    const sessions = await (await saver.manager()).listSessions();
    expect(sessions.items).toEqual([]);
  });

  it("maps a thread id that is not a Frontdesk id and lists it back as it was given", async () => {
    const saver = new FrontdeskSaver();
    const config = { configurable: { thread_id: "project/42 — thread with spaces" } };
    await saver.put(
      config,
      { ...emptyCheckpoint(), id: "1f000000-0000-6000-8000-000000000001" },
      {
        source: "input",
        step: -1,
        parents: {},
      },
      {},
    );
    const listed = await collect(saver.list({ configurable: {} }));
    expect(listed.map((tuple) => tuple.config.configurable?.thread_id)).toEqual([config.configurable.thread_id]);
    const [session] = (await (await saver.manager()).listSessions()).items;
    expect(session?.id).not.toBe(config.configurable.thread_id);
    expect(session?.metadata).toMatchObject({ framework: "langgraph", threadId: config.configurable.thread_id });
  });
});

describe("a FrontdeskSaver write that fails", () => {
  it("leaves nothing behind: an oversized first checkpoint creates no session", async () => {
    const sessions = await createSessionManager({ limits: { maxEventBytes: 4096 } });
    const saver = new FrontdeskSaver({ sessions });
    const config = { configurable: { thread_id: "too-big" } };
    const checkpoint = {
      ...emptyCheckpoint(),
      id: "1f000000-0000-6000-8000-000000000002",
      channel_values: { notes: "x".repeat(10_000) },
      channel_versions: { notes: 1 },
    };
    await expect(
      saver.put(config, checkpoint, { source: "input", step: -1, parents: {} }, { notes: 1 }),
    ).rejects.toMatchObject({
      code: "payload_too_large",
    });
    expect((await sessions.listSessions()).items).toEqual([]);
    expect(await saver.getTuple(config)).toBeUndefined();
  });
});
