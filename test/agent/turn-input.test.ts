/**
 * A user message given as content parts is checked against the AI SDK's user message schema
 * before anything is written: a part the SDK would refuse would otherwise be stored and break
 * every later turn of the session.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentSession } from "../../src/agent/index.ts";
import { eventsOf, type Harness, openHarness, STORES } from "./helpers.ts";

describe.each(STORES)("content parts ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("refuses parts the AI SDK would refuse, writes no turn, and the session keeps working", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", clock: h.clock });
    for (const content of [
      [{ type: "text", text: 42 }],
      [{ type: "unknown-kind", text: "a" }],
      [{ type: "image" }],
      [{ type: "text", text: "fine" }, { type: "file" }],
    ]) {
      await expect(agent.runTurn({ content })).rejects.toMatchObject({
        code: "invalid_request",
        message: expect.stringContaining("not valid user content"),
      });
    }
    expect((await eventsOf(h.sessions)).filter((event) => event.type === "message")).toEqual([]);
    const result = await agent.runTurn({ content: [{ type: "text", text: "compute 6*7" }] });
    expect(result.finish).toBe("complete");
    expect(result.text).toBe("6*7 = 42");
  });
});
