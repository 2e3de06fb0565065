/**
 * The agent runtime inside the server: runs turns for HTTP (SSE) and WebSocket clients on the
 * caller's user-bound manager, and keeps the turns running on this instance so they can be
 * cancelled (by the client going away, `POST …/cancel`, the server's time bound, or the drain on
 * close). The AgentSession of a session and agent is kept between turns (a bounded number of them),
 * so a turn reads only what was appended since the last one instead of the whole history window.
 *
 * Everything that must hold across instances lives in the session, not here: the turn lock
 * (`state["process:agent"].turn`) refuses a second turn with `conflict` wherever it runs, approvals are
 * events, and a cancel for a turn running elsewhere is a `turn.cancel` event that the turn follows.
 */
import type { LanguageModelV3 } from "@ai-sdk/provider";
import { AgentSession, type AgentSessionOptions, type RunTurnOptions } from "../agent/agent-session.ts";
import { isStale, readAgentState } from "../agent/agent-state.ts";
import { requestTurnCancel } from "../agent/cancel.ts";
import {
  DEFAULT_CONFIG,
  type Env,
  type FrontdeskConfig,
  type FrontdeskConfigInput,
  isParsedConfig,
  parseConfig,
} from "../agent/config.ts";
import type { ToolHandler } from "../agent/tools/types.ts";
import type { AgentStreamEvent, TurnResult } from "../agent/types.ts";
import type { Clock } from "../core/clock.ts";
import { FrontdeskError } from "../core/errors.ts";
import { LruMap } from "../core/lru-map.ts";
import type { JsonObject } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import { serverUnavailable, toHttpError } from "./http-errors.ts";
import type { ServerMetrics } from "./metrics.ts";

/** `AppOptions.agents`: the agent runtime of the server. */
export interface AgentServerOptions {
  /** From `loadConfig`/`parseConfig`/`agentConfigFrom`, or a raw config (validated when the app starts). @default DEFAULT_CONFIG */
  config?: FrontdeskConfig | FrontdeskConfigInput;
  /** A turn running longer than this is cancelled (its partial reply kept). @default 300_000 (5 minutes) */
  turnTimeoutMs?: number;
  /** Implementations of declared tools (and overrides of built-ins), by name. */
  handlers?: Readonly<Record<string, ToolHandler>>;
  /** Where API keys are read. @default the env captured by loadConfig, else process.env */
  env?: Env;
  /** Passed to HTTP model providers. */
  fetch?: typeof globalThis.fetch;
  /** Every agent runs on this model instead of its configured one (tests, custom providers). */
  model?: LanguageModelV3;
  /** How long closing the server waits for cancelled turns to write their last events. @default 10_000 */
  drainMs?: number;
}

export const DEFAULT_TURN_TIMEOUT_MS = 5 * 60 * 1000;
/** A lock this old is not refused up front: the runtime takes it over (its own default). */
const STALE_TURN_MS = 5 * 60 * 1000;

export type TurnStatus = "completed" | "cancelled" | "error";

/** How a turn ended, as the `done` SSE frame and the `turn` WebSocket frame say it. */
export interface TurnOutcome {
  status: TurnStatus;
  turnId: string;
  message?: string;
  /** Seq of the last event the turn wrote (0 when unknown). */
  lastSeq: number;
  result?: TurnResult;
}

export interface StartedTurn {
  readonly turnId: string;
  /** Seq of the turn's user message: its events are the log's from here on. */
  readonly startSeq: number;
  /** Resolves when the turn is over; never rejects. */
  readonly done: Promise<TurnOutcome>;
  cancel(reason: string): void;
}

interface Running {
  turnId?: string;
  startedAt: number;
  controller: AbortController;
  /** Why the server cancelled it (time bound, drain), for the outcome's message. */
  stopReason?: string;
  done?: Promise<TurnOutcome>;
}

/** AgentSessions kept between turns; each holds its session's history window. */
const KEPT_AGENT_SESSIONS = 256;

interface KeptAgent {
  readonly agent: AgentSession;
  /** Where its events go: the stream of the request whose turn it runs, if any. */
  readonly route: { sink?: (event: AgentStreamEvent) => void };
}

const abortReason = (message: string): DOMException => new DOMException(message, "AbortError");

const FINISH_STATUS: Record<TurnResult["finish"], TurnStatus> = {
  complete: "completed",
  cancelled: "cancelled",
  error: "error",
};

