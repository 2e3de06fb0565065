import assert from "node:assert/strict";
import type { JsonObject } from "../../core/model.ts";
import type { SessionManager } from "../../core/session-manager.ts";
import { type CaseContext, peerManagers } from "./context.ts";
import type { Runner } from "./harness.ts";

interface Counter extends JsonObject {
  count: number;
}

const increment = (s: Readonly<Counter>): Counter => ({ ...s, count: s.count + 1 });

async function hammer(managers: SessionManager<Counter>[], id: string, updaters: number, each: number): Promise<void> {
  await Promise.all(
    Array.from({ length: updaters }, async (_, u) => {
      const manager = managers[u % managers.length] as SessionManager<Counter>;
      for (let i = 0; i < each; i++) {
        const result = await manager.updateSession(id, increment);
        if (!result.success) throw new Error(`update failed: ${result.error.code} ${result.error.message}`);
      }
    }),
  );
}

/** No lost updates, gapless seqs: the cases every peer project got wrong. */
export function concurrencyCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("concurrency", () => {
    it("50 concurrent updaters × 100 increments end at exactly 5,000", async () => {
      const sessions = ctx().manager<Counter>({ initial: () => ({ count: 0 }) });
      const { id } = await sessions.create();
      await hammer([sessions], id, 50, 100);
      const session = await sessions.get(id);
      assert.equal(session.state.count, 5000);
      assert.equal(session.lastSeq, 5001);
    }, 300_000);

    it("concurrent appends stay gapless and duplicate-free", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, w) =>
          (async () => {
            const seqs: number[] = [];
            for (let i = 0; i < 10; i++) {
              const { events } = await sessions.appendEvents(id, [
                { type: "custom", name: "w", data: { w, i } },
                { type: "custom", name: "w", data: { w, i, second: true } },
              ]);
              seqs.push(...events.map((e) => e.seq));
            }
            return seqs;
          })(),
        ),
      );
      const all = results.flat().sort((a, b) => a - b);
      assert.deepEqual(
        all,
        Array.from({ length: 400 }, (_, i) => i + 1),
      );
      const stored = await sessions.readEvents(id);
      assert.deepEqual(
        stored.map((e) => e.seq),
        all,
      );
      assert.equal(new Set(stored.map((e) => e.id)).size, 400);
    }, 120_000);

    it("updaters on two instances of a shared backend lose nothing", async () => {
      const c = ctx();
      const pair = await peerManagers<Counter>(c, () => ({ count: 0 }));
      if (!pair) return;
      const { here, there } = pair;
      const { id } = await here.create();
      await hammer([here, there], id, 20, 25);
      assert.equal((await here.get(id)).state.count, 500);
      assert.equal((await there.get(id)).state.count, 500);
    }, 300_000);

    it("appends on two instances of a shared backend stay gapless", async () => {
      const c = ctx();
      const pair = await peerManagers(c);
      if (!pair) return;
      const { here, there } = pair;
      const { id } = await here.create();
      await Promise.all(
        Array.from({ length: 10 }, (_, w) =>
          (async () => {
            const manager = w % 2 ? there : here;
            for (let i = 0; i < 20; i++) await manager.addMessage(id, { role: "user", content: `${w}:${i}` });
          })(),
        ),
      );
      const stored = await here.readEvents(id);
      assert.deepEqual(
        stored.map((e) => e.seq),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(new Set(stored.map((e) => (e as { content?: unknown }).content)).size, 200);
    }, 300_000);
  });
}
