import { FrontdeskError } from "../core/errors.ts";
import type { Json, JsonObject, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import { AGENT_STATE_KEY, readAgentState } from "./agent-state.ts";
import type { AgentTurnLock } from "./types.ts";

/** How far back approval look-ups read (approval events only). */
const APPROVAL_SCAN = 1000;

export type ApprovalDecision = "approve" | "deny";

export interface PendingApproval {
  approvalId: string;
  invocationId: string;
  tool: string;
  input?: Json;
  seq: number;
  at: number;
}

type ApprovalRequestEvent = Extract<SessionEvent, { type: "approval_request" }>;
type ApprovalResponseEvent = Extract<SessionEvent, { type: "approval_response" }>;

export interface ApprovalOptions {
  /** The state key of the agent record. @default "agent" */
  stateKey?: string;
}

/**
 * The events that decide approvals, and the turn lock of the session: a request is pending only
 * while the turn that asked it holds the lock. One left in a log with no such turn (a fork or
 * import taken while it waited, or a process that died) has nobody to resume; the next turn closes
 * it as interrupted.
 */
async function approvalView(
  sessions: SessionManager<object>,
  sessionId: string,
  stateKey: string,
): Promise<{ events: readonly SessionEvent[]; lock: AgentTurnLock | undefined }> {
  const [session, events] = await Promise.all([
    sessions.get(sessionId),
    sessions.readEvents(sessionId, {
      types: ["approval_request", "approval_response", "tool_result"],
      last: APPROVAL_SCAN,
    }),
  ]);
  return { events, lock: readAgentState(session.state as JsonObject, stateKey)?.turn };
}

const askedBy = (lock: AgentTurnLock | undefined, request: ApprovalRequestEvent): boolean =>
  lock !== undefined && request.seq > lock.startSeq;

/**
 * Approval requests of the session's running turn that have neither a response nor a tool result
 * yet; none when no turn is running.
 */
export async function pendingApprovals(
  sessions: SessionManager<object>,
  sessionId: string,
  options: ApprovalOptions = {},
): Promise<PendingApproval[]> {
  const { events, lock } = await approvalView(sessions, sessionId, options.stateKey ?? AGENT_STATE_KEY);
  const answered = new Set<string>();
  const closed = new Set<string>();
  for (const event of events) {
    if (event.type === "approval_response") answered.add(event.approvalId);
    if (event.type === "tool_result") closed.add(event.invocationId);
  }
  return events
    .filter((event): event is ApprovalRequestEvent => event.type === "approval_request")
    .filter((event) => askedBy(lock, event) && !answered.has(event.approvalId) && !closed.has(event.invocationId))
    .map((event) => ({
      approvalId: event.approvalId,
      invocationId: event.invocationId,
      tool: event.tool,
      ...(event.input === undefined ? {} : { input: event.input }),
      seq: event.seq,
      at: event.at,
    }));
}

/**
 * Answers an approval request by appending an `approval_response` event. Works from any process:
 * the turn waiting for it watches the session's events. Throws `not_found` for an unknown
 * approval and `conflict` when it was already answered or its invocation is closed (cancelled,
 * interrupted) or no turn is waiting for it (see {@link pendingApprovals}). When two answers race,
 * the first one in the log is the one that counts.
 */
export async function respondToApproval(
  sessions: SessionManager<object>,
  sessionId: string,
  approvalId: string,
  decision: ApprovalDecision,
  reason?: string,
  options: ApprovalOptions = {},
): Promise<SessionEvent> {
  if (decision !== "approve" && decision !== "deny") {
    throw new FrontdeskError("invalid_request", 'An approval decision is "approve" or "deny"');
  }
  const { events, lock } = await approvalView(sessions, sessionId, options.stateKey ?? AGENT_STATE_KEY);
  const request = events.find(
    (event): event is ApprovalRequestEvent => event.type === "approval_request" && event.approvalId === approvalId,
  );
  if (!request) throw new FrontdeskError("not_found", `No approval request "${approvalId}" in this session`);
  if (events.some((event) => event.type === "approval_response" && event.approvalId === approvalId)) {
    throw new FrontdeskError("conflict", `Approval "${approvalId}" was already answered`);
  }
  if (events.some((event) => event.type === "tool_result" && event.invocationId === request.invocationId)) {
    throw new FrontdeskError("conflict", `Approval "${approvalId}" is no longer pending: its tool call was closed`);
  }
  if (!askedBy(lock, request)) {
    throw new FrontdeskError("conflict", `Approval "${approvalId}" is no longer pending: no turn is waiting for it`);
  }
  const response: Record<string, Json> = { type: "approval_response", approvalId, decision };
  if (reason !== undefined && reason !== "") response.reason = String(reason).slice(0, 4096);
  const { events: written } = await sessions.appendEvents(sessionId, [response]);
  return written[0] as SessionEvent;
}

export interface ApprovalWait {
  /** Resolves with the first response in the log, or undefined when the wait was aborted. */
  readonly decision: Promise<ApprovalResponseEvent | undefined>;
  /** Re-reads the log now (a local `approve()` calls this so it need not wait for a notification). */
  poke(): void;
}

/**
 * Waits for the response to one approval request by following the session's events after the
 * request (the store's subscription: a response appended by another process or server instance
 * arrives the same way). The first response in seq order wins.
 */
export function waitForApproval(
  sessions: SessionManager<object>,
  sessionId: string,
  approvalId: string,
  afterSeq: number,
  signal: AbortSignal,
): ApprovalWait {
  let settle!: (event: ApprovalResponseEvent | undefined) => void;
  let done = false;
  const decision = new Promise<ApprovalResponseEvent | undefined>((resolve) => {
    settle = (event) => {
      if (done) return;
      done = true;
      resolve(event);
    };
  });
  const subscription = sessions.subscribe(sessionId, { after: afterSeq });
  const finish = (event: ApprovalResponseEvent | undefined) => {
    settle(event);
    void subscription.close().catch(() => undefined);
    signal.removeEventListener("abort", onAbort);
  };
  const onAbort = () => finish(undefined);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });

  void (async () => {
    try {
      for await (const event of subscription) {
        if (done) return;
        if (event.type === "approval_response" && event.approvalId === approvalId) {
          finish(event);
          return;
        }
      }
    } catch {
      // The subscription failed: fall through.
    }
    // The subscription ended without an answer: the session was deleted or expired.
    finish(undefined);
  })();

  const poke = () => {
    if (done) return;
    void sessions
      .readEvents(sessionId, { after: afterSeq, types: ["approval_response"] })
      .then((events) => {
        const first = events.find(
          (event): event is ApprovalResponseEvent =>
            event.type === "approval_response" && event.approvalId === approvalId,
        );
        if (first) finish(first);
      })
      .catch(() => undefined);
  };
  return { decision, poke };
}
