/**
 * The `tool_call` and `tool_result` events that stand beside a message event holding tool calls or
 * a tool result. The message event stays the source LangGraph's messages are read back from; these
 * events are what Frontdesk's stats (`toolCalls`, `toolErrors`, `toolsUsed`), SSE and exports know
 * tools by, as for every other adapter. Their inputs and outputs repeat the message's (small) parts.
 */
import type { BaseMessage } from "@langchain/core/messages";
import type { Json, JsonObject } from "../../index.ts";

/** Frontdesk's bounds on an invocation id and a tool name. */
const MAX_ID = 256;
const MAX_TOOL = 256;

/** Finds the name of the call a tool result answers, when the tool message names none. */
export type CallNames = (invocationId: string) => string | undefined;

const fits = (id: unknown): id is string => typeof id === "string" && id.length > 0 && id.length <= MAX_ID;
const toolName = (name: unknown): string =>
  typeof name === "string" && name.length > 0 ? name.slice(0, MAX_TOOL) : "tool";

/**
 * The tool events of one message event (as `messageToEvent` built it). A call without an id, or
 * with one Frontdesk cannot hold, has no event: nothing could pair its result with it.
 */
export function toolEventsOf(message: BaseMessage, event: JsonObject, callNames: CallNames): JsonObject[] {
  const parts = Array.isArray(event.content) ? (event.content as JsonObject[]) : [];
  if (event.role === "assistant") {
    const calls: JsonObject[] = [];
    for (const part of parts) {
      if (part.type !== "tool-call" || part.noId || !fits(part.toolCallId)) continue;
      const call: JsonObject = { type: "tool_call", invocationId: part.toolCallId, tool: toolName(part.toolName) };
      if (part.input !== undefined) call.input = part.input;
      calls.push(call);
    }
    return calls;
  }
  if (event.role !== "tool") return [];
  const part = parts[0];
  if (part?.type !== "tool-result" || !fits(part.toolCallId)) return [];
  const kwargs = (event.lc as JsonObject).kwargs as JsonObject;
  const named = typeof kwargs.name === "string" && kwargs.name.length > 0 ? kwargs.name : undefined;
  const output = ((part.output as JsonObject).value ?? null) as Json;
  const failed = (message as { status?: unknown }).status === "error";
  const result: JsonObject = {
    type: "tool_result",
    invocationId: part.toolCallId,
    tool: toolName(named ?? callNames(part.toolCallId)),
    output,
    status: failed ? "error" : "success",
  };
  if (failed) result.error = { message: typeof output === "string" ? output : JSON.stringify(output) };
  return [result];
}

/** The tool calls of an AI message, by id, to name the results that answer them. */
export function callsOf(message: BaseMessage): [string, string][] {
  const calls = (message as { tool_calls?: { id?: string; name?: unknown }[] }).tool_calls;
  if (!Array.isArray(calls)) return [];
  return calls.filter((call) => fits(call.id)).map((call) => [call.id as string, toolName(call.name)]);
}
