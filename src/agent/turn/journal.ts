/**
 * A turn's lock and its writes to the session log. Every write of a turn goes through here, so
 * the rules that keep the log whole live in one place: each commit checks that this turn still
 * holds the lock, writes land in the order they were made, a heartbeat keeps the lock fresh, and
 * the final step's reply rides in the commit that releases the lock (a plain turn is two commits).
 */
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { EventInput, JsonObject, SessionEvent } from "../../core/model.ts";
import { turnDeltaOf } from "../../core/turn-deltas.ts";
import { type AgentChangePlan, commitAgentChange, isStale } from "../agent-state.ts";
import type { CancelWatch } from "../cancel.ts";
import { findOrphans, interruptedResult } from "../recovery.ts";
import type { AgentStateRecord, AgentStreamEvent, TurnFinish } from "../types.ts";
import type { TurnRuntime, TurnScope } from "./runtime.ts";

const LOST_LOCK = "This turn lost the session's turn lock (another turn took it over)";
const lostLock = (): FrontdeskError => new FrontdeskError("conflict", LOST_LOCK);
const isLostLock = (error: unknown): boolean => isFrontdeskError(error, "conflict") && error.message === LOST_LOCK;

export class TurnJournal {
  /** Every event this turn wrote, in the order the commits returned them. */
  readonly written: SessionEvent[] = [];
  /** Told of this turn's own writes, so it does not read them back (set once the lock is taken). */
  cancelWatch: CancelWatch | undefined;
  /** Queues the reply's pending pieces (set by the DeltaLog when the turn writes them). */
  beforeWrite: (() => void) | undefined;
  private readonly rt: TurnRuntime;
  private readonly turnId: string;
  private readonly emit: (event: AgentStreamEvent) => void;
  private chain: Promise<unknown> = Promise.resolve();
  private startSeqValue = 0;
  /** The last seq of the commit that took the lock: the window holds the log at least through it. */
  private lockSeqValue = 0;
  /**
   * The final step's messages, written with the closing status in the commit that releases the
   * lock (or ahead of any other write that comes first), so a plain turn is two commits: the user
   * message with `running`, then the reply with `idle`.
   */
  private deferred: EventInput[] = [];
  /** Why a deferred final step could not be written, if it could not. */
  private unwrittenValue: unknown;
  private lockLostValue = false;

  constructor(scope: TurnScope) {
    this.rt = scope.rt;
    this.turnId = scope.turnId;
    this.emit = scope.emit;
  }

  /** The seq of this turn's user message. */
  get startSeq(): number {
    return this.startSeqValue;
  }

  get lockSeq(): number {
    return this.lockSeqValue;
  }

  /** Another turn took the lock over: nothing more of this turn may be written. */
  get lockLost(): boolean {
    return this.lockLostValue;
  }

  /** Why the deferred final step could not be written, if it could not. */
  get unwritten(): unknown {
    return this.unwrittenValue;
  }

  /**
   * One atomic commit: the repairs of an interrupted turn (cancelled results for its open tool
   * calls), the user message, and the `running` status carrying the lock. Refused with `conflict`
   * while another turn holds a fresh lock.
   */
  async acquire(content: string | JsonObject[]): Promise<void> {
    const { rt } = this;
    const events = await this.commitChange(async (session, agent) => {
      const now = rt.clock.now();
      rt.history.checkSession(session);
      if (agent?.turn && !isStale(agent.turn, now, rt.staleTurnMs)) {
        throw new FrontdeskError("conflict", "Another turn is already running in this session", {
          details: { turnId: agent.turn.id, startedAt: agent.turn.startedAt },
        });
      }
      const out: EventInput[] = [];
      // Nothing was written since the last turn closed every invocation: nothing to look for.
      const checked = agent?.checkedThrough !== undefined && agent.checkedThrough >= session.lastSeq;
      const orphans = checked ? [] : await findOrphans(rt.sessions, rt.sessionId, agent?.checkedThrough);
      for (const orphan of orphans) out.push(interruptedResult(orphan));
      let previous = agent?.phase ?? "ready";
      if (agent?.turn) {
        out.push({
          type: "status",
          scope: "agent",
          status: "idle",
          previous,
          reason: `recovered: turn ${agent.turn.id} was interrupted (no heartbeat since ${new Date(
            agent.turn.heartbeatAt,
          ).toISOString()})`,
        });
        previous = "idle";
      }
      out.push({ type: "message", role: "user", content, turnId: this.turnId });
      const userSeq = session.lastSeq + out.length;
      out.push({ type: "status", scope: "agent", status: "running", previous });
      const record: AgentStateRecord = {
        name: rt.agentName,
        phase: "running",
        model: rt.modelName,
        ...(agent?.step !== undefined ? { step: agent.step } : {}),
        turn: { id: this.turnId, startedAt: now, heartbeatAt: now, startSeq: userSeq, owner: rt.owner },
        ...(agent?.checkedThrough !== undefined ? { checkedThrough: agent.checkedThrough } : {}),
        updatedAt: now,
      };
      this.startSeqValue = userSeq;
      this.lockSeqValue = session.lastSeq + out.length;
      return { events: out, agent: record };
    });
    this.record(events);
  }

