/**
 * What a turn needs from its AgentSession, resolved once at initialization: the agent's config,
 * model, tools, prompt and the token budget left for history. Resolving it here, apart from the
 * session's lifecycle, keeps every config error (unknown model, a window too small) in one place,
 * raised before anything is written.
 */
import type { LanguageModelV3 } from "@ai-sdk/provider";
import type { Clock } from "../../core/clock.ts";
import { FrontdeskError } from "../../core/errors.ts";
import { OrchestrationStateManager } from "../../core/orchestration-state.ts";
import type { SessionManager } from "../../core/session-manager.ts";
import type { KnownSession } from "../agent-state.ts";
import {
  type AgentConfigView,
  agentConfigOf,
  type Env,
  type FrontdeskConfig,
  type ModelConfigView,
  systemPromptOf,
} from "../config.ts";
import { HistoryWindow } from "../context.ts";
import { replyReserveOf, resolveModel } from "../models/index.ts";
import { StepOrchestrator } from "../orchestration.ts";
import { countTokens } from "../tokens.ts";
import { buildAgentTools } from "../tools/index.ts";
import type { AgentTool, ToolHandler } from "../tools/types.ts";
import type { AgentStreamEvent } from "../types.ts";

/** Everything a turn needs from its AgentSession, resolved at initialization. */
export interface TurnRuntime {
  readonly sessions: SessionManager<object>;
  readonly sessionId: string;
  readonly stateKey: string;
  readonly clock: Clock;
  readonly config: FrontdeskConfig;
  readonly agentName: string;
  readonly agent: AgentConfigView;
  readonly modelName: string;
  readonly modelConfig: ModelConfigView;
  readonly model: LanguageModelV3;
  readonly tools: ReadonlyMap<string, AgentTool>;
  readonly orchestrator: StepOrchestrator;
  readonly systemPrompt: string;
  /** Tokens of history the window may hold (context window minus reply, prompt and tools). */
  readonly historyBudget: number;
  /** The session's history window, kept between this AgentSession's turns. */
  readonly history: HistoryWindow;
  /** The session as this AgentSession's last commit left it (see commitAgentChange). */
  readonly known: KnownSession;
  readonly maxSteps: number;
  readonly staleTurnMs: number;
  readonly heartbeatMs: number;
  /** Identifies the AgentSession instance in the lock. */
  readonly owner: string;
  /** Where local `approve()`/`deny()` calls find the waits to poke. */
  readonly approvalWaiters: Map<string, () => void>;
}

/** One turn as its parts (lock and log, tool calls, model stream) share it. */
export interface TurnScope {
  readonly rt: TurnRuntime;
  readonly turnId: string;
  /** Aborts when the turn is cancelled. */
  readonly signal: AbortSignal;
  /** Live events of the turn, to the caller's listeners. */
  readonly emit: (event: AgentStreamEvent) => void;
}

/** What the AgentSession passes through as it is, and what it was given to resolve the rest. */
export type TurnRuntimeInput = Pick<
  TurnRuntime,
  | "sessions"
  | "sessionId"
  | "stateKey"
  | "clock"
  | "config"
  | "agentName"
  | "known"
  | "staleTurnMs"
  | "heartbeatMs"
  | "owner"
  | "approvalWaiters"
> & {
  /** The session's TTL, which the orchestration state shares. */
  readonly sessionTtlMs: number | null;
  readonly env: Env | undefined;
  readonly fetch: typeof globalThis.fetch | undefined;
  readonly handlers: Readonly<Record<string, ToolHandler>> | undefined;
  /** Replaces the configured model (its config still gives the window and prices). */
  readonly model: LanguageModelV3 | undefined;
};

const DEFAULT_MAX_STEPS = 8;
/** Kept free in every window for tokenizer differences between providers. */
const WINDOW_MARGIN = 0.05;
/** Rough cost of one tool's definition in the prompt (name, description, schema). */
const TOOL_DEFINITION_TOKENS = 120;

/**
 * Resolves the agent's model, tools and history budget. Throws `invalid_request` for an unknown
 * agent or model, a missing API key, or a window that leaves no room for history.
 */
export function buildTurnRuntime(input: TurnRuntimeInput): TurnRuntime {
  const { config, agentName, sessions, sessionId, clock } = input;
  const agent = agentConfigOf(config, agentName);
  const resolved = resolveModel(config, agent.model, { env: input.env, fetch: input.fetch });
  const tools = buildAgentTools(config, agent, { clock, handlers: input.handlers });
  const systemPrompt = systemPromptOf(config, agent);
  const window = Math.min(agent.contextTokens ?? resolved.config.contextWindow, resolved.config.contextWindow);
  const historyBudget =
    window -
    replyReserveOf(resolved.config) -
    countTokens(systemPrompt) -
    tools.size * TOOL_DEFINITION_TOKENS -
    Math.ceil(window * WINDOW_MARGIN);
  if (historyBudget < 64) {
    throw new FrontdeskError(
      "invalid_request",
      `agents.${agentName}: the context window (${window} tokens) leaves no room for history after the reply, the system prompt and the tools`,
    );
  }
  const namespace = sessions.namespace === "default" ? "orchestration-state" : `${sessions.namespace}:orch`;
  const orchestration = new OrchestrationStateManager({
    store: sessions.store,
    namespace: namespace.slice(0, 64),
    userId: sessions.userId,
    clock,
    defaultTtlMs: input.sessionTtlMs,
  });
  const orchestrator = new StepOrchestrator(agent, orchestration, sessionId);
  return {
    sessions,
    sessionId,
    stateKey: input.stateKey,
    clock,
    config,
    agentName,
    agent,
    modelName: agent.model,
    modelConfig: resolved.config,
    model: input.model ?? resolved.model,
    tools,
    orchestrator,
    systemPrompt,
    historyBudget,
    history: new HistoryWindow(sessions, sessionId, historyBudget),
    known: input.known,
    maxSteps: agent.maxSteps ?? DEFAULT_MAX_STEPS,
    staleTurnMs: input.staleTurnMs,
    heartbeatMs: input.heartbeatMs,
    owner: input.owner,
    approvalWaiters: input.approvalWaiters,
  };
}
