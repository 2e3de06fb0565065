/**
 * The library contract through HTTP: one set of manager-level cases, one shared body per case,
 * run against a SessionManager bound to a user and against a FrontdeskClient talking to a real
 * server (on memory, and on SQLite). The HTTP API provably speaks the library's contract.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FrontdeskClient } from "../../src/client/http-client.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { JsonObject, SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { openStore } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";

/** What both implementations offer: the manager's throwing API. */
type SessionApi = Pick<
  SessionManager,
  | "create"
  | "get"
  | "patch"
  | "update"
  | "delete"
  | "appendEvents"
  | "readEvents"
  | "listSessions"
  | "getStatistics"
  | "getMessages"
  | "fork"
  | "exportSession"
  | "importSession"
  | "subscribe"
>;

// Compile-time proof that the client has the manager's signatures.
const _clientIsAnApi = (client: FrontdeskClient): SessionApi => client;
void _clientIsAnApi;

interface World {
  /** The API as seen by one user. */
  as(userId: string): Promise<SessionApi>;
  close(): Promise<void>;
}

interface Implementation {
  name: string;
  open(): Promise<World>;
}

const overHttp = (name: string, makeStore: () => Promise<SessionStore>): Implementation => ({
  name,
  async open() {
    const store = await makeStore();
    const server = await startServer({ store, port: 0, logger: false, limits: { requestsPerSecond: null } });
    return {
      async as(userId) {
        const { key } = await createApiKey(store, { userId });
        return new FrontdeskClient({ baseUrl: server.url, apiKey: key });
      },
      close: () => server.close(),
    };
  },
});

const IMPLEMENTATIONS: Implementation[] = [
  {
    name: "SessionManager bound to a user",
    async open() {
      const store = createMemoryStore();
      const manager = new SessionManager(() => ({}), store, "default");
      return { as: async (userId) => manager.forUser(userId), close: () => store.close() };
    },
  },
  overHttp("FrontdeskClient → startServer(memory)", async () => createMemoryStore()),
  overHttp("FrontdeskClient → startServer(sqlite)", () => openStore("sqlite::memory:")),
];

const codeOf = async (work: Promise<unknown>): Promise<string> => {
  try {
    await work;
  } catch (error) {
    if (isFrontdeskError(error)) return error.code;
    throw error;
  }
  return "no error";
};

const seqs = (events: readonly SessionEvent[]): number[] => events.map((event) => event.seq);

