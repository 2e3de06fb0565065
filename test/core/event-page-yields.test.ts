import { describe, expect, it } from "vitest";
import { createSessionManager } from "../../src/index.ts";

describe("readEventPage on a history of big events", () => {
  it("reads in chunks, giving the event loop turns between them, and stops at its byte budget", async () => {
    const sessions = await createSessionManager({ store: "memory:" });
    await sessions.create({ sessionId: "big" });
    const text = "z".repeat(200 * 1024);
    for (let i = 0; i < 10; i++) {
      await sessions.appendEvents(
        "big",
        Array.from({ length: 10 }, () => ({ type: "message", role: "user", content: text })),
      );
    }

    // Counts the turns the event loop gets while the page is read: a task that re-queues itself.
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const page = await sessions.readEventPage("big", { last: 100, maxBytes: 12 * 1024 * 1024 });
    counting = false;

    // 12 MiB holds 61 of the 100 events of 200 KiB (and a little JSON each): the newest of them.
    expect(page.items.map((event) => event.seq)).toEqual(Array.from({ length: 61 }, (_, i) => 40 + i));
    expect(page.nextBefore).toBe(40);
    // Four chunks of 16 were read: the loop turned between each two.
    expect(turns).toBeGreaterThanOrEqual(3);
    await sessions.store.close();
  });
});
