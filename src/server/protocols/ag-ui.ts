/**
 * AG-UI (https://docs.ag-ui.com) over a Frontdesk session: the translation between a session's log
 * and the protocol's events, messages, state patches and interrupts. No I/O here: the route
 * (routes/ag-ui.ts) reads the log, runs turns and writes the stream.
 *
 * One fold, {@link ThreadFold}, turns the log into both the `MESSAGES_SNAPSHOT` a run starts with
 * and the events that follow it, and it builds its messages exactly as a client applies those
 * events. So the messages a client holds after a run equal the snapshot the next run starts with,
 * and every id is a function of the log alone: the same on any instance, after any cut.
 *
 * Message ids: a message written by itself (a user message, an assistant message appended through
 * the API) is named by its event id. An assistant reply of a turn is named by the id of the first
 * event that opened it (its first streamed piece, or its first tool call), because the reply
 * streams long before the message that closes it is written. A tool result is named by its
 * `tool_result` event id, and a tool call by its invocation id.
 *
 * A log Frontdesk edited (docs/privacy.md) folds like any other: a redacted message reads
 * "[redacted]" (its text replaces whatever its streamed pieces said), a redacted tool call has
 * no arguments and a redacted result says "[redacted]"; the `frontdesk.history_changed` notices and
 * the `frontdesk.pruned` marker are custom events, which build no message.
 */
import {
  type AssistantMessage,
  type BaseEvent,
  EventType,
  type Interrupt,
  type JsonPatchOperation,
  type Message,
  type ResumeEntry,
  type ToolMessage,
} from "@ag-ui/core";
import type { ApprovalDecision, PendingApproval } from "../../agent/approvals.ts";
import { FrontdeskError } from "../../core/errors.ts";
import { textOfContent } from "../../core/message-text.ts";
import type { Json, JsonObject, SessionEvent } from "../../core/model.ts";
import { turnDeltaOf } from "../../core/turn-deltas.ts";

/** One AG-UI event as written on the wire. */
export type AgUiEvent = BaseEvent & Record<string, unknown>;

/** How a turn ended, as its closing `status` event says. */
export interface TurnEnd {
  status: "completed" | "cancelled" | "error";
  code?: string;
  message?: string;
}

/** What observing one log event produced. */
export interface Observed {
  events: AgUiEvent[];
  /** The event is the end of a turn. */
  turnEnd?: TurnEnd;
  /** The event asked for an approval. */
  approvalRequested?: string;
}

/** The reply being written: the message it builds and what this run has opened of it. */
interface OpenReply {
  message: AssistantMessage;
  /** `turnId:step` of its streamed pieces, once one arrived. */
  stepKey?: string;
  /** A TEXT_MESSAGE_START was sent in this run and not yet ended. */
  textOpen: boolean;
  /** Invocation ids of its tool calls, in order, to pair with the closing message's tool-call parts. */
  invocations: { invocationId: string; name: string; paired: boolean }[];
}

