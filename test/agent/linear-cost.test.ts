import { countTokens as exactBpeCount } from "gpt-tokenizer";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentSession,
  buildContextWindow,
  countTokens,
  countTokensAsync,
  MAX_PIECE_CHARS,
  OfflineLanguageModel,
  parseConfig,
} from "../../src/agent/index.ts";
import { longestLoopHold } from "../support/event-loop.ts";
import { type Harness, openHarness, STORES } from "./helpers.ts";

/**
 * Issue 15 §1: counting tokens, the offline model's rules and the context window cost time linear
 * in their input, and what stays large gives the event loop a turn every few milliseconds.
 */

const MIB = 1024 * 1024;
/** One event's content: as much of one letter as fits the 256 KiB event limit. */
const EVENT_TEXT_CHARS = 256 * 1024 - 512;
/** The longest the event loop may be held while a long text is counted (generous: the machine is shared). */
const MAX_LOOP_HOLD_MS = 250;

let seed = 7;
const random = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const lowercase = (length: number): string => {
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(97 + Math.floor(random() * 26));
  return text;
};
const prose = (length: number): string => {
  let text = "";
  while (text.length < length) text += `${lowercase(2 + Math.floor(random() * 9))}${random() < 0.1 ? ". " : " "}`;
  return text.slice(0, length);
};

describe("token counting", () => {
  it("counts ordinary text exactly as the BPE tokenizer does", () => {
    for (const text of [
      prose(50_000),
      `Hello, world! ${prose(9_000)}\n\n  indented\ttabs\r\nnumbers 1234567 😀 漢字`,
    ]) {
      expect(countTokens(text)).toBe(exactBpeCount(text));
    }
  });

  it("counts a MiB of one letter in linear time, and long runs within one token per slice of the exact count", () => {
    const started = performance.now();
    const count = countTokens("z".repeat(MIB));
    expect(performance.now() - started).toBeLessThan(10_000);
    // gpt-tokenizer counts a run of z's as one token per two letters.
    expect(Math.abs(count - MIB / 2)).toBeLessThanOrEqual(MIB / MAX_PIECE_CHARS);
    for (const run of [lowercase(12_000), " ".repeat(12_000), "*".repeat(12_000), "字".repeat(6_000)]) {
      const text = `before ${run} after`;
      expect(Math.abs(countTokens(text) - exactBpeCount(text))).toBeLessThanOrEqual(
        Math.ceil(run.length / MAX_PIECE_CHARS),
      );
    }
  });

  it("counts special-token markup such as <|endoftext|> as the plain text it is", () => {
    expect(countTokens("before <|endoftext|> after")).toBe(
      exactBpeCount("before <|endoftext|> after", { disallowedSpecial: new Set() }),
    );
  });

  it("countTokensAsync gives the same count and never holds the event loop while counting MiBs", async () => {
    const texts = [lowercase(MIB), "y".repeat(MIB), prose(MIB), "(".repeat(MIB)];
    const expected = texts.map((text) => countTokens(`${text} `));
    const { result, heldMs } = await longestLoopHold(() =>
      Promise.all(texts.map((text) => countTokensAsync(`${text} `))),
    );
    expect(result).toEqual(expected);
    expect(heldMs).toBeLessThan(MAX_LOOP_HOLD_MS);
  });
});

