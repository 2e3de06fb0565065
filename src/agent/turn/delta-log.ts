/**
 * The reply as it streams, written to the session log while it is being written, so that a
 * reader anywhere (a reloaded page, a second tab, another server instance, a terminal that
 * attaches late) can show the reply from its first word and follow it live, with nothing but the
 * store in between. The format is core/turn-deltas.ts.
 *
 * Writes are behind the model, never in its way: one commit is in flight at a time, and what
 * streams meanwhile is joined into the next one, so a fast store gets about one event per model
 * delta and a slow one fewer, larger events, with no timer involved.
 */
import type { EventInput, JsonObject } from "../../core/model.ts";
import { TURN_DELTA_EVENT, type TurnDeltaData } from "../../core/turn-deltas.ts";
import type { TurnJournal } from "./journal.ts";

export class DeltaLog {
  private pending: TurnDeltaData | undefined;
  private inFlight = false;

  constructor(
    private readonly journal: TurnJournal,
    private readonly turnId: string,
  ) {}

  add(step: number, part: TurnDeltaData["part"], text: string): void {
    if (this.pending && (this.pending.step !== step || this.pending.part !== part)) this.queue();
    if (this.pending) this.pending.text += text;
    else this.pending = { turnId: this.turnId, step, part, text };
    if (!this.inFlight) this.writeBehind();
  }

  /**
   * Queues what is pending ahead of the turn's next write (a step's message, a tool call), so the
   * log holds a step's pieces before what closes it.
   */
  queue(): void {
    const piece = this.take();
    if (piece) void this.journal.append([piece], undefined, false).catch(() => undefined);
  }

  private writeBehind(): void {
    const piece = this.take();
    if (!piece) return;
    this.inFlight = true;
    void this.journal
      .append([piece], undefined, false)
      // A lost lock or a gone session fails the turn's own writes too; a piece needs no report of its own.
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = false;
        this.writeBehind();
      });
  }

  private take(): EventInput | undefined {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending || pending.text.length === 0) return undefined;
    return { type: "custom", name: TURN_DELTA_EVENT, data: pending as unknown as JsonObject };
  }
}