/** `/` and `~` escaped as a JSON Pointer token (RFC 6901). */
const pointerOf = (key: string): string => `/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;

/**
 * A Frontdesk `stateDelta` (top-level keys; `null` deletes) as the JSON Patch (RFC 6902) that
 * makes the same change to `state`, which it also applies. A `null` for an absent key is no change.
 */
export function stateDeltaPatch(state: Record<string, unknown>, delta: JsonObject): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  for (const [key, value] of Object.entries(delta)) {
    const present = Object.hasOwn(state, key);
    if (value === null) {
      if (!present) continue;
      ops.push({ op: "remove", path: pointerOf(key) });
      delete state[key];
    } else {
      ops.push({ op: present ? "replace" : "add", path: pointerOf(key), value: structuredClone(value) });
      state[key] = structuredClone(value);
    }
  }
  return ops;
}

/** What a redacted event's content reads as (docs/privacy.md). */
const REDACTED_TEXT = "[redacted]";

/** A tool result as the one string an AG-UI tool message holds; a redacted one says so. */
function resultTextOf(event: Extract<SessionEvent, { type: "tool_result" }>): string {
  if (event.redacted) return REDACTED_TEXT;
  if (event.status === "success") {
    return typeof event.output === "string" ? event.output : JSON.stringify(event.output ?? null);
  }
  return JSON.stringify({
    status: event.status,
    ...(event.error ? { error: event.error } : {}),
    ...(event.output !== undefined ? { output: event.output } : {}),
  });
}

/** `status` events of scope agent from `running` end a turn. */
export function turnEndOf(event: SessionEvent): TurnEnd | undefined {
  if (event.type !== "status" || event.scope !== "agent" || event.previous !== "running") return undefined;
  if (event.status === "error") {
    const failed = /^turn failed: ([a-z_]+): ([\s\S]*)$/.exec(event.reason ?? "");
    return {
      status: "error",
      code: failed?.[1] ?? "internal",
      message: failed?.[2] ?? event.reason ?? "The turn failed",
    };
  }
  return event.reason === "cancelled" ? { status: "cancelled" } : { status: "completed" };
}

/**
 * Folds a session's log, in seq order from its first event, into AG-UI messages and the events
 * that build them. Every run folds the log afresh up to the point its snapshot is taken, then keeps
 * folding what follows into the events it streams.
 */
export class ThreadFold {
  /** The thread as AG-UI messages, tool results placed after the assistant message that called them. */
  readonly messages: Message[] = [];
  private open: OpenReply | undefined;
  /** Model tool-call ids paired with invocation ids, so a turn's tool messages are not repeated. */
  private readonly pairedCalls = new Set<string>();
  private state: Record<string, unknown> = {};
  /** Ids of stored messages: the client's history is checked against them. */
  readonly byId = new Map<string, Message>();

  /** The messages now, as a snapshot (copies). */
  snapshot(): Message[] {
    return structuredClone(this.messages);
  }

  /**
   * Starts a run's stream after its snapshot: state deltas apply to `state` from now on, and a
   * reply still being written reopens its text with a TEXT_MESSAGE_START of the same id (the client
   * appends to the message the snapshot gave it).
   */
  beginRun(state: JsonObject): void {
    this.state = structuredClone(state) as Record<string, unknown>;
    if (this.open) this.open.textOpen = false;
  }

  /** Ends the text of the open reply (before an interrupt ends the run). */
  endText(): AgUiEvent[] {
    if (!this.open?.textOpen) return [];
    this.open.textOpen = false;
    return [{ type: EventType.TEXT_MESSAGE_END, messageId: this.open.message.id }];
  }

  observe(event: SessionEvent): Observed {
    const out: Observed = { events: [] };
    const emit = (e: AgUiEvent) => out.events.push(e);
    const piece = turnDeltaOf(event);
    if (piece) {
      // Reasoning is not stored in the reply's message, so it is not streamed either.
      if (piece.part === "text" && piece.text.length > 0) this.piece(event.id, piece, emit);
    } else {
      switch (event.type) {
        case "message":
          this.message(event, emit);
          break;
        case "tool_call":
          this.toolCall(event.id, event.invocationId, event.tool, event.input, emit);
          break;
        case "tool_result":
          this.toolResult(event, emit);
          break;
        case "approval_request":
          out.approvalRequested = event.approvalId;
          break;
        case "status": {
          const end = turnEndOf(event);
          if (end) {
            this.closeOpen(emit);
            out.turnEnd = end;
          }
          break;
        }
        default:
          break;
      }
    }
    if (event.stateDelta && Object.keys(event.stateDelta).length > 0) {
      const delta = stateDeltaPatch(this.state, event.stateDelta);
      if (delta.length > 0) emit({ type: EventType.STATE_DELTA, delta });
    }
    return out;
  }

  private push(message: Message): void {
    this.messages.push(message);
    this.byId.set(message.id, message);
  }

  private closeOpen(emit: (e: AgUiEvent) => void): void {
    if (this.open?.textOpen) emit({ type: EventType.TEXT_MESSAGE_END, messageId: this.open.message.id });
    this.open = undefined;
  }

  private openReply(id: string, withText: boolean): OpenReply {
    const message: AssistantMessage = withText ? { id, role: "assistant", content: "" } : { id, role: "assistant" };
    this.push(message);
    this.open = { message, textOpen: false, invocations: [] };
    return this.open;
  }

  private startText(open: OpenReply, emit: (e: AgUiEvent) => void): void {
    if (open.textOpen) return;
    open.textOpen = true;
    emit({ type: EventType.TEXT_MESSAGE_START, messageId: open.message.id, role: "assistant" });
  }

  private appendText(open: OpenReply, text: string, emit: (e: AgUiEvent) => void): void {
    if (text.length === 0) return;
    this.startText(open, emit);
    open.message.content = `${open.message.content ?? ""}${text}`;
    emit({ type: EventType.TEXT_MESSAGE_CONTENT, messageId: open.message.id, delta: text });
  }

  private piece(
    eventId: string,
    piece: { turnId: string; step: number; text: string },
    emit: (e: AgUiEvent) => void,
  ): void {
    const key = `${piece.turnId}:${piece.step}`;
    let open = this.open;
    if (open?.stepKey !== undefined && open.stepKey !== key) {
      // A step that ended without its message (a failed call): its reply stays as far as it got.
      this.closeOpen(emit);
      open = undefined;
    }
    open ??= this.openReply(eventId, true);
    open.stepKey = key;
    this.appendText(open, piece.text, emit);
  }

  private toolCall(
    eventId: string,
    invocationId: string,
    name: string,
    input: Json | undefined,
    emit: (e: AgUiEvent) => void,
  ): void {
    const open = this.open ?? this.openReply(eventId, false);
    if (open.textOpen) {
      open.textOpen = false;
      emit({ type: EventType.TEXT_MESSAGE_END, messageId: open.message.id });
    }
    open.invocations.push({ invocationId, name, paired: false });
    this.addToolCall(open.message, invocationId, name, input, emit);
  }

  private addToolCall(
    message: AssistantMessage,
    toolCallId: string,
    name: string,
    input: unknown,
    emit: (e: AgUiEvent) => void,
  ): void {
    const args = JSON.stringify(input ?? {});
    message.toolCalls ??= [];
    message.toolCalls.push({ id: toolCallId, type: "function", function: { name, arguments: args } });
    emit({ type: EventType.TOOL_CALL_START, toolCallId, toolCallName: name, parentMessageId: message.id });
    emit({ type: EventType.TOOL_CALL_ARGS, toolCallId, delta: args });
    emit({ type: EventType.TOOL_CALL_END, toolCallId });
  }

  /** Places a tool message as the client does: after its call's assistant message and the tool messages after it. */
  private placeToolMessage(message: ToolMessage): void {
    const at = this.messages.findIndex(
      (m) => m.role === "assistant" && m.toolCalls?.some((call) => call.id === message.toolCallId),
    );
    if (at === -1) this.messages.push(message);
    else {
      let index = at + 1;
      while (index < this.messages.length && this.messages[index]?.role === "tool") index++;
      this.messages.splice(index, 0, message);
    }
    this.byId.set(message.id, message);
  }

  private toolResult(event: Extract<SessionEvent, { type: "tool_result" }>, emit: (e: AgUiEvent) => void): void {
    const content = resultTextOf(event);
    // Keys in the order the client builds them, so the two serialize alike.
    this.placeToolMessage({ id: event.id, toolCallId: event.invocationId, role: "tool", content });
    emit({
      type: EventType.TOOL_CALL_RESULT,
      messageId: event.id,
      toolCallId: event.invocationId,
      content,
      role: "tool",
    });
  }

  private message(event: Extract<SessionEvent, { type: "message" }>, emit: (e: AgUiEvent) => void): void {
    const text = textOfContent(event.content);
    if (event.role === "user" || event.role === "system") {
      this.closeOpen(emit);
      this.push({ id: event.id, role: event.role, content: text });
      emit({ type: EventType.TEXT_MESSAGE_START, messageId: event.id, role: event.role });
      if (text.length > 0) emit({ type: EventType.TEXT_MESSAGE_CONTENT, messageId: event.id, delta: text });
      emit({ type: EventType.TEXT_MESSAGE_END, messageId: event.id });
      return;
    }
    const parts = Array.isArray(event.content) ? event.content : [];
    if (event.role === "tool") {
      // A turn's tool results were told by their tool_result events; others (an imported history) are told here.
      parts.forEach((part, index) => {
        const callId = part.toolCallId;
        if (part.type !== "tool-result" || typeof callId !== "string" || this.pairedCalls.has(callId)) return;
        const output = (part.output as { value?: unknown } | undefined)?.value ?? part.output ?? null;
        const content = typeof output === "string" ? output : JSON.stringify(output);
        const id = `${event.id}:${index}`;
        this.placeToolMessage({ id, toolCallId: callId, role: "tool", content });
        emit({ type: EventType.TOOL_CALL_RESULT, messageId: id, toolCallId: callId, content, role: "tool" });
      });
      return;
    }
    // The assistant message closes the reply that streamed it, or stands alone.
    const calls = parts.some((part) => part.type === "tool-call");
    const open = this.open ?? this.openReply(event.id, text.length > 0 || !calls);
    const streamed = open.message.content ?? "";
    if (text !== streamed) {
      if (text.startsWith(streamed)) this.appendText(open, text.slice(streamed.length), emit);
      else open.message.content = text;
    } else if (open.message.content === "" && !open.textOpen && open.invocations.length === 0) {
      // An empty reply is still a message: the client creates it from a start and an end.
      this.startText(open, emit);
    }
    for (const part of parts) {
      if (part.type !== "tool-call" || typeof part.toolCallId !== "string") continue;
      const name = String(part.toolName ?? "");
      const pair = open.invocations.find((call) => !call.paired && call.name === name);
      if (pair) pair.paired = true;
      else {
        if (open.textOpen) {
          open.textOpen = false;
          emit({ type: EventType.TEXT_MESSAGE_END, messageId: open.message.id });
        }
        this.addToolCall(open.message, part.toolCallId, name, part.input, emit);
      }
      if (pair) this.pairedCalls.add(part.toolCallId);
    }
    this.closeOpen(emit);
  }
}

/** The answer schema an approval interrupt carries: `{ approved, reason? }`. */
export const APPROVAL_RESPONSE_SCHEMA = {
  type: "object",
  properties: {
    approved: { type: "boolean", description: "true runs the tool; false denies it (the model is told)" },
    reason: { type: "string", description: "Recorded with the answer; shown to the model on deny" },
  },
  required: ["approved"],
} as const;

/** A pending approval as the interrupt that ends a run. */
export function interruptOf(approval: PendingApproval): Interrupt {
  return {
    id: approval.approvalId,
    reason: "tool_approval",
    message: `Approve running the tool "${approval.tool}"?`,
    toolCallId: approval.invocationId,
    responseSchema: APPROVAL_RESPONSE_SCHEMA,
    metadata: { tool: approval.tool, ...(approval.input === undefined ? {} : { input: approval.input }) },
  };
}

/**
 * A resume entry as an approval answer. `resolved` takes a payload `{approved: boolean, reason?}`
 * (or a bare boolean); `cancelled` denies, since the turn cannot wait for an abandoned question.
 */
export function decisionOf(entry: ResumeEntry, index: number): { decision: ApprovalDecision; reason?: string } {
  if (entry.status === "cancelled") return { decision: "deny", reason: "The user cancelled the approval" };
  const payload = entry.payload as unknown;
  if (typeof payload === "boolean") return { decision: payload ? "approve" : "deny" };
  if (payload && typeof payload === "object" && typeof (payload as { approved?: unknown }).approved === "boolean") {
    const { approved, reason } = payload as { approved: boolean; reason?: unknown };
    return { decision: approved ? "approve" : "deny", ...(typeof reason === "string" ? { reason } : {}) };
  }
  throw new FrontdeskError(
    "invalid_request",
    `resume[${index}].payload: an approval is answered with {"approved": true|false, "reason"?: string}`,
  );
}

/** What a run's client messages ask for, once checked against the stored thread. */
export interface ClientIntent {
  /** The new trailing user message's content, when there is one. */
  message?: string;
}

const sameContent = (client: unknown, stored: unknown): boolean =>
  (typeof client === "string" ? client : textOfContent(client)) ===
  (typeof stored === "string" ? stored : textOfContent(stored));

/**
 * Checks a client's `messages` against the stored thread (by id, in order). The client may be
 * behind (it holds a prefix of the thread: it missed the end of a reply), but it may not rewrite a
 * stored message, invent one, or leave one out; and only a trailing user message that is not
 * stored is new. A new message is taken only from a client that holds the whole thread, so nobody
 * answers a conversation they have not seen.
 */
export function checkClientMessages(
  client: readonly { id: string; role: string; content?: unknown }[],
  fold: ThreadFold,
): ClientIntent {
  const stored = fold.messages;
  const last = client.at(-1);
  const isNew = last !== undefined && last.role === "user" && !fold.byId.has(last.id);
  const history = isNew ? client.slice(0, -1) : client;
  history.forEach((message, index) => {
    const expected = stored[index];
    if (!expected || expected.id !== message.id) {
      const known = fold.byId.has(message.id);
      throw new FrontdeskError(
        "conflict",
        known
          ? `messages[${index}] (id "${message.id}") is out of place: the stored thread has ${expected ? `"${expected.id}"` : "no message"} there; load the thread (a run with no new message) and send its messages back`
          : `messages[${index}] (id "${message.id}") is not in the stored thread: only a new trailing user message is taken`,
        { details: { index, id: message.id } },
      );
    }
    if (expected.role !== message.role) {
      throw new FrontdeskError(
        "conflict",
        `messages[${index}] (id "${message.id}") has role "${message.role}"; the stored message is "${expected.role}"`,
        { details: { index, id: message.id } },
      );
    }
    if ((message.role === "user" || message.role === "system") && !sameContent(message.content, expected.content)) {
      throw new FrontdeskError(
        "conflict",
        `messages[${index}] (id "${message.id}") rewrites a stored message: stored messages never change`,
        { details: { index, id: message.id } },
      );
    }
  });
  if (!isNew) return {};
  if (history.length < stored.length) {
    throw new FrontdeskError(
      "conflict",
      `The thread has ${stored.length} stored messages and this client sent ${history.length} before its new one: ` +
        "load the thread (a run with no new message) before adding to it",
      { details: { stored: stored.length, sent: history.length } },
    );
  }
  const content = last.content;
  const text = typeof content === "string" ? content : textOfParts(content, client.length - 1);
  if (text.trim() === "") {
    throw new FrontdeskError("invalid_request", `messages[${client.length - 1}].content: the new message is empty`);
  }
  return { message: text };
}

function textOfParts(content: unknown, index: number): string {
  if (!Array.isArray(content)) {
    throw new FrontdeskError("invalid_request", `messages[${index}].content: a string or text parts`);
  }
  return content
    .map((part, at) => {
      if (part?.type !== "text" || typeof part.text !== "string") {
        throw new FrontdeskError(
          "invalid_request",
          `messages[${index}].content[${at}]: only text parts are taken (got "${String(part?.type)}")`,
        );
      }
      return part.text as string;
    })
    .join("");
}
