/**
 * The log format of a reply while it streams: each piece is a `custom` event named `turn.delta`
 * (written by the agent's turn, see agent/turn/delta-log.ts), and the pieces of one model call
 * joined in seq order are exactly the text of the assistant message that closes them. Readers
 * (the console, `frontdesk chat --server`, the React hooks, the chat protocols of the server)
 * fold the log with {@link LiveReply} to show a reply from its first word, wherever they attach.
 */

/** The `custom` event name of a streamed piece of a reply. */
export const TURN_DELTA_EVENT = "turn.delta";

/** What a `turn.delta` event's `data` holds. */
export interface TurnDeltaData {
  turnId: string;
  /** The model call (0-based) within the turn: a step's pieces end with that step's assistant message. */
  step: number;
  part: "text" | "reasoning";
  text: string;
}

/** `data` of a `turn.delta` event, or undefined for any other event. */
export function turnDeltaOf(event: { type: string; name?: unknown; data?: unknown }): TurnDeltaData | undefined {
  if (event.type !== "custom" || event.name !== TURN_DELTA_EVENT) return undefined;
  const data = event.data as Partial<TurnDeltaData> | null | undefined;
  if (!data || typeof data.turnId !== "string" || typeof data.text !== "string" || typeof data.step !== "number") {
    return undefined;
  }
  return {
    turnId: data.turnId,
    step: data.step,
    part: data.part === "reasoning" ? "reasoning" : "text",
    text: data.text,
  };
}

/** The part of a reply streamed so far and not yet closed by its assistant message. */
export interface OpenReply {
  turnId: string;
  step: number;
  text: string;
  reasoning: string;
}

interface FoldableEvent {
  type: string;
  name?: unknown;
  data?: unknown;
  role?: unknown;
  turnId?: unknown;
  scope?: unknown;
  previous?: unknown;
}

/**
 * Folds a session's events, in seq order, into the reply being written: pieces open it, and the
 * turn's next assistant message (or the end of the turn) closes it.
 */
export class LiveReply {
  private openValue: OpenReply | undefined;

  get open(): OpenReply | undefined {
    return this.openValue;
  }

  /** Takes the next event; answers what it did to the open reply. */
  observe(event: FoldableEvent): "piece" | "closed" | undefined {
    const piece = turnDeltaOf(event);
    if (piece) {
      const open = this.openValue;
      if (!open || open.turnId !== piece.turnId || open.step !== piece.step) {
        this.openValue = { turnId: piece.turnId, step: piece.step, text: "", reasoning: "" };
      }
      const target = this.openValue as OpenReply;
      if (piece.part === "reasoning") target.reasoning += piece.text;
      else target.text += piece.text;
      return "piece";
    }
    if (!this.openValue) return undefined;
    const closesMessage = event.type === "message" && event.role === "assistant";
    const endsTurn = event.type === "status" && event.scope === "agent" && event.previous === "running";
    if (closesMessage || endsTurn) {
      this.openValue = undefined;
      return "closed";
    }
    return undefined;
  }
}
