/**
 * The SDK's history items as Frontdesk events, and back. A user, assistant or system message is a
 * `message` event (its role and content where the console, exports and the agent history window
 * read them, and the item's other fields beside them); a function call and its result are a
 * `tool_call` and a `tool_result` of one invocation (so they show as one tool card), each carrying
 * the exact item; every other kind (reasoning, hosted tools, compaction…) is a `custom` event.
 * Decoding gives back an item deep-equal to the one stored, or, for an event Frontdesk redacted, a
 * placeholder item built from what its tombstone keeps (see `placeholderItem`).
 */
import type { AgentInputItem } from "@openai/agents-core";
import { type EventInput, FrontdeskError, type JsonObject, MESSAGE_ROLES, type SessionEvent } from "../../index.ts";
import { REDACTED_TEXT } from "../shared/redaction.ts";

/** The `custom` event name of items no Frontdesk event kind describes. */
export const ITEM_EVENT = "openai-agents.item";

/**
 * Where a message event keeps the item itself, its `content` nulled (the event's own `content`
 * holds it): the SDK matches items by their JSON text, so even the order of their keys comes back.
 */
const ITEM_FIELDS = "openaiItem";

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The item as plain JSON, without the `undefined`-valued fields the SDK leaves on items
 * (`JSON.stringify` drops them too). Anything else that is not JSON is left for Frontdesk's own
 * validation to refuse, naming where it is.
 */
export function plainItem(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainItem);
  if (!isRecord(value) || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) copy[key] = plainItem(field);
  return copy;
}

const MESSAGE_ROLE_SET: ReadonlySet<unknown> = new Set(MESSAGE_ROLES);
const idOf = (value: unknown): value is string => typeof value === "string" && value.length > 0 && value.length <= 256;

/** Text, or parts that each name a `type`: the content Frontdesk's message events take. */
const isMessageContent = (content: unknown): boolean =>
  typeof content === "string" ||
  (Array.isArray(content) && content.every((part) => isRecord(part) && typeof part.type === "string" && part.type));

const TOOL_STATUS: Record<string, "success" | "error" | "pending"> = {
  completed: "success",
  incomplete: "error",
  in_progress: "pending",
};

/** One item as the event that stores it. Throws `invalid_request` for an item that is not an object. */
export function itemEvent(raw: AgentInputItem): EventInput {
  const item = plainItem(raw);
  if (!isRecord(item)) throw new FrontdeskError("invalid_request", "A session item must be an object");
  const { role, content } = item;
  if (
    (item.type === undefined || item.type === "message") &&
    MESSAGE_ROLE_SET.has(role) &&
    role !== "tool" &&
    isMessageContent(content)
  ) {
    return { type: "message", role, content, [ITEM_FIELDS]: { ...item, content: null } } as EventInput;
  }
  if (item.type === "function_call" && idOf(item.callId) && idOf(item.name)) {
    return { type: "tool_call", invocationId: item.callId, tool: item.name, input: item } as EventInput;
  }
  if (item.type === "function_call_result" && idOf(item.callId) && idOf(item.name)) {
    const status = (typeof item.status === "string" && TOOL_STATUS[item.status]) || "success";
    return { type: "tool_result", invocationId: item.callId, tool: item.name, output: item, status } as EventInput;
  }
  return { type: "custom", name: ITEM_EVENT, data: item } as EventInput;
}

const ITEM_STATUS: Record<string, "completed" | "incomplete" | "in_progress"> = {
  success: "completed",
  error: "incomplete",
  denied: "incomplete",
  cancelled: "incomplete",
  pending: "in_progress",
};

const redactedAssistant = (): AgentInputItem => ({
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text: REDACTED_TEXT }],
});

/**
 * The item a tombstone stands for, rebuilt from what it keeps, so that a history with a redacted
 * item stays one the SDK and the model accept: a message of the same role saying "[redacted]", a
 * function call with its callId and name and no arguments, a result of the same call saying
 * "[redacted]" (so a call and its result stay paired). A redacted item of another kind (reasoning,
 * hosted tools…) keeps nothing of what it was, and reads as an assistant message saying "[redacted]".
 */
function placeholderItem(event: SessionEvent): AgentInputItem | undefined {
  switch (event.type) {
    case "message":
      if (event.role === "assistant") return redactedAssistant();
      if (event.role === "user" || event.role === "system") {
        return { type: "message", role: event.role, content: REDACTED_TEXT } as AgentInputItem;
      }
      return undefined;
    case "tool_call":
      return { type: "function_call", callId: event.invocationId, name: event.tool, arguments: "{}" };
    case "tool_result":
      return {
        type: "function_call_result",
        callId: event.invocationId,
        name: event.tool,
        status: ITEM_STATUS[event.status] ?? "completed",
        output: { type: "text", text: REDACTED_TEXT },
      };
    case "custom":
      return event.name === ITEM_EVENT ? redactedAssistant() : undefined;
    default:
      return undefined;
  }
}

/** The item an event stores, or undefined when the event is not an item. */
export function eventItem(event: SessionEvent): AgentInputItem | undefined {
  if (event.redacted) return placeholderItem(event);
  const payload = event as unknown as Record<string, unknown>;
  switch (event.type) {
    case "message": {
      const fields = payload[ITEM_FIELDS];
      if (!isRecord(fields)) return undefined;
      return { ...fields, content: payload.content } as AgentInputItem;
    }
    case "tool_call":
      return payload.input as AgentInputItem;
    case "tool_result":
      return payload.output as AgentInputItem;
    case "custom":
      return payload.name === ITEM_EVENT ? (payload.data as AgentInputItem) : undefined;
    default:
      return undefined;
  }
}

/** The item an event inside a run stores; a run holds only items, so anything else is corruption. */
export function storedItem(event: SessionEvent): AgentInputItem {
  const item = eventItem(event);
  if (item === undefined) {
    throw new FrontdeskError("internal", `Session event ${event.seq} was expected to hold a history item`);
  }
  return item;
}

/** A JSON text that two structurally equal items share whatever their keys' order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(plainItem(value)));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isRecord(value)) return value;
  const sorted: JsonObject = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key]) as JsonObject[string];
  return sorted;
}
