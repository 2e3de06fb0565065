/**
 * One ADK `Event` as Frontdesk events, and back.
 *
 * Each ADK event is written as one *carrier* event that keeps the whole ADK event (with its
 * `temp:` state already trimmed, as ADK stores it) so `getSession` returns it exactly, followed in
 * the same commit by the `tool_call` / `tool_result` events its function calls and responses map
 * to. The carrier is a `message` (role `user`, `assistant` or `tool`, content in AI SDK part shapes,
 * the ADK event in its extra `adk` field) whenever the event has content, else a `custom` event
 * named `adk.event`. That is the shape Frontdesk's own agent writes for a step (an assistant
 * message with tool-call parts, then the invocation's events), so the console, SSE, exports and the
 * agent's history window treat an ADK session like any other. Reading needs only the carriers:
 * every other event is a view for Frontdesk's side and is skipped.
 */
import { createEvent, type Event } from "@google/adk";
import { FrontdeskError, type Json, type JsonObject, type SessionEvent } from "../../index.ts";
import { copyStored } from "../shared/copy.ts";
import { REDACTED_TEXT } from "../shared/redaction.ts";

/** The extra field of a carrier `message` that holds the ADK event. */
export const ADK_EVENT_FIELD = "adk";
/** The name of the `custom` carrier of an ADK event without content (state-only, transfers, ends). */
export const ADK_CUSTOM_NAME = "adk.event";

const TEMP_PREFIX = "temp:";

/**
 * A value as JSON stores it: object members that are `undefined` are left out and array holes
 * become `null`, exactly as `JSON.stringify` does, so ADK's optional fields (`author`, `branch`…)
 * pass. Anything else that is not JSON (a `Date`, a class instance, a function) is kept as it is
 * for Frontdesk's validation to refuse with `invalid_request` naming its path: silently turning it
 * into a string would hand back a different value than the one appended.
 */
export function jsonOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : jsonOf(item)));
  if (value === null || typeof value !== "object") return value;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) copy[key] = jsonOf(member);
  }
  return copy;
}

/** The event's state delta without `temp:` keys (never persisted, as in ADK), as JSON. */
export function persistedDelta(event: Event): JsonObject | undefined {
  const delta = event.actions?.stateDelta;
  if (!delta) return undefined;
  const kept: Record<string, unknown> = {};
  let any = false;
  for (const key of Object.keys(delta)) {
    if (key.startsWith(TEMP_PREFIX) || delta[key] === undefined) continue;
    kept[key] = jsonOf(delta[key]);
    any = true;
  }
  return any ? (kept as JsonObject) : undefined;
}

/** The ADK event as it is stored: `temp:` keys trimmed from its delta, as JSON. The caller's event is untouched. */
export function storedForm(event: Event): JsonObject {
  const stored = jsonOf(event) as JsonObject;
  const actions = stored.actions;
  if (actions !== null && typeof actions === "object" && !Array.isArray(actions)) {
    const delta = actions.stateDelta;
    if (delta !== null && typeof delta === "object" && !Array.isArray(delta)) {
      const kept: JsonObject = {};
      for (const key of Object.keys(delta)) if (!key.startsWith(TEMP_PREFIX)) kept[key] = delta[key] as Json;
      stored.actions = { ...actions, stateDelta: kept };
    }
  }
  return stored;
}

type Part = Record<string, unknown>;
const record = (value: unknown): Part | undefined =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Part) : undefined;
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** A Gemini content part in the AI SDK part shape the console and the history window read. */
function viewOfPart(part: Part): JsonObject {
  const call = record(part.functionCall);
  if (call) {
    return {
      type: "tool-call",
      toolCallId: text(call.id) ?? "",
      toolName: text(call.name) ?? "",
      input: (call.args ?? {}) as Json,
    };
  }
  const response = record(part.functionResponse);
  if (response) {
    return {
      type: "tool-result",
      toolCallId: text(response.id) ?? "",
      toolName: text(response.name) ?? "",
      output: { type: "json", value: (response.response ?? null) as Json },
    };
  }
  if (typeof part.text === "string") return { type: part.thought === true ? "reasoning" : "text", text: part.text };
  const inline = record(part.inlineData);
  if (inline) return { type: "file", mediaType: text(inline.mimeType) ?? "application/octet-stream" };
  const file = record(part.fileData);
  if (file)
    return {
      type: "file",
      mediaType: text(file.mimeType) ?? "application/octet-stream",
      url: text(file.fileUri) ?? "",
    };
  const code = record(part.executableCode);
  if (code) return { type: "text", text: text(code.code) ?? "" };
  const result = record(part.codeExecutionResult);
  if (result) return { type: "text", text: text(result.output) ?? "" };
  // A part kind this adapter does not know yet: shown as its JSON, still kept whole in the carrier.
  return { type: "data", value: part as JsonObject };
}

