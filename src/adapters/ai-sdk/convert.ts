/**
 * The converters between Frontdesk's message events and the AI SDK's `ModelMessage` and
 * `UIMessage`. Frontdesk stores message content in the ModelMessage shape (text, tool-call,
 * tool-result… parts), so the model side is close to a pick; the UI side adds what a chat UI
 * needs and a model does not (message ids, step boundaries, tool states, metadata, data parts),
 * which is kept whole on the first event of each UIMessage (its `ui` field).
 */
import {
  convertToModelMessages,
  getToolName,
  isToolUIPart,
  type ModelMessage,
  type ToolResultPart,
  type UIMessage,
  type UIMessagePart,
} from "ai";
import { toModelMessage } from "../../agent/index.ts";
import {
  type EventInput,
  FrontdeskError,
  type JsonObject,
  type MessagePayload,
  type SessionEvent,
} from "../../index.ts";
import { REDACTED_TEXT } from "../shared/redaction.ts";
import {
  callsAfter,
  closeRedactedResults,
  pairToolResults,
  REDACTED_TOOL,
  redactedCopy,
  redactedMessage,
} from "./redacted.ts";

/** The field of a message event that holds the UIMessage it starts (id, role, parts, metadata). */
export const UI_FIELD = "ui";
/** The field naming the UIMessage a message event belongs to (on each of its message events). */
export const UI_ID_FIELD = "uiMessageId";

/** A UIMessage as stored: plain JSON, `undefined` fields dropped. */
export type StoredUIMessage = JsonObject & { id: string; role: UIMessage["role"]; parts: JsonObject[] };

type AnyPart = UIMessagePart<never, never> & JsonObject;
type MessageEvent = SessionEvent & MessagePayload;

/**
 * Frontdesk message events as AI SDK `ModelMessage`s, oldest first, ready for `streamText`.
 * System messages become `{ role: "system" }` messages; events of other types and messages that
 * carry nothing a model reads (an empty reply) are left out. A redacted message says "[redacted]",
 * and tool calls and results stay paired around it (redacted.ts).
 *
 * @example const messages = toModelMessages(await sessions.getMessages(id));
 */
export function toModelMessages(events: readonly SessionEvent[]): ModelMessage[] {
  const out: (ModelMessage | typeof REDACTED_TOOL)[] = [];
  for (const event of events) {
    if (event.type !== "message") continue;
    if (event.redacted && event.role === "tool") {
      out.push(REDACTED_TOOL);
      continue;
    }
    const converted = toModelMessage(event as MessageEvent);
    if (converted === "system") out.push({ role: "system", content: textOf(event.content) });
    else if (converted) out.push(converted);
  }
  return pairToolResults(out);
}

/**
 * AI SDK `ModelMessage`s (for example `(await result.response).messages`) as Frontdesk message
 * event inputs, to append with `sessions.appendEvents`. Content is kept as given (it is already
 * the shape Frontdesk stores), so `toModelMessages` gives the same messages back.
 */
export function fromModelMessages(messages: readonly ModelMessage[]): MessagePayload[] {
  return messages.map((message) => {
    const { role, content, ...rest } = message as ModelMessage & JsonObject;
    return { ...(plainJson(rest) as JsonObject), type: "message", role, content: plainJson(content) };
  });
}

/**
 * UIMessages as the Frontdesk events that record them, in order: for each UIMessage its model
 * messages (`convertToModelMessages`, so an agent or `toModelMessages` reads a valid history),
 * a `tool_call` event per tool call and a `tool_result` per finished one (the console's tool
 * cards), with the whole UIMessage on its first event, so `toUIMessages` returns it unchanged.
 */
export async function fromUIMessages(messages: readonly UIMessage[]): Promise<EventInput[]> {
  const events: EventInput[] = [];
  for (const message of messages) events.push(...(await uiMessageEvents(storedUIMessage(message), undefined)));
  return events;
}

