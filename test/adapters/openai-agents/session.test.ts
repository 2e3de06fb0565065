/**
 * FrontdeskSession against the SDK's own MemorySession: the same operations give the same history
 * on every store, items round-trip exactly and are stored as first-class events, and the log and
 * state stay what the adapter promises (append-only, O(1) state, O(limit) reads).
 */
import { type AgentInputItem, MemorySession } from "@openai/agents-core";
import { afterEach, describe, expect, it } from "vitest";
import { FrontdeskSession, HISTORY_STATE_KEY, MARKER_EVENT } from "../../../src/adapters/openai-agents/index.ts";
import { createSessionManager, isFrontdeskError, SessionManager, type SessionStore } from "../../../src/index.ts";
import { ALL_STORES } from "./stores.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A manager on a fresh store of this kind, closed and removed after the test. */
async function managerOn(open: () => { url: string; cleanup: () => Promise<void> }): Promise<SessionManager> {
  const { url, cleanup } = open();
  const manager = await createSessionManager({ store: url, defaultTtlMs: null });
  cleanups.push(async () => {
    await manager.store.close();
    await cleanup();
  });
  return manager;
}

const user = (text: string): AgentInputItem => ({ role: "user", content: text });

/** One of each kind of item the SDK hands a session. */
const EVERY_KIND: AgentInputItem[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi" },
  {
    type: "message",
    role: "user",
    content: [
      { type: "input_text", text: "What is this?" },
      { type: "input_image", image: "https://example.com/cat.png", detail: "low" },
    ],
    providerData: { cache: { ttl: 60 } },
  },
  {
    type: "message",
    id: "msg_1",
    role: "assistant",
    status: "completed",
    content: [{ type: "output_text", text: "A cat." }],
  },
  { type: "reasoning", id: "rs_1", content: [{ type: "input_text", text: "looking at it" }] },
  {
    type: "function_call",
    id: "fc_1",
    callId: "call_1",
    name: "get_weather",
    arguments: '{ "city":"Lisbon" }',
    status: "completed",
  },
  {
    type: "function_call_result",
    callId: "call_1",
    name: "get_weather",
    status: "completed",
    output: { type: "text", text: "sunny" },
  },
  { type: "hosted_tool_call", id: "ht_1", name: "web_search", status: "completed", arguments: "{}" },
  { type: "unknown", providerData: { anything: [1, 2, 3] } },
];

