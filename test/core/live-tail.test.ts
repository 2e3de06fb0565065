import { describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import type { SessionStore } from "../../src/core/store-contract.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";

const countingReads = (store: SessionStore): { store: SessionStore; reads: () => number } => {
  let reads = 0;
  return {
    store: new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === "readEvents") {
          return (...args: Parameters<SessionStore["readEvents"]>) => {
            reads++;
            return target.readEvents(...args);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    }),
    reads: () => reads,
  };
};

const collect = async (iterable: AsyncIterable<SessionEvent>, count: number): Promise<number[]> => {
  const seqs: number[] = [];
  for await (const event of iterable) {
    seqs.push(event.seq);
    if (seqs.length >= count) break;
  }
  return seqs;
};

describe("shared live tail", () => {
  it("a hundred live subscribers cost about one store read per append, and each gets the exact log", async () => {
    const counted = countingReads(createMemoryStore());
    const sessions = new SessionManager(() => ({}), counted.store);
    const { id } = await sessions.create();
    const subscriptions = Array.from({ length: 100 }, () => sessions.subscribe(id));
    const received = subscriptions.map((s) => collect(s, 20));
    await new Promise((resolve) => setImmediate(resolve));
    const before = counted.reads();
    for (let i = 0; i < 20; i++) {
      await sessions.addMessage(id, { role: "user", content: `m${i}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await Promise.all(received);
    for (const seqs of results) expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(counted.reads() - before).toBeLessThanOrEqual(2 * 20 + 5);
    await Promise.all(subscriptions.map((s) => s.close()));
  });

  it("subscribers starting from different seqs, behind and at the head, each get exactly the events after theirs", async () => {
    const sessions = new SessionManager(() => ({}), createMemoryStore());
    const { id } = await sessions.create();
    for (let i = 0; i < 1500; i++) await sessions.addMessage(id, { role: "user", content: `old ${i}` });
    const starts = [0, 3, 700, 1499, 1500];
    const subscriptions = starts.map((after) => sessions.subscribe(id, { after }));
    const received = subscriptions.map((s, i) => collect(s, 1520 - (starts[i] as number)));
    const writers = Promise.all(
      [0, 1].map(async (w) => {
        for (let i = 0; i < 10; i++) await sessions.addMessage(id, { role: "assistant", content: `new ${w}.${i}` });
      }),
    );
    await writers;
    const results = await Promise.all(received);
    results.forEach((seqs, i) => {
      const after = starts[i] as number;
      expect(seqs).toEqual(Array.from({ length: 1520 - after }, (_, j) => after + j + 1));
    });
    await Promise.all(subscriptions.map((s) => s.close()));
  });

  it("a subscriber that closes does not stop the others", async () => {
    const sessions = new SessionManager(() => ({}), createMemoryStore());
    const { id } = await sessions.create();
    const leaving = sessions.subscribe(id);
    const staying = sessions.subscribe(id);
    const stayed = collect(staying, 3);
    await sessions.addMessage(id, { role: "user", content: "1" });
    await leaving.close();
    await sessions.addMessage(id, { role: "user", content: "2" });
    await sessions.addMessage(id, { role: "user", content: "3" });
    expect(await stayed).toEqual([1, 2, 3]);
    await staying.close();
  });
});
