import { describe, expect, it } from "vitest";
import { createSessionManager } from "../../src/index.ts";

describe("importSession on a large export", () => {
  it("gives the event loop turns while it parses, and imports every event", async () => {
    const sessions = await createSessionManager({ store: "memory:" });
    await sessions.create({ sessionId: "big" });
    const text = "z".repeat(240 * 1024);
    for (let i = 0; i < 8; i++) {
      await sessions.appendEvents(
        "big",
        Array.from({ length: 5 }, () => ({ type: "message", role: "user", content: text })),
      );
    }
    const lines: string[] = [];
    for await (const line of sessions.exportSession("big")) lines.push(line);
    const exported = lines.join("\n");
    expect(exported.length).toBeGreaterThan(9 * 1024 * 1024);

    // Counts the turns the event loop gets while the import runs: a task that re-queues itself.
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const imported = await sessions.importSession(exported, { sessionId: "big-copy" });
    counting = false;

    expect(imported.lastSeq).toBe(40);
    expect((await sessions.readEvents("big-copy", { last: 1 }))[0]).toMatchObject({ seq: 40, content: text });
    // Over 9 MiB of lines: about one turn per MiB parsed.
    expect(turns).toBeGreaterThanOrEqual(8);
    await sessions.store.close();
  });
});
