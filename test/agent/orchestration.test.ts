import type { LanguageModelV3CallOptions } from "@ai-sdk/provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentSession,
  conditionHolds,
  OfflineLanguageModel,
  parseConfig,
  readAgentRecord,
} from "../../src/agent/index.ts";
import { OrchestrationStateManager } from "../../src/core/orchestration-state.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import { eventsOf, type Harness, openHarness, ScriptedModel, STORES, textParts, toolCallParts } from "./helpers.ts";

/** The offline model, recording which tools each call was offered. */
const spyOffline = () => {
  const model = new OfflineLanguageModel();
  const offered: string[][] = [];
  const stream = model.doStream.bind(model);
  model.doStream = (options: LanguageModelV3CallOptions) => {
    offered.push((options.tools ?? []).map((tool) => tool.name));
    return stream(options);
  };
  return { model, offered };
};

const stepsConfig = parseConfig({
  agents: {
    assistant: {
      model: "offline",
      tools: ["calculator", "clock", "recall"],
      steps: [
        { name: "math", tools: ["calculator"], next: { afterTool: "calculator" } },
        { name: "time", tools: ["clock"] },
      ],
    },
  },
});

describe.each(STORES)("orchestration ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("offers only the active step's tools and moves on after the step's tool", async () => {
    const { model, offered } = spyOffline();
    const agent = new AgentSession({
      sessions: h.sessions,
      sessionId: "s1",
      config: stepsConfig,
      clock: h.clock,
      model,
    });
    await agent.initialize();
    expect((await readAgentRecord(h.sessions, "s1"))?.step).toBe("math");

    const refused = await agent.runTurn("what time is it?");
    expect(offered.at(-1)).toEqual(["calculator"]);
    expect(refused.text).toMatch(/not available to me right now/);

    const math = await agent.runTurn("compute 6*7");
    expect(math.text).toBe("6*7 = 42");
    const steps = (await eventsOf(h.sessions)).filter((event) => event.type === "custom" && !turnDeltaOf(event));
    expect(steps[0]).toMatchObject({ data: { from: null, to: "math", reason: "initial step" } });
    expect(steps[1]).toMatchObject({
      name: "frontdesk.agent.step",
      data: { from: "math", to: "time", reason: "after calculator" },
    });
    expect((await readAgentRecord(h.sessions, "s1"))?.step).toBe("time");
    // The answer step after the tool was already offered the next step's tools.
    expect(offered.at(-1)).toEqual(["clock"]);

    const time = await agent.runTurn("what time is it?");
    expect(time.text).toMatch(/^The current time is/);

    const state = await new OrchestrationStateManager({
      store: h.store,
      userId: "alice",
      clock: h.clock,
    }).getState({ id: "s1", userId: "alice" });
    expect(state).toMatchObject({ activeStep: "time", recentlyUsedTools: ["clock", "calculator"] });
    expect(state?.cumulativeTokenUsage.totalTokens).toBe(
      (state?.cumulativeTokenUsage.inputTokens ?? 0) + (state?.cumulativeTokenUsage.outputTokens ?? 0),
    );
    const stats = (await h.sessions.get("s1")).stats;
    expect(state?.cumulativeTokenUsage.inputTokens).toBe(stats.inputTokens);
  });

  it("refuses and records a call to a tool outside the active step", async () => {
    const model = new ScriptedModel((_options, call) =>
      call === 0 ? toolCallParts("call_1", "clock", {}) : textParts("I cannot tell the time here."),
    );
    const agent = new AgentSession({
      sessions: h.sessions,
      sessionId: "s1",
      config: stepsConfig,
      clock: h.clock,
      model,
    });
    const result = await agent.runTurn("what time is it?");

    expect(model.offeredTools(0)).toEqual(["calculator"]);
    expect(result.finish).toBe("complete");
    expect(result.text).toBe("I cannot tell the time here.");
    const events = await eventsOf(h.sessions);
    const call = events.find((event) => event.type === "tool_call");
    const denied = events.find((event) => event.type === "tool_result");
    expect(call).toMatchObject({ tool: "clock" });
    expect(denied).toMatchObject({
      tool: "clock",
      status: "denied",
      error: { code: "not_in_step", message: expect.stringContaining('step "math"') },
    });
    // The model was told, in the tool message of the history.
    const toolMessage = events.find((event) => event.type === "message" && event.role === "tool");
    expect(toolMessage).toMatchObject({ content: [{ type: "tool-result", output: { type: "execution-denied" } }] });
    expect((await readAgentRecord(h.sessions, "s1"))?.step).toBe("math");
  });

  it("an ordered sequence offers only its next tool", async () => {
    const config = parseConfig({
      agents: {
        assistant: {
          model: "offline",
          tools: ["calculator", "clock"],
          steps: [{ name: "checkout", sequence: ["clock", "calculator"], tools: ["clock", "calculator"] }],
        },
      },
    });
    const { model, offered } = spyOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock, model });
    const early = await agent.runTurn("compute 1+1");
    expect(offered[0]).toEqual(["clock"]);
    expect(early.text).toMatch(/calculator tool for that, but it is not available/);
    await agent.runTurn("what time is it?");
    expect(offered.at(-1)).toEqual(["calculator"]);
    const late = await agent.runTurn("compute 1+1");
    expect(late.text).toBe("1+1 = 2");
    expect(offered.at(-1)?.sort()).toEqual(["calculator", "clock"]); // the sequence is done: the step's tools
  });

  it("moves on when a condition on the session state holds", async () => {
    const config = parseConfig({
      agents: {
        assistant: {
          model: "offline",
          tools: ["calculator", "clock"],
          steps: [
            { name: "collect", tools: ["calculator"], next: { when: { path: "ticket.confirmed", equals: true } } },
            { name: "confirmed", tools: ["clock"] },
          ],
        },
      },
    });
    const { model, offered } = spyOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock, model });
    await agent.runTurn("hello");
    expect(offered.at(-1)).toEqual(["calculator"]);
    await h.sessions.update("s1", (state) => ({ ...state, ticket: { confirmed: true } }));
    await agent.runTurn("what time is it?");
    expect(offered.at(-1)).toEqual(["clock"]);
    expect((await readAgentRecord(h.sessions, "s1"))?.step).toBe("confirmed");
  });
});

describe("conditionHolds", () => {
  const state = { order: { status: "paid", items: 2, note: null } };
  it("follows dot paths with equals, notEquals and exists", () => {
    expect(conditionHolds({ path: "order.status", equals: "paid" }, state)).toBe(true);
    expect(conditionHolds({ path: "order.status", equals: "open" }, state)).toBe(false);
    expect(conditionHolds({ path: "order.status", notEquals: "open" }, state)).toBe(true);
    expect(conditionHolds({ path: "order.items" }, state)).toBe(true);
    expect(conditionHolds({ path: "order.note" }, state)).toBe(false);
    expect(conditionHolds({ path: "order.missing", exists: false }, state)).toBe(true);
    expect(conditionHolds({ path: "order.status.deeper", exists: true }, state)).toBe(false);
    expect(conditionHolds({ path: "constructor", exists: true }, state)).toBe(false);
  });
});
