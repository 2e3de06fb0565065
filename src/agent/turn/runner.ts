/**
 * One turn from start to finish: takes the lock, listens for a cancel from anywhere, keeps the
 * lock fresh, runs the model stream, and decides how the turn ended (complete, cancelled, error)
 * before releasing the lock with that status. The parts it wires together own the details: the
 * journal the writes, the tool calls the approvals and runs, the model stream the steps.
 */
import { AISDKError } from "@ai-sdk/provider";
import { isFrontdeskError } from "../../core/errors.ts";
import type { JsonObject } from "../../core/model.ts";
import { CancelWatch } from "../cancel.ts";
import { INLINE_MODEL_KEY } from "../config.ts";
import { describeModelFailure } from "../model-failure.ts";
import type { AgentStreamEvent, TurnFinish, TurnResult } from "../types.ts";
import { TurnJournal } from "./journal.ts";
import { ModelStream, type UsageTotal } from "./model-stream.ts";
import type { TurnRuntime, TurnScope } from "./runtime.ts";
import { errorOf, newId, TurnToolCalls } from "./tool-calls.ts";

/**
 * One turn of an agent in a session: takes the session's turn lock (repairing what an interrupted
 * turn left), appends the user message, streams the model with the session's history, runs tools
 * under their approval policies and the orchestration step, and writes every message and
 * invocation as events.
 */
export class TurnRunner {
  readonly turnId = newId("turn");
  private readonly controller = new AbortController();
  private readonly journal: TurnJournal;
  private readonly tools: TurnToolCalls;
  private readonly model: ModelStream;

  constructor(
    private readonly rt: TurnRuntime,
    emit: (event: AgentStreamEvent) => void,
  ) {
    const scope: TurnScope = { rt, turnId: this.turnId, signal: this.controller.signal, emit };
    this.journal = new TurnJournal(scope);
    this.tools = new TurnToolCalls(scope, this.journal);
    this.model = new ModelStream(scope, this.journal, this.tools);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  cancel(reason?: unknown): void {
    if (!this.controller.signal.aborted) {
      this.controller.abort(reason ?? new DOMException("The turn was cancelled", "AbortError"));
    }
  }

  async run(content: string | JsonObject[]): Promise<TurnResult> {
    const { journal } = this;
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
      await journal.acquire(content);
    } catch (error) {
      await opening;
      await cancelWatch.close();
      throw error;
    }
    journal.cancelWatch = cancelWatch;
    cancelWatch.start(journal.startSeq, journal.lockSeq, inProcess ? undefined : opening);
    const heartbeat = setInterval(() => void journal.heartbeat(), this.rt.heartbeatMs);
    heartbeat.unref?.();
    let finish: TurnFinish = "complete";
    let failure: { code: string; message: string } | undefined;
    let lastText = "";
    let steps = 0;
    const usage: UsageTotal = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    try {
      const outcome = await this.model.run(usage);
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
    if (finish !== "complete") await this.tools.closeOpen(finish);
    await journal.drained();
    await this.rt.orchestrator.addTokenUsage(usage).catch(() => undefined);
    if (journal.unwritten !== undefined && finish === "complete") {
      // The final reply could not be written (the lock was taken over, or the session is gone).
      finish = "error";
      failure = errorOf(journal.unwritten);
    }
    const unwritten = await journal.release(finish, failure, this.tools.activeStep);
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
      events: [...journal.written].sort((a, b) => a.seq - b.seq),
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
}