/** The token counts of a model response, as Frontdesk's statistics read them. */
function usageOf(metadata: Part | undefined): JsonObject | undefined {
  if (!metadata) return undefined;
  const usage: JsonObject = {};
  const count = (from: string, to: string) => {
    const value = metadata[from];
    if (typeof value === "number" && Number.isInteger(value) && value >= 0) usage[to] = value;
  };
  count("promptTokenCount", "inputTokens");
  count("candidatesTokenCount", "outputTokens");
  count("totalTokenCount", "totalTokens");
  return Object.keys(usage).length > 0 ? usage : undefined;
}

/** Whether a function's response reports a failure the way ADK's tools do (`{ error: … }`). */
const failureOf = (response: unknown): string | undefined => {
  const error = record(response)?.error;
  if (error === undefined || error === null || error === false) return undefined;
  return typeof error === "string" ? error : JSON.stringify(error);
};

/**
 * The Frontdesk events one ADK event is written as, in one commit: its carrier (holding `stored`
 * and the state delta), then one `tool_call` per function call and one `tool_result` per function
 * response that names its function.
 */
export function frontdeskEventsOf(stored: JsonObject, delta: JsonObject | undefined): JsonObject[] {
  const content = record(stored.content);
  const parts = Array.isArray(content?.parts)
    ? (content.parts as unknown[]).map(record).filter((p) => p !== undefined)
    : [];
  const withDelta = (event: JsonObject): JsonObject => (delta ? { ...event, stateDelta: delta } : event);
  if (parts.length === 0) return [withDelta({ type: "custom", name: ADK_CUSTOM_NAME, data: stored })];

  const author = text(stored.author);
  const onlyResponses = parts.every((part) => record(part.functionResponse) !== undefined);
  const role = onlyResponses ? "tool" : author === "user" ? "user" : "assistant";
  const carrier: JsonObject = { type: "message", role, content: parts.map(viewOfPart) };
  if (author !== undefined && author !== "user") carrier.name = author;
  const usage = usageOf(record(stored.usageMetadata));
  if (usage) carrier.usage = usage;
  if (typeof stored.modelVersion === "string") carrier.model = stored.modelVersion;
  if (typeof stored.errorCode === "string") carrier.finish = "error";
  else if (stored.interrupted === true) carrier.finish = "cancelled";
  carrier[ADK_EVENT_FIELD] = stored;

  const events = [withDelta(carrier)];
  const eventId = text(stored.id) ?? "";
  parts.forEach((part, index) => {
    // Function calls without an id (a model that sets none, before ADK numbers them) still link
    // their call and result by the event and position.
    const call = record(part.functionCall);
    const callName = text(call?.name);
    if (call && callName) {
      const input = (call.args ?? {}) as Json;
      events.push({ type: "tool_call", invocationId: text(call.id) || `${eventId}:${index}`, tool: callName, input });
    }
    const response = record(part.functionResponse);
    const responseName = text(response?.name);
    if (response && responseName) {
      const failure = failureOf(response.response);
      const result: JsonObject = {
        type: "tool_result",
        invocationId: text(response.id) || `${eventId}:${index}`,
        tool: responseName,
        status: failure === undefined ? "success" : "error",
        output: (response.response ?? null) as Json,
      };
      if (failure !== undefined) result.error = { message: failure.slice(0, 4096) };
      events.push(result);
    }
  });
  return events;
}

/** The stored ADK event a Frontdesk event carries; undefined for the views and foreign events. */
export function carriedAdkEvent(event: SessionEvent): JsonObject | undefined {
  let carried: unknown;
  if (event.type === "message") carried = (event as Record<string, unknown>)[ADK_EVENT_FIELD];
  else if (event.type === "custom" && event.name === ADK_CUSTOM_NAME) carried = event.data;
  const adk = record(carried);
  return adk && typeof adk.id === "string" ? (adk as JsonObject) : undefined;
}

/** A redacted carrier: a `message` or `adk.event` tombstone (a redacted view or foreign custom event is not one). */
export const isRedactedCarrier = (event: SessionEvent): boolean =>
  event.redacted !== undefined &&
  (event.type === "message" || (event.type === "custom" && event.name === ADK_CUSTOM_NAME));

/** A `tool_call` or `tool_result` event: the view of a function call or response, written after its carrier. */
export const isToolView = (event: SessionEvent): boolean => event.type === "tool_call" || event.type === "tool_result";

/** Where a redacted ADK event's author and invocation id are to be taken from, once its neighbours are known. */
export const NEEDS_IDENTITY = Symbol("adk.redacted");

