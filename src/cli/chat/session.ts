// The conversation the chat is in: which session, which agent runs it, and the turn running now.
// Switching sessions or agents and running a turn (with its approval prompts) all change this
// state, so they live together; how things look is left to the screen and the turn view.
import type { AgentSession } from "../../agent/agent-session.ts";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { SessionEvent } from "../../core/model.ts";
import { type AgentCommandOptions, type AgentWorkspace, describeCall } from "../agents.ts";
import { agentColor } from "../colors.ts";
import { truncate } from "../table.ts";
import { showHistory } from "./history.ts";
import type { ChatInput } from "./input.ts";
import type { ChatScreen } from "./screen.ts";
import { TurnView } from "./turn-view.ts";

/** The running turn: what Ctrl-C cancels. */
interface RunningTurn {
  readonly controller: AbortController;
}

export class Conversation {
  private currentSessionId = "";
  private currentAgentName = "";
  private currentAgent!: AgentSession;
  private titled = true;
  private turn: RunningTurn | undefined;

  constructor(
    private readonly workspace: AgentWorkspace,
    private readonly screen: ChatScreen,
    private readonly input: ChatInput,
  ) {}

  get sessionId(): string {
    return this.currentSessionId;
  }

  get agentName(): string {
    return this.currentAgentName;
  }

  get agent(): AgentSession {
    return this.currentAgent;
  }

  // ── start and stop ──────────────────────────────────────────────────────────────────────────

  async open(options: AgentCommandOptions): Promise<void> {
    const { sessions, config } = this.workspace;
    if (options.session !== undefined) {
      await sessions.get(options.session); // not_found before anything is written
      const agent = options.agent ?? (await this.workspace.lastAgentOf(options.session)) ?? config.defaultAgent;
      await this.attach(options.session, agent, { created: false });
      return;
    }
    const agent = options.agent ?? config.defaultAgent;
    await this.workspace.configFor(agent); // an unknown agent or a bad --model: nothing is created
    const session = await sessions.create();
    await this.attach(session.id, agent, { created: true });
  }

  /**
   * Makes `sessionId` the conversation, run by `agent`: initializes the agent there (a failure
   * leaves the current conversation as it was), then prints the banner and, for an existing
   * session, its latest messages.
   */
  async attach(sessionId: string, agentName: string, how: { created: boolean }): Promise<void> {
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
    if (!how.created) await showHistory(this.screen, this.workspace, sessionId);
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
    return this.screen.palette.paint(
      agentColor(this.currentAgentName, this.workspace.colorOf(this.currentAgentName)),
      this.currentAgentName,
    );
  }

  promptText(): string {
    return this.screen.palette.paint(
      agentColor(this.currentAgentName, this.workspace.colorOf(this.currentAgentName)),
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
    const controller = new AbortController();
    this.turn = { controller };
    const view = new TurnView(this.screen, this.currentAgentName, this.assistantLabel(this.currentAgentName));
    let approvals: Promise<void> = Promise.resolve();
    try {
      const result = await this.currentAgent.runTurn(text, {
        signal: controller.signal,
        onEvent: (event) => {
          view.event(event);
          if (event.type === "event" && event.event.type === "approval_request") {
            const request = event.event;
            approvals = approvals.then(async () => {
              await view.idle(); // the prompt comes after what the turn showed before it
              await this.askApproval(request, controller.signal);
            });
          }
        },
      });
      await approvals;
      await view.finish(result);
    } catch (error) {
      await view.settle(); // what the turn showed comes before its error
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