/**
 * Frontdesk events as UIMessages, oldest first. Messages saved from UIMessages (by `saveChat` or
 * `fromUIMessages`) come back exactly as saved; a later save of the same id (a continued
 * assistant message) replaces the earlier one. Messages written otherwise (by an `AgentSession`,
 * the HTTP API) are converted: user, assistant and system messages become UIMessages with the
 * event's id, and a tool result is folded into the tool part of the call it answers.
 */
export function toUIMessages(events: readonly SessionEvent[]): UIMessage[] {
  return readUIMessages(events).messages;
}

/** The UIMessages of `events`, and for each one saved whole the seq of the event that holds it. */
export function readUIMessages(events: readonly SessionEvent[]): {
  messages: UIMessage[];
  heads: (number | undefined)[];
} {
  const out: UIMessage[] = [];
  const heads: (number | undefined)[] = [];
  const index = new Map<string, number>();
  const toolParts = new Map<string, JsonObject>();
  // Ids of saved UIMessages one of whose events was redacted: every copy of them reads redacted.
  const redactedIds = new Set<string>();
  // The saved UIMessage whose events are being read, until a message of another starts.
  let current: { id: string; role: string } | undefined;
  let replyOpen = false;
  const place = (message: UIMessage, seq: number | undefined) => {
    const at = index.get(message.id);
    if (at !== undefined && at === out.length - 1) {
      out[at] = message;
      heads[at] = seq;
    } else {
      index.set(message.id, out.length);
      out.push(message);
      heads.push(seq);
    }
  };
  for (const [position, event] of events.entries()) {
    if (event.type !== "message") continue;
    const fields = event as JsonObject;
    const ui = fields[UI_FIELD] as StoredUIMessage | undefined;
    if (ui) {
      replyOpen = false;
      current = { id: ui.id, role: ui.role };
      if (redactedIds.has(ui.id)) place(redactedCopy(ui), undefined);
      else place(ui as unknown as UIMessage, event.seq);
      continue;
    }
    // The other events of a saved UIMessage are already in its `ui` copy.
    if (typeof fields[UI_ID_FIELD] === "string") continue;
    if (event.redacted) {
      const owner = ownerOf(events, position, current, index);
      if (owner) {
        // One of a saved message's events: that message reads redacted wherever it is.
        redactedIds.add(owner);
        const at = index.get(owner);
        const stored = at === undefined ? undefined : (out[at] as unknown as StoredUIMessage | undefined);
        if (at !== undefined && stored) {
          out[at] = redactedCopy(stored);
          heads[at] = undefined;
        } else {
          // Its first event: the message's id is named by the events after it.
          replyOpen = false;
          current = { id: owner, role: event.role };
          place(redactedMessage(owner, uiRole(event.role), callsAfter(events, position)), undefined);
        }
        continue;
      }
      if (event.role === "tool") {
        closeRedactedResults(toolParts);
        continue;
      }
      current = undefined;
      const calls = callsAfter(events, position);
      const content = [
        { type: "text", text: REDACTED_TEXT },
        ...calls.map((call) => ({ type: "tool-call", toolCallId: call.invocationId, toolName: call.tool, input: {} })),
      ];
      replyOpen = appendConverted(out, { ...event, content } as MessageEvent, toolParts, replyOpen);
      while (heads.length < out.length) heads.push(undefined);
      continue;
    }
    current = undefined;
    replyOpen = appendConverted(out, event as MessageEvent, toolParts, replyOpen);
    while (heads.length < out.length) heads.push(undefined);
  }
  return { messages: out, heads };
}

const uiRole = (role: string): UIMessage["role"] => (role === "user" || role === "system" ? role : "assistant");

/**
 * The saved UIMessage a redacted message event belonged to, if it was one's: the message the
 * events after it name; else, for a tool message, or an assistant message read among an assistant
 * message's events, the message being read.
 */