export class AgentHost {
  readonly config: FrontdeskConfig;
  readonly turnTimeoutMs: number;
  private readonly drainMs: number;
  private readonly running = new Map<string, Running>();
  private readonly kept = new LruMap<string, KeptAgent>(KEPT_AGENT_SESSIONS);
  /** Final frames still being written (drain waits for them). */
  private readonly finishing = new Set<Promise<unknown>>();
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: AgentServerOptions,
    private readonly clock: Clock,
    private readonly metrics: ServerMetrics,
    /** How often the time bound is checked (against `clock`). */
    private readonly checkEveryMs: number,
  ) {
    const raw = options.config ?? DEFAULT_CONFIG;
    this.config = isParsedConfig(raw) ? raw : parseConfig(raw, { env: options.env ?? {} });
    this.turnTimeoutMs = options.turnTimeoutMs ?? DEFAULT_TURN_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.turnTimeoutMs) || this.turnTimeoutMs <= 0) {
      throw new FrontdeskError("invalid_request", "agents.turnTimeoutMs must be a positive integer");
    }
    this.drainMs = options.drainMs ?? 10_000;
  }

  /** Turns running on this instance. */
  get size(): number {
    return this.running.size;
  }

  /**
   * Starts a turn and resolves once it holds the session's turn lock (its user message is
   * written). Rejects before anything of the turn is written: `not_found` (no such session, or
   * another user's), `invalid_request` (unknown agent, bad message), `conflict` (a turn is running
   * in this session, on any instance), `unavailable` (draining).
   */
  async start(
    sessions: SessionManager<object>,
    sessionId: string,
    content: string | readonly Record<string, unknown>[],
    options: { agent?: string; onEvent: (event: AgentStreamEvent) => void },
  ): Promise<StartedTurn> {
    if (this.closed) throw serverUnavailable("The server is shutting down");
    const agentName = options.agent ?? this.config.defaultAgent;
    if (!Object.hasOwn(this.config.agents, agentName)) {
      throw new FrontdeskError(
        "invalid_request",
        `Unknown agent "${agentName}": configured agents are ${Object.keys(this.config.agents).join(", ")}`,
      );
    }
    const key = keyOf(sessions, sessionId);
    if (this.running.has(key)) throw runningConflict(this.running.get(key)?.turnId);
    const entry: Running = { startedAt: this.clock.now(), controller: new AbortController() };
    this.running.set(key, entry);
    let routed: KeptAgent["route"] | undefined;
    try {
      // A missing (or another user's) session is 404 here; a fresh lock is refused before the
      // AgentSession writes its lifecycle events. The lock itself is what really decides.
      const session = await sessions.get(sessionId);
      const lock = readAgentState(session.state as JsonObject)?.turn;
      if (lock && !isStale(lock, this.clock.now(), STALE_TURN_MS)) throw runningConflict(lock.id);

      // Turns of one session never overlap on this instance (`running`), so a kept AgentSession has
      // one sink at a time: the stream of the request whose turn it runs.
      const keptKey = JSON.stringify([key, agentName]);
      let kept = this.kept.get(keptKey);
      if (!kept || kept.agent.phase === "error" || kept.agent.phase === "closed") {
        const fresh: KeptAgent["route"] = {};
        const agentOptions: AgentSessionOptions = {
          sessions,
          sessionId,
          config: this.config,
          agent: agentName,
          clock: this.clock,
          onEvent: (event) => fresh.sink?.(event),
          ...(this.options.env ? { env: this.options.env } : {}),
          ...(this.options.handlers ? { handlers: this.options.handlers } : {}),
          ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
          ...(this.options.model ? { model: this.options.model } : {}),
        };
        kept = { agent: new AgentSession(agentOptions), route: fresh };
        this.kept.set(keptKey, kept);
      }
      const { agent, route } = kept;
      routed = route;
      route.sink = options.onEvent;
      try {
        await agent.initialize();
      } catch (error) {
        this.kept.delete(keptKey);
        throw error;
      }
      if (this.closed) throw serverUnavailable("The server is shutting down");
      if (entry.controller.signal.aborted) {
        throw new FrontdeskError("invalid_request", "The turn was cancelled before it started");
      }

      let markStarted!: () => void;
      const started = new Promise<"started">((resolve) => {
        markStarted = () => resolve("started");
      });
      let turnId: string | undefined;
      let startSeq = 0;
      const turnOptions: RunTurnOptions = {
        signal: entry.controller.signal,
        onEvent: (event) => {
          if (event.type !== "event") return;
          // The commit that takes the lock holds the user message, which carries the turn's id.
          const id = (event.event as { turnId?: unknown }).turnId;
          if (typeof id === "string" && turnId === undefined) {
            turnId = id;
            startSeq = event.event.seq;
          }
          markStarted();
        },
      };
      const result = agent.runTurn({ content: content as string | Record<string, unknown>[] }, turnOptions);
      // The first event written is the user message, in the commit that takes the lock; a refusal
      // (conflict, invalid message) rejects before anything is written.
      await Promise.race([started, result]);
      entry.startedAt = this.clock.now();
      entry.turnId = turnId ?? agent.activeTurnId ?? "";
      this.metrics.runningTurns.inc();
      entry.done = result
        .then(
          (value) => this.outcomeOf(entry, value),
          (error: unknown): TurnOutcome => ({
            status: "error",
            turnId: entry.turnId ?? "",
            message: toHttpError(error).body.error.message,
            lastSeq: 0,
          }),
        )
        .then((outcome) => {
          route.sink = undefined;
          // A failed turn may leave the AgentSession's view behind the store: the next starts afresh.
          if (outcome.status === "error") this.kept.delete(keptKey);
          this.running.delete(key);
          this.metrics.runningTurns.dec();
          this.metrics.turns.inc({ status: outcome.status });
          this.updateWatchdog();
          return outcome;
        });
      this.updateWatchdog();
      return {
        turnId: entry.turnId,
        startSeq,
        done: entry.done,
        cancel: (reason) => {
          if (!entry.controller.signal.aborted) entry.controller.abort(abortReason(reason));
        },
      };
    } catch (error) {
      if (routed) routed.sink = undefined;
      this.running.delete(key);
      throw error;
    }
  }

  /**
   * Cancels the turn running in a session: on this instance directly; otherwise by writing a
   * `turn.cancel` event that the instance running it follows. `conflict` when none is running.
   */
  async cancel(
    sessions: SessionManager<object>,
    sessionId: string,
    reason = "Cancelled by the client",
  ): Promise<{ turnId: string; local: boolean }> {
    const entry = this.running.get(keyOf(sessions, sessionId));
    if (entry?.turnId) {
      if (!entry.controller.signal.aborted) entry.controller.abort(abortReason(reason));
      return { turnId: entry.turnId, local: true };
    }
    const request = await requestTurnCancel(sessions, sessionId, { reason });
    return { turnId: request.turnId, local: false };
  }

  /** Keeps the drain waiting until a route has written a turn's final frame. */
  hold(finished: Promise<unknown>): void {
    const held = finished.catch(() => undefined);
    this.finishing.add(held);
    void held.then(() => this.finishing.delete(held));
  }

  /**
   * Refuses new turns, cancels every running one (each keeps its partial reply, marked
   * cancelled, and releases its lock), and waits for them and their final frames (at most drainMs).
   */
  async shutdown(): Promise<void> {
    this.closed = true;
    const entries = [...this.running.values()];
    for (const entry of entries) {
      entry.stopReason ??= "The server is shutting down";
      if (!entry.controller.signal.aborted) entry.controller.abort(abortReason("The server is shutting down"));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      (async () => {
        await Promise.allSettled(entries.map((entry) => entry.done));
        await Promise.allSettled([...this.finishing]);
      })(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.drainMs);
        timer.unref();
      }),
    ]);
    if (timer) clearTimeout(timer);
    this.updateWatchdog();
  }

  private outcomeOf(entry: Running, result: TurnResult): TurnOutcome {
    const status = FINISH_STATUS[result.finish];
    const message =
      status === "error"
        ? (result.error?.message ?? "The turn failed")
        : status === "cancelled"
          ? entry.stopReason
          : undefined;
    return {
      status,
      turnId: result.turnId,
      ...(message !== undefined ? { message } : {}),
      lastSeq: result.events.at(-1)?.seq ?? 0,
      result,
    };
  }

  /** The time bound is checked against the injected clock, so tests move time instead of waiting. */
  private updateWatchdog(): void {
    if (this.running.size === 0 || this.closed) {
      if (this.watchdog) clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    if (this.watchdog) return;
    this.watchdog = setInterval(() => this.enforceTimeBound(), this.checkEveryMs);
    this.watchdog.unref();
  }

  private enforceTimeBound(): void {
    const now = this.clock.now();
    for (const entry of this.running.values()) {
      if (!entry.turnId || entry.controller.signal.aborted) continue;
      if (now - entry.startedAt >= this.turnTimeoutMs) {
        entry.stopReason = `The turn ran longer than the server's limit (${Math.round(this.turnTimeoutMs / 1000)} s)`;
        entry.controller.abort(abortReason(entry.stopReason));
      }
    }
  }
}

const keyOf = (sessions: SessionManager<object>, sessionId: string): string =>
  JSON.stringify([sessions.namespace, sessions.userId, sessionId]);

const runningConflict = (turnId: string | undefined): FrontdeskError =>
  new FrontdeskError("conflict", "A turn is already running in this session", turnId ? { details: { turnId } } : {});