describe.each(ALL_STORES)("FrontdeskSession on $name", (store) => {
  it("gives back every kind of item deep-equal, stored as message, tool_call, tool_result and custom events", async () => {
    const sessions = await managerOn(store.open);
    const session = new FrontdeskSession({ sessions, sessionId: "chat-1" });
    await session.addItems(EVERY_KIND);
    expect(await session.getItems()).toEqual(EVERY_KIND);
    expect(await new FrontdeskSession({ sessions, sessionId: "chat-1" }).getItems(3)).toEqual(EVERY_KIND.slice(-3));

    const events = await sessions.readEvents("chat-1");
    expect(events.map((event) => event.type)).toEqual([
      "message",
      "message",
      "message",
      "message",
      "custom",
      "tool_call",
      "tool_result",
      "custom",
      "custom",
    ]);
    expect(events[0]).toMatchObject({ role: "system", content: "Be brief." });
    expect(events[3]).toMatchObject({ role: "assistant", content: [{ type: "output_text", text: "A cat." }] });
    expect(events[5]).toMatchObject({ invocationId: "call_1", tool: "get_weather" });
    expect(events[6]).toMatchObject({ invocationId: "call_1", tool: "get_weather", status: "success" });
    const stats = (await sessions.get("chat-1")).stats;
    expect(stats).toMatchObject({ messages: 4, toolCalls: 1, toolsUsed: ["get_weather"] });
  });

  it("matches MemorySession over a seeded mix of adds, pops, clears, limits and transactions", async () => {
    const sessions = await managerOn(store.open);
    const ours = new FrontdeskSession({ sessions, sessionId: "mixed" });
    const theirs = new MemorySession();
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let serial = 0;
    const fresh = (): AgentInputItem[] => Array.from({ length: 1 + random(3) }, () => user(`item ${serial++}`));
    for (let step = 0; step < 120; step++) {
      const roll = random(20);
      if (roll < 8) {
        const items = fresh();
        await ours.addItems(items);
        await theirs.addItems(items);
      } else if (roll < 14) {
        expect(await ours.popItem()).toEqual(await theirs.popItem());
      } else if (roll === 14) {
        await ours.clearSession();
        await theirs.clearSession();
      } else if (roll < 17) {
        const k = random(4);
        const expectedSuffix = await theirs.getItems(k);
        const transaction = {
          operationId: `op-${step}`,
          transaction: {
            type: "replace_suffix" as const,
            expectedSuffix: k === 0 ? [] : expectedSuffix,
            replacement: fresh(),
          },
        };
        await ours.applyHistoryTransaction(transaction);
        await theirs.applyHistoryTransaction(transaction);
      } else {
        const transaction = {
          operationId: `op-${step}`,
          transaction: { type: "append_items" as const, items: fresh() },
        };
        await ours.applyHistoryTransaction(transaction);
        await theirs.applyHistoryTransaction(transaction);
      }
      const limit = random(6);
      expect(await ours.getItems(limit)).toEqual(await theirs.getItems(limit));
    }
    expect(await ours.getItems()).toEqual(await theirs.getItems());

    // The log only grew: every pop, clear and edit is a marker event, and no item event was rewritten.
    const events = await sessions.readEvents("mixed");
    expect(events.map((event) => event.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.some((event) => event.type === "custom" && event.name === MARKER_EVENT)).toBe(true);
  });

  it("keeps O(1) state and reads only the newest items, however long and edited the history", async () => {
    const counting = countingStore(await managerOn(store.open));
    const session = new FrontdeskSession({ sessions: counting.sessions, sessionId: "long" });
    for (let batch = 0; batch < 20; batch++) {
      await session.addItems(Array.from({ length: 50 }, (_, i) => user(`m${batch}.${i}`)));
      await session.popItem();
    }
    const state = (await counting.sessions.get("long")).state;
    expect(JSON.stringify(state).length).toBeLessThan(200);
    expect(state[HISTORY_STATE_KEY]).toMatchObject({ count: 980 });

    counting.read = 0;
    const newest = await session.getItems(5);
    expect(newest.map((item) => (item as { content: string }).content)).toEqual([
      "m19.44",
      "m19.45",
      "m19.46",
      "m19.47",
      "m19.48",
    ]);
    // The five items, and the marker of the pop that ended the history: never the 1,000 before.
    expect(counting.read).toBe(6);
    // Across popped items the read steps over at most two markers per run, not the history.
    counting.read = 0;
    expect(await session.getItems(120)).toHaveLength(120);
    expect(counting.read).toBeLessThanOrEqual(120 + 2 * 4);
  });

  it("pops nothing from an empty or missing session, and reads a missing one as empty, creating nothing", async () => {
    const sessions = await managerOn(store.open);
    const session = new FrontdeskSession({ sessions, sessionId: "absent" });
    expect(await session.getItems()).toEqual([]);
    expect(await session.popItem()).toBeUndefined();
    await session.clearSession();
    expect((await sessions.listSessions()).items).toHaveLength(0);
    await session.addItems([user("only")]);
    expect(await session.popItem()).toEqual(user("only"));
    expect(await session.popItem()).toBeUndefined();
    expect(await session.getItems(0)).toEqual([]);
  });

  it("keeps a foreign id in metadata, isolates owners, and refuses bad items writing nothing", async () => {
    const sessions = await managerOn(store.open);
    const id = "conversation with spaces / and slashes";
    const alice = new FrontdeskSession({ sessions, sessionId: id, userId: "alice" });
    const bob = new FrontdeskSession({ sessions, sessionId: id, userId: "bob" });
    await alice.addItems([user("alice's")]);
    await bob.addItems([user("bob's")]);
    expect(await alice.getSessionId()).toBe(id);
    expect(await alice.getItems()).toEqual([user("alice's")]);
    expect(await bob.getItems()).toEqual([user("bob's")]);
    const stored = await sessions.forUser("alice").get(alice.frontdeskSessionId);
    expect(stored.metadata).toEqual({ openaiAgents: { sessionId: id } });

    const version = stored.version;
    for (const bad of [
      [user("fine"), "not an item"],
      [user("fine"), { role: "user", content: new Uint8Array(2) }],
    ]) {
      const failure = await alice.addItems(bad as AgentInputItem[]).catch((error: unknown) => error);
      expect(isFrontdeskError(failure, "invalid_request")).toBe(true);
    }
    expect((await sessions.forUser("alice").get(alice.frontdeskSessionId)).version).toBe(version);
    expect(await alice.getItems()).toEqual([user("alice's")]);
  });

  it("applies a history transaction once per operation id, and refuses a reuse or a stale suffix writing nothing", async () => {
    const sessions = await managerOn(store.open);
    const session = new FrontdeskSession({ sessions, sessionId: "tx" });
    await session.addItems([user("a"), user("b")]);
    const replace = {
      operationId: "op-1",
      transaction: {
        type: "replace_suffix" as const,
        expectedSuffix: [user("b")],
        replacement: [user("B"), user("C")],
      },
    };
    await session.applyHistoryTransaction(replace);
    await session.applyHistoryTransaction(structuredClone(replace));
    expect(await session.getItems()).toEqual([user("a"), user("B"), user("C")]);
    const version = (await sessions.get("tx")).version;

    const reused = { operationId: "op-1", transaction: { type: "append_items" as const, items: [user("x")] } };
    await expect(session.applyHistoryTransaction(reused)).rejects.toMatchObject({ code: "conflict" });
    const stale = {
      operationId: "op-2",
      transaction: { type: "replace_suffix" as const, expectedSuffix: [user("b")], replacement: [] },
    };
    await expect(session.applyHistoryTransaction(stale)).rejects.toMatchObject({ code: "precondition_failed" });
    for (const bad of [
      { operationId: " ", transaction: { type: "append_items", items: [] } },
      { operationId: "op-3", transaction: { type: "append_items", items: [], extra: 1 } },
      { operationId: "op-3", transaction: { type: "drop_all" } },
    ]) {
      await expect(session.applyHistoryTransaction(bad as never)).rejects.toMatchObject({ code: "invalid_request" });
    }
    expect((await sessions.get("tx")).version).toBe(version);

    // A clear forgets operation ids, as the SDK's memory session does.
    await session.clearSession();
    await session.applyHistoryTransaction(reused);
    expect(await session.getItems()).toEqual([user("x")]);
  });

  it("replaces the history with a compaction, and applies history mutations as MemorySession does", async () => {
    const sessions = await managerOn(store.open);
    const session = new FrontdeskSession({ sessions, sessionId: "edits" });
    const call = (args: string): AgentInputItem => ({
      type: "function_call",
      callId: "c1",
      name: "f",
      arguments: args,
    });
    const items = [user("a"), call("{}"), user("b"), call("{ }"), user("c")];
    await session.addItems(items);
    const memory = new MemorySession({ initialItems: items });
    const mutations = {
      mutations: [{ type: "replace_function_call" as const, callId: "c1", replacement: call('{"x":1}') as never }],
    };
    await session.applyHistoryMutations(mutations);
    await memory.applyHistoryMutations(mutations);
    expect(await session.getItems()).toEqual(await memory.getItems());

    const compacted: AgentInputItem[] = [{ type: "compaction", encrypted_content: "opaque" }, user("c")];
    await session.replaceHistoryWithCompaction(compacted);
    expect(await session.getItems()).toEqual(compacted);
    expect(await session.popItem()).toEqual(user("c"));
    expect(await session.getItems()).toEqual(compacted.slice(0, 1));
  });
});

/** A manager whose store counts the events read, to show what a read costs. */
function countingStore(base: SessionManager): { sessions: SessionManager; read: number } {
  const counter = { sessions: base, read: 0 };
  const store: SessionStore = Object.create(base.store, {
    readEvents: {
      value: async (...args: Parameters<SessionStore["readEvents"]>) => {
        const events = await base.store.readEvents(...args);
        counter.read += events.length;
        return events;
      },
    },
  });
  counter.sessions = new SessionManager(() => ({}), store, base.namespace, { defaultTtlMs: null });
  return counter;
}
