/**
 * The reply as it streams, written to the session log while it is being written, so that a
 * reader anywhere (a reloaded page, a second tab, another server instance, a terminal that
 * attaches late) can show the reply from its first word and follow it live, with nothing but the
 * store in between. The format is core/turn-deltas.ts.
 *
 * Writes are behind the model, never in its way: the first piece goes at once (a reader sees the
 * reply start without delay), then at most one commit per interval (PIECE_INTERVAL_MS unless the
 * agent's `persistDeltas.intervalMs` says otherwise), each holding all
 * that streamed since the last, and never more than one in flight, so a slow store gets fewer,
 * larger pieces. A model streaming 50 tokens a second so costs about ten small commits a second,
 * not fifty; what is still pending when a step ends is written before its message.
 */
import type { EventInput, JsonObject } from "../../core/model.ts";
import { TURN_DELTA_EVENT, type TurnDeltaData } from "../../core/turn-deltas.ts";
import type { TurnJournal } from "./journal.ts";

/** The least time between two piece commits of one turn, by default (a human reader sees no difference). */
export const PIECE_INTERVAL_MS = 100;

export class DeltaLog {
  private pending: TurnDeltaData | undefined;
  /** A piece commit is in flight, or the interval since the last one has not passed. */
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly journal: TurnJournal,
    private readonly turnId: string,
    private readonly intervalMs = PIECE_INTERVAL_MS,
  ) {
    journal.beforeWrite = () => this.queue();
  }

  add(step: number, part: TurnDeltaData["part"], text: string): void {
    if (this.pending && (this.pending.step !== step || this.pending.part !== part)) this.queue();
    if (this.pending) this.pending.text += text;
    else this.pending = { turnId: this.turnId, step, part, text };
    if (!this.busy) this.writeBehind();
  }

  /**
   * Queues what is pending ahead of the turn's next write (a step's message, a tool call), so the
   * log holds a step's pieces before what closes it.
   */
  queue(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.busy = false;
    }
    const piece = this.take();
    if (piece) void this.journal.appendPiece(piece).catch(() => undefined);
  }

  private writeBehind(): void {
    const piece = this.take();
    if (!piece) return;
    this.busy = true;
    let intervalOver = false;
    let written = false;
    const next = (): void => {
      if (!intervalOver || !written || this.timer === undefined) return;
      this.timer = undefined;
      this.busy = false;
      this.writeBehind();
    };
    this.timer = setTimeout(() => {
      intervalOver = true;
      next();
    }, this.intervalMs);
    this.timer.unref?.();
    void this.journal
      .appendPiece(piece)
      // A lost lock or a gone session fails the turn's own writes too; a piece needs no report of its own.
      .catch(() => undefined)
      .finally(() => {
        written = true;
        next();
      });
  }

  private take(): EventInput | undefined {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending || pending.text.length === 0) return undefined;
    return { type: "custom", name: TURN_DELTA_EVENT, data: pending as unknown as JsonObject };
  }
}
