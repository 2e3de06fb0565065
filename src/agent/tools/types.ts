import type { FlexibleSchema } from "ai";
import type { Clock } from "../../core/clock.ts";
import type { Json } from "../../core/model.ts";
import type { SessionManager } from "../../core/session-manager.ts";
import type { ApprovalPolicy } from "../config.ts";

/** What a tool sees when it runs: its own turn, never another user's sessions. */
export interface ToolContext {
  /** Bound to the session's owner: the only sessions a tool can read. */
  readonly sessions: SessionManager<object>;
  readonly sessionId: string;
  readonly userId: string | null;
  readonly turnId: string;
  readonly invocationId: string;
  /** Seq of the turn's user message: events from it on belong to the running turn. */
  readonly turnStartSeq: number;
  /** Aborted when the turn is cancelled. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
}

/** Runs a tool; the result is stored in the `tool_result` event, so it must be plain JSON. */
export type ToolHandler = (input: Json, context: ToolContext) => Json | Promise<Json>;

/** A tool as the agent runtime holds it. */
export interface AgentTool {
  readonly name: string;
  readonly description: string;
  /** Zod or JSON Schema (AI SDK `FlexibleSchema`). */
  readonly inputSchema: FlexibleSchema<unknown>;
  readonly approval: ApprovalPolicy;
  readonly execute: ToolHandler;
}
