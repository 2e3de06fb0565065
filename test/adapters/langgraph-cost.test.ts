/**
 * What a step costs in store reads, counted at the store: loading a thread's newest checkpoint reads
 * that checkpoint (its event, its writes, its runs of messages), the same number of reads at 10 turns
 * as at 40; a saver that wrote the checkpoint itself reads no event at all.
 */
import type { BaseMessage } from "@langchain/core/messages";
import { describe, expect, it } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { createMemoryStore, createSessionManager, type SessionStore } from "../../src/index.ts";
import { chatGraph, userTurn } from "../fixtures/langgraph-chat.ts";

/** The memory store, counting its event reads and the events they return. */
function countingStore() {
  const store = createMemoryStore();
  const counts = { reads: 0, events: 0 };
  const readEvents: SessionStore["readEvents"] = async (key, range) => {
    const events = await store.readEvents(key, range);
    counts.reads += 1;
    counts.events += events.length;
    return events;
  };
  return { store: Object.assign(Object.create(store) as SessionStore, { readEvents }), counts };
}

describe("the cost of loading a thread's newest checkpoint", () => {
  it("is the checkpoint's size when cold, whatever the history, and no event read when warm", async () => {
    const { store, counts } = countingStore();
    const sessions = await createSessionManager({ store, defaultTtlMs: null });
    const writer = new FrontdeskSaver({ sessions });
    const graph = chatGraph(writer);
    const config = { configurable: { thread_id: "long" } };
    const cold: { reads: number; events: number; messages: number }[] = [];
    for (let n = 1; n <= 40; n += 1) {
      await graph.invoke({ messages: [userTurn(n)] }, config);
      if (n === 10 || n === 40) {
        counts.reads = 0;
        counts.events = 0;
        const tuple = await new FrontdeskSaver({ sessions }).getTuple(config);
        const messages = ((tuple?.checkpoint.channel_values.messages ?? []) as BaseMessage[]).length;
        cold.push({ ...counts, messages });
      }
    }
    const [early, late] = cold as [(typeof cold)[0], (typeof cold)[0]];
    expect(late.messages).toBeGreaterThan(3 * early.messages);
    // One read for the checkpoint event, one per run of messages (here one): not one per turn.
    expect(late.reads).toBe(early.reads);
    expect(late.reads).toBeLessThanOrEqual(3);
    // The events read are the checkpoint's own: its messages and its event, nothing of the history.
    expect(late.events).toBe(late.messages + 1);

    counts.reads = 0;
    await writer.getTuple(config);
    expect(counts.reads).toBe(0);
  });
});
