import assert from "node:assert/strict";
import type { SessionEvent, SessionKey } from "../../core/model.ts";
import { type CaseContext, codeOf, peerManagers } from "./context.ts";
import type { Runner } from "./harness.ts";

/**
 * What a plain append (no state change) must do, on every store: these pin the semantics a store's
 * optional one-step `append` has to match exactly (stats, expiry, checks, nothing changed on a
 * refusal), and hold alike for stores that commit every append through `get` + `commit`.
 */
export function appendCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("appends", () => {
    const keyOf = (c: CaseContext, id: string): SessionKey => ({ namespace: c.namespace, userId: null, id });

    it("stats add up messages, tool calls, tool errors, usage and durations exactly as JavaScript does", async () => {
      const c = ctx();
      const sessions = c.manager();
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "a", usage: { inputTokens: 3, costUsd: 0.1 } });
      await sessions.addMessage(id, {
        role: "assistant",
        content: "b",
        usage: { inputTokens: 4, outputTokens: 7, costUsd: 0.2 },
      });
      await sessions.linkInvocation(id, { tool: "search", input: { q: 1 }, output: [], durationMs: 0.1 });
      await sessions.linkInvocation(id, { tool: "fetch", error: "timeout", durationMs: 0.2 });
      await sessions.appendEvents(id, [
        { type: "tool_call", invocationId: "i1", tool: "search" },
        { type: "tool_call", invocationId: "i2", tool: 'odd "tool", [x]' },
        { type: "tool_result", invocationId: "i2", tool: 'odd "tool", [x]', status: "error", durationMs: 1e-7 },
        { type: "message", role: "assistant", content: "c", usage: { outputTokens: 1, costUsd: 5e-324 } },
        { type: "custom", name: "note", data: { x: [] } },
      ]);
      const expected = {
        messages: 3,
        toolCalls: 4,
        toolErrors: 2,
        toolsUsed: ["search", "fetch", 'odd "tool", [x]'],
        inputTokens: 7,
        outputTokens: 8,
        costUsd: 0.1 + 0.2 + 5e-324,
        durationMs: 0.1 + 0.2 + 1e-7,
      };
      assert.equal(expected.costUsd, 0.30000000000000004);
      assert.deepEqual((await c.store.get(keyOf(c, id), c.clock.now()))?.stats, expected);
      assert.deepEqual(await sessions.getStatistics(id), expected);
      const listed = await sessions.listSessions({ limit: 10 });
      assert.deepEqual(listed.items.find((s) => s.id === id)?.stats, expected);
      // A commit after the appends (state change) starts from exactly these stats.
      await sessions.update(id, (s) => ({ ...s, touched: true }));
      await sessions.linkInvocation(id, { tool: "fetch", output: 1 });
      assert.deepEqual((await sessions.getStatistics(id)).toolsUsed, expected.toolsUsed);
      assert.equal((await sessions.getStatistics(id)).toolCalls, 5);
      assert.equal((await sessions.getStatistics(id)).costUsd, 0.30000000000000004);
    });

    it("an append bumps the version by one, moves updatedAt and slides expiresAt up to the absolute cap", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: 1_000, absoluteTtlMs: 2_500 });
      const created = await sessions.create();
      const key = keyOf(c, created.id);
      c.clock.advance(600);
      const first = await sessions.addMessage(created.id, { role: "user", content: "one" });
      assert.equal(first.at, c.clock.now());
      let header = await c.store.get(key, c.clock.now());
      assert.equal(header?.version, created.version + 1);
      assert.equal(header?.lastSeq, created.lastSeq + 1);
      assert.equal(header?.updatedAt, c.clock.now());
      assert.equal(header?.lastAccessedAt, c.clock.now());
      assert.equal(header?.expiresAt, c.clock.now() + 1_000);
      assert.equal(header?.createdAt, created.createdAt);
      // Live past the first deadline because the append slid it.
      c.clock.advance(900);
      await sessions.appendEvents(created.id, [{ type: "custom", name: "tick" }]);
      header = await c.store.get(key, c.clock.now());
      assert.equal(header?.expiresAt, c.clock.now() + 1_000);
      assert.equal(header?.version, created.version + 2);
      // The absolute lifetime caps the slide.
      c.clock.advance(900);
      await sessions.addMessage(created.id, { role: "user", content: "three" });
      header = await c.store.get(key, c.clock.now());
      assert.equal(header?.expiresAt, created.createdAt + 2_500);
      assert.equal(header?.absoluteExpiresAt, created.createdAt + 2_500);
      c.clock.advance(200);
      assert.equal(await codeOf(sessions.addMessage(created.id, { role: "user", content: "late" })), "not_found");
    });

    it("a session that never expires stays so after appends", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: null });
      const { id } = await sessions.create();
      c.clock.advance(10 * 365 * 86_400_000);
      await sessions.addMessage(id, { role: "user", content: "still here" });
      const header = await c.store.get(keyOf(c, id), c.clock.now());
      assert.equal(header?.expiresAt, null);
      assert.equal(header?.ttlMs, null);
      assert.equal(header?.lastSeq, 1);
    });

    it("an append to an expired session is not_found and never revives it", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: 1_000 });
      const { id } = await sessions.create();
      c.clock.advance(1_001);
      assert.equal(await codeOf(sessions.addMessage(id, { role: "user", content: "too late" })), "not_found");
      assert.equal(
        await codeOf(sessions.appendEvents(id, [{ type: "custom", name: "x" }], { idempotencyKey: "k" })),
        "not_found",
      );
      assert.equal(await c.store.get(keyOf(c, id), c.clock.now()), undefined);
      assert.deepEqual(await c.store.readEvents(keyOf(c, id), {}), []);
      assert.equal(await codeOf(sessions.addMessage("never-created", { role: "user", content: "x" })), "not_found");
    });

    it("If-Match on another version is precondition_failed with the current version, and changes nothing", async () => {
      const c = ctx();
      const sessions = c.manager();
      const { id } = await sessions.create();
      const at = await sessions.addMessage(id, { role: "user", content: "one" });
      const before = await c.store.get(keyOf(c, id), c.clock.now());
      c.clock.advance(50);
      const stale = (before?.version ?? 0) - 1;
      try {
        await sessions.addMessage(
          id,
          { role: "user", content: "two", usage: { costUsd: 1 } },
          { expectedVersion: stale },
        );
        assert.fail("expected precondition_failed");
      } catch (error) {
        assert.equal((error as { code?: string }).code, "precondition_failed");
        assert.deepEqual((error as { details?: unknown }).details, { currentVersion: before?.version });
      }
      assert.deepEqual(await c.store.get(keyOf(c, id), c.clock.now()), before);
      assert.deepEqual(
        (await sessions.readEvents(id)).map((e) => e.id),
        [at.id],
      );
      const ok = await sessions.appendEvents(id, [{ type: "custom", name: "y" }], {
        expectedVersion: before?.version,
      });
      assert.equal(ok.version, (before?.version ?? 0) + 1);
      assert.deepEqual(
        ok.events.map((e) => e.seq),
        [2],
      );
    });

    it("the event limit is payload_too_large and changes nothing", async () => {
      const c = ctx();
      const sessions = c.manager({ limits: { maxEventsPerSession: 3 } });
      const { id } = await sessions.create();
      await sessions.appendEvents(id, [
        { type: "message", role: "user", content: "1" },
        { type: "message", role: "user", content: "2" },
      ]);
      const before = await c.store.get(keyOf(c, id), c.clock.now());
      c.clock.advance(10);
      try {
        await sessions.appendEvents(id, [
          { type: "message", role: "user", content: "3" },
          { type: "tool_call", invocationId: "i", tool: "t" },
        ]);
        assert.fail("expected payload_too_large");
      } catch (error) {
        assert.equal((error as { code?: string }).code, "payload_too_large");
        assert.deepEqual((error as { details?: unknown }).details, { limit: 3 });
      }
      assert.deepEqual(await c.store.get(keyOf(c, id), c.clock.now()), before);
      assert.equal((await sessions.readEvents(id)).length, 2);
      const last = await sessions.addMessage(id, { role: "user", content: "3" });
      assert.equal(last.seq, 3);
      assert.equal(await codeOf(sessions.addMessage(id, { role: "user", content: "4" })), "payload_too_large");
    });

    it("appended events read back exactly as returned, with their seqs, ids and times", async () => {
      const c = ctx();
      const sessions = c.manager();
      const { id } = await sessions.create();
      const result = await sessions.appendEvents(id, [
        { type: "message", role: "user", content: [{ type: "text", text: 'hé \u2028 "q"' }], extra: { n: 1.5 } },
        { type: "custom", name: "empty", data: { list: [], obj: {}, big: 2 ** 60, tiny: 1e-300 } },
      ]);
      assert.equal(result.replayed, false);
      assert.deepEqual(await sessions.readEvents(id), result.events);
      assert.deepEqual(Object.keys(result.events[0] ?? {}).slice(0, 3), ["seq", "id", "at"]);
      assert.equal(Object.isFrozen(result.events[0]), true);
    });

    it("appends from two instances keep stats and versions exact", async () => {
      const c = ctx();
      const pair = await peerManagers(c);
      if (!pair) return;
      const { here, there, peer } = pair;
      const created = await here.create();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, w) =>
          (async () => {
            const manager = w % 2 ? there : here;
            const seen: SessionEvent[] = [];
            for (let i = 0; i < 10; i++) {
              seen.push(
                await manager.addMessage(created.id, {
                  role: "assistant",
                  content: `${w}:${i}`,
                  usage: { inputTokens: 1, costUsd: 0.5 },
                }),
              );
            }
            return seen;
          })(),
        ),
      );
      const seqs = results.flat().map((e) => e.seq);
      assert.deepEqual(
        [...seqs].sort((a, b) => a - b),
        Array.from({ length: 80 }, (_, i) => i + 1),
      );
      const header = await peer.get(keyOf(c, created.id), c.clock.now());
      // Appends that meet in one instance may share a commit (group commit), so a version per commit.
      assert.ok(header !== undefined && header.version > created.version && header.version <= created.version + 80);
      assert.equal(header?.lastSeq, 80);
      assert.equal(header?.stats.messages, 80);
      assert.equal(header?.stats.inputTokens, 80);
      assert.equal(header?.stats.costUsd, 40);
    }, 300_000);
  });
}
