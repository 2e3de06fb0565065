/**
 * An agent's life in one session: its phases, written as `status` events and mirrored in
 * `state.agent`, one turn at a time per instance, approvals answered locally, and close. What a
 * turn does once started lives in `turn/`; this file decides when one may start.
 */
import { randomBytes } from "node:crypto";
import type { LanguageModelV3 } from "@ai-sdk/provider";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { EventInput, JsonObject, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import {
  AGENT_STATE_KEY,
  type AgentChangePlan,
  commitAgentChange,
  KnownSession,
  readAgentState,
} from "./agent-state.ts";
import { type PendingApproval, pendingApprovals, respondToApproval } from "./approvals.ts";
import {
  DEFAULT_CONFIG,
  type Env,
  type FrontdeskConfig,
  type FrontdeskConfigInput,
  isParsedConfig,
  parseConfig,
} from "./config.ts";
import { countContentTokensAsync } from "./tokens.ts";
import type { ToolHandler } from "./tools/types.ts";
import { normalizeInput, type TurnInput } from "./turn/input.ts";
import { TurnRunner } from "./turn/runner.ts";
import { buildTurnRuntime, type TurnRuntime } from "./turn/runtime.ts";
import type { AgentPhase, AgentStateRecord, AgentStreamEvent, TurnResult } from "./types.ts";

export type { TurnInput };

export interface AgentSessionOptions {
  /**
   * The session manager, bound to the session's owner (`manager.forUser(userId)`): everything the
   * agent reads or writes, including the recall tool's searches, goes through it.
   */
  sessions: SessionManager<object>;
  sessionId: string;
  /** A config from `loadConfig`/`parseConfig`, or a raw one (validated at initialization). @default DEFAULT_CONFIG */
  config?: FrontdeskConfig | FrontdeskConfigInput;
  /** @default config.defaultAgent */
  agent?: string;
  /** @default the system clock */
  clock?: Clock;
  /** Where API keys are read. @default the env captured by loadConfig, else process.env */
  env?: Env;
  /** Implementations of declared tools (and overrides of built-ins), by name. */
  handlers?: Readonly<Record<string, ToolHandler>>;
  /** Use this model instead of the configured one (its config still gives the window and prices). */
  model?: LanguageModelV3;
  /** Passed to HTTP model providers. */
  fetch?: typeof globalThis.fetch;
  /** Receives every event this AgentSession writes (lifecycle and turns) and every live turn event. */
  onEvent?: (event: AgentStreamEvent) => void;
  /** The session-state key of the agent record. @default "agent" */
  stateKey?: string;
  /** A turn lock whose heartbeat is older than this can be taken over. @default 300_000 (5 minutes) */
  staleTurnMs?: number;
  /** How often a running turn refreshes its lock. @default staleTurnMs / 3 */
  heartbeatMs?: number;
}

export interface RunTurnOptions {
  /** Aborting it cancels the turn (as `cancel()` does). */
  signal?: AbortSignal;
  /** Live events of this turn: text deltas, tool calls, and every event written. */
  onEvent?: (event: AgentStreamEvent) => void;
}

/**
 * Runs one configured agent inside one session (OpenHands' AgentSession): lifecycle
 * `created → initializing → ready → running ⇄ idle → closing → closed` (and `error`), each
 * transition written as a `status` event with scope "agent" and mirrored in `state.agent`.
 * A turn streams the model over the session's history, runs tools under their approval policies,
 * and writes every message and invocation as events. The turn lock lives in the session state,
 * so a second turn is refused with `conflict` across processes too.
 *
 * @example
 * const agent = new AgentSession({ sessions: manager.forUser("alice"), sessionId: "s1", config });
 * await agent.initialize();
 * const result = await agent.runTurn("compute 2+3*4", { onEvent: (e) => e.type === "delta" && write(e.text) });
 */
export class AgentSession {
  readonly sessionId: string;
  readonly agentName: string;
  private readonly sessions: SessionManager<object>;
  private readonly clock: Clock;
  private readonly stateKey: string;
  private readonly staleTurnMs: number;
  private readonly heartbeatMs: number;
  private readonly owner = `as_${randomBytes(6).toString("hex")}`;
  private readonly approvalWaiters = new Map<string, () => void>();
  private readonly known = new KnownSession();
  private phaseValue: AgentPhase = "created";
  private initializing: Promise<void> | undefined;
  private initError: FrontdeskError | undefined;
  private runtime: TurnRuntime | undefined;
  private active: { runner: TurnRunner; done: Promise<unknown> } | undefined;
  private config: FrontdeskConfig | undefined;

  constructor(private readonly options: AgentSessionOptions) {
    if (!options?.sessions || typeof options.sessionId !== "string") {
      throw new FrontdeskError("invalid_request", "An AgentSession needs a session manager and a session id");
    }
    this.sessions = options.sessions;
    this.sessionId = options.sessionId;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.stateKey = options.stateKey ?? AGENT_STATE_KEY;
    this.staleTurnMs = options.staleTurnMs ?? 5 * 60 * 1000;
    this.heartbeatMs = options.heartbeatMs ?? Math.max(1000, Math.floor(this.staleTurnMs / 3));
    const config = options.config ?? DEFAULT_CONFIG;
    this.agentName =
      options.agent ??
      (isParsedConfig(config)
        ? config.defaultAgent
        : ((config as FrontdeskConfigInput).defaultAgent ?? DEFAULT_CONFIG.defaultAgent));
  }

  /** This instance's phase. The session's shared view is `state.agent.phase`. */
  get phase(): AgentPhase {
    return this.phaseValue;
  }

  /** The running turn's id, if any. */
  get activeTurnId(): string | undefined {
    return this.active?.runner.turnId;
  }

  /** The error that stopped initialization, if any. */
  get error(): FrontdeskError | undefined {
    return this.initError;
  }

  /**
   * Resolves the agent's config, model and tools, and records `initializing → ready` (or
   * `→ error` with the reason: unknown agent or model, missing API key, invalid config), then
   * rejects with that `invalid_request` error. Attaching to a session where the same agent is
   * already ready or idle writes nothing. Idempotent.
   */
  initialize(): Promise<void> {
    this.initializing ??= this.doInitialize().catch((error: unknown) => {
      // A configuration error stays (initializing again would fail the same way); anything else
      // (a missing session, a store outage) may be retried.
      if (!isFrontdeskError(error, "invalid_request")) this.initializing = undefined;
      throw error;
    });
    return this.initializing;
  }

  private async doInitialize(): Promise<void> {
    if (this.phaseValue === "closed" || this.phaseValue === "closing") {
      throw new FrontdeskError("invalid_request", "This AgentSession is closed");
    }
    this.phaseValue = "initializing";
    let runtime: TurnRuntime | undefined;
    let failure: FrontdeskError | undefined;
    try {
      runtime = await this.buildRuntime();
    } catch (error) {
      if (isFrontdeskError(error, "not_found")) {
        this.phaseValue = "error";
        this.initError = error;
        throw error;
      }
      failure = isFrontdeskError(error)
        ? error
        : new FrontdeskError("invalid_request", `The agent could not start: ${(error as Error)?.message ?? error}`);
    }
    let attached: AgentPhase | undefined;
    const written = await this.commitChange((_session, agent) => {
      const now = this.clock.now();
      attached = undefined;
      if (
        !failure &&
        runtime &&
        agent?.name === this.agentName &&
        agent.model === runtime.modelName &&
        (agent.phase === "ready" || agent.phase === "idle" || agent.phase === "running")
      ) {
        attached = agent.phase === "idle" ? "idle" : "ready";
        return { events: [] };
      }
      const previous = agent?.phase ?? "created";
      const base: AgentStateRecord = {
        name: this.agentName,
        phase: failure ? "error" : "ready",
        model: runtime?.modelName ?? this.configuredModelName(),
        ...(agent?.step !== undefined && runtime?.orchestrator.enabled ? { step: agent.step } : {}),
        ...(agent?.turn ? { turn: agent.turn } : {}),
        ...(agent?.checkedThrough !== undefined ? { checkedThrough: agent.checkedThrough } : {}),
        ...(failure ? { error: failure.message.slice(0, 4000) } : {}),
        updatedAt: now,
      };
      const events: EventInput[] = [
        { type: "status", scope: "agent", status: "initializing", previous, reason: `agent ${this.agentName}` },
        failure
          ? {
              type: "status",
              scope: "agent",
              status: "error",
              previous: "initializing",
              reason: failure.message.slice(0, 4000),
            }
          : { type: "status", scope: "agent", status: "ready", previous: "initializing" },
      ];
      return { events, agent: base };
    });
    this.emitAll(written);
    if (failure) {
      this.phaseValue = "error";
      this.initError = failure;
      throw failure;
    }
    this.runtime = runtime;
    this.phaseValue = attached ?? "ready";
    await this.syncStep();
  }

  /** {@link commitAgentChange} on this session's agent record, planned first on this AgentSession's last commit. */
  private commitChange(plan: AgentChangePlan): Promise<readonly SessionEvent[]> {
    return commitAgentChange(this.sessions, this.sessionId, this.stateKey, plan, this.known);
  }

  private configuredModelName(): string {
    const config = this.config;
    if (!config || !Object.hasOwn(config.agents, this.agentName)) return "";
    return config.agents[this.agentName]?.model ?? "";
  }

  private async buildRuntime(): Promise<TurnRuntime> {
    const session = await this.sessions.get(this.sessionId); // not_found before anything else
    const raw = this.options.config ?? DEFAULT_CONFIG;
    const config = isParsedConfig(raw) ? raw : parseConfig(raw, { env: this.options.env ?? process.env });
    this.config = config;
    return buildTurnRuntime({
      sessions: this.sessions,
      sessionId: this.sessionId,
      stateKey: this.stateKey,
      clock: this.clock,
      config,
      agentName: this.agentName,
      sessionTtlMs: session.ttlMs,
      env: this.options.env,
      fetch: this.options.fetch,
      handlers: this.options.handlers,
      model: this.options.model,
      known: this.known,
      staleTurnMs: this.staleTurnMs,
      heartbeatMs: this.heartbeatMs,
      owner: this.owner,
      approvalWaiters: this.approvalWaiters,
    });
  }

  /** Enters the first orchestration step (when the agent has steps) and mirrors it in `state.agent.step`. */
  private async syncStep(): Promise<void> {
    const runtime = this.runtime;
    if (!runtime?.orchestrator.enabled) return;
    const { step } = await runtime.orchestrator.current();
    if (!step) return;
    const written = await this.commitChange((_session, agent) => {
      if (!agent || agent.step === step.name || agent.turn) return { events: [] };
      return {
        events: [
          {
            type: "custom",
            name: "frontdesk.agent.step",
            data: { from: agent.step ?? null, to: step.name, reason: "initial step" },
          },
        ],
        agent: { ...agent, step: step.name, updatedAt: this.clock.now() },
      };
    });
    this.emitAll(written);
  }

  /**
   * Runs one turn: appends the user message, streams the model (multi-step tool use), writes
   * the assistant message(s), tool calls and results, and returns when the turn is over.
   *
   * Throws before writing anything: `conflict` when another turn runs in this session (in any
   * process), `invalid_request` for an empty or oversized message or an agent that failed to
   * initialize. Once the turn has started it always resolves: `finish` is `complete`,
   * `cancelled` (signal or `cancel()`: the partial reply is kept, marked cancelled) or `error`.
   */
  async runTurn(input: TurnInput, options: RunTurnOptions = {}): Promise<TurnResult> {
    if (this.phaseValue === "closing" || this.phaseValue === "closed") {
      throw new FrontdeskError("invalid_request", "This AgentSession is closed");
    }
    await this.initialize();
    const runtime = this.runtime as TurnRuntime;
    const content = normalizeInput(input);
    // Counted before the check below, so nothing awaits between that check and the turn's start.
    const tokens = await countContentTokensAsync(content as string | JsonObject[]);
    if (this.active) {
      throw new FrontdeskError("conflict", "A turn is already running in this AgentSession", {
        details: { turnId: this.active.runner.turnId },
      });
    }
    if (tokens > runtime.historyBudget) {
      throw new FrontdeskError(
        "invalid_request",
        `The message is ${tokens} tokens; this agent's context leaves room for ${runtime.historyBudget}`,
      );
    }
    const emit = (event: AgentStreamEvent) => {
      for (const listener of [options.onEvent, this.options.onEvent]) {
        try {
          listener?.(event);
        } catch {
          // A listener's failure never breaks the turn.
        }
      }
    };
    const runner = new TurnRunner(runtime, emit);
    const onAbort = () => runner.cancel(options.signal?.reason);
    if (options.signal?.aborted) {
      throw new FrontdeskError("invalid_request", "The turn's signal was already aborted");
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const done = runner.run(content);
    this.active = { runner, done };
    const before = this.phaseValue;
    this.phaseValue = "running";
    try {
      const result = await done;
      this.phaseValue = result.finish === "error" ? "error" : "idle";
      return result;
    } catch (error) {
      // Refused before it started (lock held elsewhere): nothing was written.
      if (this.phaseValue === "running") this.phaseValue = before;
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      this.active = undefined;
    }
  }

  /** Cancels the running turn (if any); it resolves with `finish: "cancelled"`. */
  cancel(reason?: string): boolean {
    if (!this.active) return false;
    this.active.runner.cancel(reason === undefined ? undefined : new DOMException(reason, "AbortError"));
    return true;
  }

  /** Approves a pending request (also possible from another process: see respondToApproval). */
  async approve(approvalId: string): Promise<SessionEvent> {
    return this.answer(approvalId, "approve");
  }

  /** Denies a pending request: the tool does not run, its result is recorded as `denied`. */
  async deny(approvalId: string, reason?: string): Promise<SessionEvent> {
    return this.answer(approvalId, "deny", reason);
  }

  private async answer(approvalId: string, decision: "approve" | "deny", reason?: string): Promise<SessionEvent> {
    const event = await respondToApproval(this.sessions, this.sessionId, approvalId, decision, reason, {
      stateKey: this.stateKey,
    });
    this.approvalWaiters.get(approvalId)?.();
    return event;
  }

  /** Approval requests of this session still waiting for an answer. */
  pendingApprovals(): Promise<PendingApproval[]> {
    return pendingApprovals(this.sessions, this.sessionId, { stateKey: this.stateKey });
  }

  /** Cancels a running turn and records `closing → closed`. */
  async close(): Promise<void> {
    if (this.phaseValue === "closed") return;
    if (this.active) {
      this.active.runner.cancel(new DOMException("The agent session is closing", "AbortError"));
      await this.active.done.catch(() => undefined);
    }
    const previous = this.phaseValue;
    this.phaseValue = "closing";
    try {
      const written = await this.commitChange((_session, agent) => {
        if (agent?.phase === "closed" || (previous === "created" && !agent)) return { events: [] };
        if (agent && agent.name !== this.agentName && agent.turn) return { events: [] }; // another agent is running
        const { turn, error: _error, ...rest } = agent ?? { name: this.agentName, model: "", phase: previous };
        return {
          events: [
            { type: "status", scope: "agent", status: "closing", previous: agent?.phase ?? previous },
            { type: "status", scope: "agent", status: "closed", previous: "closing" },
          ],
          agent: {
            ...(rest as AgentStateRecord),
            name: agent?.name ?? this.agentName,
            phase: "closed",
            ...(turn && turn.owner !== this.owner ? { turn } : {}),
            updatedAt: this.clock.now(),
          },
        };
      });
      this.emitAll(written);
    } catch (error) {
      if (!isFrontdeskError(error, "not_found")) throw error;
    } finally {
      this.phaseValue = "closed";
    }
  }

  private emitAll(events: readonly SessionEvent[]): void {
    for (const event of events) {
      try {
        this.options.onEvent?.({ type: "event", event });
      } catch {
        // ignore listener failures
      }
    }
  }
}

/** The agent record of a session (`state.agent`): its agent, phase, step and turn lock. */
export async function readAgentRecord(
  sessions: SessionManager<object>,
  sessionId: string,
  stateKey = AGENT_STATE_KEY,
): Promise<AgentStateRecord | undefined> {
  const session = await sessions.get(sessionId);
  return readAgentState(session.state as JsonObject, stateKey);
}
