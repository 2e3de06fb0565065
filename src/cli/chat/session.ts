// The conversation the chat is in: which session, which agent runs it, and the turn running now.
// Switching sessions or agents and running a turn (with its approval prompts) all change this
// state, so they live together; how things look is left to the screen and the turn view.
import type { TurnResult } from "../../agent/types.ts";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { SessionEvent } from "../../core/model.ts";
import {
  type AgentBackend,
  type AgentCommandOptions,
  type AgentRunner,
  contentText,
  describeCall,
  type FollowOptions,
  type StartedTurn,
} from "../agents.ts";
import { agentColor } from "../colors.ts";
import { truncate } from "../table.ts";
import { showHistory } from "./history.ts";
import type { ChatInput } from "./input.ts";
import type { ChatScreen } from "./screen.ts";
import { TurnView } from "./turn-view.ts";

/** The running turn: what Ctrl-C cancels. */
interface RunningTurn {
  readonly controller: AbortController;
  /** Stops following a server's turn, which runs on (see {@link Conversation.leave}). */
  readonly detach: AbortController;
}

export class Conversation {
  private currentSessionId = "";
  /** Undefined: the server's default agent, named once a turn has run. */
  private currentAgentName: string | undefined;
  private currentAgent!: AgentRunner;
  private titled = true;
  private turn: RunningTurn | undefined;
  /** A turn found running when the conversation attached, to follow before the next prompt. */
  private runningAtAttach: StartedTurn | undefined;

  constructor(
    private readonly workspace: AgentBackend,
    private readonly screen: ChatScreen,
    private readonly input: ChatInput,
  ) {}

  get sessionId(): string {
    return this.currentSessionId;
  }

  get agentName(): string | undefined {
    return this.currentAgentName;
  }

  get agent(): AgentRunner {
    return this.currentAgent;
  }

  // ── start and stop ──────────────────────────────────────────────────────────────────────────

  async open(options: AgentCommandOptions): Promise<void> {
    const { sessions, defaultAgent: config } = this.workspace;
    if (options.session !== undefined) {
      await sessions.get(options.session); // not_found before anything is written
      const agent = options.agent ?? (await this.workspace.lastAgentOf(options.session)) ?? config;
      await this.attach(options.session, agent, { created: false });
      return;
    }
    const agent = options.agent ?? config;
    await this.workspace.prepare(agent); // an unknown agent or a bad --model: nothing is created
    const session = await sessions.create();
    await this.attach(session.id, agent, { created: true });
  }

  /**
   * Makes `sessionId` the conversation, run by `agent`: initializes the agent there (a failure
   * leaves the current conversation as it was), then prints the banner and, for an existing
   * session, its latest messages.
   */
  async attach(sessionId: string, agentName: string | undefined, how: { created: boolean }): Promise<void> {
    const agent = await this.workspace.agentSession(sessionId, agentName);
    try {
      await agent.initialize();
    } catch (error) {
      // A session made only for this chat would hold nothing but the failure.
      if (how.created) await this.workspace.sessions.delete(sessionId).catch(() => undefined);
      throw error;
    }
    const previous =
      this.currentSessionId !== "" && this.currentSessionId !== sessionId ? this.currentAgent : undefined;
    this.currentAgent = agent;
    this.currentSessionId = sessionId;
    this.currentAgentName = agentName;
    const session = await this.workspace.sessions.get(sessionId);
    this.titled = session.title !== null;
    this.screen.line(`session ${sessionId} · agent ${this.agentLabel()}`);
    this.runningAtAttach = how.created ? undefined : await this.workspace.runningTurn(sessionId);
    if (!how.created) {
      await showHistory(this.screen, this.workspace, sessionId, { before: this.runningAtAttach?.startSeq });
    }
    // The conversation left behind records that its agent closed.
    await previous?.close().catch(() => undefined);
  }

  /** Hands this session to agent `name` (initialized there first: a failure keeps the current one). */
  async switchAgent(name: string): Promise<void> {
    this.workspace.assertAgent(name);
    const agent = await this.workspace.agentSession(this.currentSessionId, name);
    await agent.initialize();
    this.currentAgent = agent;
    this.currentAgentName = name;
  }

  async close(): Promise<void> {
    if (this.currentAgent) await this.currentAgent.close().catch(() => undefined);
  }

  // ── labels ──────────────────────────────────────────────────────────────────────────────────

  agentLabel(): string {
    if (this.currentAgentName === undefined) return this.screen.palette.dim("(the server's default)");
    return this.screen.palette.paint(
      agentColor(this.currentAgentName ?? "", this.workspace.colorOf(this.currentAgentName)),
      this.currentAgentName,
    );
  }

  promptText(): string {
    return this.screen.palette.paint(
      agentColor(this.currentAgentName ?? "", this.workspace.colorOf(this.currentAgentName)),
      "> ",
    );
  }

  private assistantLabel(name: string): string {
    const { palette } = this.screen;
    const color = agentColor(name, this.workspace.colorOf(name));
    return `${palette.paint(color, palette.bold(name))} ${palette.dim("›")} `;
  }

