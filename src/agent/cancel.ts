import { FrontdeskError } from "../core/errors.ts";
import type { JsonObject, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import { AGENT_STATE_KEY, readAgentState } from "./agent-state.ts";

/**
 * The `custom` event that asks the running turn of a session to stop, wherever it runs: every
 * turn follows its session's events (as it does for approvals), so a cancel appended by another
 * process or server instance reaches it. `data.turnId` names the turn; a turn ignores cancels
 * aimed at another turn and any written before it started.
 */
export const TURN_CANCEL_EVENT = "turn.cancel";

export interface TurnCancelRequest {
  /** The turn asked to stop. */
  turnId: string;
  /** The `custom` event written. */
  event: SessionEvent;
}

/**
 * Appends a {@link TURN_CANCEL_EVENT} for the turn that holds the session's lock. Throws
 * `not_found` for a missing session and `conflict` when no turn is running. When the lock belongs
 * to a process that died, nothing answers; the next turn takes the stale lock over as usual.
 */
export async function requestTurnCancel(
  sessions: SessionManager<object>,
  sessionId: string,
  options: { reason?: string; stateKey?: string } = {},
): Promise<TurnCancelRequest> {
  const session = await sessions.get(sessionId);
  const turn = readAgentState(session.state as JsonObject, options.stateKey ?? AGENT_STATE_KEY)?.turn;
  if (!turn) throw new FrontdeskError("conflict", "No turn is running in this session");
  const data: Record<string, string> = { turnId: turn.id };
  if (options.reason !== undefined && options.reason !== "") data.reason = String(options.reason).slice(0, 1024);
  const { events } = await sessions.appendEvents(sessionId, [{ type: "custom", name: TURN_CANCEL_EVENT, data }]);
  return { turnId: turn.id, event: events[0] as SessionEvent };
}

/** True for a cancel event that applies to `turnId` (one naming no turn applies to whichever runs). */
export function isCancelFor(event: SessionEvent, turnId: string): boolean {
  if (event.type !== "custom" || event.name !== TURN_CANCEL_EVENT) return false;
  const target = (event.data as { turnId?: unknown } | null | undefined)?.turnId;
  return target === undefined || target === turnId;
}

/**
 * Follows the session's events after `afterSeq` and calls `onCancel` (once) with the first cancel
 * event for `turnId`. `close()` stops following.
 */
export function watchForCancel(
  sessions: SessionManager<object>,
  sessionId: string,
  turnId: string,
  afterSeq: number,
  onCancel: (event: SessionEvent) => void,
): { close(): Promise<void> } {
  const subscription = sessions.subscribe(sessionId, { after: afterSeq });
  let closed = false;
  void (async () => {
    try {
      for await (const event of subscription) {
        if (closed) return;
        if (isCancelFor(event, turnId)) {
          closed = true;
          onCancel(event);
          return;
        }
      }
    } catch {
      // The session went away or the store failed: the turn finds out on its own writes.
    }
  })();
  return {
    async close() {
      closed = true;
      await subscription.close().catch(() => undefined);
    },
  };
}

/**
 * {@link watchForCancel} for a turn, on the store's commit hints alone: opened before the turn
 * takes its lock, so every commit after the lock is hinted, it reads the log only when a hint goes
 * past what the turn itself wrote (`own`), and then only `custom` events. A turn that nobody else
 * writes to during its run makes no read at all. Hints are what `subscribe` follows too, from the
 * same store, so cancels from other processes or server instances arrive the same way.
 */
export class CancelWatch {
  /** Every event up to this seq has been looked at (or was written by the turn); -1 before `start`. */
  private cursor = -1;
  private startSeq = 0;
  private hinted = 0;
  private scheduled = false;
  private reading = false;
  private done = false;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** One read of whatever was committed before the hints were flowing (see `start`). */
  private catchUp = false;

  constructor(
    private readonly sessions: SessionManager<object>,
    private readonly sessionId: string,
    private readonly turnId: string,
    private readonly onCancel: (event: SessionEvent) => void,
  ) {}

  /** Starts listening for hints: before the commit that takes the lock (or see `start`). */
  async open(): Promise<void> {
    const { sessions } = this;
    const key = { namespace: sessions.namespace, userId: sessions.userId, id: this.sessionId };
    try {
      this.unsubscribe = await sessions.store.subscribe(key, (lastSeq) => this.hint(lastSeq));
    } catch {
      // No hints: the turn still runs (and stops on a local cancel).
    }
    if (this.done) await this.close();
  }

  /**
   * The turn holds the lock: cancels after `startSeq` count; the log through `lockSeq` is the turn's
   * own. `opening`, when the turn took the lock without waiting for `open()` (a store whose
   * subscription is a network round trip), is that `open()`: once it is done the log is read once,
   * for anything committed before the hints were flowing.
   */
  start(startSeq: number, lockSeq: number, opening?: Promise<void>): void {
    this.startSeq = startSeq;
    this.cursor = lockSeq;
    if (opening) {
      void opening.then(() => {
        this.catchUp = true;
        this.check();
      });
    }
    this.check();
  }

  /** Events the turn wrote in one commit: no read needed for them when they follow on from the cursor. */
  own(events: readonly SessionEvent[]): void {
    const first = events[0];
    if (this.cursor >= 0 && first && first.seq === this.cursor + 1) {
      this.cursor = (events[events.length - 1] as SessionEvent).seq;
    }
  }

  async close(): Promise<void> {
    this.done = true;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    await unsubscribe?.().catch(() => undefined);
  }

  private hint(lastSeq: number): void {
    if (this.done) return;
    this.hinted = Math.max(this.hinted, lastSeq);
    // After the current task: a hint of the turn's own commit lands before the commit's caller
    // has told `own` about it, and then needs no read.
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.check();
      });
    }
  }

  private check(): void {
    if (this.done || this.reading || this.cursor < 0 || (this.hinted <= this.cursor && !this.catchUp)) return;
    this.reading = true;
    void this.read().finally(() => {
      this.reading = false;
      this.check();
    });
  }

  private async read(): Promise<void> {
    const through = this.hinted;
    this.catchUp = false;
    try {
      const events = await this.sessions.readEvents(this.sessionId, { after: this.cursor, types: ["custom"] });
      // The read began after the hint: everything up to it, or to the newest event read, was seen.
      this.cursor = Math.max(this.cursor, through, events.at(-1)?.seq ?? 0);
      for (const event of events) {
        if (this.done) return;
        if (event.seq > this.startSeq && isCancelFor(event, this.turnId)) {
          this.done = true;
          this.onCancel(event);
          return;
        }
      }
    } catch {
      // The session went away or the store failed: the turn finds out on its own writes.
      this.done = true;
    }
  }
}
