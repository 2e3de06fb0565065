import type { LanguageModelV3CallOptions } from "@ai-sdk/provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentSession,
  buildContextWindow,
  HistoryWindow,
  OfflineLanguageModel,
  parseConfig,
  readAgentRecord,
} from "../../src/agent/index.ts";
import { countContentTokens } from "../../src/agent/tokens.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { eventsOf, type Harness, lockTakenBy, openHarness, ScriptedModel, STORES, textParts } from "./helpers.ts";

const roomy = parseConfig({
  agents: { assistant: { model: "offline", tools: [], systemPrompt: "Be brief." } },
  summarization: { enabled: false },
});

/** The offline model, recording every call's prompt. */
const recordingOffline = () => {
  const model = new OfflineLanguageModel();
  const calls: LanguageModelV3CallOptions[] = [];
  const stream = model.doStream.bind(model);
  model.doStream = (options) => {
    calls.push(options);
    return stream(options);
  };
  return { model, calls };
};

const textOf = (message: LanguageModelV3CallOptions["prompt"][number]): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.map((part) => ("text" in part ? part.text : "")).join("");

/** What the model was sent, as `role: text` lines (system text apart). */
const sentLines = (call: LanguageModelV3CallOptions): string[] =>
  call.prompt.filter((message) => message.role !== "system").map((message) => `${message.role}: ${textOf(message)}`);
const systemOf = (call: LanguageModelV3CallOptions): string =>
  call.prompt
    .filter((message) => message.role === "system")
    .map(textOf)
    .join("\n");

/** Every message of the log up to `throughSeq`, after `afterSeq`, as `role: text` lines. */
const logLines = (events: readonly SessionEvent[], throughSeq: number, afterSeq = 0): string[] =>
  events
    .filter((event) => event.type === "message" && event.seq > afterSeq && event.seq <= throughSeq)
    .filter((event) => (event as { role: string }).role !== "system")
    .map((event) => `${(event as { role: string }).role}: ${(event as { content: string }).content}`);

const userSeqOf = (events: readonly SessionEvent[], turnId: string): number =>
  (events.find((event) => event.type === "message" && (event as { turnId?: string }).turnId === turnId) as SessionEvent)
    .seq;

