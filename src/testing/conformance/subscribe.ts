import assert from "node:assert/strict";
import type { SessionEvent } from "../../core/model.ts";
import { type CaseContext, codeOf, peerManagers } from "./context.ts";
import type { Runner } from "./harness.ts";

const take = async (iterable: AsyncIterable<SessionEvent>, count: number): Promise<number[]> => {
  const seqs: number[] = [];
  if (count === 0) return seqs;
  for await (const event of iterable) {
    seqs.push(event.seq);
    if (seqs.length >= count) break;
  }
  return seqs;
};

/** Replay then live, with no gap and no duplicate at the hand-over. */
export function subscribeCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("subscribe", () => {
    it("replays after a seq, then follows live appends with no gap or duplicate", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      for (let i = 0; i < 5; i++) await sessions.addMessage(id, { role: "user", content: `old ${i}` });
      const subscription = sessions.subscribe(id, { after: 2 });
      const received = take(subscription, 13);
      const writers = Promise.all(
        [0, 1].map(async (w) => {
          for (let i = 0; i < 5; i++) await sessions.addMessage(id, { role: "assistant", content: `new ${w}.${i}` });
        }),
      );
      await writers;
      assert.deepEqual(
        await received,
        Array.from({ length: 13 }, (_, i) => i + 3),
      );
      await subscription.close();
    });

    it("a subscriber on one instance sees every append made through a peer", async () => {
      const c = ctx();
      const pair = await peerManagers(c);
      if (!pair) return;
      const { here, there } = pair;
      const { id } = await here.create();
      const subscription = here.subscribe(id);
      const received = take(subscription, 30);
      for (let i = 0; i < 30; i++) await there.addMessage(id, { role: "user", content: `from peer ${i}` });
      assert.deepEqual(
        await received,
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      await subscription.close();
    }, 60_000);

    it("close ends the iteration", async () => {
      const sessions = ctx().manager();
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "one" });
      const subscription = sessions.subscribe(id);
      const iterator = subscription[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.seq, 1);
      const pending = iterator.next();
      await subscription.close();
      assert.equal((await pending).done, true);
    });

    it("subscribing to an absent session is not_found", async () => {
      const sessions = ctx().manager();
      assert.equal(await codeOf(take(sessions.subscribe("absent"), 1)), "not_found");
    });
  });
}
