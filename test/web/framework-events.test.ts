/**
 * The console's reading of what framework adapters write (src/web/session/framework-events.ts):
 * which `custom` events are a framework's bookkeeping, and which tool calls exist only inside
 * messages and so need a card of their own. No browser: adapter-sessions.test.ts shows the result.
 */
import { describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/index.ts";
import { bookkeepingOf, jsonBytes, messageToolCalls } from "../../src/web/session/framework-events.ts";

let seq = 0;
const at = (payload: Record<string, unknown>): SessionEvent =>
  ({ seq: ++seq, id: `ev_${seq}`, at: 1_000 + seq, ...payload }) as SessionEvent;

describe("bookkeepingOf", () => {
  it("names each adapter's events by framework, and leaves an app's own events alone", () => {
    expect(bookkeepingOf("langgraph.checkpoint")).toEqual({ framework: "LangGraph", what: "checkpoint" });
    expect(bookkeepingOf("openai-agents.history")).toEqual({ framework: "OpenAI Agents", what: "history" });
    expect(bookkeepingOf("adk.event")).toEqual({ framework: "ADK", what: "event" });
    expect(bookkeepingOf("mastra.message.revised")).toEqual({ framework: "Mastra", what: "message revised" });
    for (const name of ["crm.sync", "langgraph", "langgraph.", "adkx.event", "my-langgraph.checkpoint"]) {
      expect(bookkeepingOf(name), name).toBeNull();
    }
  });

  it("sizes a record as its UTF-8 JSON", () => {
    expect(jsonBytes({ a: "é" })).toBe(10);
    expect(jsonBytes(undefined)).toBe(0);
  });
});

describe("messageToolCalls", () => {
  it("makes a card of a call answered only by a tool message (LangGraph), with its output and both seqs", () => {
    const events = [
      at({ type: "message", role: "user", content: "add 2 3" }),
      at({
        type: "message",
        role: "assistant",
        content: [
          { type: "text", text: "Let me add those." },
          { type: "tool-call", toolCallId: "call-1", toolName: "add", input: { a: 2, b: 3 } },
          { type: "tool-call", toolCallId: "call-2", toolName: "lookup", input: { q: "x" } },
        ],
      }),
      at({
        type: "message",
        role: "tool",
        content: [
          { type: "tool-result", toolCallId: "call-1", toolName: "add", output: { type: "text", value: "5" } },
          {
            type: "tool-result",
            toolCallId: "call-2",
            toolName: "lookup",
            output: { type: "error-text", value: "not found" },
          },
        ],
      }),
    ];
    const cards = messageToolCalls(events);
    expect([...cards.keys()]).toEqual([events[1]!.seq]);
    const [add, lookup] = cards.get(events[1]!.seq)!;
    expect(add).toMatchObject({
      call: { type: "tool_call", seq: events[1]!.seq, invocationId: "call-1", tool: "add", input: { a: 2, b: 3 } },
      result: { type: "tool_result", seq: events[2]!.seq, invocationId: "call-1", status: "success", output: "5" },
    });
    expect(lookup?.result).toMatchObject({ status: "error", error: { message: "not found" } });
  });

  it("leaves calls that have tool events to those events, and shows an unanswered call as pending", () => {
    const events = [
      at({
        type: "message",
        role: "assistant",
        content: [
          { type: "tool-call", toolCallId: "logged", toolName: "weather", input: {} },
          { type: "tool-call", toolCallId: "waiting", toolName: "weather", input: {} },
        ],
      }),
      at({ type: "tool_call", invocationId: "logged", tool: "weather", input: {} }),
      at({ type: "tool_result", invocationId: "logged", tool: "weather", status: "success", output: {} }),
    ];
    const cards = messageToolCalls(events).get(events[0]!.seq);
    expect(cards?.map(({ call }) => call.invocationId)).toEqual(["waiting"]);
    expect(cards?.[0]?.result).toBeUndefined();
  });
});
