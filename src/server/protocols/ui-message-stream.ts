/**
 * The AI SDK's UI message stream, read off a session's log. One fold turns events into the chunks
 * `useChat` consumes (text and reasoning from the `turn.delta` pieces of a reply, tool input and
 * output, approval requests, status data parts, finish), and the same fold gives the stored
 * history as UI messages. A live reply, a replay after a reload and the stored message are so
 * built by the same code from the same events, which is what makes a resumed message equal to
 * the stored one, byte for byte.
 *
 * A log Frontdesk edited (docs/privacy.md) folds too: a redacted message reads "[redacted]", a
 * redacted tool call has no input and a redacted result says "[redacted]"; the notices of edits and
 * the marker of a prune are custom events, which add no chunk (a redacted reply's streamed pieces
 * are tombstones too, with it). A redacted user message no longer names its turn: its exchange
 * still runs to the turn's closing status, and takes the turn id of the first event after it that
 * names one.
 */
import { readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";
import { textOfContent } from "../../core/message-text.ts";
import type { JsonObject, SessionEvent } from "../../core/model.ts";
import { turnDeltaOf } from "../../core/turn-deltas.ts";

/** What a redacted event's content reads as. */
const REDACTED_TEXT = "[redacted]";

/** The data part a status event becomes: `data-frontdesk-status`. */
export const STATUS_DATA_PART = "data-frontdesk-status";

export type FrontdeskUIMessage = UIMessage<
  { turnId?: string; finish?: "complete" | "cancelled" | "error"; error?: { code: string; message: string } },
  { "frontdesk-status": { status: string; scope?: string; previous?: string; reason?: string; seq: number } }
>;
type Chunk = UIMessageChunk;

/** The closing status of a turn: the agent leaves `running`. */
export const endsTurn = (event: SessionEvent): boolean =>
  event.type === "status" && event.scope === "agent" && event.previous === "running";

/** Failure code and message of a turn's closing status (`turn failed: <code>: <message>`). */
const failureOf = (reason: string | undefined): { code: string; message: string } | undefined => {
  const match = reason === undefined ? null : /^turn failed: ([a-z_]+): ([\s\S]*)$/.exec(reason);
  return match ? { code: match[1] as string, message: match[2] as string } : undefined;
};

/**
 * Folds events (in seq order) into UI message chunks. A user message starts a new exchange;
 * whatever follows it is the assistant message of that exchange, identified by the turn's id.
 */
export class UiMessageFold {
  /** The assistant message being built: its id, or undefined between exchanges. */
  private messageId: string | undefined;
  private turnId: string | undefined;
  private stepOpen = false;
  private step = -1;
  private text: { id: string } | undefined;
  /** The text of the current step sent so far (pieces, or a message's), however many text parts it took. */
  private stepText = "";
  private reasoning: { id: string } | undefined;
  private partCount = 0;
  private finished = false;
  /** The exchange's user message was redacted, and with it the id of its turn. */
  private turnLost = false;

  /** The id of the assistant message being built. */
  get currentMessageId(): string | undefined {
    return this.messageId;
  }

  /** The exchange's assistant message is complete (its turn ended, or a message with no turn closed it). */
  get isFinished(): boolean {
    return this.finished;
  }

  /** The chunks `event` adds; a user message answers none and starts the next exchange. */
  observe(event: SessionEvent): Chunk[] {
    if (event.type === "message" && event.role === "user") {
      this.reset();
      this.turnId = typeof event.turnId === "string" ? event.turnId : undefined;
      this.turnLost = event.redacted !== undefined;
      return [];
    }
    const out: Chunk[] = [];
    const piece = turnDeltaOf(event);
    if (piece) {
      this.open(out, event);
      if (piece.step !== this.step) {
        this.closeStep(out);
        this.step = piece.step;
      }
      this.openStep(out);
      if (piece.part === "reasoning") {
        if (!this.reasoning) {
          this.reasoning = { id: `reasoning-${this.nextPart()}` };
          out.push({ type: "reasoning-start", id: this.reasoning.id });
        }
        out.push({ type: "reasoning-delta", id: this.reasoning.id, delta: piece.text });
      } else {
        this.closeReasoning(out);
        if (!this.text) {
          this.text = { id: `text-${this.nextPart()}` };
          out.push({ type: "text-start", id: this.text.id });
        }
        this.stepText += piece.text;
        out.push({ type: "text-delta", id: this.text.id, delta: piece.text });
      }
      return out;
    }
    switch (event.type) {
      case "message": {
        if (event.role !== "assistant") return out;
        this.open(out, event);
        this.openStep(out);
        const text = textOfContent(event.content);
        // Pieces, when the turn wrote them, are the message's text already: only what they lack is sent.
        const rest = text.startsWith(this.stepText) ? text.slice(this.stepText.length) : "";
        if (rest.length > 0) {
          if (!this.text) {
            this.text = { id: `text-${this.nextPart()}` };
            out.push({ type: "text-start", id: this.text.id });
          }
          this.stepText += rest;
          out.push({ type: "text-delta", id: this.text.id, delta: rest });
        }
        this.closeStep(out);
        if (!this.inTurn) this.finish(out, { finish: event.finish ?? "complete" });
        return out;
      }
      case "tool_call":
        this.open(out, event);
        this.openStep(out);
        this.closeText(out);
        out.push({
          type: "tool-input-available",
          toolCallId: event.invocationId,
          toolName: event.tool,
          input: event.input ?? {},
          dynamic: true,
        });
        return out;
      case "approval_request":
        this.open(out, event);
        this.openStep(out);
        out.push({ type: "tool-approval-request", approvalId: event.approvalId, toolCallId: event.invocationId });
        return out;
      case "tool_result":
        this.open(out, event);
        this.openStep(out);
        if (event.status === "success") {
          out.push({
            type: "tool-output-available",
            toolCallId: event.invocationId,
            output: event.redacted ? REDACTED_TEXT : (event.output ?? null),
            dynamic: true,
          });
        } else if (event.status === "denied") {
          out.push({ type: "tool-output-denied", toolCallId: event.invocationId });
        } else if (event.status !== "pending") {
          out.push({
            type: "tool-output-error",
            toolCallId: event.invocationId,
            errorText: event.redacted ? REDACTED_TEXT : (event.error?.message ?? event.status),
            dynamic: true,
          });
        }
        return out;
      case "status": {
        // A status belongs to the exchange under way; one between exchanges (the agent starting up) to none.
        const underWay = this.messageId !== undefined ? !this.finished : this.inTurn;
        if (!underWay) return out;
        this.open(out, event);
        out.push({
          type: STATUS_DATA_PART,
          id: `status-${event.seq}`,
          data: {
            status: event.status,
            ...(event.scope !== undefined ? { scope: event.scope } : {}),
            ...(event.previous !== undefined ? { previous: event.previous } : {}),
            ...(event.reason !== undefined ? { reason: event.reason } : {}),
            seq: event.seq,
          },
        } as Chunk);
        if (endsTurn(event) && this.inTurn) {
          this.closeStep(out);
          const error = event.status === "error" ? failureOf(event.reason) : undefined;
          this.finish(out, {
            finish: event.reason === "cancelled" ? "cancelled" : event.status === "error" ? "error" : "complete",
            ...(error ? { error } : {}),
          });
        }
        return out;
      }
      default:
        return out;
    }
  }

  /** The exchange is an agent's turn, which its closing status ends: named, or whose name was redacted. */
  private get inTurn(): boolean {
    return this.turnId !== undefined || this.turnLost;
  }

  private reset(): void {
    this.messageId = undefined;
    this.turnId = undefined;
    this.stepOpen = false;
    this.step = -1;
    this.text = undefined;
    this.stepText = "";
    this.reasoning = undefined;
    this.partCount = 0;
    this.finished = false;
    this.turnLost = false;
  }

  private nextPart(): number {
    return this.partCount++;
  }

  /** Starts the assistant message at its first chunk. */
  private open(out: Chunk[], event: SessionEvent): void {
    if (this.messageId !== undefined && !this.finished) return;
    if (this.turnLost && this.turnId === undefined) this.turnId = turnOf(event);
    // Another message after a finished one, with no user message between (appended by hand), is one of its own.
    if (this.finished) this.reset();
    this.messageId = this.turnId ?? `msg_${event.id}`;
    out.push({
      type: "start",
      messageId: this.messageId,
      ...(this.turnId !== undefined ? { messageMetadata: { turnId: this.turnId } } : {}),
    });
  }

  private openStep(out: Chunk[]): void {
    if (this.stepOpen) return;
    this.stepOpen = true;
    out.push({ type: "start-step" });
  }

  private closeText(out: Chunk[]): void {
    if (this.text) out.push({ type: "text-end", id: this.text.id });
    this.text = undefined;
  }

  private closeReasoning(out: Chunk[]): void {
    if (this.reasoning) out.push({ type: "reasoning-end", id: this.reasoning.id });
    this.reasoning = undefined;
  }

  private closeStep(out: Chunk[]): void {
    this.closeReasoning(out);
    this.closeText(out);
    if (this.stepOpen) out.push({ type: "finish-step" });
    this.stepOpen = false;
    this.stepText = "";
  }

  private finish(out: Chunk[], metadata: JsonObject): void {
    this.finished = true;
    out.push({ type: "finish", messageMetadata: metadata });
  }
}

/** The turn an event of a reply names: a piece's, or a turn's message's. */
function turnOf(event: SessionEvent): string | undefined {
  const named = turnDeltaOf(event)?.turnId ?? (event.type === "message" ? event.turnId : undefined);
  return typeof named === "string" ? named : undefined;
}

/**
 * The stored history as UI messages: user messages as they were sent, and each exchange's
 * assistant message as the fold builds it. The reply of `runningTurnId` is left out: a resume of
 * the stream gives it, from its start.
 */
export async function uiMessagesOf(
  events: readonly SessionEvent[],
  runningTurnId: string | undefined,
): Promise<FrontdeskUIMessage[]> {
  const fold = new UiMessageFold();
  const out: (FrontdeskUIMessage | Chunk[])[] = [];
  let chunks: Chunk[] | undefined;
  for (const event of events) {
    if (event.type === "message" && (event.role === "system" || event.role === "tool")) continue;
    if (event.type === "message" && event.role === "user") {
      fold.observe(event);
      chunks = undefined;
      out.push({
        id: event.id,
        role: "user",
        parts: [{ type: "text", text: textOfContent(event.content) }],
      });
      continue;
    }
    const before = fold.currentMessageId;
    const produced = fold.observe(event);
    if (produced.length === 0) continue;
    if (!chunks || fold.currentMessageId !== before) {
      chunks = [];
      out.push(chunks);
    }
    chunks.push(...produced);
  }
  const messages: FrontdeskUIMessage[] = [];
  for (const item of out) {
    if (!Array.isArray(item)) {
      messages.push(item);
      continue;
    }
    const first = item[0] as { type: string; messageId?: string };
    if (runningTurnId !== undefined && first.messageId === runningTurnId) continue;
    messages.push(await messageOf(item));
  }
  return messages;
}

/** What the AI SDK's own reader builds from the chunks: exactly what a `Chat` holds after them. */
async function messageOf(chunks: readonly Chunk[]): Promise<FrontdeskUIMessage> {
  const stream = new ReadableStream<Chunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let last: FrontdeskUIMessage | undefined;
  for await (const message of readUIMessageStream<FrontdeskUIMessage>({ stream })) last = message;
  return last as FrontdeskUIMessage;
}