/**
 * The ADK event a redacted carrier stood for, rebuilt from what Frontdesk kept: its time, its role,
 * and the views written after it (`views`, oldest first), which still name its function calls and
 * responses. The content says "[redacted]"; each call comes back with no arguments and each
 * response with a "[redacted]" result, so a call and its response stay paired for the model. A
 * redacted `adk.event` (an event without content) comes back without content. The state delta and
 * everything else the event held are gone. Its id is the Frontdesk event's; its author and
 * invocation id are lost with the rest, and `fillIdentities` takes them from its neighbours.
 */
export function placeholderAdkEvent(event: SessionEvent, views: readonly SessionEvent[]): JsonObject {
  if (event.type !== "message") {
    // An event without content (a state change, a transfer, an end): nothing of it is left to say.
    const placeholder: JsonObject = { ...emptyEvent(event), invocationId: "" };
    Object.defineProperty(placeholder, NEEDS_IDENTITY, { value: "assistant", enumerable: false });
    return placeholder;
  }
  const role = event.role;
  const parts: JsonObject[] = [];
  for (const view of views) {
    if (view.type === "tool_call" && role !== "tool") {
      parts.push({ functionCall: { id: view.invocationId, name: view.tool, args: {} } });
    } else if (view.type === "tool_result") {
      parts.push({ functionResponse: { id: view.invocationId, name: view.tool, response: { result: REDACTED_TEXT } } });
    }
  }
  if (parts.length === 0 || role !== "tool") parts.unshift({ text: REDACTED_TEXT });
  const placeholder: JsonObject = {
    ...emptyEvent(event),
    invocationId: "",
    ...(role === "user" ? { author: "user" } : {}),
    content: { role: role === "assistant" ? "model" : "user", parts },
  };
  Object.defineProperty(placeholder, NEEDS_IDENTITY, { value: role, enumerable: false });
  return placeholder;
}

/** The fields every ADK event has, empty, at the time and under the id of a Frontdesk event. */
const emptyEvent = (event: SessionEvent): JsonObject => ({
  id: event.id,
  actions: { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {}, requestedToolConfirmations: {} },
  longRunningToolIds: [],
  timestamp: event.at,
});

/**
 * Gives each placeholder in `events` (oldest first) the author and invocation id its neighbours
 * suggest: a user's event starts the invocation the next event answers in; an agent's event belongs
 * to the invocation before it, and to the agent that wrote the nearest event that was not the
 * user's. With no such neighbour, the author is "model".
 */
export function fillIdentities(events: JsonObject[]): void {
  const known = (index: number) => {
    const event = events[index] as JsonObject & { [NEEDS_IDENTITY]?: string };
    return event[NEEDS_IDENTITY] === undefined ? event : undefined;
  };
  const nearest = (from: number, step: 1 | -1, test: (event: JsonObject) => boolean): JsonObject | undefined => {
    for (let i = from + step; i >= 0 && i < events.length; i += step) {
      const event = known(i);
      if (event && test(event)) return event;
    }
    return undefined;
  };
  events.forEach((event, index) => {
    const role = (event as { [NEEDS_IDENTITY]?: string })[NEEDS_IDENTITY];
    if (role === undefined) return;
    const any = () => true;
    const invocation =
      role === "user"
        ? (nearest(index, 1, any) ?? nearest(index, -1, any))
        : (nearest(index, -1, any) ?? nearest(index, 1, any));
    if (typeof invocation?.invocationId === "string") event.invocationId = invocation.invocationId;
    if (role === "user") return;
    const byAgent = (candidate: JsonObject) => typeof candidate.author === "string" && candidate.author !== "user";
    const agent = nearest(index, -1, byAgent) ?? nearest(index, 1, byAgent);
    event.author = (agent?.author as string | undefined) ?? "model";
    if (agent?.branch !== undefined) event.branch = agent.branch;
  });
}

/**
 * The own symbol-keyed markers ADK's `createEvent` puts on every event (its `isEvent` brand),
 * taken from ADK itself at load so this adapter never spells them out.
 */
const brand: Record<symbol, unknown> = (() => {
  const sample = createEvent() as unknown as Record<symbol, unknown>;
  const marks: Record<symbol, unknown> = {};
  for (const symbol of Object.getOwnPropertySymbols(sample)) marks[symbol] = sample[symbol];
  return marks;
})();

/** A stored ADK event as a live ADK `Event`: a mutable copy (ADK edits events in place), branded as ADK's. */
export function restoreEvent(stored: JsonObject): Event {
  return Object.assign(copyStored(stored), brand) as unknown as Event;
}

/** Refuses a request field that is not what ADK's types say, naming it. */
export const invalidField = (field: string, must: string): FrontdeskError =>
  new FrontdeskError("invalid_request", `${field} must be ${must}`);
