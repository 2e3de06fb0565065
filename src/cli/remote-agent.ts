/**
 * `chat --server` and `run --server`: the server's agents run the turns, and this process follows
 * them on the session's event stream. A turn is started detached (`POST …/turns` with
 * `detach: true`), so it runs to its end whatever happens to this terminal; its reply is drawn
 * from the `turn.delta` events it writes as it streams, which is also what lets a terminal that
 * attaches mid-reply show the reply from its first word.
 */
import { readAgentState } from "../agent/agent-state.ts";
import type { PendingApproval } from "../agent/approvals.ts";
import { type FrontdeskConfig, loadConfig } from "../agent/config.ts";
import type { AgentStreamEvent, TurnResult, TurnUsage } from "../agent/types.ts";
import { FrontdeskClient } from "../client/http-client.ts";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { JsonObject, SessionEvent } from "../core/model.ts";
import { turnDeltaOf } from "../core/turn-deltas.ts";
import {
  type AgentBackend,
  type AgentCommandOptions,
  type AgentRunner,
  contentText,
  type FollowOptions,
  type StartedTurn,
} from "./agents.ts";
import type { CliIo } from "./io.ts";

/** A running server reached with an API key: its agents, the key's user's sessions. */
export class RemoteWorkspace implements AgentBackend {
  readonly kind = "server";
  readonly defaultAgent = undefined;

  private constructor(
    readonly sessions: FrontdeskClient,
    readonly config: FrontdeskConfig,
  ) {}

  /**
   * Checks the URL, then that the server answers and takes the key (`unavailable`,
   * `unauthorized`), before anything is written. `--user` acts for another user (admin keys).
   */
  static async open(
    baseUrl: string,
    apiKey: string,
    options: AgentCommandOptions,
    io: CliIo,
  ): Promise<RemoteWorkspace> {
    const client = new FrontdeskClient({
      baseUrl,
      apiKey,
      ...(options.user === undefined ? {} : { userId: options.user }),
    });
    // The local config only names colours here: the agents and their models are the server's.
    const config = await loadConfig({ file: options.config, env: io.env });
    await client.listSessions({ limit: 1 });
    return new RemoteWorkspace(client, config);
  }

  /** The server says whether it runs `name`, at the turn (`invalid_request`). */
  assertAgent(): void {}

  async prepare(): Promise<void> {}

  async lastAgentOf(sessionId: string): Promise<string | undefined> {
    const session = await this.sessions.get(sessionId);
    return readAgentState(session.state as JsonObject)?.name;
  }

  listedAgents(): undefined {
    return undefined;
  }

  async agentSession(
    sessionId: string,
    agent: string | undefined,
    onEvent?: (event: AgentStreamEvent) => void,
  ): Promise<RemoteAgent> {
    return new RemoteAgent(this.sessions, sessionId, agent, onEvent);
  }

  colorOf(agent: string | undefined): string | undefined {
    return agent !== undefined && Object.hasOwn(this.config.agents, agent)
      ? this.config.agents[agent]?.color
      : undefined;
  }

  async runningTurn(sessionId: string): Promise<StartedTurn | undefined> {
    const session = await this.sessions.get(sessionId);
    const turn = readAgentState(session.state as JsonObject)?.turn;
    return turn && turn.startSeq > 0 ? { turnId: turn.id, startSeq: turn.startSeq } : undefined;
  }

  async close(): Promise<void> {}
}

type StatusEvent = Extract<SessionEvent, { type: "status" }>;

const ZERO_USAGE: TurnUsage = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

/** The status that ends a turn: the agent leaves `running` (for `idle`, or `error`). */
const endsTurn = (event: SessionEvent): event is StatusEvent =>
  event.type === "status" && event.scope === "agent" && event.previous === "running";

/** One agent on one session of a server, through its HTTP API. */
export class RemoteAgent implements AgentRunner {
  constructor(
    private readonly client: FrontdeskClient,
    readonly sessionId: string,
    /** Undefined: the server's defaultAgent, learnt once a turn starts. */
    private agent: string | undefined,
    private readonly listener?: (event: AgentStreamEvent) => void,
  ) {}

  /** The server initializes its agent when the turn starts. */
  async initialize(): Promise<void> {}

  async close(): Promise<void> {}

  async runTurn(
    text: string,
    options: FollowOptions & { onStarted?: (turn: StartedTurn & { agent?: string }) => void } = {},
  ): Promise<TurnResult> {
    const turn = await this.client.startTurn(
      this.sessionId,
      text,
      this.agent === undefined ? {} : { agent: this.agent },
    );
    if (this.agent === undefined) {
      // The turn's lock is taken, so the agent record names the agent that runs it.
      const session = await this.client.get(this.sessionId).catch(() => undefined);
      this.agent = session ? readAgentState(session.state as JsonObject)?.name : undefined;
    }
    options.onStarted?.({ ...turn, ...(this.agent === undefined ? {} : { agent: this.agent }) });
    return this.follow(turn, options);
  }