  /**
   * Releases the lock with the closing status (`idle`, or `error` for a failed turn), in one commit
   * with the final step's messages when they are still to be written. Returns the error that kept
   * those messages from being written, if any.
   */
  async release(
    finish: TurnFinish,
    failure: { code: string; message: string } | undefined,
    activeStep: string | undefined,
  ): Promise<unknown> {
    const deferred = this.takeDeferred();
    if (this.lockLostValue) return deferred.length > 0 ? lostLock() : undefined;
    const { rt } = this;
    try {
      const events = await this.commitChange((session, agent) => {
        if (agent?.turn?.id !== this.turnId) {
          if (deferred.length === 0) return { events: [] };
          throw lostLock();
        }
        const phase = finish === "error" ? "error" : "idle";
        const { turn: _released, error: _old, ...rest } = agent;
        const now = rt.clock.now();
        return {
          events: [
            ...deferred,
            {
              type: "status",
              scope: "agent",
              status: phase,
              previous: "running",
              ...(finish === "cancelled" ? { reason: "cancelled" } : {}),
              ...(failure ? { reason: `turn failed: ${failure.code}: ${failure.message}`.slice(0, 4000) } : {}),
            },
          ],
          agent: {
            ...rest,
            phase,
            ...(activeStep !== undefined ? { step: activeStep } : {}),
            // Every invocation of this turn is closed: recovery need not look before here again
            // (here: this commit's last event, the status).
            checkedThrough: session.lastSeq + deferred.length + 1,
            ...(failure ? { error: failure.message.slice(0, 4000) } : {}),
            updatedAt: now,
          },
        };
      });
      this.record(events);
      return undefined;
    } catch (error) {
      if (isLostLock(error)) this.lockLostValue = true;
      // The session is gone, or another turn took the lock over: nothing left to release.
      return deferred.length > 0 ? error : undefined;
    }
  }

  /** Holds the final step's messages for the commit that releases the lock (see `deferred`). */
  defer(event: EventInput): void {
    this.deferred.push(event);
  }

  async heartbeat(): Promise<void> {
    // A refresh of the lock only: a deferred final step waits for the commit that releases it.
    await this.appendNow([], {}, false).catch(() => undefined);
  }

  /** Resolves once every queued write has landed or failed. */
  async drained(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /**
   * Appends events while this turn holds the lock (checked against the session read for the same
   * version-checked append). Writes are queued so they land in the order they were made; a deferred
   * final step, made before this call, goes first.
   */
  append(made: EventInput[], patch?: Partial<AgentStateRecord>, withDeferred = true): Promise<readonly SessionEvent[]> {
    // The reply's pieces streamed so far go first: a tool call or a message lands after the text before it.
    this.beforeWrite?.();
    return this.appendNow(made, patch, withDeferred);
  }

  /** Appends as `append` does, without writing the pending pieces first (the piece writer's own path). */
  appendPiece(piece: EventInput): Promise<readonly SessionEvent[]> {
    return this.appendNow([piece], undefined, false);
  }

  private appendNow(
    made: EventInput[],
    patch: Partial<AgentStateRecord> | undefined,
    withDeferred: boolean,
  ): Promise<readonly SessionEvent[]> {
    const { rt } = this;
    const deferred = withDeferred ? this.takeDeferred() : [];
    const events = deferred.length > 0 ? [...deferred, ...made] : made;
    const run = async (): Promise<readonly SessionEvent[]> => {
      if (this.lockLostValue) throw lostLock();
      const written = await this.commitChange((_session, agent) => {
        if (agent?.turn?.id !== this.turnId) throw lostLock();
        const now = rt.clock.now();
        const due = now - agent.turn.heartbeatAt >= rt.heartbeatMs;
        if (events.length === 0 && !due && !patch) return { events: [] };
        const next: AgentStateRecord | undefined =
          patch || due ? { ...agent, ...patch, turn: { ...agent.turn, heartbeatAt: now }, updatedAt: now } : undefined;
        // A heartbeat alone is written as a `state` event carrying the refreshed lock.
        return { events: events.length > 0 ? events : [{ type: "state" }], agent: next };
      }).catch((error: unknown) => {
        if (isLostLock(error)) this.lockLostValue = true;
        throw error;
      });
      this.record(written);
      return written;
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    // A final step that rode along and could not be written makes the turn fail, whoever awaits this.
    if (deferred.length > 0) {
      result.catch((error: unknown) => {
        this.unwrittenValue ??= error;
      });
    }
    return result;
  }

  /** {@link commitAgentChange} on this turn's agent record, planned first on the AgentSession's last commit. */
  private commitChange(plan: AgentChangePlan): Promise<readonly SessionEvent[]> {
    const { rt } = this;
    return commitAgentChange(rt.sessions, rt.sessionId, rt.stateKey, plan, rt.known);
  }

  private takeDeferred(): EventInput[] {
    const deferred = this.deferred;
    this.deferred = [];
    return deferred;
  }

  private record(events: readonly SessionEvent[]): void {
    this.rt.history.observe(events);
    this.cancelWatch?.own(events);
    for (const event of events) {
      this.written.push(event);
      // Live listeners had each piece as a `delta` already; the log keeps them for late readers.
      if (!turnDeltaOf(event)) this.emit({ type: "event", event });
    }
  }
}
