import type { EventInput, Json, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";

/** How far back recovery looks when the agent never recorded a consistent point. */
export const RECOVERY_SCAN_LIMIT = 2000;

export interface Orphan {
  invocationId: string;
  tool: string;
  input?: Json;
  /** The unanswered approval request, when the invocation was waiting for one. */
  approvalId?: string;
}

/**
 * Invocations the log opened and never closed: a `tool_call` (or an `approval_request`) with no
 * `tool_result`. They are what a process killed mid-turn leaves behind.
 */
export async function findOrphans(
  sessions: SessionManager<object>,
  sessionId: string,
  checkedThrough: number | undefined,
): Promise<Orphan[]> {
  const types = ["tool_call", "tool_result", "approval_request"] as const;
  const events: readonly SessionEvent[] =
    checkedThrough === undefined
      ? await sessions.readEvents(sessionId, { types, last: RECOVERY_SCAN_LIMIT })
      : await sessions.readEvents(sessionId, { types, after: checkedThrough });
  const open = new Map<string, Orphan>();
  for (const event of events) {
    if (event.type === "tool_call") {
      open.set(event.invocationId, {
        ...open.get(event.invocationId),
        invocationId: event.invocationId,
        tool: event.tool,
        ...(event.input === undefined ? {} : { input: event.input }),
      });
    } else if (event.type === "approval_request") {
      const known = open.get(event.invocationId);
      open.set(event.invocationId, {
        invocationId: event.invocationId,
        tool: known?.tool ?? event.tool,
        ...(known?.input !== undefined
          ? { input: known.input }
          : event.input === undefined
            ? {}
            : { input: event.input }),
        approvalId: event.approvalId,
      });
    } else if (event.type === "tool_result") {
      open.delete(event.invocationId);
    }
  }
  return [...open.values()];
}

/** The `tool_result` that closes an interrupted invocation. */
export const interruptedResult = (orphan: Orphan, reason = "interrupted"): EventInput => ({
  type: "tool_result",
  invocationId: orphan.invocationId,
  tool: orphan.tool,
  ...(orphan.input === undefined ? {} : { input: orphan.input }),
  status: "cancelled",
  error: { message: reason, code: "interrupted" },
});
