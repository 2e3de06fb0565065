import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentSession,
  findOrphans,
  OfflineLanguageModel,
  parseConfig,
  readAgentRecord,
  respondToApproval,
} from "../../src/agent/index.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import { agentStatuses, eventsOf, type Harness, lockTakenBy, openHarness, Recorder, STORES, until } from "./helpers.ts";

const priced = parseConfig({
  models: {
    offline: {
      provider: "offline",
      model: "frontdesk-offline-1",
      contextWindow: 8192,
      maxOutputTokens: 1024,
      costPer1kInput: 0.5,
      costPer1kOutput: 1.5,
    },
  },
});

const askCalculator = parseConfig({
  agents: { assistant: { model: "offline", tools: ["calculator", "clock"], approval: { calculator: "ask" } } },
});
const denyClock = parseConfig({
  agents: { assistant: { model: "offline", tools: ["calculator", "clock"], approval: { clock: "deny" } } },
});

const ofTurn = (events: readonly SessionEvent[], turnId: string) =>
  events.filter((event) => (event as { turnId?: string }).turnId === turnId);

const assistantMessages = (events: readonly SessionEvent[]) =>
  events.filter((event) => event.type === "message" && event.role === "assistant");

describe.each(STORES)("AgentSession turns ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const agentFor = (config = priced, sessions = h.sessions) =>
    new AgentSession({ sessions, sessionId: "s1", config, clock: h.clock });

  it("records every lifecycle transition as an agent status event and in state.agent", async () => {
    const agent = agentFor();
    expect(agent.phase).toBe("created");
    await agent.initialize();
    expect(agent.phase).toBe("ready");
    expect((await readAgentRecord(h.sessions, "s1"))?.phase).toBe("ready");
    await agent.runTurn("hello there");
    expect(agent.phase).toBe("idle");
    expect((await readAgentRecord(h.sessions, "s1"))?.phase).toBe("idle");
    await agent.close();
    expect(agent.phase).toBe("closed");

    const events = await eventsOf(h.sessions);
    expect(agentStatuses(events)).toEqual(["initializing", "ready", "running", "idle", "closing", "closed"]);
    const statuses = events.filter((event) => event.type === "status");
    expect(statuses.map((event) => (event as { previous?: string }).previous)).toEqual([
      "created",
      "initializing",
      "ready",
      "running",
      "idle",
      "closing",
    ]);
    const record = await readAgentRecord(h.sessions, "s1");
    expect(record).toMatchObject({ name: "assistant", phase: "closed", model: "offline" });
    expect(record?.turn).toBeUndefined();
    await expect(agent.runTurn("again")).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("attaches to a session whose agent is already idle without writing transitions", async () => {
    const first = agentFor();
    await first.runTurn("hello");
    const before = (await h.sessions.get("s1")).lastSeq;
    const second = agentFor(priced, h.root.forUser("alice"));
    await second.initialize();
    expect(second.phase).toBe("idle");
    expect((await h.sessions.get("s1")).lastSeq).toBe(before);
  });

  it("runs a multi-step tool turn: arithmetic → calculator → answer, all persisted, stats counted", async () => {
    const agent = agentFor();
    const recorder = new Recorder();
    const result = await agent.runTurn("compute 2+3*4", { onEvent: recorder.listener });

    expect(result.finish).toBe("complete");
    expect(result.text).toBe("2+3*4 = 14");
    expect(result.steps).toBe(2);
    expect(recorder.deltas().length).toBeGreaterThan(1);
    expect(recorder.all.some((event) => event.type === "tool_call" && event.tool === "calculator")).toBe(true);

    const events = await eventsOf(h.sessions);
    const written = events.filter((event) => event.seq >= (result.events[0] as SessionEvent).seq);
    // The reply streamed into the log as it was written: each step's pieces join to its message's text.
    const pieces = written.flatMap((event) => turnDeltaOf(event) ?? []);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.every((piece) => piece.turnId === result.turnId && piece.part === "text")).toBe(true);
    const stepText = (step: number) =>
      pieces
        .filter((piece) => piece.step === step)
        .map((piece) => piece.text)
        .join("");
    const turn = written.filter((event) => !turnDeltaOf(event));
    expect(turn.map((event) => (event.type === "message" ? `message:${event.role}` : event.type))).toEqual([
      "message:user",
      "status",
      "tool_call",
      "tool_result",
      "message:assistant",
      "message:tool",
      "message:assistant",
      "status",
    ]);
    // What the listener saw is exactly what was written.
    expect(recorder.persisted().map((event) => event.seq)).toEqual(turn.map((event) => event.seq));
    expect(result.events.map((event) => event.seq)).toEqual(written.map((event) => event.seq));
    expect(stepText(1)).toBe(result.text);
    // Each step's pieces come before the message that closes the step.
    const firstMessageSeq = (turn[4] as SessionEvent).seq;
    expect(written.filter((event) => turnDeltaOf(event)?.step === 0).every((e) => e.seq < firstMessageSeq)).toBe(true);

    const call = turn.find((event) => event.type === "tool_call");
    const done = turn.find((event) => event.type === "tool_result");
    expect(call).toMatchObject({ tool: "calculator", input: { expression: "2+3*4" } });
    expect(done).toMatchObject({
      invocationId: (call as { invocationId: string }).invocationId,
      status: "success",
      output: { expression: "2+3*4", result: 14 },
    });
    expect((done as { durationMs?: number }).durationMs).toBeGreaterThanOrEqual(0);

    const first = turn[4] as SessionEvent & { content: { type: string; toolName?: string }[] };
    expect(first.content.map((part) => part.type)).toEqual(["text", "tool-call"]);
    expect(stepText(0)).toBe((first.content[0] as unknown as { text: string }).text);
    const toolMessage = turn[5] as SessionEvent & { content: { type: string; output: unknown }[] };
    expect(toolMessage.content[0]).toMatchObject({ type: "tool-result", output: { type: "json" } });
    const final = turn[6] as SessionEvent & { finish: string; model: string };
    expect(final).toMatchObject({ content: "2+3*4 = 14", finish: "complete", model: "frontdesk-offline-1" });

    // Usage on the assistant messages adds up to the session's stats, with the configured prices.
    const stats = (await h.sessions.get("s1")).stats;
    const usages = assistantMessages(turn).map((event) => (event as { usage: Record<string, number> }).usage);
    expect(usages.every((usage) => (usage.inputTokens ?? 0) > 0 && (usage.outputTokens ?? 0) > 0)).toBe(true);
    const sum = (key: string) => usages.reduce((total, usage) => total + (usage[key] ?? 0), 0);
    expect(stats).toMatchObject({ messages: 4, toolCalls: 1, toolErrors: 0, toolsUsed: ["calculator"] });
    expect(stats.inputTokens).toBe(sum("inputTokens"));
    expect(stats.outputTokens).toBe(sum("outputTokens"));
    expect(result.usage.inputTokens).toBe(stats.inputTokens);
    const expectedCost = (stats.inputTokens / 1000) * 0.5 + (stats.outputTokens / 1000) * 1.5;
    expect(stats.costUsd).toBeCloseTo(expectedCost, 8);
    expect(result.usage.costUsd).toBeCloseTo(expectedCost, 8);

    // The history is valid for the next turn: the model sees the earlier call and its result.
    const second = await agent.runTurn("what time is it?");
    expect(second.text).toMatch(/^The current time is 2026-01-01T00:00:00.000Z/);
  });

  it("ask: pauses on an approval request, resumes and runs the tool when approved", async () => {
    const agent = agentFor(askCalculator);
    const recorder = new Recorder();
    const running = agent.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");

    const [pending] = await agent.pendingApprovals();
    expect(pending).toMatchObject({ tool: "calculator", input: { expression: "6*7" } });
    expect((await readAgentRecord(h.sessions, "s1"))?.phase).toBe("running");
    await agent.approve(pending?.approvalId as string);
    const result = await running;

    expect(result.finish).toBe("complete");
    expect(result.text).toBe("6*7 = 42");
    const types = (await eventsOf(h.sessions)).map((event) => event.type);
    expect(types.slice(types.indexOf("tool_call"), types.indexOf("tool_result") + 1)).toEqual([
      "tool_call",
      "approval_request",
      "approval_response",
      "tool_result",
    ]);
    expect(await agent.pendingApprovals()).toEqual([]);
    await expect(agent.approve(pending?.approvalId as string)).rejects.toMatchObject({ code: "conflict" });
  });

  it("ask: an approval appended by another process (another manager, no AgentSession) resumes the turn", async () => {
    const agent = agentFor(askCalculator);
    const recorder = new Recorder();
    const running = agent.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");
    const request = recorder.persisted().find((event) => event.type === "approval_request") as { approvalId: string };

    const elsewhere = h.root.forUser("alice");
    await respondToApproval(elsewhere, "s1", request.approvalId, "approve");
    const result = await running;
    expect(result.text).toBe("6*7 = 42");
    // Bob can neither see nor answer alice's approvals.
    await expect(respondToApproval(h.root.forUser("bob"), "s1", request.approvalId, "approve")).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("ask → deny records a denied result and the model carries on", async () => {
    const agent = agentFor(askCalculator);
    const recorder = new Recorder();
    const running = agent.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");
    const [pending] = await agent.pendingApprovals();
    await agent.deny(pending?.approvalId as string, "not now");
    const result = await running;

    expect(result.finish).toBe("complete");
    expect(result.text).toMatch(/did not run the calculator tool: Denied: not now/);
    const events = await eventsOf(h.sessions);
    expect(events.find((event) => event.type === "approval_response")).toMatchObject({
      decision: "deny",
      reason: "not now",
    });
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({
      status: "denied",
      error: { code: "denied" },
    });
    const stats = (await h.sessions.get("s1")).stats;
    expect(stats.toolCalls).toBe(1);
    expect(stats.toolErrors).toBe(0);
  });

  it("deny policy: the tool never runs and is recorded as denied, without asking", async () => {
    const agent = agentFor(denyClock);
    const result = await agent.runTurn("what time is it?");
    expect(result.text).toMatch(/did not run the clock tool/);
    const events = await eventsOf(h.sessions);
    expect(events.some((event) => event.type === "approval_request")).toBe(false);
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({
      tool: "clock",
      status: "denied",
      error: { code: "policy" },
    });
    expect(events.filter((event) => event.type === "tool_result" && event.output !== undefined)).toEqual([]);
  });

  it("cancel mid-stream keeps the partial reply once, marked cancelled, and the next turn does not duplicate it", async () => {
    const agent = agentFor();
    const controller = new AbortController();
    const recorder = new Recorder();
    const result = await agent.runTurn("tell me about yourself", {
      signal: controller.signal,
      onEvent: (event) => {
        recorder.listener(event);
        if (event.type === "delta" && recorder.deltas().length === 3) controller.abort();
      },
    });
    expect(result.finish).toBe("cancelled");
    const partial = recorder.deltas().join("");
    expect(partial.length).toBeGreaterThan(0);
    expect(result.text).toBe(partial);

    const events = await eventsOf(h.sessions);
    const replies = assistantMessages(ofTurn(events, result.turnId));
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ content: partial, finish: "cancelled", usage: { estimated: true } });
    const full = (await new OfflineLanguageModel().doGenerate({
      prompt: [{ role: "user", content: [{ type: "text", text: "tell me about yourself" }] }],
    })) as { content: { text: string }[] };
    expect(full.content[0]?.text.startsWith(partial)).toBe(true);
    expect(full.content[0]?.text.length).toBeGreaterThan(partial.length);
    expect(events.at(-1)).toMatchObject({ type: "status", status: "idle", previous: "running", reason: "cancelled" });
    expect((await readAgentRecord(h.sessions, "s1"))?.turn).toBeUndefined();

    const next = await agent.runTurn("compute 1+1");
    expect(next.finish).toBe("complete");
    const after = await eventsOf(h.sessions);
    expect(assistantMessages(ofTurn(after, result.turnId))).toHaveLength(1);
    const ids = after.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("cancel while waiting for approval closes the call as cancelled; a late approval is refused", async () => {
    const agent = agentFor(askCalculator);
    const recorder = new Recorder();
    const running = agent.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");
    const request = recorder.persisted().find((event) => event.type === "approval_request") as { approvalId: string };
    expect(agent.cancel()).toBe(true);
    const result = await running;

    expect(result.finish).toBe("cancelled");
    const events = await eventsOf(h.sessions);
    const results = events.filter((event) => event.type === "tool_result");
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ status: "cancelled" });
    expect(await findOrphans(h.sessions, "s1", undefined)).toEqual([]);
    await expect(agent.approve(request.approvalId)).rejects.toMatchObject({ code: "conflict" });
    // The partial text before the tool call ("Let me calculate that.") is kept once, cancelled.
    expect(assistantMessages(ofTurn(events, result.turnId))).toEqual([
      expect.objectContaining({ finish: "cancelled", content: "Let me calculate that." }),
    ]);
  });

  it("recovers from a process killed mid-turn: orphaned call closed, stale lock taken over, no duplicates", async () => {
    // What a killed process leaves: the agent running with a lock, a tool call with no result,
    // and an approval request nobody answered.
    const crashedAt = h.clock.now();
    await h.sessions.appendEvents("s1", [
      { type: "message", role: "user", content: "run something", turnId: "turn_old" },
      lockTakenBy("turn_old", "dead", crashedAt),
      { type: "tool_call", invocationId: "inv_old", tool: "calculator", input: { expression: "1+1" } },
      { type: "tool_call", invocationId: "inv_asked", tool: "calculator", input: { expression: "2+2" } },
      { type: "approval_request", approvalId: "apr_old", invocationId: "inv_asked", tool: "calculator" },
    ]);
    const seqBefore = (await h.sessions.get("s1")).lastSeq;

    // While the lock is fresh, a new turn is refused.
    const early = agentFor();
    await expect(early.runTurn("hello")).rejects.toMatchObject({ code: "conflict" });
    // It attached to the running agent (nothing to write) and was refused before writing anything.
    expect((await h.sessions.get("s1")).lastSeq).toBe(seqBefore);

    h.clock.advance(10 * 60 * 1000); // the dead turn's heartbeat is now stale
    const agent = agentFor();
    const result = await agent.runTurn("compute 3*3");
    expect(result.finish).toBe("complete");
    expect(result.text).toBe("3*3 = 9");

    const events = await eventsOf(h.sessions);
    const repaired = events.filter((event) => event.type === "tool_result" && event.status === "cancelled");
    expect(repaired.map((event) => (event as { invocationId: string }).invocationId).sort()).toEqual([
      "inv_asked",
      "inv_old",
    ]);
    expect(repaired[0]).toMatchObject({ error: { message: "interrupted" } });
    const firstOfTurn = (result.events[0] as SessionEvent).seq;
    expect(result.events.slice(0, 5).map((event) => event.type)).toEqual([
      "tool_result",
      "tool_result",
      "status",
      "message",
      "status",
    ]);
    expect(events.find((event) => event.seq === firstOfTurn + 2)).toMatchObject({
      status: "idle",
      previous: "running",
      reason: expect.stringMatching(/recovered: turn turn_old was interrupted/),
    });
    expect(await findOrphans(h.sessions, "s1", undefined)).toEqual([]);
    await expect(respondToApproval(h.sessions, "s1", "apr_old", "approve")).rejects.toMatchObject({
      code: "conflict",
    });
    expect(events.filter((event) => event.type === "message" && event.role === "user")).toHaveLength(2);
    const record = await readAgentRecord(h.sessions, "s1");
    expect(record).toMatchObject({ phase: "idle" });
    expect(record?.turn).toBeUndefined();
    // A later turn does not repair again.
    await agent.runTurn("hello");
    expect((await eventsOf(h.sessions)).filter((event) => event.type === "tool_result")).toHaveLength(3);
  });

  it("refuses a second concurrent turn on the same session with conflict, across AgentSessions too", async () => {
    const a = agentFor(askCalculator);
    const recorder = new Recorder();
    const running = a.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");

    const error = await a.runTurn("hello").catch((e: unknown) => e);
    expect(isFrontdeskError(error, "conflict")).toBe(true);
    const b = agentFor(askCalculator, h.root.forUser("alice")); // as another process would
    const seq = (await h.sessions.get("s1")).lastSeq;
    const other = await b.runTurn("hello").catch((e: unknown) => e);
    expect(isFrontdeskError(other, "conflict")).toBe(true);
    // The refused turn wrote no message.
    const written = (await eventsOf(h.sessions)).filter((event) => event.seq > seq);
    expect(written.filter((event) => event.type === "message")).toEqual([]);

    const [pending] = await a.pendingApprovals();
    await a.approve(pending?.approvalId as string);
    await running;
    expect((await b.runTurn("hello")).finish).toBe("complete");
  });

  it("two turns started at once on two AgentSessions: exactly one runs", async () => {
    const a = agentFor(priced);
    const b = agentFor(priced, h.root.forUser("alice"));
    await Promise.all([a.initialize(), b.initialize()]);
    const outcomes = await Promise.allSettled([a.runTurn("compute 1+2"), b.runTurn("compute 3+4")]);
    const fulfilled = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const rejected = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(isFrontdeskError((rejected[0] as PromiseRejectedResult).reason, "conflict")).toBe(true);
    const users = (await eventsOf(h.sessions)).filter((event) => event.type === "message" && event.role === "user");
    expect(users).toHaveLength(1);
  });

  it("rejects empty and oversized messages before writing anything", async () => {
    const agent = agentFor();
    await agent.initialize();
    const seq = (await h.sessions.get("s1")).lastSeq;
    await expect(agent.runTurn("  ")).rejects.toMatchObject({ code: "invalid_request" });
    await expect(agent.runTurn("word ".repeat(20_000))).rejects.toMatchObject({ code: "invalid_request" });
    expect((await h.sessions.get("s1")).lastSeq).toBe(seq);
  });
});
