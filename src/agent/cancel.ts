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