describe.each(STORES)("the history window kept between turns ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("a plain turn is two commits (with persistDeltas off): the user message with running, then the reply with idle", async () => {
    const config = parseConfig({
      agents: { assistant: { model: "offline", tools: [], systemPrompt: "Be brief.", persistDeltas: false } },
      summarization: { enabled: false },
    });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    await agent.initialize();
    const before = await h.sessions.get("s1");
    const result = await agent.runTurn("hello there");
    expect(result.finish).toBe("complete");
    const after = await h.sessions.get("s1");
    expect(after.version - before.version).toBe(2);
    const written = (await eventsOf(h.sessions)).filter((event) => event.seq > before.lastSeq);
    expect(
      written.map(
        (event) =>
          `${event.type}:${(event as { role?: string; status?: string }).role ?? (event as { status?: string }).status}`,
      ),
    ).toEqual(["message:user", "status:running", "message:assistant", "status:idle"]);
    expect(result.events.map((event) => event.seq)).toEqual(written.map((event) => event.seq));
    // The reply's usage reached the stats in the same commit.
    expect(after.stats.outputTokens).toBeGreaterThan(0);
    expect(after.stats.outputTokens).toBe((written[2] as { usage: { outputTokens: number } }).usage.outputTokens);
  });

  it("the next turn sees what another writer appended between turns, each message once", async () => {
    const { model, calls } = recordingOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: roomy, clock: h.clock, model });
    const other = h.root.forUser("alice"); // as another process would
    const first = await agent.runTurn("compute 1+1");
    await other.appendEvents("s1", [
      { type: "message", role: "user", content: "a question asked elsewhere" },
      { type: "message", role: "assistant", content: "an answer given elsewhere" },
      { type: "custom", name: "note", data: {} },
    ]);
    const second = await agent.runTurn("compute 2+2");
    await other.appendEvents("s1", [{ type: "message", role: "system", content: "Mind the time zone." }]);
    const third = await agent.runTurn("compute 3+3");

    const events = await eventsOf(h.sessions);
    for (const [i, turn] of [first, second, third].entries()) {
      // Every message of the log up to the turn's own, in order, each once.
      expect(sentLines(calls[i] as LanguageModelV3CallOptions)).toEqual(
        logLines(events, userSeqOf(events, turn.turnId)),
      );
    }
    expect(sentLines(calls[1] as LanguageModelV3CallOptions)).toContain("assistant: an answer given elsewhere");
    expect(systemOf(calls[1] as LanguageModelV3CallOptions)).not.toContain("Mind the time zone.");
    expect(systemOf(calls[2] as LanguageModelV3CallOptions)).toContain("Mind the time zone.");
  });

  it("a message redacted between turns never reaches the model again, from the window kept in memory", async () => {
    const { model, calls } = recordingOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: roomy, clock: h.clock, model });
    const first = await agent.runTurn("my card is 4111-1111-1111-1111, compute 1+1");
    const events = await eventsOf(h.sessions);
    await h.sessions.redactEvent("s1", userSeqOf(events, first.turnId), { reason: "card number" });
    await agent.runTurn("compute 2+2");
    expect(sentLines(calls[0] as LanguageModelV3CallOptions).join("\n")).toContain("4111-1111");
    const second = sentLines(calls[1] as LanguageModelV3CallOptions);
    expect(second.join("\n")).not.toContain("4111-1111");
    expect(second).toContain("user: [redacted]");
  });

  it("after many appends by another writer the next window is read afresh and still holds everything", async () => {
    const { model, calls } = recordingOffline();
    const huge = parseConfig({
      agents: { assistant: { model: "offline", tools: [], systemPrompt: "Be brief." } },
      models: { offline: { provider: "offline", model: "frontdesk-offline-1", contextWindow: 1_000_000 } },
      summarization: { enabled: false },
    });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: huge, clock: h.clock, model });
    await agent.runTurn("compute 1+1");
    const other = h.root.forUser("alice");
    for (let batch = 0; batch < 3; batch++) {
      await other.appendEvents(
        "s1",
        Array.from({ length: 500 }, (_, i) => ({
          type: "message",
          role: i % 2 === 0 ? "user" : "assistant",
          content: `elsewhere ${batch}.${i}`,
        })),
      );
    }
    const next = await agent.runTurn("compute 2+2");
    const events = await eventsOf(h.sessions);
    expect(sentLines(calls.at(-1) as LanguageModelV3CallOptions)).toEqual(
      logLines(events, userSeqOf(events, next.turnId)),
    );
    expect(sentLines(calls.at(-1) as LanguageModelV3CallOptions)).toHaveLength(1503);
  });

  it("a summary event written by another writer stands in for what it covers from the next turn on", async () => {
    const { model, calls } = recordingOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: roomy, clock: h.clock, model });
    for (const n of [1, 2, 3]) await agent.runTurn(`compute ${n}+${n}`);
    const events = await eventsOf(h.sessions);
    const throughSeq = (
      events.filter(
        (event) => event.type === "message" && (event as { role: string }).role === "assistant",
      )[1] as SessionEvent
    ).seq;
    await h.root
      .forUser("alice")
      .appendEvents("s1", [{ type: "summary", text: "Earlier: two sums were worked out.", throughSeq }]);
    const next = await agent.runTurn("compute 4+4");

    const after = await eventsOf(h.sessions);
    const call = calls.at(-1) as LanguageModelV3CallOptions;
    expect(systemOf(call)).toContain("Summary of the earlier conversation:\nEarlier: two sums were worked out.");
    expect(sentLines(call)).toEqual(logLines(after, userSeqOf(after, next.turnId), throughSeq));
    expect(sentLines(call)[0]).toBe("user: compute 3+3");
  });

  it("a session deleted and created again under the same id starts from its own, empty history", async () => {
    const { model, calls } = recordingOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: roomy, clock: h.clock, model });
    await agent.runTurn("compute 1+1");
    await agent.runTurn("compute 2+2");
    await h.sessions.delete("s1");
    h.clock.advance(1000);
    await h.sessions.create({ sessionId: "s1" });
    const result = await agent.runTurn("compute 5+5");
    expect(result.finish).toBe("complete");
    expect(sentLines(calls.at(-1) as LanguageModelV3CallOptions)).toEqual(["user: compute 5+5"]);
  });

  it("after a clean turn, the next one still repairs what a turn killed since then left open", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: roomy, clock: h.clock });
    await agent.runTurn("compute 1+1");
    // Another process's turn took the lock (keeping what the clean turn checked), opened a tool call, and died.
    const checkedThrough = (await readAgentRecord(h.sessions, "s1"))?.checkedThrough;
    expect(checkedThrough).toBe((await h.sessions.get("s1")).lastSeq);
    const diedAt = h.clock.now();
    await h.root
      .forUser("alice")
      .appendEvents("s1", [
        { type: "message", role: "user", content: "run something", turnId: "turn_dead" },
        lockTakenBy("turn_dead", "dead", diedAt, { checkedThrough }),
        { type: "tool_call", invocationId: "inv_dead", tool: "calculator", input: { expression: "1+1" } },
      ]);
    h.clock.advance(10 * 60 * 1000);
    const result = await agent.runTurn("compute 2+2");
    expect(result.finish).toBe("complete");
    expect(result.events[0]).toMatchObject({ type: "tool_result", invocationId: "inv_dead", status: "cancelled" });
    // And the turn after that has nothing left to repair.
    const next = await agent.runTurn("compute 3+3");
    expect(next.events.filter((event) => event.type === "tool_result")).toEqual([]);
  });

  it("a lock another process took since this AgentSession's last turn refuses the next turn, writing nothing", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config: roomy, clock: h.clock });
    expect((await agent.runTurn("compute 1+1")).finish).toBe("complete");
    const now = h.clock.now();
    await h.root.forUser("alice").appendEvents("s1", [lockTakenBy("turn_elsewhere", "elsewhere", now)]);
    const before = await h.sessions.get("s1");
    await expect(agent.runTurn("compute 2+2")).rejects.toMatchObject({
      code: "conflict",
      details: { turnId: "turn_elsewhere" },
    });
    const after = await h.sessions.get("s1");
    expect(after.version).toBe(before.version);
    expect(after.lastSeq).toBe(before.lastSeq);
  });

  it("a turn whose lock was taken over before its reply was written fails without writing the reply", async () => {
    const config = parseConfig({
      agents: { assistant: { model: "offline", tools: [] } },
      summarization: { enabled: false },
    });
    const other = h.root.forUser("alice");
    const model = new ScriptedModel(() => textParts("a reply that arrives too late"));
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock, model });
    const result = await agent.runTurn("hello", {
      onEvent: (event) => {
        // As soon as the lock is taken, another turn takes it over (as after a stale heartbeat).
        if (event.type === "event" && event.event.type === "status" && event.event.status === "running") {
          const now = h.clock.now();
          void other.appendEvents("s1", [
            {
              type: "state",
              stateDelta: {
                agent: { name: "assistant", phase: "running", model: "offline", updatedAt: now },
                "process:agent": {
                  turn: { id: "turn_other", startedAt: now, heartbeatAt: now, startSeq: 1, owner: "someone" },
                },
              },
            },
          ]);
        }
      },
    });
    expect(result.finish).toBe("error");
    expect(result.error?.code).toBe("conflict");
    const events = await eventsOf(h.sessions);
    expect(
      events.filter((event) => event.type === "message" && (event as { role: string }).role === "assistant"),
    ).toEqual([]);
  });
});

