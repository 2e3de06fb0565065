/**
 * The tool calls of a turn: what the model is offered in each orchestration step, the approval
 * policy and the wait for a human's answer, the run itself, and the `tool_call`/`tool_result`
 * events. Each invocation's result is written exactly once, whether the tool ran, was denied or
 * refused, or the turn was cancelled around it; the model is shown the same outcome that is stored.
 */
import { randomBytes } from "node:crypto";
import type { Tool, ToolSet } from "ai";
import { isFrontdeskError } from "../../core/errors.ts";
import type { EventInput, InvocationStatus, Json, JsonObject, SessionEvent } from "../../core/model.ts";
import { waitForApproval } from "../approvals.ts";
import type { StepTransition } from "../orchestration.ts";
import type { AgentTool } from "../tools/types.ts";
import type { AgentStreamEvent, TurnFinish } from "../types.ts";
import type { TurnJournal } from "./journal.ts";
import type { TurnRuntime, TurnScope } from "./runtime.ts";

type ToolResultOutput = Awaited<ReturnType<NonNullable<Tool<unknown, Json>["toModelOutput"]>>>;

/** Outputs larger than this are stored (and shown to the model) as a preview. */
const MAX_OUTPUT_BYTES = 128 * 1024;
const STEP_EVENT = "frontdesk.agent.step";

export interface Outcome {
  status: InvocationStatus;
  output?: Json;
  error?: { message: string; code?: string };
  durationMs?: number;
}

interface Invocation {
  readonly invocationId: string;
  readonly toolCallId: string;
  readonly tool: string;
  readonly input: Json;
  callRecorded: boolean;
  resultRecorded: boolean;
  outcome?: Outcome;
  settled: Promise<void>;
}

/** Ids of turns, invocations and approvals: a prefix and 96 random bits. */
export const newId = (prefix: string): string => `${prefix}_${randomBytes(12).toString("hex")}`;

/** Plain JSON of any value (undefined fields dropped); non-serializable values become their text. */
export const toJson = (value: unknown): Json => {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : (JSON.parse(text) as Json);
  } catch {
    return String(value);
  }
};

const capOutput = (value: Json): Json => {
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) <= MAX_OUTPUT_BYTES) return value;
  return { truncated: true, bytes: Buffer.byteLength(text), preview: text.slice(0, 8192) };
};

export const errorOf = (error: unknown): { message: string; code: string } => {
  if (isFrontdeskError(error)) return { message: error.message, code: error.code };
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  return { message: message.slice(0, 4000), code: typeof code === "string" ? code : "tool_error" };
};

const abortError = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("The turn was cancelled", "AbortError");

/** Resolves with the work, or rejects as soon as the signal aborts (the work is abandoned). */
const raceAbort = <T>(work: Promise<T>, signal: AbortSignal): Promise<T> => {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
};

export class TurnToolCalls {
  /** The orchestration step the turn is in (undefined for an agent without steps). */
  activeStep: string | undefined;
  private readonly rt: TurnRuntime;
  private readonly turnId: string;
  private readonly signal: AbortSignal;
  private readonly emit: (event: AgentStreamEvent) => void;
  private readonly invocations = new Map<string, Invocation>();
  /** The tools offered to the model in the current step. */
  private offered: string[] = [];

  constructor(
    scope: TurnScope,
    private readonly journal: TurnJournal,
  ) {
    this.rt = scope.rt;
    this.turnId = scope.turnId;
    this.signal = scope.signal;
    this.emit = scope.emit;
  }

  /** Every tool of the agent, wrapped so the SDK's calls run through {@link invoke}. */
  toolSet(): ToolSet {
    const set: ToolSet = {};
    for (const [name, definition] of this.rt.tools) {
      const wrapped: Tool<unknown, Json> = {
        description: definition.description,
        inputSchema: definition.inputSchema,
        execute: (input, options) => this.invoke(name, input, options.toolCallId),
        toModelOutput: ({ toolCallId, output }) => this.modelOutputOf(toolCallId, output),
      };
      set[name] = wrapped;
    }
    return set;
  }

  /** Enters the step the turn starts in. */
  async enterCurrentStep(): Promise<void> {
    const { step } = await this.rt.orchestrator.current();
    this.activeStep = step?.name;
  }

