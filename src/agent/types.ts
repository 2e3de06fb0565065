import type { Json, SessionEvent } from "../core/model.ts";

/**
 * The lifecycle of an agent inside a session (OpenHands' AgentSession):
 * `created → initializing → ready → running ⇄ idle → closing → closed`, and `error`.
 */
export const AGENT_PHASES = [
  "created",
  "initializing",
  "ready",
  "running",
  "idle",
  "closing",
  "closed",
  "error",
] as const;
export type AgentPhase = (typeof AGENT_PHASES)[number];

/**
 * The turn lock, kept in the session state (under `process:agent`, see `processStateKey`) so it
 * holds across processes and server instances, and is never copied by fork, export or import.
 */
export interface AgentTurnLock {
  id: string;
  startedAt: number;
  /** Refreshed while the turn runs; a lock whose heartbeat is older than the stale timeout can be taken over. */
  heartbeatAt: number;
  /** Seq of the turn's user message. */
  startSeq: number;
  /** Which AgentSession instance holds it (diagnostics). */
  owner: string;
}

/**
 * What `state.agent` holds (the key is configurable): clients read the active agent, its phase and
 * its orchestration step from the session header without reading events.
 */
export interface AgentStateRecord {
  name: string;
  phase: AgentPhase;
  /** The key of the model in the config. */
  model: string;
  /** The active orchestration step, when the agent has steps. */
  step?: string;
  turn?: AgentTurnLock;
  /** Every tool call up to this seq has its result: recovery scans only after it. */
  checkedThrough?: number;
  /** The last error, while the phase is `error`. */
  error?: string;
  updatedAt: number;
}

/** What `runTurn` reports live, for SSE and WebSocket clients. */
export type AgentStreamEvent =
  /** A piece of the assistant's reply text, as the model streams it. */
  | { type: "delta"; turnId: string; step: number; text: string }
  /** The model asked for a tool (before approval or execution). */
  | { type: "tool_call"; turnId: string; invocationId?: string; toolCallId: string; tool: string; input: Json }
  /** An event was written to the session's log (messages, tool_call/tool_result, approvals, status…). */
  | { type: "event"; event: SessionEvent };

export type TurnFinish = "complete" | "cancelled" | "error";

export interface TurnUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface TurnResult {
  turnId: string;
  finish: TurnFinish;
  /** The text of the last assistant message of the turn (partial when cancelled). */
  text: string;
  /** Model calls made. */
  steps: number;
  usage: TurnUsage;
  /** Every event the turn wrote, in seq order. */
  events: SessionEvent[];
  error?: { code: string; message: string };
}