  // ── turns ───────────────────────────────────────────────────────────────────────────────────

  /** Cancels the running turn for `reason` (its partial reply is kept); false when none runs. */
  /**
   * The chat is closing (its window closed, SIGTERM, a second Ctrl-C). A turn running here is
   * cancelled, as it would die with the process; a server's turn runs on, detached, for the next
   * client that attaches to the session to follow.
   */
  leave(reason: string): void {
    if (this.workspace.kind === "server" && this.turn) this.turn.detach.abort();
    else this.cancelTurn(reason);
  }

  cancelTurn(reason: string): boolean {
    if (!this.turn) return false;
    if (!this.turn.controller.signal.aborted) {
      this.turn.controller.abort(new DOMException(reason, "AbortError"));
    }
    return true;
  }

  async runTurn(text: string): Promise<void> {
    if (!this.titled) {
      this.titled = true;
      await this.workspace.sessions
        .patch(this.currentSessionId, { title: truncate(text.replace(/\s+/g, " ").trim(), 80) })
        .catch(() => undefined);
    }
    await this.drive((options) =>
      this.currentAgent.runTurn(text, {
        ...options,
        onStarted: (turn) => {
          if (turn.agent !== undefined) this.currentAgentName = turn.agent;
        },
      }),
    );
  }

  /**
   * Follows the turn that was running when this session was attached (started by another
   * terminal or client), from its user message to its end, as if it ran here: its reply from the
   * first word, its tools and approvals; Ctrl-C cancels it. Nothing when none was running.
   */
  async followRunning(): Promise<void> {
    const turn = this.runningAtAttach;
    this.runningAtAttach = undefined;
    const follow = this.currentAgent.follow?.bind(this.currentAgent);
    if (!turn || !follow) return;
    const { palette } = this.screen;
    await this.drive((options) =>
      follow(turn, {
        ...options,
        onEvent: (event) => {
          // Typed in another terminal: shown as the history shows a user's message.
          const written = event.type === "event" ? event.event : undefined;
          if (written?.type === "message" && written.role === "user" && written.seq === turn.startSeq) {
            this.screen.paragraph(`${palette.dim(">")} `, 2, contentText(written.content));
            return;
          }
          options.onEvent?.(event);
        },
      }),
    );
  }

  /** Runs or follows one turn: draws it, asks its approvals, and makes Ctrl-C cancel it. */
  private async drive(start: (options: FollowOptions) => Promise<TurnResult>): Promise<void> {
    const controller = new AbortController();
    const detach = new AbortController();
    this.turn = { controller, detach };
    // Made at the first event: a server's default agent is named by then.
    let made: TurnView | undefined;
    const view = (): TurnView => {
      const name = this.currentAgentName ?? "assistant";
      made ??= new TurnView(this.screen, name, this.assistantLabel(name));
      return made;
    };
    let approvals: Promise<void> = Promise.resolve();
    try {
      const result = await start({
        signal: controller.signal,
        detach: detach.signal,
        onEvent: (event) => {
          const turnView = view();
          turnView.event(event);
          if (event.type === "event" && event.event.type === "approval_request") {
            const request = event.event;
            approvals = approvals.then(async () => {
              await turnView.idle(); // the prompt comes after what the turn showed before it
              await this.askApproval(request, controller.signal);
            });
          }
        },
      });
      await approvals;
      await view().finish(result);
    } catch (error) {
      await made?.settle(); // what the turn showed comes before its error
      if (detach.signal.aborted) return; // left while a server's turn runs on
      if (isFrontdeskError(error, "conflict")) {
        throw new FrontdeskError(
          "conflict",
          `${error.message} (a turn left by a process that died is taken over once its heartbeat is 5 minutes old)`,
        );
      }
      throw error;
    } finally {
      this.turn = undefined;
    }
  }

  /** `approve calculator {"expression":"2+3*4"}? [y/N]`: y approves; anything else (or the end of input) denies. */
  private async askApproval(
    request: Extract<SessionEvent, { type: "approval_request" }>,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) return;
    const item = await this.input.ask(
      `  ${this.screen.palette.yellow("approve")} ${describeCall(request.tool, request.input)}? [y/N] `,
      signal,
    );
    if (item.kind === "aborted" || item.kind === "exit") return; // the cancelled turn closes the request itself
    const answer = item.kind === "line" ? item.text.trim() : "";
    const approve = /^(y|yes)$/i.test(answer) || /^\/approve\b/i.test(answer);
    const deny = /^\/deny\b/i.exec(answer);
    const reason = deny
      ? answer
          .slice(deny[0].length)
          .trim()
          .replace(new RegExp(`^${request.approvalId}\\s*`), "")
      : item.kind === "eof"
        ? "no answer: the input ended"
        : "";
    try {
      if (approve) await this.currentAgent.approve(request.approvalId);
      else await this.currentAgent.deny(request.approvalId, reason === "" ? undefined : reason);
    } catch (error) {
      // Answered elsewhere first, or the turn was cancelled meanwhile: the log has the outcome.
      if (!isFrontdeskError(error, "conflict")) this.screen.error(error);
    }
  }
}
