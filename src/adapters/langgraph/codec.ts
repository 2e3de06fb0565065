/**
 * How LangGraph values become Frontdesk JSON and back.
 *
 * - A channel value or a pending write goes through the saver's serializer (LangGraph's own
 *   `JsonPlusSerializer` unless the user passes another), and its JSON is stored as a JSON value
 *   (not a string inside JSON, which would escape every quote).
 * - A LangChain message of the root graph becomes a Frontdesk `message` event in the shape the
 *   console, the exports and the agent history read (role, text or content parts, tool-call and
 *   tool-result parts), with the rest of the serialized message in `lc` so it comes back exactly.
 *   Content and tool calls are moved, never copied, within the message event (tool-events.ts
 *   repeats a call's args and a tool result beside it, for Frontdesk's tool stats and cards).
 */
import type { BaseMessage } from "@langchain/core/messages";
import { isBaseMessage } from "@langchain/core/messages";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { FrontdeskError, type Json, type JsonObject, type MessageRole } from "../../index.ts";
import { REDACTED_TEXT } from "../shared/redaction.ts";

/** A stored value: serializer JSON inline (`j`), or bytes in base64 with the serializer's type (`b`, `t`). */
export type EncodedValue = { j: Json } | { t: string; b: string };

const decoder = new TextDecoder();

export async function encodeValue(serde: SerializerProtocol, value: unknown): Promise<EncodedValue> {
  const [type, bytes] = await serde.dumpsTyped(value);
  if (type === "json") return { j: JSON.parse(decoder.decode(bytes)) as Json };
  return { t: type, b: Buffer.from(bytes).toString("base64") };
}

export function decodeValue(serde: SerializerProtocol, encoded: EncodedValue): Promise<unknown> {
  if ("j" in encoded) return serde.loadsTyped("json", JSON.stringify(encoded.j));
  return serde.loadsTyped(encoded.t, new Uint8Array(Buffer.from(encoded.b, "base64")));
}

const ROLES: Record<string, MessageRole> = { human: "user", ai: "assistant", tool: "tool", system: "system" };

/** A message the saver can keep as a Frontdesk message event (the four roles Frontdesk knows). */
export const isStorableMessage = (value: unknown): value is BaseMessage =>
  isBaseMessage(value) && ROLES[value.getType()] !== undefined;

/** A value made only of storable messages: one message, or a non-empty list of them. */
export function messagesOf(value: unknown): BaseMessage[] | undefined {
  if (isStorableMessage(value)) return [value];
  if (Array.isArray(value) && value.length > 0 && value.every(isStorableMessage)) return value;
  return undefined;
}

interface ToolCallLike {
  id?: string;
  name: string;
  args: Json;
  type?: string;
}

type SerializedMessage = { lc: number; type: string; id: string[]; kwargs: Record<string, Json> };

/**
 * The Frontdesk message payload of one LangChain message: content where the console reads it,
 * tool calls as `tool-call` parts, a tool message as a `tool-result` part, and the rest of the
 * serialized message under `lc`.
 */
export async function messageToEvent(serde: SerializerProtocol, message: BaseMessage): Promise<JsonObject> {
  const encoded = await encodeValue(serde, message);
  if (!("j" in encoded)) {
    throw new FrontdeskError("invalid_request", "The serializer must write LangChain messages as JSON");
  }
  const serialized = encoded.j as unknown as SerializedMessage;
  const { content, tool_calls: toolCalls, ...kwargs } = serialized.kwargs;
  const role = ROLES[message.getType()] as MessageRole;
  const lc: JsonObject = { id: serialized.id, kwargs };
  if (serialized.lc !== 1 || serialized.type !== "constructor") {
    lc.lc = serialized.lc;
    lc.type = serialized.type;
  }
  const event: JsonObject = { type: "message", role, lc };
  const calls = Array.isArray(toolCalls) ? (toolCalls as unknown as ToolCallLike[]) : undefined;
  if (calls !== undefined && calls.length === 0) lc.noCalls = true;
  if (role === "tool") {
    const output: JsonObject =
      typeof content === "string" ? { type: "text", value: content } : { type: "json", value: content ?? null };
    const name = typeof kwargs.name === "string" ? kwargs.name : "tool";
    event.content = [{ type: "tool-result", toolCallId: String(kwargs.tool_call_id ?? ""), toolName: name, output }];
    if (typeof kwargs.tool_call_id === "string") event.toolCallId = kwargs.tool_call_id;
    return event;
  }
  if (calls !== undefined && calls.length > 0) {
    const parts: Json[] = typeof content === "string" ? (content ? [{ type: "text", text: content }] : []) : [];
    if (typeof content !== "string") lc.content = content as Json;
    for (const call of calls) {
      const part: JsonObject = { type: "tool-call", toolCallId: call.id ?? "", toolName: call.name, input: call.args };
      if (call.id === undefined) part.noId = true;
      if (call.type !== "tool_call") part.callType = call.type ?? null;
      parts.push(part);
    }
    event.content = parts;
    return event;
  }
  event.content = typeof content === "string" || isPartList(content) ? content : [];
  if (event.content !== content) lc.content = content as Json;
  return event;
}