function ownerOf(
  events: readonly SessionEvent[],
  position: number,
  current: { id: string; role: string } | undefined,
  index: ReadonlyMap<string, number>,
): string | undefined {
  for (let i = position + 1; i < events.length; i++) {
    const next = events[i] as SessionEvent;
    if (next.type !== "message") continue;
    const id = (next as JsonObject)[UI_ID_FIELD];
    if (typeof id === "string" && (current?.id === id || !index.has(id))) return id;
    break;
  }
  const role = (events[position] as { role?: string }).role;
  if (current?.role === "assistant" && (role === "tool" || role === "assistant")) return current.id;
  return undefined;
}

/**
 * One message written without a `ui` copy, as UI parts (tool results join their call's part).
 * Returns whether an assistant reply is open: an agent writes one assistant message per step, and
 * a chat shows the steps of one reply as one message.
 */
function appendConverted(
  out: UIMessage[],
  event: MessageEvent,
  toolParts: Map<string, JsonObject>,
  replyOpen: boolean,
): boolean {
  const content = typeof event.content === "string" ? [{ type: "text", text: event.content }] : event.content;
  if (event.role === "tool") {
    for (const part of content) {
      if (part.type !== "tool-result") continue;
      const target = toolParts.get(String(part.toolCallId));
      if (!target) continue;
      const output = part.output as { type?: string; value?: unknown } | undefined;
      const failed = output?.type === "error-text" || output?.type === "error-json";
      Object.assign(
        target,
        failed
          ? {
              state: "output-error",
              errorText: typeof output?.value === "string" ? output.value : JSON.stringify(output?.value),
            }
          : { state: "output-available", output: output?.value ?? null },
      );
    }
    return replyOpen;
  }
  const parts: JsonObject[] = [];
  for (const part of content) {
    if (part.type === "text" && typeof part.text === "string") {
      if (part.text.length > 0) parts.push({ type: "text", text: part.text });
    } else if (part.type === "reasoning") parts.push({ type: "reasoning", text: String(part.text ?? "") });
    else if (part.type === "tool-call") {
      const tool: JsonObject = {
        type: `tool-${String(part.toolName)}`,
        toolCallId: String(part.toolCallId),
        state: "input-available",
        input: part.input ?? null,
      };
      toolParts.set(String(part.toolCallId), tool);
      parts.push(tool);
    } else if (part.type === "file" || part.type === "image") {
      const data = part.type === "image" ? part.image : part.data;
      if (typeof data === "string") {
        const mediaType = String(part.mediaType ?? (part.type === "image" ? "image/*" : "application/octet-stream"));
        parts.push({
          type: "file",
          mediaType,
          url: /^[a-z]+:/i.test(data) ? data : `data:${mediaType};base64,${data}`,
        });
      }
    }
  }
  const last = out[out.length - 1];
  if (event.role === "assistant") {
    const steps = [{ type: "step-start" }, ...parts] as AnyPart[];
    if (replyOpen && last) last.parts.push(...steps);
    else out.push({ id: event.id, role: "assistant", parts: steps });
    return true;
  }
  out.push({ id: event.id, role: event.role, parts: parts as AnyPart[] });
  return false;
}

/**
 * The events for one UIMessage. With `previous` (the stored version of the same message, which
 * this one continues), only what it adds: model messages past those `previous` already gave,
 * tool calls and results not yet recorded.
 */