  /**
   * Follows the turn on the event stream from its user message to the status that ends it. Its
   * reply pieces (`turn.delta`) come as `delta` events, everything else as written events, as an
   * AgentSession here reports them. Aborting `signal` asks the server to cancel the turn, and the
   * turn is still followed to its end, so its partial reply and its `[cancelled]` are shown.
   */
  async follow(turn: StartedTurn, options: FollowOptions = {}): Promise<TurnResult> {
    const emit = (event: AgentStreamEvent): void => {
      for (const listener of [options.onEvent, this.listener]) {
        try {
          listener?.(event);
        } catch {
          // A listener's failure is its own; the turn is followed on.
        }
      }
    };
    const subscription = this.client.subscribe(this.sessionId, { after: turn.startSeq - 1 });
    const events: SessionEvent[] = [];
    let cancelling: Promise<unknown> | undefined;
    const onAbort = (): void => {
      const reason = options.signal?.reason instanceof Error ? options.signal.reason.message : undefined;
      cancelling ??= this.client
        .cancelTurn(this.sessionId, reason === undefined ? {} : { reason: reason.slice(0, 1024) })
        // The turn ended meanwhile (`conflict`): its end is on the stream anyway.
        .catch((error: unknown) => (isFrontdeskError(error, "conflict") ? undefined : Promise.reject(error)));
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    // Leaving stops reading at once, wherever the stream is (even still connecting); the turn runs on, on the server.
    let onDetach = (): void => {};
    const detached = new Promise<"detached">((resolve) => {
      onDetach = () => resolve("detached");
      if (options.detach?.aborted) onDetach();
    });
    options.detach?.addEventListener("abort", onDetach, { once: true });
    const iterator = subscription[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await Promise.race([iterator.next(), detached]);
        if (next === "detached") {
          throw new FrontdeskError("unavailable", "Stopped following the turn: it runs on, on the server");
        }
        if (next.done) break;
        const event = next.value;
        events.push(event);
        const piece = turnDeltaOf(event);
        if (piece) {
          if (piece.turnId === turn.turnId && piece.part === "text") {
            emit({ type: "delta", turnId: piece.turnId, step: piece.step, text: piece.text });
          }
          continue;
        }
        emit({ type: "event", event });
        if (endsTurn(event)) return resultOf(turn.turnId, event, events);
      }
      throw new FrontdeskError("not_found", "The session is gone: it was deleted or expired while its turn ran");
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      options.detach?.removeEventListener("abort", onDetach);
      // Not awaited when leaving: the generator may still be connecting, and the process is on its way out.
      const closing = subscription.close();
      if (!options.detach?.aborted) await closing;
      await cancelling;
    }
  }

  async approve(approvalId: string): Promise<unknown> {
    return this.client.answerApproval(this.sessionId, approvalId, "approve");
  }

  async deny(approvalId: string, reason?: string): Promise<unknown> {
    return this.client.answerApproval(this.sessionId, approvalId, "deny", reason);
  }

  async pendingApprovals(): Promise<readonly PendingApproval[]> {
    return this.client.pendingApprovals(this.sessionId);
  }
}

/** What the turn's events say of it, shaped as an AgentSession's result. */
function resultOf(turnId: string, end: StatusEvent, events: readonly SessionEvent[]): TurnResult {
  const replies = events.filter(
    (event): event is Extract<SessionEvent, { type: "message" }> =>
      event.type === "message" && event.role === "assistant",
  );
  const usage = { ...ZERO_USAGE };
  for (const reply of replies) {
    usage.inputTokens += reply.usage?.inputTokens ?? 0;
    usage.outputTokens += reply.usage?.outputTokens ?? 0;
    usage.costUsd += reply.usage?.costUsd ?? 0;
  }
  const failed = end.status === "error";
  // The server writes a failure as `turn failed: <code>: <message>`.
  const failure = /^turn failed: ([a-z_]+): ([\s\S]*)$/.exec(end.reason ?? "");
  return {
    turnId,
    finish: failed ? "error" : end.reason === "cancelled" ? "cancelled" : "complete",
    text: contentText(replies.at(-1)?.content),
    steps: replies.length,
    usage,
    events: [...events],
    ...(failed
      ? {
          error: failure
            ? { code: failure[1] as string, message: failure[2] as string }
            : { code: "internal", message: end.reason ?? "The turn failed" },
        }
      : {}),
  };
}