/** Content parts Frontdesk accepts as they are: objects that each name a `type`. */
const isPartList = (content: Json | undefined): content is JsonObject[] =>
  Array.isArray(content) &&
  content.every((part) => typeof part === "object" && part !== null && typeof (part as JsonObject).type === "string");

/** The LangChain message a message event holds, exactly as it was put. */
export function eventToMessage(serde: SerializerProtocol, event: JsonObject): Promise<BaseMessage> {
  const lc = event.lc as JsonObject;
  const kwargs = { ...(lc.kwargs as JsonObject) };
  const parts = event.content as Json;
  if (event.role === "tool") {
    const part = (parts as JsonObject[])[0] as JsonObject;
    kwargs.content = (part.output as JsonObject).value ?? "";
  } else if (Array.isArray(parts) && parts.some((p) => (p as JsonObject).type === "tool-call")) {
    const calls: Json[] = [];
    let text = "";
    for (const part of parts as JsonObject[]) {
      if (part.type === "text") text += String(part.text);
      else if (part.type === "tool-call") {
        const call: JsonObject = { name: part.toolName as string, args: part.input ?? {} };
        if (!part.noId) call.id = part.toolCallId as string;
        if (part.callType !== null) call.type = (part.callType as string | undefined) ?? "tool_call";
        calls.push(call);
      }
    }
    kwargs.content = lc.content !== undefined ? lc.content : text;
    kwargs.tool_calls = calls;
  } else {
    kwargs.content = lc.content !== undefined ? lc.content : (parts ?? "");
    if (lc.noCalls) kwargs.tool_calls = [];
  }
  const serialized = { lc: lc.lc ?? 1, type: lc.type ?? "constructor", id: lc.id, kwargs };
  return serde.loadsTyped("json", JSON.stringify(serialized)) as Promise<BaseMessage>;
}

const CLASSES: Record<string, string> = {
  user: "HumanMessage",
  assistant: "AIMessage",
  tool: "ToolMessage",
  system: "SystemMessage",
};

/** What a redacted message's events still name: its calls (an AI message's), or the call it answers. */
export interface RedactedCalls {
  calls: { id: string; name: string }[];
  toolName?: string;
}

/**
 * The message a redacted message event stood for, rebuilt from what its tombstone keeps: the same
 * kind of message saying "[redacted]". An AI message keeps its tool calls (named by the `tool_call`
 * events after it) with no arguments, and a tool message the id of the call it answers, so calls
 * and results stay paired. Its id is the event's, prefixed: the original id was in what the
 * redaction removed.
 */
export function redactedMessage(
  serde: SerializerProtocol,
  event: JsonObject,
  named: RedactedCalls,
): Promise<BaseMessage> {
  const role = String(event.role);
  const kwargs: JsonObject = { content: REDACTED_TEXT, id: `redacted:${String(event.id)}` };
  if (role === "assistant") {
    kwargs.tool_calls = named.calls.map((call) => ({ id: call.id, name: call.name, args: {}, type: "tool_call" }));
  }
  if (role === "tool") {
    kwargs.tool_call_id = typeof event.toolCallId === "string" ? event.toolCallId : "";
    if (named.toolName !== undefined) kwargs.name = named.toolName;
  }
  const serialized = {
    lc: 1,
    type: "constructor",
    id: ["langchain_core", "messages", CLASSES[role] ?? "AIMessage"],
    kwargs,
  };
  return serde.loadsTyped("json", JSON.stringify(serialized)) as Promise<BaseMessage>;
}

/** The text of a human message, for a session title. */
export function titleOf(message: BaseMessage): string | undefined {
  if (message.getType() !== "human") return undefined;
  const text = typeof message.content === "string" ? message.content : message.text;
  const line = text.trim().split("\n")[0]?.trim();
  if (!line) return undefined;
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
