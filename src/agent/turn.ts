import { randomBytes } from "node:crypto";
import { AISDKError, type LanguageModelV3 } from "@ai-sdk/provider";
import {
  generateText,
  type LanguageModelUsage,
  type ModelMessage,
  stepCountIs,
  streamText,
  type Tool,
  type ToolSet,
} from "ai";
import type { Clock } from "../core/clock.ts";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { EventInput, InvocationStatus, Json, JsonObject, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import { type AgentChangePlan, commitAgentChange, isStale, type KnownSession, readAgentState } from "./agent-state.ts";
import { waitForApproval } from "./approvals.ts";
import { CancelWatch } from "./cancel.ts";
import { type AgentConfigView, type FrontdeskConfig, INLINE_MODEL_KEY, type ModelConfigView } from "./config.ts";
import { type HistoryWindow, planSummary } from "./context.ts";
import { describeModelFailure } from "./model-failure.ts";
import { costOf, replyReserveOf, SUMMARY_INSTRUCTION } from "./models/index.ts";
import type { StepOrchestrator, StepTransition } from "./orchestration.ts";
import { findOrphans, interruptedResult } from "./recovery.ts";
import { countTokens } from "./tokens.ts";
import type { AgentTool } from "./tools/types.ts";
import type { AgentStateRecord, AgentStreamEvent, TurnFinish, TurnResult } from "./types.ts";

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

type ToolResultOutput = Awaited<ReturnType<NonNullable<Tool<unknown, Json>["toModelOutput"]>>>;

/** Outputs larger than this are stored (and shown to the model) as a preview. */
const MAX_OUTPUT_BYTES = 128 * 1024;
const SUMMARY_PROMPT = `${SUMMARY_INSTRUCTION} in a few short bullet points. Keep names, numbers, decisions and open questions.`;
const STEP_EVENT = "frontdesk.agent.step";

interface Outcome {
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

interface StepState {
  index: number;
  /** The model reported an error during this step. */
  failed: boolean;
  text: string;
  calls: { toolCallId: string; toolName: string; input: Json }[];
  persisted: boolean;
}

const newId = (prefix: string): string => `${prefix}_${randomBytes(12).toString("hex")}`;

/** Plain JSON of any value (undefined fields dropped); non-serializable values become their text. */
const toJson = (value: unknown): Json => {
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

const errorOf = (error: unknown): { message: string; code: string } => {
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

/**
 * One turn of an agent in a session: takes the session's turn lock (repairing what an interrupted
 * turn left), appends the user message, streams the model with the session's history, runs tools
 * under their approval policies and the orchestration step, and writes every message and
 * invocation as events. Each piece of output is written exactly once: a step's messages when the
 * step finishes, or the partial reply when the turn is cancelled or fails, never both.
 */
export class TurnRunner {
  readonly turnId = newId("turn");
  private readonly controller = new AbortController();
  private readonly invocations = new Map<string, Invocation>();
  private readonly written: SessionEvent[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private startSeq = 0;
  private cancelWatch: CancelWatch | undefined;
  /** The last seq of the commit that took the lock: the window holds the log at least through it. */
  private lockSeq = 0;
  /**
   * The final step's messages, written with the closing status in the commit that releases the
   * lock (or ahead of any other write that comes first), so a plain turn is two commits: the user
   * message with `running`, then the reply with `idle`.
   */
  private deferred: EventInput[] = [];
  /** Why a deferred final step could not be written, if it could not. */
  private unwritten: unknown;
  private offered: string[] = [];
  private activeStep: string | undefined;
  private pendingUsage = { inputTokens: 0, outputTokens: 0 };
  private lockLost = false;

  constructor(
    private readonly rt: TurnRuntime,
    private readonly emit: (event: AgentStreamEvent) => void,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  cancel(reason?: unknown): void {
    if (!this.controller.signal.aborted) {
      this.controller.abort(reason ?? new DOMException("The turn was cancelled", "AbortError"));
    }
  }

  async run(content: string | JsonObject[]): Promise<TurnResult> {
    // A cancel appended by another process or server instance (TURN_CANCEL_EVENT) stops this turn
    // too. It listens before the lock is taken, so no commit after the lock goes unnoticed.
    const cancelWatch = new CancelWatch(this.rt.sessions, this.rt.sessionId, this.turnId, () =>
      this.cancel(new DOMException("The turn was cancelled by a turn.cancel event", "AbortError")),
    );
    // In-process stores subscribe at once; a networked one (a round trip) does it alongside the
    // lock commit, and the watch then reads once what came before its hints.
    const opening = cancelWatch.open();
    const inProcess = this.rt.sessions.store.capabilities?.blocking === true;
    if (inProcess) await opening;
    try {
      await this.acquire(content);
    } catch (error) {
      await opening;
      await cancelWatch.close();
      throw error;
    }
    this.cancelWatch = cancelWatch;
    cancelWatch.start(this.startSeq, this.lockSeq, inProcess ? undefined : opening);
    const heartbeat = setInterval(() => void this.heartbeat(), this.rt.heartbeatMs);
    heartbeat.unref?.();
    let finish: TurnFinish = "complete";
    let failure: { code: string; message: string } | undefined;
    let lastText = "";
    let steps = 0;
    const usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    try {
      const outcome = await this.stream(usage);
      lastText = outcome.lastText;
      steps = outcome.steps;
      if (outcome.error !== undefined) {
        finish = this.signal.aborted ? "cancelled" : "error";
        if (finish === "error") failure = this.failureOf(outcome.error, outcome.fromModel);
      } else if (this.signal.aborted) finish = "cancelled";
    } catch (error) {
      finish = this.signal.aborted ? "cancelled" : "error";
      if (finish === "error") failure = this.failureOf(error, false);
    } finally {
      clearInterval(heartbeat);
      await cancelWatch.close();
    }
    if (finish !== "complete") await this.closeOpenInvocations(finish);
    await this.chain.catch(() => undefined);
    await this.rt.orchestrator.addTokenUsage(usage).catch(() => undefined);
    if (this.unwritten !== undefined && finish === "complete") {
      // The final reply could not be written (the lock was taken over, or the session is gone).
      finish = "error";
      failure = errorOf(this.unwritten);
    }
    const unwritten = await this.release(finish, failure);
    if (unwritten !== undefined && finish === "complete") {
      finish = "error";
      failure = errorOf(unwritten);
    }
    return {
      turnId: this.turnId,
      finish,
      text: lastText,
      steps,
      usage,
      events: [...this.written].sort((a, b) => a.seq - b.seq),
      ...(failure ? { error: failure } : {}),
    };
  }

  /**
   * The code and message of a failed turn. What the model reported (an `error` part of its stream,
   * or an AI SDK error thrown by a model call such as the summary's) is a model failure, named
   * after the model as the user wrote it; Frontdesk's own errors keep their code.
   */
  private failureOf(error: unknown, fromModel: boolean): { code: string; message: string } {
    if (isFrontdeskError(error)) return errorOf(error);
    if (fromModel || AISDKError.isInstance(error)) {
      const { rt } = this;
      return describeModelFailure(error, {
        name: rt.modelName,
        config: rt.modelConfig,
        inline: rt.modelName === INLINE_MODEL_KEY,
      });
    }
    const { message } = errorOf(error);
    return { code: "internal", message };
  }

  // ── lock ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * One atomic commit: the repairs of an interrupted turn (cancelled results for its open tool
   * calls), the user message, and the `running` status carrying the lock. Refused with `conflict`
   * while another turn holds a fresh lock.
   */
  private async acquire(content: string | JsonObject[]): Promise<void> {
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
      this.startSeq = userSeq;
      this.lockSeq = session.lastSeq + out.length;
      return { events: out, agent: record };
    });
    this.record(events);
  }

  /**
   * Releases the lock with the closing status (`idle`, or `error` for a failed turn), in one commit
   * with the final step's messages when they are still to be written. Returns the error that kept
   * those messages from being written, if any.
   */
  private async release(finish: TurnFinish, failure?: { code: string; message: string }): Promise<unknown> {
    const deferred = this.takeDeferred();
    if (this.lockLost) return deferred.length > 0 ? lostLock() : undefined;
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
            ...(this.activeStep !== undefined ? { step: this.activeStep } : {}),
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
      if (isLostLock(error)) this.lockLost = true;
      // The session is gone, or another turn took the lock over: nothing left to release.
      return deferred.length > 0 ? error : undefined;
    }
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

  private async heartbeat(): Promise<void> {
    // A refresh of the lock only: a deferred final step waits for the commit that releases it.
    await this.append([], {}, false).catch(() => undefined);
  }

  // ── writing ───────────────────────────────────────────────────────────────────────────────────

  /**
   * Appends events while this turn holds the lock (checked against the session read for the same
   * version-checked append). Writes are queued so they land in the order they were made; a deferred
   * final step, made before this call, goes first.
   */
  private append(
    made: EventInput[],
    patch?: Partial<AgentStateRecord>,
    withDeferred = true,
  ): Promise<readonly SessionEvent[]> {
    const { rt } = this;
    const deferred = withDeferred ? this.takeDeferred() : [];
    const events = deferred.length > 0 ? [...deferred, ...made] : made;
    const run = async (): Promise<readonly SessionEvent[]> => {
      if (this.lockLost) throw lostLock();
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
        if (isLostLock(error)) this.lockLost = true;
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
        this.unwritten ??= error;
      });
    }
    return result;
  }

  private record(events: readonly SessionEvent[]): void {
    this.rt.history.observe(events);
    this.cancelWatch?.own(events);
    for (const event of events) {
      this.written.push(event);
      this.emit({ type: "event", event });
    }
  }

  // ── the model ─────────────────────────────────────────────────────────────────────────────────

  private async stream(usage: {
    inputTokens: number;
    outputTokens: number;
    costUsd: number;
  }): Promise<{ lastText: string; steps: number; error?: unknown; fromModel: boolean }> {
    const { rt } = this;
    await this.summarizeIfNeeded();
    const window = await rt.history.window(this.lockSeq);
    const initial = await rt.orchestrator.current();
    this.activeStep = initial.step?.name;
    const system = this.systemText(window.summary?.text, window.systemNotes);
    const result = streamText({
      model: rt.model,
      system,
      messages: window.messages as ModelMessage[],
      tools: this.toolSet(),
      stopWhen: stepCountIs(rt.maxSteps),
      maxOutputTokens: replyReserveOf(rt.modelConfig),
      abortSignal: this.signal,
      maxRetries: 1,
      prepareStep: async () => {
        await this.checkStepConditions();
        const { state, step } = await rt.orchestrator.current();
        this.activeStep = step?.name;
        this.offered = rt.orchestrator.offeredTools(step, state).filter((name) => rt.tools.has(name));
        return { activeTools: this.offered };
      },
      onError: () => undefined, // errors arrive as stream parts and are recorded below
    });

    let step: StepState | undefined;
    let steps = 0;
    let lastText = "";
    let failure: unknown;
    let fromModel = false;
    try {
      for await (const part of result.fullStream) {
        switch (part.type) {
          case "start-step":
            step = { index: steps++, failed: false, text: "", calls: [], persisted: false };
            break;
          case "text-delta":
            if (step && part.text.length > 0) {
              step.text += part.text;
              this.emit({ type: "delta", turnId: this.turnId, step: step.index, text: part.text });
            }
            break;
          case "tool-call": {
            const input = toJson(part.input);
            step?.calls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input });
            this.emit({
              type: "tool_call",
              turnId: this.turnId,
              toolCallId: part.toolCallId,
              tool: part.toolName,
              input,
              ...(this.invocations.get(part.toolCallId)
                ? { invocationId: this.invocations.get(part.toolCallId)?.invocationId }
                : {}),
            });
            break;
          }
          case "tool-error":
            if (!this.invocations.has(part.toolCallId)) {
              await this.recordRefusedCall(part.toolCallId, part.toolName, toJson(part.input), part.error);
            }
            break;
          case "finish-step":
            if (step && !step.persisted) {
              lastText = step.text;
              if (step.failed && step.calls.length === 0) {
                // The provider failed mid-reply: what arrived is kept once, marked as an error.
                if (step.text.length > 0) await this.persistPartial(step, "error", window.tokens, usage);
                step.persisted = true;
              } else await this.persistStep(step, part.usage, usage, step.failed ? "error" : "complete");
            }
            break;
          case "error":
            if (failure === undefined) {
              failure = part.error;
              fromModel = true;
            }
            if (step) step.failed = true;
            break;
          default:
            break;
        }
      }
    } catch (error) {
      failure ??= error;
    }
    const cut = this.signal.aborted || failure !== undefined;
    if (cut && step && !step.persisted) {
      // The partial reply is kept once, marked as cut off (vercel/ai #7900: never lose it).
      await this.settleInvocations();
      if (step.text.length > 0) {
        lastText = step.text;
        await this.persistPartial(step, this.signal.aborted ? "cancelled" : "error", window.tokens, usage);
      }
    }
    return {
      lastText,
      steps,
      fromModel,
      ...(failure !== undefined && !this.signal.aborted ? { error: failure } : {}),
    };
  }

  private systemText(summary: string | undefined, notes: readonly string[]): string {
    const parts = [this.rt.systemPrompt, ...notes];
    if (summary) parts.push(`Summary of the earlier conversation:\n${summary}`);
    return parts.join("\n\n");
  }

  private toolSet(): ToolSet {
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

  private modelOutputOf(toolCallId: string, output: unknown): ToolResultOutput {
    const outcome = this.invocations.get(toolCallId)?.outcome;
    if (outcome) return outcomeToModelOutput(outcome);
    return { type: "json", value: toJson(output) as never };
  }

  /** The step's assistant message (text and tool calls) and its tool results, in one commit. */
  private async persistStep(
    step: StepState,
    stepUsage: LanguageModelUsage,
    total: { inputTokens: number; outputTokens: number; costUsd: number },
    finish: "complete" | "error",
  ): Promise<void> {
    step.persisted = true;
    await this.settleInvocations();
    const usage = this.usageRecord(stepUsage.inputTokens ?? 0, stepUsage.outputTokens ?? 0, total, false);
    const events: EventInput[] = [];
    const base = { type: "message" as const, model: this.rt.modelConfig.model, turnId: this.turnId };
    if (step.calls.length === 0) {
      // A step without tool calls ends the turn: its message is written with the closing status.
      this.deferred.push({ ...base, role: "assistant", content: step.text, usage, finish });
      return;
    } else {
      const parts: JsonObject[] = step.text.length > 0 ? [{ type: "text", text: step.text }] : [];
      for (const call of step.calls) {
        parts.push({ type: "tool-call", toolCallId: call.toolCallId, toolName: call.toolName, input: call.input });
      }
      events.push({ ...base, role: "assistant", content: parts, usage, finish });
      events.push({
        type: "message",
        role: "tool",
        turnId: this.turnId,
        content: step.calls.map((call) => {
          const outcome = this.invocations.get(call.toolCallId)?.outcome;
          return {
            type: "tool-result",
            toolCallId: call.toolCallId,
            toolName: call.toolName,
            output: (outcome
              ? outcomeToModelOutput(outcome)
              : { type: "error-text", value: "no result was recorded" }) as unknown as Json,
          };
        }),
      });
    }
    await this.append(events);
  }

  private async persistPartial(
    step: StepState,
    finish: "cancelled" | "error",
    promptTokens: number,
    total: { inputTokens: number; outputTokens: number; costUsd: number },
  ): Promise<void> {
    step.persisted = true;
    // No usage came back for a cut-off call: estimate it (prompt sent, text received) so stats stay close.
    const usage = this.usageRecord(promptTokens, countTokens(step.text), total, true);
    await this.append([
      {
        type: "message",
        role: "assistant",
        content: step.text,
        usage,
        model: this.rt.modelConfig.model,
        finish,
        turnId: this.turnId,
      },
    ]).catch(() => undefined);
  }

  private usageRecord(
    inputTokens: number,
    outputTokens: number,
    total: { inputTokens: number; outputTokens: number; costUsd: number },
    estimated: boolean,
  ): JsonObject {
    // Tokens spent on summarizing are charged to the first message of the turn.
    const input = inputTokens + this.pendingUsage.inputTokens;
    const output = outputTokens + this.pendingUsage.outputTokens;
    this.pendingUsage = { inputTokens: 0, outputTokens: 0 };
    const costUsd = costOf(this.rt.modelConfig, { inputTokens: input, outputTokens: output });
    total.inputTokens += input;
    total.outputTokens += output;
    total.costUsd = Math.round((total.costUsd + costUsd) * 1e9) / 1e9;
    return {
      inputTokens: input,
      outputTokens: output,
      totalTokens: input + output,
      costUsd,
      ...(estimated ? { estimated: true } : {}),
    };
  }

  // ── context ───────────────────────────────────────────────────────────────────────────────────

  private async summarizeIfNeeded(): Promise<void> {
    const settings = this.rt.config.summarization;
    if (settings.enabled === false) return;
    // The kept window usually knows the history since the latest summary: under the threshold, no read is needed.
    const known = await this.rt.history.tokensSinceSummary(this.lockSeq);
    if (known !== undefined && known <= settings.thresholdTokens) return;
    const plan = await planSummary(this.rt.sessions, this.rt.sessionId, settings);
    if (!plan || plan.transcript.length === 0) return;
    try {
      const summary = await generateText({
        model: this.rt.model,
        system: SUMMARY_PROMPT,
        prompt: plan.transcript,
        maxOutputTokens: replyReserveOf(this.rt.modelConfig),
        abortSignal: this.signal,
        maxRetries: 1,
      });
      const text = summary.text.trim();
      if (text.length === 0) return;
      this.pendingUsage.inputTokens += summary.usage.inputTokens ?? 0;
      this.pendingUsage.outputTokens += summary.usage.outputTokens ?? 0;
      await this.append([{ type: "summary", text, throughSeq: plan.throughSeq }]);
    } catch (error) {
      if (this.signal.aborted || isFrontdeskError(error, "conflict")) throw error;
      // A failed summary leaves the history as it was: the window still fits the budget.
    }
  }

  // ── tools ─────────────────────────────────────────────────────────────────────────────────────

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
    await this.append(events);
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
    const { rt } = this;
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
      const written = await this.append([
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
      await this.append([this.callEvent(invocation)]);
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
          turnStartSeq: this.startSeq,
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
      if (isFrontdeskError(error, "conflict") && this.lockLost) throw error;
      const failure = errorOf(error);
      await this.close(invocation, { status: "error", error: failure, durationMs: performance.now() - started });
      throw new Error(failure.message);
    }
  }

  /** A call the model made that the SDK refused before `execute` (not offered, unknown, bad input). */
  private async recordRefusedCall(toolCallId: string, tool: string, input: Json, error: unknown): Promise<void> {
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
    await this.append([{ type: "custom", name: STEP_EVENT, data: { ...transition } }], { step: transition.to });
  }

  private async settleInvocations(): Promise<void> {
    await Promise.allSettled([...this.invocations.values()].map((invocation) => invocation.settled));
  }

  /** After a cancel or a failure: every call written without a result gets one. */
  private async closeOpenInvocations(finish: TurnFinish): Promise<void> {
    await this.settleInvocations();
    for (const invocation of this.invocations.values()) {
      if (invocation.callRecorded && !invocation.resultRecorded) {
        await this.close(invocation, {
          status: "cancelled",
          error: { message: finish === "cancelled" ? "cancelled" : "the turn failed", code: finish },
        }).catch(() => undefined);
      }
    }
  }
}

const LOST_LOCK = "This turn lost the session's turn lock (another turn took it over)";
const lostLock = (): FrontdeskError => new FrontdeskError("conflict", LOST_LOCK);
const isLostLock = (error: unknown): boolean => isFrontdeskError(error, "conflict") && error.message === LOST_LOCK;

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

export { readAgentState };
