import type { Json, JsonObject } from "../core/model.ts";
import type { OrchestrationState, OrchestrationStateManager } from "../core/orchestration-state.ts";
import type { SessionRef } from "../core/session-manager.ts";
import { jsonEqual } from "../core/state.ts";
import type { AgentConfigView, StepConfigView } from "./config.ts";

/**
 * AgentDock-style orchestration of one agent's steps. A step restricts the tools offered to the
 * model; a `sequence` offers only its next tool until it is complete; `next` moves to another step
 * after a tool was used (`afterTool`), when a condition on the session state holds (`when`), or
 * both. The state (active step, recently used tools, sequence index, token usage) lives in
 * {@link OrchestrationStateManager}, one atomic update per change.
 */
export class StepOrchestrator {
  private readonly steps: readonly StepConfigView[];

  constructor(
    private readonly agent: AgentConfigView,
    private readonly manager: OrchestrationStateManager,
    private readonly ref: SessionRef,
  ) {
    this.steps = agent.steps ?? [];
  }

  get enabled(): boolean {
    return this.steps.length > 0;
  }

  /** The state, created on first use, with a valid active step (the first one to begin with). */
  async current(): Promise<{ state: OrchestrationState; step: StepConfigView | undefined }> {
    if (!this.enabled) return { state: emptyState(), step: undefined };
    let state = await this.manager.getOrCreateState(this.ref);
    let step = this.stepNamed(state.activeStep);
    if (!step) {
      step = this.steps[0] as StepConfigView;
      state = (await this.manager.setActiveStep(this.ref, step.name)) ?? state;
    }
    return { state, step };
  }

  /** The tools the model is offered now. Without steps: all of the agent's tools. */
  offeredTools(step: StepConfigView | undefined, state: OrchestrationState): string[] {
    if (!step) return [...this.agent.tools];
    const sequence = step.sequence ?? [];
    if (state.sequenceIndex < sequence.length) return [sequence[state.sequenceIndex] as string];
    if (step.tools) return [...step.tools];
    return sequence.length > 0 ? [] : [...this.agent.tools];
  }

  async isOffered(tool: string): Promise<{ offered: boolean; step?: string }> {
    if (!this.enabled) return { offered: this.agent.tools.includes(tool) };
    const { state, step } = await this.current();
    return { offered: this.offeredTools(step, state).includes(tool), step: step?.name };
  }

  /**
   * After a tool succeeded: remember it, advance the sequence, and move on when the step's `next`
   * holds. Returns the transition, if any.
   */
  async afterTool(tool: string, sessionState: Readonly<JsonObject>): Promise<StepTransition | undefined> {
    if (!this.enabled) return undefined;
    await this.manager.addUsedTool(this.ref, tool);
    const { state, step } = await this.current();
    if (!step) return undefined;
    const sequence = step.sequence ?? [];
    if (state.sequenceIndex < sequence.length && sequence[state.sequenceIndex] === tool) {
      await this.manager.advanceSequence(this.ref);
    }
    const next = step.next;
    if (!next || next.afterTool === undefined || next.afterTool !== tool) return undefined;
    if (next.when && !conditionHolds(next.when, sessionState)) return undefined;
    return this.move(step, `after ${tool}`);
  }

  /** A `next` with only a `when` fires as soon as its condition holds (checked before each model call). */
  async checkConditions(sessionState: Readonly<JsonObject>): Promise<StepTransition | undefined> {
    if (!this.enabled) return undefined;
    const { step } = await this.current();
    const next = step?.next;
    if (!step || !next || next.afterTool !== undefined || !next.when) return undefined;
    if (!conditionHolds(next.when, sessionState)) return undefined;
    return this.move(step, `when ${next.when.path}`);
  }

  async addTokenUsage(usage: { inputTokens: number; outputTokens: number }): Promise<void> {
    if (this.enabled) await this.manager.addTokenUsage(this.ref, usage);
  }

  private async move(from: StepConfigView, reason: string): Promise<StepTransition> {
    const index = this.steps.indexOf(from);
    const to = from.next?.to ?? (this.steps[index + 1] as StepConfigView).name;
    await this.manager.setActiveStep(this.ref, to);
    return { from: from.name, to, reason };
  }

  private stepNamed(name: string | undefined): StepConfigView | undefined {
    return name === undefined ? undefined : this.steps.find((step) => step.name === name);
  }
}

export interface StepTransition {
  from: string;
  to: string;
  reason: string;
}

const emptyState = (): OrchestrationState => ({
  sessionId: "",
  recentlyUsedTools: [],
  sequenceIndex: 0,
  cumulativeTokenUsage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
  lastAccessed: 0,
});

/** `{ path: "order.confirmed", equals: true }` against the session state. */
export function conditionHolds(
  condition: {
    readonly path: string;
    readonly equals?: unknown;
    readonly notEquals?: unknown;
    readonly exists?: boolean;
  },
  state: Readonly<JsonObject>,
): boolean {
  const equals = condition.equals as Json | undefined;
  const notEquals = condition.notEquals as Json | undefined;
  let value: Json | undefined = state as JsonObject;
  for (const part of condition.path.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, part)) {
      value = undefined;
      break;
    }
    value = (value as JsonObject)[part];
  }
  const exists = value !== undefined && value !== null;
  if (condition.exists !== undefined && condition.exists !== exists) return false;
  if (equals !== undefined && (value === undefined || !jsonEqual(value, equals))) return false;
  if (notEquals !== undefined && value !== undefined && jsonEqual(value, notEquals)) return false;
  if (condition.exists === undefined && condition.equals === undefined && condition.notEquals === undefined) {
    return exists;
  }
  return true;
}