export async function uiMessageEvents(
  message: StoredUIMessage,
  previous: StoredUIMessage | undefined,
): Promise<EventInput[]> {
  let model: ModelMessage[];
  try {
    model = await convertToModelMessages([message as unknown as UIMessage]);
  } catch (error) {
    throw new FrontdeskError("invalid_request", `message ${message.id} is not a valid UIMessage: ${errorText(error)}`, {
      cause: error,
    });
  }
  if (previous) {
    const before = await convertToModelMessages([previous as unknown as UIMessage]);
    let same = 0;
    while (same < before.length && same < model.length && sameJson(before[same], model[same])) same++;
    model = model.slice(same);
  }
  const recorded = toolStatesOf(previous);
  const toolPartOf = new Map<string, JsonObject>();
  for (const part of message.parts) if (isToolUIPart(part as AnyPart)) toolPartOf.set(String(part.toolCallId), part);

  const events: EventInput[] = [];
  for (const modelMessage of model) {
    const [payload] = fromModelMessages([modelMessage]) as [MessagePayload];
    if (modelMessage.role === "tool") {
      for (const part of modelMessage.content) {
        if (part.type !== "tool-result") continue;
        const result = toolResultEvent(toolPartOf.get(part.toolCallId), part, recorded);
        if (result) events.push(result);
      }
      events.push(payload);
      continue;
    }
    events.push(payload);
    if (modelMessage.role !== "assistant" || typeof modelMessage.content === "string") continue;
    for (const part of modelMessage.content) {
      if (part.type !== "tool-call" || recorded.has(part.toolCallId)) continue;
      events.push({
        type: "tool_call",
        invocationId: part.toolCallId,
        tool: part.toolName,
        input: plainJson(part.input),
      });
    }
  }
  const head = events.find((event) => event.type === "message");
  if (head) head[UI_FIELD] = message;
  else events.unshift({ type: "message", role: message.role, content: [], [UI_FIELD]: message });
  for (const event of events) if (event.type === "message" && event !== head) event[UI_ID_FIELD] = message.id;
  return events;
}

/** The tool_result for a finished call, unless it was recorded before. */
function toolResultEvent(
  part: JsonObject | undefined,
  result: ToolResultPart,
  recorded: Map<string, string>,
): EventInput | undefined {
  const state = part ? String(part.state) : "output-available";
  if (recorded.get(result.toolCallId)?.startsWith("output-")) return undefined;
  const base = {
    type: "tool_result" as const,
    invocationId: result.toolCallId,
    tool: result.toolName,
    ...(part?.input !== undefined ? { input: part.input } : {}),
  };
  if (state === "output-error") {
    return { ...base, status: "error", error: { message: String(part?.errorText ?? "tool failed") } };
  }
  if (state === "output-denied") return { ...base, status: "denied" };
  return { ...base, status: "success", output: plainJson(part ? part.output : result.output) };
}

/** Tool call id → state of the tool parts of a stored message. */
function toolStatesOf(message: StoredUIMessage | undefined): Map<string, string> {
  const states = new Map<string, string>();
  for (const part of message?.parts ?? []) {
    if (isToolUIPart(part as AnyPart)) states.set(String(part.toolCallId), String(part.state));
  }
  return states;
}

/** Tool UI part name, for either a static (`tool-x`) or a dynamic part. */
export const toolNameOf = (part: JsonObject): string => getToolName(part as never);

/** A UIMessage as plain JSON (undefined fields dropped), checked for the fields every one has. */
export function storedUIMessage(message: UIMessage): StoredUIMessage {
  const value = message as unknown as Record<string, unknown> | null;
  if (
    typeof value !== "object" ||
    value === null ||
    typeof value.id !== "string" ||
    value.id.length === 0 ||
    !["system", "user", "assistant"].includes(value.role as string) ||
    !Array.isArray(value.parts)
  ) {
    throw new FrontdeskError(
      "invalid_request",
      "a UIMessage needs an id (for a reply, give the stream a generateMessageId), a role (system, user, assistant) and parts",
    );
  }
  return plainJson(value) as StoredUIMessage;
}

/**
 * A copy of `value` with `undefined` object fields dropped (as JSON would), so a UIMessage built
 * in memory stores and compares like its JSON. Anything else that is not JSON is left for the
 * store's check, which refuses it with `invalid_request`.
 */
export function plainJson(value: unknown): never {
  if (Array.isArray(value)) return value.map(plainJson) as never;
  if (typeof value !== "object" || value === null) return value as never;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value as never;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== undefined) copy[key] = plainJson(item);
  return copy as never;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const textOf = (content: MessageEvent["content"]): string =>
  typeof content === "string"
    ? content
    : content
        .map((part) => (part.type === "text" ? String(part.text ?? "") : ""))
        .filter(Boolean)
        .join("\n");