for (const implementation of IMPLEMENTATIONS) {
  describe(`contract: ${implementation.name}`, () => {
    let world: World;
    let alice: SessionApi;
    beforeEach(async () => {
      world = await implementation.open();
      alice = await world.as("alice");
    });
    afterEach(async () => {
      await world.close();
    });

    it("create makes a session owned by the caller with a 128-bit random id; get returns it", async () => {
      const created = await alice.create({ state: { count: 0 }, title: "T", tags: ["a"], metadata: { m: 1 } });
      expect(created.id).toMatch(/^[0-9a-f]{32}$/);
      expect(created).toMatchObject({ userId: "alice", version: 1, status: "active", title: "T", tags: ["a"] });
      const got = await alice.get(created.id);
      expect(got).toMatchObject({ id: created.id, state: { count: 0 }, metadata: { m: 1 }, version: 1 });
    });

    it("create with a taken id returns that session, or throws conflict with ifExists: error", async () => {
      await alice.create({ sessionId: "room", state: { n: 1 } });
      await alice.patch("room", { state: { n: 7 } });
      const again = await alice.create({ sessionId: "room", state: { n: 0 } });
      expect(again.state).toEqual({ n: 7 });
      expect(await codeOf(alice.create({ sessionId: "room", ifExists: "error" }))).toBe("conflict");
    });

    it("patch merges state, replaces fields and bumps the version; a stale expectedVersion is precondition_failed", async () => {
      await alice.create({ sessionId: "p", state: { a: { x: 1, y: 2 }, b: 1 } });
      const patched = await alice.patch("p", { state: { a: { y: null }, c: 3 }, title: "new" }, { expectedVersion: 1 });
      expect(patched).toMatchObject({ version: 2, title: "new", state: { a: { x: 1 }, b: 1, c: 3 } });
      expect(await codeOf(alice.patch("p", { title: "stale" }, { expectedVersion: 1 }))).toBe("precondition_failed");
      expect((await alice.get("p")).title).toBe("new");
    });

    it("concurrent updates of one counter lose nothing", async () => {
      await alice.create({ sessionId: "counter", state: { count: 0 } });
      await Promise.all(
        Array.from({ length: 8 }, () =>
          alice.update("counter", (state) => ({ ...state, count: (state as { count: number }).count + 1 })),
        ),
      );
      expect((await alice.get("counter")).state).toEqual({ count: 8 });
    });

    it("appendEvents assigns gapless seqs, applies stateDelta atomically, and honours expectedVersion", async () => {
      const { version } = await alice.create({ sessionId: "e", state: {} });
      const result = await alice.appendEvents("e", [
        { type: "message", role: "user", content: "hi", stateDelta: { topic: "greeting" } },
        { type: "custom", name: "note", data: { x: 1 }, stateDelta: { n: 1 } },
      ]);
      expect(seqs(result.events)).toEqual([1, 2]);
      expect(result).toMatchObject({ version: version + 1, lastSeq: 2, replayed: false });
      expect((await alice.get("e")).state).toEqual({ topic: "greeting", n: 1 });
      const stale = alice.appendEvents("e", [{ type: "custom", name: "x" }], { expectedVersion: version });
      expect(await codeOf(stale)).toBe("precondition_failed");
      expect(await codeOf(alice.appendEvents("e", [{ type: "nope" }]))).toBe("invalid_request");
      expect(await codeOf(alice.appendEvents("e", []))).toBe("invalid_request");
      expect((await alice.get("e")).lastSeq).toBe(2);
    });

    it("an idempotency key replays the first result and appends nothing; another body is conflict", async () => {
      await alice.create({ sessionId: "i" });
      const events = [{ type: "message", role: "user", content: "once" }];
      const first = await alice.appendEvents("i", events, { idempotencyKey: "k-1" });
      const retry = await alice.appendEvents("i", events, { idempotencyKey: "k-1" });
      expect(retry.replayed).toBe(true);
      expect(retry.events).toEqual(first.events);
      expect((await alice.readEvents("i")).length).toBe(1);
      const other = alice.appendEvents("i", [{ type: "message", role: "user", content: "twice" }], {
        idempotencyKey: "k-1",
      });
      expect(await codeOf(other)).toBe("conflict");
    });

    it("readEvents reads after/limit/types/last, and all of a long history without a limit", async () => {
      await alice.create({ sessionId: "r" });
      const batch = Array.from({ length: 1_000 }, (_, i) =>
        i % 10 === 0 ? { type: "custom", name: `c${i}` } : { type: "message", role: "user", content: `m${i}` },
      );
      await alice.appendEvents("r", batch);
      await alice.appendEvents("r", batch.slice(0, 250));
      const all = await alice.readEvents("r");
      expect(seqs(all)).toEqual(Array.from({ length: 1_250 }, (_, i) => i + 1));
      expect(seqs(await alice.readEvents("r", { after: 10, limit: 3 }))).toEqual([11, 12, 13]);
      expect(seqs(await alice.readEvents("r", { types: ["custom"], limit: 3 }))).toEqual([1, 11, 21]);
      expect(seqs(await alice.readEvents("r", { last: 2 }))).toEqual([1_249, 1_250]);
      expect(await codeOf(alice.readEvents("r", { limit: 0 }))).toBe("invalid_request");
    });

    it("readEvents of big events: limit and last reach past the server's 4 MiB page, before pages back", async () => {
      await alice.create({ sessionId: "big" });
      const letter = (index: number) => String.fromCharCode(97 + (index % 26));
      // 40 events of 200 KiB: 8 MiB, so over HTTP every read below spans two or three pages.
      for (let i = 0; i < 10; i++) {
        await alice.appendEvents(
          "big",
          Array.from({ length: 4 }, (_, k) => ({
            type: "message",
            role: "user",
            content: letter(i * 4 + k).repeat(200 * 1024),
          })),
        );
      }
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
      expect(seqs(await alice.readEvents("big"))).toEqual(range(1, 40));
      expect(seqs(await alice.readEvents("big", { after: 3, limit: 30 }))).toEqual(range(4, 33));
      expect(seqs(await alice.readEvents("big", { last: 35 }))).toEqual(range(6, 40));
      expect(seqs(await alice.readEvents("big", { last: 25, before: 31 }))).toEqual(range(6, 30));
      expect(seqs(await alice.readEvents("big", { after: 20, before: 31 }))).toEqual(range(21, 30));
      const newest = await alice.readEvents("big", { last: 1 });
      expect(newest[0]).toMatchObject({ seq: 40, content: letter(39).repeat(200 * 1024) });
    });

    it("listSessions pages with a cursor through every session exactly once, and filters", async () => {
      for (let i = 0; i < 7; i++) await alice.create({ sessionId: `l${i}`, tags: i % 2 === 0 ? ["even"] : ["odd"] });
      await alice.patch("l3", { status: "completed", title: "Quarterly billing" });
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await alice.listSessions({ limit: 3, cursor });
        seen.push(...result.items.map((s) => s.id));
        if (!result.nextCursor) break;
        cursor = result.nextCursor;
      }
      expect(seen.sort()).toEqual(["l0", "l1", "l2", "l3", "l4", "l5", "l6"]);
      const even = await alice.listSessions({ tags: ["even"] });
      expect(even.items.map((s) => s.id).sort()).toEqual(["l0", "l2", "l4", "l6"]);
      const done = await alice.listSessions({ status: "completed" });
      expect(done.items.map((s) => s.id)).toEqual(["l3"]);
      const text = await alice.listSessions({ text: "BILLING" });
      expect(text.items.map((s) => s.id)).toEqual(["l3"]);
      expect(await codeOf(alice.listSessions({ cursor: "garbage" }))).toBe("invalid_request");
    });

    it("statistics and the conversation view come from the header and the log", async () => {
      await alice.create({ sessionId: "m" });
      await alice.appendEvents("m", [
        { type: "message", role: "user", content: "one" },
        { type: "message", role: "assistant", content: "two", usage: { inputTokens: 3, outputTokens: 4 } },
        { type: "tool_call", invocationId: "i1", tool: "search" },
        { type: "tool_result", invocationId: "i1", tool: "search", status: "success", durationMs: 5 },
        { type: "message", role: "user", content: "three" },
      ]);
      expect(await alice.getStatistics("m")).toMatchObject({
        messages: 3,
        toolCalls: 1,
        toolsUsed: ["search"],
        inputTokens: 3,
        outputTokens: 4,
        durationMs: 5,
      });
      const messages = await alice.getMessages("m", { last: 2 });
      expect(messages.map((e) => (e as { content: string }).content)).toEqual(["two", "three"]);
    });

    it("fork copies the events up to atSeq and the state as it stood then", async () => {
      await alice.create({ sessionId: "f", state: {} });
      await alice.appendEvents("f", [
        { type: "state", stateDelta: { step: 1 } },
        { type: "state", stateDelta: { step: 2 } },
      ]);
      const fork = await alice.fork("f", { atSeq: 1, sessionId: "f2" });
      expect(fork).toMatchObject({ id: "f2", lastSeq: 1, state: { step: 1 }, parent: { sessionId: "f", seq: 1 } });
      expect(seqs(await alice.readEvents("f2"))).toEqual([1]);
      expect(await codeOf(alice.fork("f", { atSeq: 9 }))).toBe("invalid_request");
    });

    it("export → import is a lossless round trip; importing a taken id is conflict", async () => {
      await alice.create({ sessionId: "x", state: { a: 1 }, title: "export me", tags: ["t"] });
      await alice.appendEvents("x", [
        { type: "message", role: "user", content: [{ type: "text", text: "hi" }], providerOptions: { a: { b: 1 } } },
        { type: "custom", name: "n", data: { deep: [1, { two: 2 }] }, stateDelta: { a: 2 } },
      ]);
      const lines: string[] = [];
      for await (const line of alice.exportSession("x")) lines.push(line);
      expect(lines).toHaveLength(4);
      expect(await codeOf(alice.importSession(lines))).toBe("conflict");
      const copy = await alice.importSession(lines, { sessionId: "x-copy" });
      const original = await alice.get("x");
      expect(copy).toMatchObject({
        id: "x-copy",
        title: "export me",
        tags: ["t"],
        state: original.state,
        stats: original.stats,
      });
      expect(await alice.readEvents("x-copy")).toEqual(await alice.readEvents("x"));
      expect(await codeOf(alice.importSession("not json"))).toBe("invalid_request");
    });

    it("subscribe replays the log, then follows live appends, until closed", async () => {
      await alice.create({ sessionId: "s" });
      await alice.appendEvents("s", [{ type: "custom", name: "old" }]);
      const subscription = alice.subscribe("s", { after: 0 });
      const iterator = subscription[Symbol.asyncIterator]();
      expect((await iterator.next()).value?.seq).toBe(1);
      await alice.appendEvents("s", [
        { type: "custom", name: "new-1" },
        { type: "custom", name: "new-2" },
      ]);
      expect((await iterator.next()).value?.seq).toBe(2);
      expect((await iterator.next()).value?.seq).toBe(3);
      await subscription.close();
      expect((await iterator.next()).done).toBe(true);
      const resumed = alice.subscribe("s", { after: 2 })[Symbol.asyncIterator]();
      expect((await resumed.next()).value?.seq).toBe(3);
      await resumed.return?.(undefined);
    });

    it("another user's session is not found, whatever the call", async () => {
      await alice.create({ sessionId: "mine", state: { secret: true } });
      const bob: SessionApi = await world.as("bob");
      expect(await codeOf(bob.get("mine"))).toBe("not_found");
      expect(await codeOf(bob.patch("mine", { title: "x" }))).toBe("not_found");
      expect(await codeOf(bob.appendEvents("mine", [{ type: "custom", name: "x" }]))).toBe("not_found");
      expect(await codeOf(bob.readEvents("mine"))).toBe("not_found");
      expect(await codeOf(bob.getStatistics("mine"))).toBe("not_found");
      expect(await codeOf(bob.fork("mine"))).toBe("not_found");
      expect(await codeOf(bob.subscribe("mine")[Symbol.asyncIterator]().next())).toBe("not_found");
      expect(await bob.delete("mine")).toBe(false);
      expect((await bob.listSessions()).items).toEqual([]);
      // Bob may use the same id: it is his own session.
      const his = await bob.create({ sessionId: "mine" });
      expect(his.state).toEqual({});
      expect((await alice.get("mine")).state).toEqual({ secret: true });
    });

    it("errors carry the codes: invalid ids, missing sessions, deletes", async () => {
      expect(await codeOf(alice.get("../etc/passwd"))).toBe("invalid_request");
      expect(await codeOf(alice.create({ sessionId: "bad id" }))).toBe("invalid_request");
      expect(await codeOf(alice.get("missing"))).toBe("not_found");
      expect(await alice.delete("missing")).toBe(false);
      await alice.create({ sessionId: "d" });
      expect(await alice.delete("d")).toBe(true);
      expect(await codeOf(alice.get("d"))).toBe("not_found");
      expect(await codeOf(alice.create({ state: [] as unknown as JsonObject }))).toBe("invalid_request");
    });
  });
}
