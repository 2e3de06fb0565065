import type { LanguageModelV3CallOptions, LanguageModelV3StreamPart } from "@ai-sdk/provider";
import { describe, expect, it } from "vitest";
import { countTokens, OfflineLanguageModel, SUMMARY_INSTRUCTION, summarize } from "../../src/agent/index.ts";
import { arithmeticIn, planForRequest } from "../../src/agent/models/offline-rules.ts";

const ALL = ["clock", "calculator", "recall", "shell", "lookup"];
const user = (text: string): LanguageModelV3CallOptions["prompt"] => [
  { role: "user", content: [{ type: "text", text }] },
];
const functionTool = (name: string) => ({ type: "function" as const, name, inputSchema: { type: "object" as const } });

async function collect(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamPart[]> {
  const { stream } = await new OfflineLanguageModel().doStream(options);
  const parts: LanguageModelV3StreamPart[] = [];
  for await (const part of stream as unknown as AsyncIterable<LanguageModelV3StreamPart>) parts.push(part);
  return parts;
}

describe("the offline model's rules", () => {
  it.each([
    ["what time is it?", "clock", {}],
    ["What's the date today?", "clock", {}],
    ["compute 2+3*4", "calculator", { expression: "2+3*4" }],
    ["Calculate (1 + 2) / 3 please", "calculator", { expression: "(1 + 2) / 3" }],
    ["what is sqrt(16) * 2?", "calculator", { expression: "sqrt(16) * 2" }],
    ["do you remember the invoice?", "recall", { query: "invoice" }],
    ["recall apples and pears", "recall", { query: "apples and pears" }],
    ["please run `ls -la /tmp`", "shell", { command: "ls -la /tmp" }],
    ['use the lookup tool with {"id": 7}', "lookup", { id: 7 }],
    ['call lookup with {"id": "T-1"}', "lookup", { id: "T-1" }],
  ])("%j → %s", (text, tool, input) => {
    expect(planForRequest(text, ALL).toolCall).toEqual({ toolName: tool, input });
  });

  it("answers without tools otherwise, and says so when the wanted tool is not offered", () => {
    expect(planForRequest("hello!", ALL).toolCall).toBeUndefined();
    expect(planForRequest("hello!", ALL).text).toMatch(
      /^You said: "hello!"\. I am Frontdesk's offline model, a deterministic stand-in/,
    );
    expect(planForRequest("what is the meaning of life?", ALL).toolCall).toBeUndefined();
    const missing = planForRequest("what time is it?", ["calculator"]);
    expect(missing).toEqual({ text: "I would use the clock tool for that, but it is not available to me right now." });
  });

  it("extracts arithmetic only when there is some", () => {
    expect(arithmeticIn("what is love")).toBeUndefined();
    expect(arithmeticIn("compute the answer")).toBeUndefined();
    expect(arithmeticIn("what is 42")).toBeUndefined(); // a number, no operation
    expect(arithmeticIn("evaluate: 2^10 - 24.")).toBe("2^10 - 24");
  });

  it("summarizes with the first sentence of each line, bounded", () => {
    const text = summarize("user: I need a flight to Oslo. It should be cheap.\nassistant: Sure! Which day?");
    expect(text).toBe("Earlier in this conversation:\n- user: I need a flight to Oslo.\n- assistant: Sure!");
    const long = summarize(Array.from({ length: 100 }, (_, i) => `user: Point ${i}. Detail.`).join("\n"));
    expect(long.split("\n")).toHaveLength(41);
    expect(long).toContain("Point 99.");
  });
});

describe("OfflineLanguageModel (LanguageModelV3)", () => {
  it("streams its reply in several deltas and reports usage counted with the tokenizer", async () => {
    const parts = await collect({ prompt: user("hello there, how are you doing today?") });
    const deltas = parts.filter((part) => part.type === "text-delta").map((part) => part.delta);
    expect(deltas.length).toBeGreaterThan(3);
    const text = deltas.join("");
    const finish = parts.at(-1) as Extract<LanguageModelV3StreamPart, { type: "finish" }>;
    expect(finish).toMatchObject({ type: "finish", finishReason: { unified: "stop" } });
    expect(finish.usage.outputTokens.total).toBe(countTokens(text));
    expect(finish.usage.inputTokens.total).toBeGreaterThan(0);
  });

  it("calls an offered tool deterministically, then answers from the result", async () => {
    const options: LanguageModelV3CallOptions = { prompt: user("compute 2+3*4"), tools: [functionTool("calculator")] };
    const first = await collect(options);
    const again = await collect(options);
    expect(again).toEqual(first);
    const call = first.find((part) => part.type === "tool-call");
    expect(call).toMatchObject({ toolName: "calculator", input: JSON.stringify({ expression: "2+3*4" }) });
    expect(first.at(-1)).toMatchObject({ finishReason: { unified: "tool-calls" } });

    const toolCallId = (call as { toolCallId: string }).toolCallId;
    const answer = await new OfflineLanguageModel().doGenerate({
      prompt: [
        ...user("compute 2+3*4"),
        {
          role: "assistant",
          content: [{ type: "tool-call", toolCallId, toolName: "calculator", input: { expression: "2+3*4" } }],
        },
        {
          role: "tool",
          content: [
            {
              type: "tool-result",
              toolCallId,
              toolName: "calculator",
              output: { type: "json", value: { expression: "2+3*4", result: 14 } },
            },
          ],
        },
      ],
      tools: [functionTool("calculator")],
    });
    expect(answer.content).toEqual([{ type: "text", text: "2+3*4 = 14" }]);
    expect(answer.finishReason.unified).toBe("stop");
  });

  it("does not call tools it is not offered or when toolChoice is none", async () => {
    const parts = await collect({
      prompt: user("compute 2+3*4"),
      tools: [functionTool("calculator")],
      toolChoice: { type: "none" },
    });
    expect(parts.some((part) => part.type === "tool-call")).toBe(false);
  });

  it("summarizes when the system prompt asks for a summary", async () => {
    const result = await new OfflineLanguageModel().doGenerate({
      prompt: [
        { role: "system", content: `${SUMMARY_INSTRUCTION}.` },
        ...user("user: Book a table for two. At eight.\nassistant: Done. See you then."),
      ],
    });
    expect(result.content).toEqual([
      { type: "text", text: "Earlier in this conversation:\n- user: Book a table for two.\n- assistant: Done." },
    ]);
  });

  it("stops mid-stream when aborted", async () => {
    const controller = new AbortController();
    const { stream } = await new OfflineLanguageModel().doStream({
      prompt: user("tell me a long story please"),
      abortSignal: controller.signal,
    });
    const reader = stream.getReader();
    await reader.read();
    controller.abort(new Error("stop"));
    await expect(
      (async () => {
        for (;;) {
          const { done } = await reader.read();
          if (done) return "ended";
        }
      })(),
    ).rejects.toThrow("stop");
  });
});