describe("the offline model's request rules", () => {
  const model = new OfflineLanguageModel();
  const tools = ["shell", "calculator", "clock", "recall", "x"].map((name) => ({
    type: "function" as const,
    name,
    inputSchema: { type: "object" as const },
  }));
  /** The tool call the offline model makes for `text`, if any. */
  const toolCallFor = async (text: string): Promise<{ toolName: string; input: unknown } | undefined> => {
    const result = await model.doGenerate({ prompt: [{ role: "user", content: [{ type: "text", text }] }], tools });
    const call = result.content.find((part) => part.type === "tool-call");
    return call && call.type === "tool-call" ? { toolName: call.toolName, input: JSON.parse(call.input) } : undefined;
  };
  const hostile: Record<string, string> = {
    "call NAME with {, many times": "call x with {".repeat(70_000),
    "recall, then question marks": `recall x${"?".repeat(900_000)}x`,
    "compute, then spaces": `compute 1${" ".repeat(900_000)}+1`,
    "compute, then dots": `compute 1${" .".repeat(450_000)}+1`,
    "use the tool with {, many times": "use the x tool with {".repeat(40_000),
    "run, then a backtick": `run \`${"a".repeat(900_000)}`,
  };

  it.each(Object.entries(hostile))("read %s (900 KiB) in linear time, never holding the loop", async (_name, text) => {
    const started = performance.now();
    const { heldMs } = await longestLoopHold(() => toolCallFor(text));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(heldMs).toBeLessThan(MAX_LOOP_HOLD_MS);
  });

  it("still find the tool, its JSON input and the arithmetic", async () => {
    // From the first "{" after "with" to the last "}": two objects are not one JSON value.
    expect(await toolCallFor('call x with {"a": 1} and {"b": 2}')).toBeUndefined();
    expect(await toolCallFor('please call x with {"a": [1, {"b": 2}]}')).toEqual({
      toolName: "x",
      input: { a: [1, { b: 2 }] },
    });
    expect(await toolCallFor('use the x tool with {"q": "}"} thanks')).toEqual({ toolName: "x", input: { q: "}" } });
    expect(await toolCallFor("use the x tool with {")).toEqual({ toolName: "x", input: {} });
    expect(await toolCallFor("compute 2 + 3 * 4 !., ")).toEqual({
      toolName: "calculator",
      input: { expression: "2 + 3 * 4" },
    });
    expect(await toolCallFor("do you remember the invoices??  ")).toEqual({
      toolName: "recall",
      input: { query: "invoices" },
    });
  });
});

describe.each(STORES)("the library path over a history of huge events ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
    // Eight events of 256 KiB of one letter each (a different letter each, so no cache makes them cheap).
    for (const letter of "zyxwvuts") {
      await h.sessions.addMessage("s1", {
        role: letter === "y" ? "assistant" : "user",
        content: letter.repeat(EVENT_TEXT_CHARS),
      });
    }
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const config = parseConfig({
    agents: { wide: { model: "wide", tools: ["calculator", "recall"] } },
    models: { wide: { provider: "offline", model: "wide", contextWindow: 4_000_000, maxOutputTokens: 1024 } },
    defaultAgent: "wide",
  });

  it("AgentSession runs turns that read all of it without holding the event loop", async () => {
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    const { result, heldMs } = await longestLoopHold(async () => {
      const first = await agent.runTurn("hello");
      // Another writer adds more while the agent is idle: the next turn reads and counts it too.
      await h.sessions.addMessage("s1", { role: "user", content: "r".repeat(EVENT_TEXT_CHARS) });
      const second = await agent.runTurn(`compute 1${" ".repeat(100_000)}+1`);
      const third = await agent.runTurn(`recall ${"z".repeat(100_000)}`);
      return [first.finish, second.finish, third.finish];
    });
    expect(result).toEqual(["complete", "complete", "complete"]);
    expect(heldMs).toBeLessThan(MAX_LOOP_HOLD_MS);
  });

  it("buildContextWindow counts it without holding the event loop", async () => {
    const { result: window, heldMs } = await longestLoopHold(() => buildContextWindow(h.sessions, "s1", 3_000_000));
    expect(window.seqs).toHaveLength(8);
    let expected = 0;
    for (const letter of "zyxwvuts") expected += countTokens(letter.repeat(EVENT_TEXT_CHARS)) + 4;
    expect(window.tokens).toBe(expected);
    expect(heldMs).toBeLessThan(MAX_LOOP_HOLD_MS);
  });
});