  /** Before each model call: moves on when a step's condition now holds, and names the tools offered. */
  async prepareStep(): Promise<{ activeTools: string[] }> {
    const { rt } = this;
    await this.checkStepConditions();
    const { state, step } = await rt.orchestrator.current();
    this.activeStep = step?.name;
    this.offered = rt.orchestrator.offeredTools(step, state).filter((name) => rt.tools.has(name));
    return { activeTools: this.offered };
  }

  /** True once `execute` or a refusal has started an invocation for this call. */
  has(toolCallId: string): boolean {
    return this.invocations.has(toolCallId);
  }

  invocationIdOf(toolCallId: string): string | undefined {
    return this.invocations.get(toolCallId)?.invocationId;
  }

  outcomeOf(toolCallId: string): Outcome | undefined {
    return this.invocations.get(toolCallId)?.outcome;
  }

  /** A call the model made that the SDK refused before `execute` (not offered, unknown, bad input). */
  async recordRefusedCall(toolCallId: string, tool: string, input: Json, error: unknown): Promise<void> {
    const [invocation, done] = this.newInvocation(tool, toolCallId, input);
    try {
      const known = this.rt.tools.has(tool);
      const offered = this.offered.includes(tool);
      const outcome: Outcome =
        known && !offered
          ? {
              status: "denied",
              error: {
                message: `The ${tool} tool is not available${this.activeStep ? ` in step "${this.activeStep}"` : ""}`,
                code: "not_in_step",
              },
            }
          : {
              status: "error",
              error: known
                ? { message: errorOf(error).message, code: "invalid_input" }
                : { message: `There is no tool named "${tool}"`, code: "unknown_tool" },
            };
      await this.close(invocation, outcome);
    } finally {
      done();
    }
  }

  /** Resolves once every invocation started so far has finished (written or not). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.invocations.values()].map((invocation) => invocation.settled));
  }

  /** After a cancel or a failure: every call written without a result gets one. */
  async closeOpen(finish: TurnFinish): Promise<void> {
    await this.settle();
    for (const invocation of this.invocations.values()) {
      if (invocation.callRecorded && !invocation.resultRecorded) {
        await this.close(invocation, {
          status: "cancelled",
          error: { message: finish === "cancelled" ? "cancelled" : "the turn failed", code: finish },
        }).catch(() => undefined);
      }
    }
  }

  private newInvocation(tool: string, toolCallId: string, input: Json): [Invocation, () => void] {
    let done!: () => void;
    const invocation: Invocation = {
      invocationId: newId("inv"),
      toolCallId,
      tool,
      input,
      callRecorded: false,
      resultRecorded: false,
      settled: new Promise<void>((resolve) => {
        done = resolve;
      }),
    };
    this.invocations.set(toolCallId, invocation);
    return [invocation, done];
  }

  private callEvent(invocation: Invocation): EventInput {
    return { type: "tool_call", invocationId: invocation.invocationId, tool: invocation.tool, input: invocation.input };
  }

  /** Writes the invocation's result exactly once (with the call, when it was not written yet). */
  private async close(invocation: Invocation, outcome: Outcome): Promise<void> {
    if (invocation.resultRecorded) return;
    invocation.resultRecorded = true;
    invocation.outcome = outcome;
    const events: EventInput[] = invocation.callRecorded ? [] : [this.callEvent(invocation)];
    invocation.callRecorded = true;
    events.push({
      type: "tool_result",
      invocationId: invocation.invocationId,
      tool: invocation.tool,
      input: invocation.input,
      status: outcome.status,
      ...(outcome.output !== undefined ? { output: outcome.output } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.durationMs !== undefined ? { durationMs: Math.round(outcome.durationMs * 1000) / 1000 } : {}),
    });
    await this.journal.append(events);
  }

  /** The `execute` of every tool: step check, approval policy, run, record. */
  private async invoke(name: string, rawInput: unknown, toolCallId: string): Promise<Json> {
    const [invocation, done] = this.newInvocation(name, toolCallId, toJson(rawInput));
    try {
      return await this.invokeTool(invocation);
    } finally {
      done();
    }
  }

