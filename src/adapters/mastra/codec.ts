/**
 * Mastra's records as Frontdesk sessions and events, and back.
 *
 * A thread is a session: its title is the session title, its id, owner and own metadata sit in the
 * session metadata under `mastra`, and the bookkeeping of its messages is one small state key.
 * A message is a `message` event whose `content` is what Frontdesk's console, exports and context
 * windows read (text and tool-call parts), and whose `mastra` field keeps the exact Mastra message,
 * so a read returns what was saved. A finished tool invocation in it is also written as
 * `tool_call` / `tool_result` events, which the console shows as tool cards.
 */
import type { MastraDBMessage, StorageThreadType } from "@mastra/core/memory";
import type { StorageResourceType } from "@mastra/core/storage";
import type { EventInput, JsonObject, Session, SessionEvent } from "../../index.ts";
import { copyStored } from "../shared/copy.ts";
import { REDACTED_TEXT } from "../shared/redaction.ts";

/** The tag every thread session carries, so thread listings skip other sessions of the owner. */
export const THREAD_TAG = "mastra.thread";
/** The session that holds one resource's working memory, under that resource as owner. */
export const RESOURCE_SESSION_ID = "mastra.resource";
export const REVISED_EVENT = "mastra.message.revised";
export const DELETED_EVENT = "mastra.messages.deleted";

/**
 * The thread's message bookkeeping, rewritten on every commit, so it stays O(edited messages),
 * never O(history):
 * - `count`: live messages; `originals`: `message` events written for Mastra messages;
 * - `maxCreatedAt` and `ordered`: while every message arrived no older than the ones before it,
 *   the log's order is Mastra's `createdAt` order and a page is read from the log's ends;
 * - `changed`: only messages revised, moved or deleted after their first write, as
 *   `[seq of the event that holds their place, seq of their newest version or 0 when gone]`.
 */
export interface MessageLog {
  count: number;
  originals: number;
  maxCreatedAt: number;
  ordered: boolean;
  changed: Record<string, [number, number]>;
}

export const EMPTY_LOG: MessageLog = { count: 0, originals: 0, maxCreatedAt: 0, ordered: true, changed: {} };

export interface ThreadRecord {
  threadId: string;
  resourceId: string;
  createdAt: string;
  metadata?: JsonObject;
  /** Resources that owned the thread before `updateThreadResourceId` moved it. */
  formerResourceIds?: string[];
}

/** Plain JSON (Dates as ISO strings, `undefined` dropped), as every Frontdesk store keeps it. */
export const toJson = <T>(value: T): JsonObject => JSON.parse(JSON.stringify(value)) as JsonObject;

const dateOf = (value: unknown): Date => (value instanceof Date ? value : new Date(value as string));

export function logOf(session: Session): MessageLog {
  const log = (session.state as JsonObject).mastra as unknown as MessageLog | undefined;
  return log ?? EMPTY_LOG;
}

export function threadRecordOf(session: Session): ThreadRecord | undefined {
  const record = (session.metadata as JsonObject).mastra as unknown as ThreadRecord | undefined;
  return record && typeof record.threadId === "string" ? record : undefined;
}

export function threadOf(session: Session): StorageThreadType | null {
  const record = threadRecordOf(session);
  if (!record) return null;
  const thread: StorageThreadType = {
    id: record.threadId,
    title: session.title ?? undefined,
    resourceId: record.resourceId,
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(session.updatedAt),
  };
  if (record.metadata !== undefined) thread.metadata = copyStored(record.metadata);
  if (thread.title === undefined) delete thread.title;
  return thread;
}

export const threadRecord = (thread: StorageThreadType, metadata = thread.metadata): ThreadRecord => ({
  threadId: thread.id,
  resourceId: thread.resourceId,
  createdAt: dateOf(thread.createdAt).toISOString(),
  ...(metadata !== undefined ? { metadata: toJson(metadata) } : {}),
});

export function resourceOf(session: Session): StorageResourceType | null {
  const stored = (session.state as JsonObject).mastra as JsonObject | undefined;
  if (!stored || typeof stored.id !== "string") return null;
  const resource: StorageResourceType = {
    id: stored.id,
    createdAt: new Date(stored.createdAt as string),
    updatedAt: new Date(stored.updatedAt as string),
  };
  if (typeof stored.workingMemory === "string") resource.workingMemory = stored.workingMemory;
  if (stored.metadata !== undefined) resource.metadata = copyStored(stored.metadata as JsonObject);
  return resource;
}

/**
 * A stored Mastra message as Mastra reads it: a mutable copy (Frontdesk hands out frozen events and
 * Mastra edits what it reads), `createdAt` a Date, `type` defaulting to "text" as in Mastra's stores.
 */
