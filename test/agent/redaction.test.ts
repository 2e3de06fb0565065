/**
 * A redacted assistant reply leaves no copy in the log: the pieces its turn streamed (`turn.delta`)
 * are redacted with it, and hiding the last items never counts a piece as an item.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentSession, parseConfig } from "../../src/agent/index.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { TURN_DELTA_EVENT } from "../../src/core/turn-deltas.ts";
import { eventsOf, type Harness, openHarness, STORES } from "./helpers.ts";

const config = parseConfig({
  agents: { assistant: { model: "offline", tools: [], systemPrompt: "Be brief." } },
  summarization: { enabled: false },
});

const isPiece = (event: SessionEvent) => event.type === "custom" && event.name === TURN_DELTA_EVENT;
const replyOf = (events: readonly SessionEvent[]) =>
  events.find((event) => event.type === "message" && event.role === "assistant") as SessionEvent & {
    content: string;
  };

describe.each(STORES)("redacting an agent's reply ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("takes the streamed pieces of its turn with it", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    await agent.runTurn("compute 6*7");
    const before = await eventsOf(h.sessions);
    const reply = replyOf(before);
    const pieces = before.filter(isPiece);
    expect(pieces.length).toBeGreaterThan(0);
    expect(pieces.map((piece) => (piece as unknown as { data: { text: string } }).data.text).join("")).toBe(
      reply.content,
    );

    await h.sessions.redactEvent("s1", reply.seq, { reason: "wrong answer shown to a customer" });
    const after = await eventsOf(h.sessions);
    expect(JSON.stringify(after.filter((event) => event.seq <= reply.seq))).not.toContain(reply.content);
    for (const piece of after.filter(isPiece)) expect(piece.redacted?.reason).toBe("wrong answer shown to a customer");
    const notice = after.at(-1) as SessionEvent & { data: { seqs: number[] } };
    expect(notice.data.seqs).toEqual([reply.seq, ...pieces.map((piece) => piece.seq).sort((a, b) => b - a)]);
  });

  it("hiding the last items counts the reply and its status, never a piece, and takes the pieces too", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    await agent.runTurn("compute 6*7");
    const before = await eventsOf(h.sessions);
    const reply = replyOf(before);
    const closing = before.at(-1) as SessionEvent;
    expect(closing.type).toBe("status");
    const { hidden } = await h.sessions.hideLastEvents("s1", 2, { reason: "rewind" });
    expect(hidden.map((event) => event.seq)).toEqual([reply.seq, closing.seq]);
    const after = await eventsOf(h.sessions);
    const pieces = after.filter(isPiece);
    expect(pieces.length).toBeGreaterThan(0);
    for (const piece of pieces) expect(piece.redacted?.reason).toBe("rewind");
  });
});