describe.each(STORES)("HistoryWindow ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const line = (n: number) => `message ${n} ${"about the orchard and the farmer's dog ".repeat((n % 5) + 1)}`;

  it("gives the window a full read gives, whether it saw the appends or read them, as summaries come and the budget cuts", async () => {
    const budget = 300;
    const kept = new HistoryWindow(h.sessions, "s1", budget);
    let n = 0;
    for (let round = 0; round < 12; round++) {
      const events: Record<string, unknown>[] = [
        { type: "message", role: "user", content: line(n++) },
        { type: "message", role: round % 3 === 0 ? "system" : "assistant", content: line(n++) },
        { type: "custom", name: "noise", data: { round } },
      ];
      if (round === 5 || round === 9) {
        const seqs = (await eventsOf(h.sessions)).filter((event) => event.type === "message").map((e) => e.seq);
        events.push({
          type: "summary",
          text: `Summary ${round}: things were said.`,
          throughSeq: seqs.at(-3) as number,
        });
      }
      const { events: written, lastSeq } = await h.sessions.appendEvents("s1", events);
      // Every other round the window is told of the commit (as the turn's own writes are); else it reads.
      if (round % 2 === 0) kept.observe(written);
      const fresh = await buildContextWindow(h.sessions, "s1", budget);
      const incremental = await kept.window(lastSeq);
      expect(incremental.messages).toEqual(fresh.messages);
      expect(incremental.seqs).toEqual(fresh.seqs);
      expect(incremental.tokens).toBe(fresh.tokens);
      expect(incremental.systemNotes).toEqual(fresh.systemNotes);
      expect(incremental.summary).toEqual(fresh.summary);
      expect(fresh.seqs.length).toBeGreaterThan(0);
    }
    // The budget did cut: the oldest messages are out of the window.
    expect((await kept.window(0)).seqs[0]).toBeGreaterThan(10);
  });

  it("knows the tokens of the history since the latest summary exactly, or says it does not know", async () => {
    /** What a full read of the log gives: every message after the latest summary's throughSeq. */
    const truth = (events: readonly SessionEvent[]): number => {
      const summaries = events.filter((event) => event.type === "summary") as (SessionEvent & { throughSeq: number })[];
      const floor = summaries.at(-1)?.throughSeq ?? 0;
      return events
        .filter((event) => event.type === "message" && event.seq > floor)
        .reduce((sum, event) => sum + countContentTokens((event as { content: string }).content), 0);
    };
    const roomy = new HistoryWindow(h.sessions, "s1", 1_000_000);
    const tight = new HistoryWindow(h.sessions, "s1", 300);
    const tightAnswers: (number | undefined)[] = [];
    let n = 0;
    for (let round = 0; round < 14; round++) {
      const events: Record<string, unknown>[] = [
        { type: "message", role: "user", content: line(n++) },
        { type: "message", role: round % 3 === 0 ? "system" : "assistant", content: line(n++) },
      ];
      if (round === 6 || round === 11) {
        const seqs = (await eventsOf(h.sessions)).filter((event) => event.type === "message").map((e) => e.seq);
        events.push({ type: "summary", text: `Summary ${round}.`, throughSeq: seqs.at(-2) as number });
      }
      const { events: written, lastSeq } = await h.sessions.appendEvents("s1", events);
      if (round % 2 === 0) {
        roomy.observe(written);
        tight.observe(written);
      }
      const expected = truth(await eventsOf(h.sessions));
      expect(await roomy.tokensSinceSummary(lastSeq)).toBe(expected);
      const answer = await tight.tokensSinceSummary(lastSeq);
      if (answer !== undefined) expect(answer).toBe(expected);
      tightAnswers.push(answer);
      await roomy.window(lastSeq);
      await tight.window(lastSeq); // cuts to the budget, letting the oldest messages go
    }
    // The tight window stopped knowing once it cut, and knew again once a summary covered what it held.
    expect(tightAnswers[0]).toBeDefined();
    expect(tightAnswers.slice(0, 6)).toContain(undefined);
    expect(tightAnswers.slice(6).some((answer) => answer !== undefined)).toBe(true);
    // A window loaded afresh over a long history with a small budget cannot know, and says so.
    expect(await new HistoryWindow(h.sessions, "s1", 50).tokensSinceSummary(n)).toBeUndefined();
  });
});
