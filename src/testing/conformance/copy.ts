import assert from "node:assert/strict";
import { SessionManager } from "../../core/session-manager.ts";
import { createMemoryStore } from "../../stores/memory/index.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

const collect = async (lines: AsyncIterable<string>): Promise<string[]> => {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
};

/** Forks, exports and imports: lossless, with lineage. */
export function copyCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("fork, export and import", () => {
    it("fork copies the events up to atSeq with the state as it stood then", async () => {
      const sessions = ctx().manager().forUser("u1");
      const source = await sessions.create({ title: "origin", tags: ["t"], state: { step: 0 } });
      await sessions.addMessage(source.id, { role: "user", content: "one", stateDelta: { step: 1 } });
      await sessions.linkInvocation(source.id, { tool: "calc", input: "1+1", output: 2, durationMs: 3 });
      const atSeq = (await sessions.get(source.id)).lastSeq;
      await sessions.addMessage(source.id, { role: "assistant", content: "later", stateDelta: { step: 2 } });
      const fork = await sessions.fork(source.id, { atSeq });
      assert.notEqual(fork.id, source.id);
      assert.deepEqual(fork.parent, { sessionId: source.id, seq: atSeq });
      assert.deepEqual(fork.state, { step: 1 });
      assert.equal(fork.title, "origin");
      assert.equal(fork.lastSeq, atSeq);
      assert.equal(fork.stats.toolCalls, 1);
      assert.equal(fork.stats.messages, 1);
      const original = await sessions.readEvents(source.id, { limit: atSeq });
      assert.deepEqual(await sessions.readEvents(fork.id), original);
      await sessions.addMessage(fork.id, { role: "user", content: "diverge" });
      assert.equal((await sessions.get(source.id)).lastSeq, atSeq + 1);
      assert.equal(await codeOf(sessions.fork(source.id, { atSeq: 999 })), "invalid_request");
    });

    it("export then import round-trips losslessly across stores", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const source = await sessions.create({
        title: "T",
        purpose: "P",
        tags: ["a", "b"],
        metadata: { m: [1, { n: null }] },
        state: { s: "x" },
      });
      await sessions.addMessage(source.id, {
        role: "user",
        content: [{ type: "text", text: "héllo ✓" }],
        usage: { inputTokens: 3 },
      });
      await sessions.linkInvocation(source.id, {
        tool: "t",
        input: { q: 1 },
        error: { message: "boom", code: "E1" },
        durationMs: 7,
      });
      await sessions.appendEvents(source.id, [{ type: "custom", name: "x", data: { deep: [1, 2, { three: 3 }] } }]);
      const lines = await collect(sessions.exportSession(source.id));
      assert.equal(lines.length, 1 + (await sessions.get(source.id)).lastSeq);

      const memory = new SessionManager(() => ({}), createMemoryStore(), "elsewhere", { clock: c.clock }).forUser("u2");
      const copy = await memory.importSession(lines);
      const back = await sessions.importSession(memory.exportSession(copy.id), { sessionId: "round-tripped" });

      const original = await sessions.get(source.id);
      for (const field of [
        "title",
        "purpose",
        "tags",
        "metadata",
        "state",
        "stats",
        "status",
        "lastSeq",
        "createdAt",
        "updatedAt",
        "ttlMs",
        "parent",
      ] as const) {
        assert.deepEqual(back[field], original[field], field);
      }
      assert.deepEqual(await sessions.readEvents("round-tripped"), await sessions.readEvents(source.id));
    });

    it("importing over a taken id is conflict; a malformed export is invalid_request; neither stores anything", async () => {
      const sessions = ctx().manager();
      const source = await sessions.create({ sessionId: "taken" });
      await sessions.addMessage(source.id, { role: "user", content: "x" });
      const lines = await collect(sessions.exportSession(source.id));
      assert.equal(await codeOf(sessions.importSession(lines)), "conflict");
      assert.equal((await sessions.get("taken")).lastSeq, 1);
      const broken = [
        lines[0] as string,
        '{"kind":"event","event":{"seq":2,"id":"e","at":1,"type":"custom","name":"n"}}',
      ];
      assert.equal(await codeOf(sessions.importSession(broken, { sessionId: "broken" })), "invalid_request");
      assert.equal(await codeOf(sessions.importSession("not json\n", { sessionId: "broken" })), "invalid_request");
      assert.equal(await codeOf(sessions.importSession([], { sessionId: "broken" })), "invalid_request");
      assert.equal(await codeOf(sessions.get("broken")), "not_found");
    });

    it("a fork of a long history is complete", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      for (let i = 0; i < 6; i++) {
        await sessions.appendEvents(
          id,
          Array.from({ length: 200 }, (_, j) => ({ type: "custom", name: "bulk", data: i * 200 + j })),
        );
      }
      const fork = await sessions.fork(id);
      assert.equal(fork.lastSeq, 1200);
      const events = await sessions.readEvents(fork.id, { last: 1 });
      assert.equal((events[0] as { data?: unknown }).data, 1199);
    });
  });
}
