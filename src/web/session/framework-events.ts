/**
 * What the console draws from the events framework adapters write (src/adapters/*), so that a
 * session written under LangGraph, the OpenAI Agents SDK, ADK, Mastra or the AI SDK reads as a
 * conversation:
 * - their bookkeeping `custom` events (checkpoints, writes, history markers, revisions, state-only
 *   framework events) are named by framework and folded to one small row, not shown as JSON;
 * - a tool call that a framework keeps only inside messages (LangGraph: an AI message's tool call,
 *   answered by a tool message) becomes a tool card, as a `tool_call` event would.
 */
import type { SessionEvent } from "../../core/model.ts";

/** Event-name prefixes of Frontdesk's framework adapters, and how the console names the framework. */
const FRAMEWORKS: readonly (readonly [prefix: string, label: string])[] = [
  ["langgraph.", "LangGraph"],
  ["openai-agents.", "OpenAI Agents"],
  ["adk.", "ADK"],
  ["mastra.", "Mastra"],
  ["ai-sdk.", "AI SDK"],
];

export interface Bookkeeping {
  framework: string;
  /** The rest of the event's name, as words: "checkpoint", "message revised". */
  what: string;
}

/** The framework whose bookkeeping a `custom` event of this name is, or null for an app's own event. */
export function bookkeepingOf(name: string): Bookkeeping | null {
  for (const [prefix, framework] of FRAMEWORKS) {
    if (name.startsWith(prefix) && name.length > prefix.length) {
      return {
        framework,
        what: name
          .slice(prefix.length)
          .replace(/[._-]+/g, " ")
          .trim(),
      };
    }
  }
  return null;
}

/** The size of a value as stored (UTF-8 JSON), in bytes. */
export function jsonBytes(value: unknown): number {
  if (value === undefined) return 0;
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

type ToolCall = Extract<SessionEvent, { type: "tool_call" }>;
type ToolResult = Extract<SessionEvent, { type: "tool_result" }>;

/** A tool call named only in a message, as the events a tool card draws. */
export interface MessageToolCall {
  call: ToolCall;
  result?: ToolResult;
}

type Part = Record<string, unknown>;

const partsOf = (event: SessionEvent): Part[] =>
  event.type === "message" && Array.isArray(event.content) ? (event.content as Part[]) : [];

const RESULT_STATUS: Record<string, ToolResult["status"]> = {
  "error-text": "error",
  "error-json": "error",
  "execution-denied": "denied",
};

/**
 * For each message (by seq) that calls tools no `tool_call` event stands for, those calls with
 * their results from later tool messages. Calls that have a `tool_call` event are drawn from it,
 * so a session that has both is never shown twice.
 */
export function messageToolCalls(events: readonly SessionEvent[]): Map<number, MessageToolCall[]> {
  const logged = new Set<string>();
  const results = new Map<string, { part: Part; event: SessionEvent }>();
  for (const event of events) {
    if (event.type === "tool_call" || event.type === "tool_result") logged.add(event.invocationId);
    for (const part of partsOf(event)) {
      if (part.type === "tool-result" && typeof part.toolCallId === "string" && !results.has(part.toolCallId)) {
        results.set(part.toolCallId, { part, event });
      }
    }
  }
  const byMessage = new Map<number, MessageToolCall[]>();
  for (const event of events) {
    if (event.type !== "message") continue;
    const calls: MessageToolCall[] = [];
    for (const part of partsOf(event)) {
      if (part.type !== "tool-call" || typeof part.toolCallId !== "string" || logged.has(part.toolCallId)) continue;
      const tool = typeof part.toolName === "string" && part.toolName ? part.toolName : "tool";
      const input = (part.input ?? part.args) as ToolCall["input"];
      const call: ToolCall = {
        type: "tool_call",
        seq: event.seq,
        id: `${event.id}:${part.toolCallId}`,
        at: event.at,
        invocationId: part.toolCallId,
        tool,
        ...(input === undefined ? {} : { input }),
      };
      const answered = results.get(part.toolCallId);
      calls.push({ call, result: answered && resultOf(call, answered.part, answered.event) });
    }
    if (calls.length > 0) byMessage.set(event.seq, calls);
  }
  return byMessage;
}

function resultOf(call: ToolCall, part: Part, event: SessionEvent): ToolResult {
  const output = part.output as { type?: unknown; value?: unknown } | undefined;
  const kind = typeof output?.type === "string" ? output.type : "";
  const status = RESULT_STATUS[kind] ?? "success";
  const value = (output && "value" in output ? output.value : output) as ToolResult["output"];
  return {
    type: "tool_result",
    seq: event.seq,
    id: `${event.id}:${call.invocationId}`,
    at: event.at,
    invocationId: call.invocationId,
    tool: call.tool,
    status,
    ...(status === "error"
      ? { error: { message: typeof value === "string" ? value : JSON.stringify(value) } }
      : value === undefined
        ? {}
        : { output: value }),
  };
}
