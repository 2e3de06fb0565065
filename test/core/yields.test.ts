import { describe, expect, it } from "vitest";
import { createSessionManager } from "../../src/index.ts";
import { turnsDuring } from "../support/event-loop.ts";

/** A session "big" of `batches` × `perBatch` message events whose text is `text`. */
async function bigSession(text: string, batches: number, perBatch: number) {
  const sessions = await createSessionManager({ store: "memory:" });
  await sessions.create({ sessionId: "big" });
  for (let i = 0; i < batches; i++) {
    await sessions.appendEvents(
      "big",
      Array.from({ length: perBatch }, () => ({ type: "message", role: "user", content: text })),
    );
  }
  return sessions;
}

describe("importSession on a large export", () => {
  it("gives the event loop turns while it parses, and imports every event", async () => {
    const text = "z".repeat(240 * 1024);
    const sessions = await bigSession(text, 8, 5);
    const lines: string[] = [];
    for await (const line of sessions.exportSession("big")) lines.push(line);
    const exported = lines.join("\n");
    expect(exported.length).toBeGreaterThan(9 * 1024 * 1024);

    const { result: imported, turns } = await turnsDuring(() =>
      sessions.importSession(exported, { sessionId: "big-copy" }),
    );

    expect(imported.lastSeq).toBe(40);
    expect((await sessions.readEvents("big-copy", { last: 1 }))[0]).toMatchObject({ seq: 40, content: text });
    // Over 9 MiB of lines: about one turn per MiB parsed.
    expect(turns).toBeGreaterThanOrEqual(8);
    await sessions.store.close();
  });
});

describe("readEventPage on a history of big events", () => {
  it("reads in chunks, giving the event loop turns between them, and stops at its byte budget", async () => {
    const sessions = await bigSession("z".repeat(200 * 1024), 10, 10);

    const { result: page, turns } = await turnsDuring(() =>
      sessions.readEventPage("big", { last: 100, maxBytes: 12 * 1024 * 1024 }),
    );

    // 12 MiB holds 61 of the 100 events of 200 KiB (and a little JSON each): the newest of them.
    expect(page.items.map((event) => event.seq)).toEqual(Array.from({ length: 61 }, (_, i) => 40 + i));
    expect(page.nextBefore).toBe(40);
    // Four chunks of 16 were read: the loop turned between each two.
    expect(turns).toBeGreaterThanOrEqual(3);
    await sessions.store.close();
  });
});
