import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentSession, readAgentRecord } from "../../src/agent/index.ts";
import { agentStatuses, eventsOf, type Harness, openHarness, ScriptedModel, STORES, textParts } from "./helpers.ts";

describe.each(STORES)("model failures ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("a provider error mid-reply keeps the partial text once (finish error), records the reason, frees the lock", async () => {
    const model = new ScriptedModel((_options, call) =>
      call === 0
        ? [
            { type: "stream-start", warnings: [] },
            { type: "text-start", id: "t" },
            { type: "text-delta", id: "t", delta: "Partial " },
            { type: "text-delta", id: "t", delta: "answer" },
            { type: "error", error: new Error("upstream exploded") },
          ]
        : textParts("Recovered fine."),
    );
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", clock: h.clock, model });
    const failed = await agent.runTurn("hello");
    expect(failed.finish).toBe("error");
    expect(failed.error?.message).toContain("upstream exploded");
    expect(agent.phase).toBe("error");

    const events = await eventsOf(h.sessions);
    const replies = events.filter((event) => event.type === "message" && event.role === "assistant");
    expect(replies).toEqual([expect.objectContaining({ content: "Partial answer", finish: "error" })]);
    expect(events.at(-1)).toMatchObject({
      type: "status",
      status: "error",
      previous: "running",
      reason: expect.stringContaining("upstream exploded"),
    });
    const record = await readAgentRecord(h.sessions, "s1");
    expect(record).toMatchObject({ phase: "error", error: expect.stringContaining("upstream exploded") });
    expect(record?.turn).toBeUndefined();

    const next = await agent.runTurn("again");
    expect(next).toMatchObject({ finish: "complete", text: "Recovered fine." });
    expect(agentStatuses(await eventsOf(h.sessions)).slice(-2)).toEqual(["running", "idle"]);
  });

  it("a model that throws before streaming fails the turn without writing a reply", async () => {
    const model = new ScriptedModel(() => {
      throw new Error("connection refused");
    });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", clock: h.clock, model });
    const result = await agent.runTurn("hello");
    expect(result.finish).toBe("error");
    expect(result.error?.message).toContain("connection refused");
    const events = await eventsOf(h.sessions);
    expect(events.filter((event) => event.type === "message").map((event) => (event as { role: string }).role)).toEqual(
      ["user"],
    );
    expect((await readAgentRecord(h.sessions, "s1"))?.turn).toBeUndefined();
  });
});