  private async invokeTool(invocation: Invocation): Promise<Json> {
    const { rt, journal } = this;
    const signal = this.signal;
    const definition = rt.tools.get(invocation.tool) as AgentTool;
    const denied = async (code: string, message: string): Promise<Json> => {
      await this.close(invocation, { status: "denied", error: { message, code } });
      return { denied: true, reason: message };
    };
    const cancelled = async (durationMs?: number): Promise<never> => {
      await this.close(invocation, {
        status: "cancelled",
        error: { message: "cancelled", code: "cancelled" },
        ...(durationMs !== undefined ? { durationMs } : {}),
      });
      throw abortError(signal);
    };

    const { offered, step } = await rt.orchestrator.isOffered(invocation.tool);
    if (!offered) {
      return denied("not_in_step", `The ${invocation.tool} tool is not available in step "${step ?? "-"}"`);
    }
    if (definition.approval === "deny") {
      return denied("policy", `The approval policy of the ${invocation.tool} tool is "deny"`);
    }
    if (definition.approval === "ask") {
      const approvalId = newId("apr");
      const written = await journal.append([
        this.callEvent(invocation),
        {
          type: "approval_request",
          approvalId,
          invocationId: invocation.invocationId,
          tool: invocation.tool,
          input: invocation.input,
        },
      ]);
      invocation.callRecorded = true;
      const request = written.find((event) => event.type === "approval_request") as SessionEvent;
      const wait = waitForApproval(rt.sessions, rt.sessionId, approvalId, request.seq, signal);
      rt.approvalWaiters.set(approvalId, wait.poke);
      let response: Awaited<typeof wait.decision>;
      try {
        response = await wait.decision;
      } finally {
        rt.approvalWaiters.delete(approvalId);
      }
      if (!response) return cancelled();
      this.emit({ type: "event", event: response });
      if (response.decision === "deny") {
        return denied("denied", response.reason ? `Denied: ${response.reason}` : "Denied by the user");
      }
    } else {
      await journal.append([this.callEvent(invocation)]);
      invocation.callRecorded = true;
    }
    if (signal.aborted) return cancelled();

    const started = performance.now();
    try {
      const work = Promise.resolve().then(() =>
        definition.execute(invocation.input, {
          sessions: rt.sessions,
          sessionId: rt.sessionId,
          userId: rt.sessions.userId,
          turnId: this.turnId,
          invocationId: invocation.invocationId,
          turnStartSeq: journal.startSeq,
          signal,
          clock: rt.clock,
        }),
      );
      const output = capOutput(toJson(await raceAbort(work, signal)));
      await this.close(invocation, { status: "success", output, durationMs: performance.now() - started });
      await this.afterTool(invocation.tool);
      return output;
    } catch (error) {
      if (signal.aborted) return cancelled(performance.now() - started);
      if (isFrontdeskError(error, "conflict") && journal.lockLost) throw error;
      const failure = errorOf(error);
      await this.close(invocation, { status: "error", error: failure, durationMs: performance.now() - started });
      throw new Error(failure.message);
    }
  }

  private modelOutputOf(toolCallId: string, output: unknown): ToolResultOutput {
    const outcome = this.invocations.get(toolCallId)?.outcome;
    if (outcome) return outcomeToModelOutput(outcome);
    return { type: "json", value: toJson(output) as never };
  }

  private async afterTool(tool: string): Promise<void> {
    const { rt } = this;
    if (!rt.orchestrator.enabled) return;
    const session = await rt.sessions.get(rt.sessionId);
    const transition = await rt.orchestrator.afterTool(tool, session.state as JsonObject);
    if (transition) await this.recordTransition(transition);
  }

  private async checkStepConditions(): Promise<void> {
    const { rt } = this;
    if (!rt.orchestrator.enabled) return;
    const session = await rt.sessions.get(rt.sessionId);
    const transition = await rt.orchestrator.checkConditions(session.state as JsonObject);
    if (transition) await this.recordTransition(transition);
  }

  private async recordTransition(transition: StepTransition): Promise<void> {
    this.activeStep = transition.to;
    await this.journal.append([{ type: "custom", name: STEP_EVENT, data: { ...transition } }], { step: transition.to });
  }
}

/** How an invocation's outcome is shown to the model (and stored in the tool message). */
export function outcomeToModelOutput(outcome: Outcome): ToolResultOutput {
  switch (outcome.status) {
    case "success":
      return { type: "json", value: (outcome.output ?? null) as never };
    case "denied":
      return { type: "execution-denied", reason: outcome.error?.message };
    case "cancelled":
      return { type: "error-text", value: `cancelled: ${outcome.error?.message ?? "cancelled"}` };
    default:
      return { type: "error-text", value: outcome.error?.message ?? "the tool failed" };
  }
}