export function messageOf(stored: JsonObject): MastraDBMessage {
  const message = copyStored(stored) as unknown as MastraDBMessage;
  message.createdAt = new Date(stored.createdAt as string);
  message.type ??= "text";
  return message;
}

type Part = Record<string, unknown>;
const partsOf = (message: MastraDBMessage): Part[] =>
  Array.isArray(message.content?.parts) ? (message.content.parts as unknown as Part[]) : [];

/** The message as Frontdesk shows it: its text, reasoning and tool calls as AI SDK content parts. */
function frontdeskContent(message: MastraDBMessage): string | JsonObject[] {
  const content: JsonObject[] = [];
  for (const part of partsOf(message)) {
    if (part.type === "text" && typeof part.text === "string") content.push({ type: "text", text: part.text });
    else if (part.type === "reasoning" && typeof part.reasoning === "string")
      content.push({ type: "reasoning", text: part.reasoning });
    else if (part.type === "tool-invocation") {
      const call = part.toolInvocation as Part;
      content.push(
        toJson({ type: "tool-call", toolCallId: call.toolCallId, toolName: call.toolName, input: call.args ?? {} }),
      );
    }
  }
  if (content.length === 0 && typeof message.content?.content === "string") return message.content.content;
  return content.length > 0 ? content : "";
}

/** Finished or pending tool invocations of a message, as the tool cards Frontdesk shows. */
function toolEvents(message: MastraDBMessage): EventInput[] {
  const events: EventInput[] = [];
  for (const part of partsOf(message)) {
    if (part.type !== "tool-invocation") continue;
    const call = part.toolInvocation as Part;
    const invocationId = String(call.toolCallId);
    const tool = String(call.toolName);
    const input = toJson({ value: call.args ?? {} }).value as JsonObject;
    events.push({ type: "tool_call", invocationId, tool, input });
    if (call.state !== "result" && call.state !== "output-error") continue;
    const failed = call.state === "output-error" || call.isError === true;
    const output = toJson({ value: call.result ?? null }).value;
    events.push({
      type: "tool_result",
      invocationId,
      tool,
      input,
      status: failed ? "error" : "success",
      ...(failed
        ? { error: { message: typeof call.errorText === "string" ? call.errorText : JSON.stringify(output) } }
        : { output }),
    });
  }
  return events;
}

/** The events that write a message for the first time in a thread. */
export function messageEvents(message: MastraDBMessage): EventInput[] {
  const role = message.role === "user" || message.role === "assistant" ? message.role : "system";
  return [
    { type: "message", role, content: frontdeskContent(message), mastra: toJson(message) },
    ...toolEvents(message),
  ];
}

/** A later version of a message that already holds a place in the thread. */
export const revisionEvent = (message: MastraDBMessage, at: number): EventInput => ({
  type: "custom",
  name: REVISED_EVENT,
  data: { at, message: toJson(message) },
});

export const deletionEvent = (ids: string[], movedTo?: string): EventInput => ({
  type: "custom",
  name: DELETED_EVENT,
  data: movedTo === undefined ? { ids } : { ids, movedTo },
});

/** The Mastra message an event holds: an original `message` event, or a revision; a redacted one holds none. */
export function storedMessageOf(event: SessionEvent): JsonObject | undefined {
  if (event.redacted) return undefined;
  if (event.type === "message") {
    const stored = (event as unknown as { mastra?: JsonObject }).mastra;
    return stored && typeof stored.id === "string" ? stored : undefined;
  }
  if (event.type === "custom" && event.name === REVISED_EVENT) return (event.data as JsonObject).message as JsonObject;
  return undefined;
}

/**
 * The Mastra message a redacted version stands for: its id, role, time and thread where they are
 * still known (from the place that holds it, else the tombstone), its text "[redacted]". A message
 * whose place was redacted has lost its id unless it was revised since (the thread's log names it
 * then); it reads under the id `redacted:<event id>`.
 */
export function redactedMessageOf(
  session: Session,
  tombstone: SessionEvent,
  known: { id?: string; place?: JsonObject },
): JsonObject {
  const record = threadRecordOf(session);
  const place = known.place;
  const role = (place?.role as string | undefined) ?? (tombstone.type === "message" ? tombstone.role : "assistant");
  return {
    id: known.id ?? (place?.id as string | undefined) ?? `redacted:${tombstone.id}`,
    role,
    createdAt: (place?.createdAt as string | undefined) ?? new Date(tombstone.at).toISOString(),
    ...(record ? { threadId: record.threadId, resourceId: record.resourceId } : {}),
    type: "text",
    content: { format: 2, parts: [{ type: "text", text: REDACTED_TEXT }], content: REDACTED_TEXT },
  };
}
