import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { JsonObject, SessionEvent } from "../../core/model.ts";
import { SessionManager } from "../../core/session-manager.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

interface Counter extends JsonObject {
  count: number;
}

/** The SessionManager's semantics over the store under test. */
export function managerCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("session manager", () => {
    it("createSession returns the existing session when the id is taken", async () => {
      const sessions = ctx().manager<Counter>({ initial: () => ({ count: 0 }) });
      const first = await sessions.createSession({ sessionId: "room-1" });
      assert.equal(first.success, true);
      await sessions.updateSession("room-1", (s) => ({ ...s, count: 7 }));
      const again = await sessions.createSession({ sessionId: "room-1" });
      assert.equal(again.success && again.data.count, 7);
      assert.equal(await codeOf(sessions.create({ sessionId: "room-1", ifExists: "error" })), "conflict");
    });

    it("server-made ids carry 128 random bits and never repeat", async () => {
      const sessions = ctx().manager();
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add((await sessions.create()).id);
      assert.equal(ids.size, 20);
      for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    });

    it("results never throw for missing sessions: they carry a code", async () => {
      const sessions = ctx().manager<Counter>({ initial: () => ({ count: 0 }) });
      const got = await sessions.getSession("nobody");
      assert.equal(got.success, false);
      assert.equal(!got.success && got.error.code, "not_found");
      const updated = await sessions.updateSession("nobody", (s) => s);
      assert.equal(!updated.success && updated.error.code, "not_found");
      const bad = await sessions.getSession("../etc/passwd");
      assert.equal(!bad.success && bad.error.code, "invalid_request");
      const deleted = await sessions.deleteSession("nobody");
      assert.equal(deleted.success && deleted.data, false);
    });

    it("states handed out are deep-frozen and updates return new objects", async () => {
      const sessions = ctx().manager({ initial: () => ({ nested: { list: [1] } }) });
      const { id } = await sessions.create();
      const got = await sessions.get(id);
      assert.equal(Object.isFrozen(got.state), true);
      assert.equal(Object.isFrozen((got.state as { nested: { list: number[] } }).nested.list), true);
      assert.throws(() => {
        (got.state as { nested: { list: number[] } }).nested.list.push(2);
      });
      const next = await sessions.update(id, (s) => ({ ...s, extra: true }));
      assert.notEqual(next.state, got.state);
      assert.deepEqual((await sessions.get(id)).state, { nested: { list: [1] }, extra: true });
    });

    it("a session read again after any change shows it: its state, its user: and app: state, a TTL touch", async () => {
      // Stores that hand out one frozen header until it changes let the manager reuse the session it
      // built from it; each read here comes after a read of the unchanged session, so a reuse
      // that outlived its header, or ignored the scoped states merged into it, would show stale data.
      const c = ctx();
      const sessions = c.manager({ userId: "ann", defaultTtlMs: 10_000 });
      const { id } = await sessions.create({ state: { n: 1 } });
      const { id: other } = await sessions.create();
      const reread = async () => {
        const first = await sessions.get(id);
        assert.deepEqual(await sessions.get(id), first);
        return first;
      };
      assert.deepEqual((await reread()).state, { n: 1 });
      await sessions.update(id, (s) => ({ ...s, n: 2 }));
      assert.deepEqual((await reread()).state, { n: 2 });
      await sessions.appendEvents(other, [{ type: "state", stateDelta: { "user:theme": "dark", "app:motd": "hi" } }]);
      assert.deepEqual((await reread()).state, { n: 2, "user:theme": "dark", "app:motd": "hi" });
      await sessions.appendEvents(other, [{ type: "state", stateDelta: { "user:theme": null } }]);
      assert.deepEqual((await reread()).state, { n: 2, "app:motd": "hi" });
      const before = await reread();
      c.clock.advance(5_000);
      const touched = await reread();
      assert.equal(touched.lastAccessedAt, c.clock.now());
      assert.equal(touched.expiresAt, c.clock.now() + 10_000);
      assert.equal(touched.version, before.version);
    });

    it("appendEvents assigns gapless seqs and applies stateDelta in the same commit", async () => {
      const sessions = ctx().manager();
      const { id, version } = await sessions.create({ state: {} });
      const result = await sessions.appendEvents(id, [
        { type: "message", role: "user", content: "hi", stateDelta: { topic: "greeting" } },
        { type: "custom", name: "note", data: { x: 1 }, stateDelta: { topic: "notes", n: 1 } },
      ]);
      assert.deepEqual(
        result.events.map((e) => e.seq),
        [1, 2],
      );
      assert.equal(result.version, version + 1);
      const session = await sessions.get(id);
      assert.deepEqual(session.state, { topic: "notes", n: 1 });
      assert.equal(session.lastSeq, 2);
      const removed = await sessions.appendEvents(id, [{ type: "state", stateDelta: { n: null } }]);
      assert.deepEqual(
        removed.events.map((e) => e.seq),
        [3],
      );
      assert.deepEqual((await sessions.get(id)).state, { topic: "notes" });
    });

    it("an invalid event is invalid_request and changes nothing", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "kept" });
      for (const bad of [
        [{ type: "message", role: "robot", content: "x" }],
        [{ type: "nope" }],
        [
          { type: "message", role: "user", content: "ok" },
          { type: "tool_result", tool: "t" },
        ],
        [{ type: "custom", name: "x", data: () => 1 }],
        [],
        [null],
      ]) {
        assert.equal(await codeOf(sessions.appendEvents(id, bad as unknown[])), "invalid_request");
      }
      const after = await sessions.get(id);
      assert.equal(after.lastSeq, 1);
      assert.equal((await sessions.readEvents(id)).length, 1);
    });

    it("an oversized event is payload_too_large and changes nothing", async () => {
      const sessions = ctx().manager({ limits: { maxEventBytes: 1024 } });
      const { id, version } = await sessions.create();
      const code = await codeOf(sessions.addMessage(id, { role: "user", content: "x".repeat(2000) }));
      assert.equal(code, "payload_too_large");
      assert.equal((await sessions.get(id)).version, version);
    });

    it("an expectedVersion that does not match is precondition_failed and writes nothing", async () => {
      const sessions = ctx().manager();
      const { id, version } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "first" });
      assert.equal(
        await codeOf(
          sessions.appendEvents(id, [{ type: "message", role: "user", content: "x" }], { expectedVersion: version }),
        ),
        "precondition_failed",
      );
      assert.equal(
        await codeOf(sessions.patch(id, { title: "t" }, { expectedVersion: version })),
        "precondition_failed",
      );
      const session = await sessions.get(id);
      assert.equal(session.lastSeq, 1);
      assert.equal(session.title, null);
      const ok = await sessions.patch(id, { title: "t" }, { expectedVersion: session.version });
      assert.equal(ok.version, session.version + 1);
    });

    it("an idempotency key makes a retry return the first result and append nothing", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      const body = [{ type: "message", role: "user", content: "once" }];
      const first = await sessions.appendEvents(id, body, { idempotencyKey: "req-1" });
      const retry = await sessions.appendEvents(id, body, { idempotencyKey: "req-1" });
      assert.equal(retry.replayed, true);
      assert.deepEqual(retry.events, first.events);
      assert.equal((await sessions.get(id)).lastSeq, 1);
      const conditional = await sessions.appendEvents(id, body, {
        idempotencyKey: "req-2",
        expectedVersion: retry.version,
      });
      const conditionalRetry = await sessions.appendEvents(id, body, {
        idempotencyKey: "req-2",
        expectedVersion: retry.version,
      });
      assert.equal(conditionalRetry.replayed, true);
      assert.deepEqual(conditionalRetry.events, conditional.events);
      assert.equal((await sessions.get(id)).lastSeq, 2);
      const other = [{ type: "message", role: "user", content: "different" }];
      assert.equal(await codeOf(sessions.appendEvents(id, other, { idempotencyKey: "req-1" })), "conflict");
      assert.equal((await sessions.get(id)).lastSeq, 2);
    });

    it("messages round-trip AI SDK parts and OpenAI fields without loss", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      const aiSdk = {
        role: "assistant" as const,
        content: [
          { type: "reasoning", text: "thinking", providerOptions: { anthropic: { signature: "sig" } } },
          { type: "text", text: "Paris." },
          { type: "tool-call", toolCallId: "call_1", toolName: "weather", input: { city: "Paris" } },
          { type: "image", image: "data:image/png;base64,AAAA", mediaType: "image/png" },
        ],
        usage: { inputTokens: 12, outputTokens: 5, costUsd: 0.001 },
      };
      const openAi = {
        role: "assistant" as const,
        content: "",
        tool_calls: [{ id: "call_9", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
        name: "helper",
      };
      const toolMessage = {
        role: "tool" as const,
        content: [
          {
            type: "tool-result",
            toolCallId: "call_1",
            toolName: "weather",
            output: { type: "json", value: { c: 21 } },
          },
        ],
        toolCallId: "call_1",
      };
      await sessions.addMessage(id, aiSdk);
      await sessions.addMessage(id, openAi);
      await sessions.addMessage(id, toolMessage);
      const [a, b, t] = (await sessions.readEvents(id)) as SessionEvent[];
      const strip = (e: SessionEvent | undefined) => {
        const { seq: _s, id: _i, at: _a, type: _t, ...rest } = e as SessionEvent & Record<string, unknown>;
        return rest;
      };
      assert.deepEqual(strip(a), aiSdk);
      assert.deepEqual(strip(b), openAi);
      assert.deepEqual(strip(t), toolMessage);
      const stats = await sessions.getStatistics(id);
      assert.equal(stats.messages, 3);
      assert.equal(stats.inputTokens, 12);
      assert.equal(stats.outputTokens, 5);
      assert.equal(stats.costUsd, 0.001);
    });

    it("linkInvocation records tool calls and results; statistics count them", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create({ purpose: "Debug authentication issue", tags: ["bug-fix"] });
      await sessions.linkInvocation(id, {
        tool: "git_tool",
        invocationId: "inv_1",
        input: { cmd: "log" },
        output: "3 commits",
        durationMs: 150.5,
      });
      await sessions.linkInvocation(id, { tool: "log_analysis", input: {}, error: "timeout", durationMs: 20 });
      await sessions.linkInvocation(id, { tool: "git_tool", input: { cmd: "diff" }, output: "", durationMs: 10 });
      const events = await sessions.readEvents(id, { types: ["tool_result"] });
      assert.equal(events.length, 3);
      const first = events[0] as SessionEvent & { invocationId: string; status: string; durationMs: number };
      assert.equal(first.invocationId, "inv_1");
      assert.equal(first.status, "success");
      assert.equal(first.durationMs, 150.5);
      assert.equal((events[1] as SessionEvent & { status: string }).status, "error");
      const stats = await sessions.getStatistics(id);
      assert.equal(stats.toolCalls, 3);
      assert.equal(stats.toolErrors, 1);
      assert.deepEqual([...stats.toolsUsed].sort(), ["git_tool", "log_analysis"]);
      assert.equal(stats.durationMs, 180.5);
    });

    it("updateMetadata and completeSession change the header and record a status event", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create({ purpose: "first", metadata: { a: 1 } });
      const updated = await sessions.updateMetadata(id, {
        purpose: "Updated purpose",
        tags: ["new-tag"],
        metadata: { priority: "high" },
      });
      assert.equal(updated.purpose, "Updated purpose");
      assert.deepEqual(updated.tags, ["new-tag"]);
      assert.deepEqual(updated.metadata, { a: 1, priority: "high" });
      const done = await sessions.completeSession(id, "failed");
      assert.equal(done.status, "failed");
      const [status] = await sessions.readEvents(id, { types: ["status"] });
      assert.equal((status as SessionEvent & { status: string }).status, "failed");
      assert.equal(await codeOf(sessions.completeSession(id, "exploded" as never)), "invalid_request");
    });

    it("user: keys are shared by a user's sessions, app: by the namespace, temp: never stored", async () => {
      const c = ctx();
      const alice = c.manager().forUser("alice");
      const bob = c.manager().forUser("bob");
      const a1 = await alice.create();
      const a2 = await alice.create();
      const b1 = await bob.create();
      await alice.update(a1.id, (s) => ({
        ...s,
        "user:lang": "fr",
        "app:motd": "hello",
        "temp:scratch": 1,
        own: true,
      }));
      assert.deepEqual((await alice.get(a2.id)).state, { "user:lang": "fr", "app:motd": "hello" });
      assert.deepEqual((await bob.get(b1.id)).state, { "app:motd": "hello" });
      assert.deepEqual((await alice.get(a1.id)).state, { "user:lang": "fr", "app:motd": "hello", own: true });
      await alice.appendEvents(a2.id, [{ type: "state", stateDelta: { "user:lang": null } }]);
      assert.deepEqual((await alice.get(a1.id)).state, { "app:motd": "hello", own: true });
    });

    it("creating a session keeps the user: and app: keys it does not name and serves the ones it sets", async () => {
      const c = ctx();
      const alice = c.manager().forUser("alice");
      const first = await alice.create({ state: { "user:lang": "fr", "app:motd": "hello" } });
      assert.deepEqual(first.state, { "user:lang": "fr", "app:motd": "hello" });
      const second = await alice.create({ state: { own: 1, "app:motd": "bonjour" } });
      assert.deepEqual(second.state, { own: 1, "user:lang": "fr", "app:motd": "bonjour" });
      await c.manager().forUser("bob").create();
      assert.deepEqual((await alice.get(first.id)).state, { "user:lang": "fr", "app:motd": "bonjour" });
    });

    it("concurrent increments of a user: key lose nothing", async () => {
      const alice = ctx().manager().forUser("alice");
      const sessions = [await alice.create(), await alice.create(), await alice.create()];
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          alice.update((sessions[i % 3] as { id: string }).id, (s) => ({
            ...s,
            "user:count": (((s as Record<string, unknown>)["user:count"] as number | undefined) ?? 0) + 1,
          })),
        ),
      );
      assert.equal((await alice.get((sessions[0] as { id: string }).id)).state["user:count"], 30);
    });

    it("getMessages keeps the newest messages within last and tokenBudget, and a summary stands in", async () => {
      const sessions = ctx().manager({ countTokens: (text) => text.length });
      const { id } = await sessions.create();
      for (let i = 1; i <= 6; i++)
        await sessions.addMessage(id, { role: i % 2 ? "user" : "assistant", content: `m${i}` });
      assert.deepEqual(
        (await sessions.getMessages(id, { last: 2 })).map((e) => e.seq),
        [5, 6],
      );
      assert.deepEqual(
        (await sessions.getMessages(id, { tokenBudget: 6 })).map((e) => e.seq),
        [4, 5, 6],
      );
      await sessions.appendEvents(id, [{ type: "summary", text: "s", throughSeq: 4 }]);
      await sessions.addMessage(id, { role: "user", content: "m8" });
      const window = await sessions.getMessages(id);
      assert.deepEqual(
        window.map((e) => `${e.type}:${e.seq}`),
        ["summary:7", "message:5", "message:6", "message:8"],
      );
    });

    it("readEventPage keeps a page within its byte budget, and its cursors reach every event once", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      // 40 events (more than one read chunk), every fifth a custom one; messages of 1 to 3 KiB.
      await sessions.appendEvents(
        id,
        Array.from({ length: 40 }, (_, i) =>
          i % 5 === 4
            ? { type: "custom", name: `c${i + 1}` }
            : {
                type: "message",
                role: "user",
                content: String.fromCharCode(97 + (i % 26)).repeat(1024 * (1 + (i % 3))),
              },
        ),
      );
      const bytesOf = (events: readonly SessionEvent[]) =>
        events.reduce((sum, event) => sum + Buffer.byteLength(JSON.stringify(event)), 0);
      const all = (await sessions.readEvents(id)).map((e) => e.seq);

      const forward: number[] = [];
      for (let after = 0, pages = 0; ; pages++) {
        assert.ok(pages < 40, "forward paging ends");
        const page = await sessions.readEventPage(id, { after, limit: 25, maxBytes: 8 * 1024 });
        assert.ok(page.items.length >= 1 && page.items.length <= 25);
        assert.ok(page.items.length === 1 || bytesOf(page.items) <= 8 * 1024);
        assert.equal(page.nextBefore, null);
        forward.push(...page.items.map((e) => e.seq));
        if (page.nextAfter === null) break;
        assert.equal(page.nextAfter, page.items.at(-1)?.seq);
        after = page.nextAfter;
      }
      assert.deepEqual(forward, all);

      const backward: number[][] = [];
      for (let before: number | undefined, pages = 0; ; pages++) {
        assert.ok(pages < 40, "backward paging ends");
        const page = await sessions.readEventPage(id, { last: 30, before, maxBytes: 8 * 1024 });
        assert.ok(page.items.length === 1 || bytesOf(page.items) <= 8 * 1024);
        assert.equal(page.nextAfter, null);
        backward.push(page.items.map((e) => e.seq));
        if (page.nextBefore === null) break;
        assert.equal(page.nextBefore, page.items[0]?.seq);
        before = page.nextBefore;
      }
      assert.deepEqual(backward.reverse().flat(), all);

      // Without a budget in the way: the count decides, and a cursor only where events remain.
      const exact = await sessions.readEventPage(id, { after: 30, limit: 10 });
      assert.deepEqual(
        exact.items.map((e) => e.seq),
        [31, 32, 33, 34, 35, 36, 37, 38, 39, 40],
      );
      assert.equal(exact.nextAfter, null);
      const first = await sessions.readEventPage(id, { limit: 20 });
      assert.equal(first.items.length, 20);
      assert.equal(first.nextAfter, 20);
      const newest = await sessions.readEventPage(id, { last: 18, types: ["custom"] });
      assert.deepEqual(
        newest.items.map((e) => e.seq),
        [5, 10, 15, 20, 25, 30, 35, 40],
      );
      assert.equal(newest.nextBefore, null);
      const older = await sessions.readEventPage(id, { last: 2, before: 25, types: ["custom"] });
      assert.deepEqual(
        older.items.map((e) => e.seq),
        [15, 20],
      );
      assert.equal(older.nextBefore, 15);
      // One event is always served, whatever its size.
      const one = await sessions.readEventPage(id, { after: 1, maxBytes: 1 });
      assert.deepEqual(
        one.items.map((e) => e.seq),
        [2],
      );
      assert.equal(one.nextAfter, 2);
      assert.equal(await codeOf(sessions.readEventPage(id, { maxBytes: 0 })), "invalid_request");
      assert.equal(await codeOf(sessions.readEventPage(id, { last: 1, before: 0 })), "invalid_request");
      assert.equal(await codeOf(sessions.readEventPage("nobody", {})), "not_found");
    });

    it("delete removes the session and its events; reads then answer not_found", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "bye" });
      assert.equal(await sessions.delete(id), true);
      assert.equal(await codeOf(sessions.get(id)), "not_found");
      assert.equal(await codeOf(sessions.readEvents(id)), "not_found");
      assert.equal(await codeOf(sessions.addMessage(id, { role: "user", content: "again" })), "not_found");
      assert.equal(await sessions.delete(id), false);
    });

    it("delete with expectedVersion: another version is precondition_failed and leaves the session intact", async () => {
      const sessions = ctx().manager();
      const { id, version } = await sessions.create({ state: { keep: true } });
      const appended = await sessions.appendEvents(id, [{ type: "custom", name: "n", data: 1 }]);
      assert.equal(appended.version, version + 1);
      let caught: unknown;
      try {
        await sessions.delete(id, { expectedVersion: version });
      } catch (error) {
        caught = error;
      }
      assert.equal((caught as { code?: string }).code, "precondition_failed");
      assert.equal((caught as { details?: { currentVersion?: number } }).details?.currentVersion, appended.version);
      const after = await sessions.get(id);
      assert.equal(after.version, appended.version);
      assert.deepEqual(after.state, { keep: true });
      assert.deepEqual(
        (await sessions.readEvents(id)).map((e) => e.seq),
        Array.from({ length: appended.lastSeq }, (_, i) => i + 1),
      );
      assert.equal(await sessions.delete(id, { expectedVersion: appended.version }), true);
      assert.equal(await codeOf(sessions.get(id)), "not_found");
      assert.equal(await sessions.delete(id, { expectedVersion: appended.version }), false);
      assert.equal(await codeOf(sessions.delete(id, { expectedVersion: -1 })), "invalid_request");
    });

    it("delete with expectedVersion racing an update: exactly one wins", async () => {
      const c = ctx();
      const sessions = c.manager<Counter>({ initial: () => ({ count: 0 }) });
      // On a shared backend the delete goes through another instance, so no in-process lock orders them.
      const peer = await c.peer();
      const deleter = peer
        ? new SessionManager<Counter>(() => ({ count: 0 }), peer, c.namespace, { clock: c.clock })
        : sessions;
      for (let round = 0; round < 10; round++) {
        const { id, version } = await sessions.create();
        const update = () => sessions.update(id, (s) => ({ ...s, count: s.count + 1 }));
        const remove = () => deleter.delete(id, { expectedVersion: version });
        const [updated, deleted] =
          round % 2
            ? await Promise.allSettled([update(), remove()])
            : await Promise.allSettled([remove(), update()]).then(([d, u]) => [u, d] as const);
        if (updated.status === "fulfilled") {
          assert.equal(deleted.status, "rejected");
          const error = (deleted as PromiseRejectedResult).reason as {
            code?: string;
            details?: Record<string, unknown>;
          };
          assert.equal(error.code, "precondition_failed");
          assert.equal(error.details?.currentVersion, version + 1);
          assert.equal((await sessions.get(id)).state.count, 1);
        } else {
          assert.equal((updated.reason as { code?: string }).code, "not_found");
          assert.deepEqual(deleted, { status: "fulfilled", value: true });
          assert.equal(await codeOf(sessions.get(id)), "not_found");
        }
      }
    });
  });
}
