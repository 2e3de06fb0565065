/**
 * The model's side of a turn: the summary when the history outgrew its threshold, the streamed
 * call over the history window (text deltas out as they arrive), and what each step becomes in
 * the log: its assistant message and tool results, or the partial reply when the stream is cut.
 * Each piece of output is written exactly once: a step's messages when the step finishes, or the
 * partial reply when the turn is cancelled or fails, never both.
 */
import { generateText, type LanguageModelUsage, type ModelMessage, stepCountIs, streamText } from "ai";
import { isFrontdeskError } from "../../core/errors.ts";
import type { EventInput, Json, JsonObject } from "../../core/model.ts";
import { planSummary } from "../context.ts";
import { costOf, replyReserveOf, SUMMARY_INSTRUCTION } from "../models/index.ts";
import { countTokens } from "../tokens.ts";
import type { AgentStreamEvent } from "../types.ts";
import { DeltaLog } from "./delta-log.ts";
import type { TurnJournal } from "./journal.ts";
import type { TurnRuntime, TurnScope } from "./runtime.ts";
import { outcomeToModelOutput, type TurnToolCalls, toJson } from "./tool-calls.ts";

const SUMMARY_PROMPT = `${SUMMARY_INSTRUCTION} in a few short bullet points. Keep names, numbers, decisions and open questions.`;

/** The turn's usage, summed over its model calls. */
export interface UsageTotal {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface StreamOutcome {
  lastText: string;
  steps: number;
  /** Why the stream stopped early (absent when it completed or was cancelled). */
  error?: unknown;
  /** The error came from the model (an `error` part of its stream), not from Frontdesk. */
  fromModel: boolean;
}

interface StepState {
  index: number;
  /** The model reported an error during this step. */
  failed: boolean;
  text: string;
  calls: { toolCallId: string; toolName: string; input: Json }[];
  persisted: boolean;
}

export class ModelStream {
  private readonly rt: TurnRuntime;
  private readonly turnId: string;
  private readonly signal: AbortSignal;
  private readonly emit: (event: AgentStreamEvent) => void;
  /** Tokens spent on a summary, charged to the turn's first message. */
  private pendingUsage = { inputTokens: 0, outputTokens: 0 };
  private readonly deltas: DeltaLog | undefined;

  constructor(
    scope: TurnScope,
    private readonly journal: TurnJournal,
    private readonly tools: TurnToolCalls,
  ) {
    this.rt = scope.rt;
    this.turnId = scope.turnId;
    this.signal = scope.signal;
    this.emit = scope.emit;
    const persist = scope.rt.agent.persistDeltas;
    this.deltas =
      persist === false
        ? undefined
        : new DeltaLog(journal, scope.turnId, typeof persist === "object" ? persist.intervalMs : undefined);
  }

  /** Streams the model until it stops calling tools (or `maxSteps`), adding its usage to `usage`. */
  async run(usage: UsageTotal): Promise<StreamOutcome> {
    const { rt, tools } = this;
    await this.summarizeIfNeeded();
    const window = await rt.history.window(this.journal.lockSeq);
    await tools.enterCurrentStep();
    const system = this.systemText(window.summary?.text, window.systemNotes);
    const result = streamText({
      model: rt.model,
      system,
      messages: window.messages as ModelMessage[],
      tools: tools.toolSet(),
      stopWhen: stepCountIs(rt.maxSteps),
      maxOutputTokens: replyReserveOf(rt.modelConfig),
      abortSignal: this.signal,
      maxRetries: 1,
      prepareStep: () => tools.prepareStep(),
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
              this.deltas?.add(step.index, "text", part.text);
              this.emit({ type: "delta", turnId: this.turnId, step: step.index, text: part.text });
            }
            break;
          case "reasoning-delta":
            if (step && part.text.length > 0) this.deltas?.add(step.index, "reasoning", part.text);
            break;
          case "tool-call": {
            this.deltas?.queue();
            const input = toJson(part.input);
            step?.calls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input });
            this.emit({
              type: "tool_call",
              turnId: this.turnId,
              toolCallId: part.toolCallId,
              tool: part.toolName,
              input,
              ...(tools.has(part.toolCallId) ? { invocationId: tools.invocationIdOf(part.toolCallId) } : {}),
            });
            break;
          }
          case "tool-error":
            if (!tools.has(part.toolCallId)) {
              await tools.recordRefusedCall(part.toolCallId, part.toolName, toJson(part.input), part.error);
            }
            break;
          case "finish-step":
            this.deltas?.queue();
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
    this.deltas?.queue();
    const cut = this.signal.aborted || failure !== undefined;
    if (cut && step && !step.persisted) {
      // The partial reply is kept once, marked as cut off (vercel/ai #7900: never lose it).
      await tools.settle();
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

  /** The step's assistant message (text and tool calls) and its tool results, in one commit. */
  private async persistStep(
    step: StepState,
    stepUsage: LanguageModelUsage,
    total: UsageTotal,
    finish: "complete" | "error",
  ): Promise<void> {
    step.persisted = true;
    await this.tools.settle();
    const usage = this.usageRecord(stepUsage.inputTokens ?? 0, stepUsage.outputTokens ?? 0, total, false);
    const events: EventInput[] = [];
    const base = { type: "message" as const, model: this.rt.modelConfig.model, turnId: this.turnId };
    if (step.calls.length === 0) {
      // A step without tool calls ends the turn: its message is written with the closing status.
      this.journal.defer({ ...base, role: "assistant", content: step.text, usage, finish });
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
          const outcome = this.tools.outcomeOf(call.toolCallId);
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
    await this.journal.append(events);
  }

  private async persistPartial(
    step: StepState,
    finish: "cancelled" | "error",
    promptTokens: number,
    total: UsageTotal,
  ): Promise<void> {
    step.persisted = true;
    // No usage came back for a cut-off call: estimate it (prompt sent, text received) so stats stay close.
    const usage = this.usageRecord(promptTokens, countTokens(step.text), total, true);
    await this.journal
      .append([
        {
          type: "message",
          role: "assistant",
          content: step.text,
          usage,
          model: this.rt.modelConfig.model,
          finish,
          turnId: this.turnId,
        },
      ])
      .catch(() => undefined);
  }

  private usageRecord(inputTokens: number, outputTokens: number, total: UsageTotal, estimated: boolean): JsonObject {
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

  private async summarizeIfNeeded(): Promise<void> {
    const settings = this.rt.config.summarization;
    if (settings.enabled === false) return;
    // The kept window usually knows the history since the latest summary: under the threshold, no read is needed.
    const known = await this.rt.history.tokensSinceSummary(this.journal.lockSeq);
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
      await this.journal.append([{ type: "summary", text, throughSeq: plan.throughSeq }]);
    } catch (error) {
      if (this.signal.aborted || isFrontdeskError(error, "conflict")) throw error;
      // A failed summary leaves the history as it was: the window still fits the budget.
    }
  }
}
