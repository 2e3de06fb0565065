import type { LanguageModelV3CallOptions } from "@ai-sdk/provider";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AgentSession, buildContextWindow, OfflineLanguageModel, parseConfig } from "../../src/agent/index.ts";
import { countContentTokens } from "../../src/agent/tokens.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { eventsOf, type Harness, openHarness, STORES } from "./helpers.ts";

const recordingOffline = () => {
  const model = new OfflineLanguageModel();
  const calls: LanguageModelV3CallOptions[] = [];
  const stream = model.doStream.bind(model);
  const generate = model.doGenerate.bind(model);
  model.doStream = (options) => {
    calls.push(options);
    return stream(options);
  };
  model.doGenerate = (options) => {
    calls.push(options);
    return generate(options);
  };
  return { model, calls };
};

const promptMessages = (call: LanguageModelV3CallOptions) => call.prompt.filter((message) => message.role !== "system");
const systemOf = (call: LanguageModelV3CallOptions) =>
  call.prompt
    .filter((message) => message.role === "system")
    .map((message) => message.content)
    .join("\n");
const textOf = (message: LanguageModelV3CallOptions["prompt"][number]) =>
  typeof message.content === "string"
    ? message.content
    : message.content.map((part) => ("text" in part ? part.text : "")).join("");

const sentence = (n: number) =>
  `Message number ${n} is about apples and pears. It has a long second sentence that carries detail the summary should leave out, ` +
  `such as the colour of the orchard gate and the name of the farmer's dog, repeated to take room.`;

describe.each(STORES)("context window and summaries ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("sends only the newest history that fits the model's context budget, counted with a real tokenizer", async () => {
    const config = parseConfig({
      agents: { small: { model: "tiny", tools: [], systemPrompt: "Be brief." } },
      models: { tiny: { provider: "offline", model: "tiny", contextWindow: 1024, maxOutputTokens: 256 } },
      summarization: { enabled: false },
      defaultAgent: "small",
    });
    const { model, calls } = recordingOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock, model });
    for (let n = 1; n <= 12; n++) await agent.runTurn(sentence(n));

    const last = calls.at(-1) as LanguageModelV3CallOptions;
    const sent = promptMessages(last);
    const tokens = sent.reduce((sum, message) => sum + countContentTokens(textOf(message)), 0);
    expect(tokens).toBeLessThanOrEqual(1024 - 256);
    expect(sent.length).toBeLessThan(24); // 12 turns wrote 24 messages: the oldest were left out
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent[0]?.role).toBe("user");
    expect(textOf(sent.at(-1) as (typeof sent)[number])).toBe(sentence(12));
    expect(systemOf(last)).toBe("Be brief.");
    // Nothing was removed from the log.
    const messages = (await eventsOf(h.sessions)).filter((event) => event.type === "message");
    expect(messages).toHaveLength(24);
  });

  it("a context window smaller than the summary threshold still gets a summary once the history passes it", async () => {
    const config = parseConfig({
      agents: { small: { model: "tiny", tools: [], systemPrompt: "Be brief." } },
      models: { tiny: { provider: "offline", model: "tiny", contextWindow: 1024, maxOutputTokens: 256 } },
      summarization: { thresholdTokens: 1500, keepRecent: 2 },
      defaultAgent: "small",
    });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    // Each turn adds ~100 tokens; the window never holds more than ~700, the threshold is 1,500.
    for (let n = 1; n <= 20; n++) await agent.runTurn(sentence(n));
    const events = await eventsOf(h.sessions);
    const summary = events.find((event) => event.type === "summary") as
      | (SessionEvent & { throughSeq: number })
      | undefined;
    expect(summary).toBeDefined();
    // Written when the history at that turn (every message before it) passed the threshold.
    const before = events.filter((event) => event.type === "message" && event.seq < (summary as SessionEvent).seq);
    const tokens = before.reduce((sum, event) => sum + countContentTokens((event as { content: string }).content), 0);
    expect(tokens).toBeGreaterThan(1500);
  });

  it("a turn under the summary threshold decides so from the history it keeps, reading no messages again", async () => {
    const config = parseConfig({
      agents: { assistant: { model: "offline", tools: [] } },
      summarization: { thresholdTokens: 100_000, keepRecent: 2 },
    });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    await agent.runTurn(sentence(1));
    const reads = vi.spyOn(h.sessions, "getMessages");
    for (let n = 2; n <= 5; n++) await agent.runTurn(sentence(n));
    expect(reads).not.toHaveBeenCalled();
    expect((await eventsOf(h.sessions)).some((event) => event.type === "summary")).toBe(false);
  });

  it("writes a summary event when history passes the threshold; later windows use it; originals stay", async () => {
    const config = parseConfig({
      agents: { assistant: { model: "offline", tools: ["calculator"] } },
      summarization: { thresholdTokens: 300, keepRecent: 2 },
    });
    const { model, calls } = recordingOffline();
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock, model });
    for (let n = 1; n <= 4; n++) await agent.runTurn(sentence(n));

    const events = await eventsOf(h.sessions);
    const summaries = events.filter((event) => event.type === "summary") as (SessionEvent & {
      text: string;
      throughSeq: number;
    })[];
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    const first = summaries[0] as (typeof summaries)[number];
    expect(first.text).toMatch(/^Earlier in this conversation:/);
    expect(first.text).toContain("user: Message number 1 is about apples and pears.");
    expect(first.text).not.toContain("orchard gate");
    // It covers messages before the turn that wrote it, and it was produced by the model (a generate call).
    const userOfThatTurn = events.filter((event) => event.type === "message" && event.seq < first.seq).at(-1);
    expect(first.throughSeq).toBeLessThan((userOfThatTurn as SessionEvent).seq);
    expect(calls.some((call) => systemOf(call).startsWith("Summarize the conversation transcript below"))).toBe(true);

    // The next model call gets the summary in its system prompt and only newer messages.
    const latest = summaries.at(-1) as (typeof summaries)[number];
    const chat = calls.filter((call) => !systemOf(call).startsWith("Summarize")).at(-1) as LanguageModelV3CallOptions;
    expect(systemOf(chat)).toContain("Summary of the earlier conversation:");
    expect(systemOf(chat)).toContain(latest.text);
    const window = await buildContextWindow(h.sessions, "s1", 100_000);
    expect(window.summary?.throughSeq).toBe(latest.throughSeq);
    expect(window.seqs.every((seq) => seq > latest.throughSeq)).toBe(true);

    // The log keeps every original message.
    const users = events.filter((event) => event.type === "message" && event.role === "user");
    expect(users.map((event) => (event as { content: string }).content)).toEqual([1, 2, 3, 4].map(sentence));
    // Summarizing was paid for: the stats still add up to the messages' usage.
    const stats = (await h.sessions.get("s1")).stats;
    const usage = events
      .filter((event) => event.type === "message" && event.role === "assistant")
      .reduce((sum, event) => sum + ((event as { usage?: { inputTokens?: number } }).usage?.inputTokens ?? 0), 0);
    expect(stats.inputTokens).toBe(usage);
  });
});
