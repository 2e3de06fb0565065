import { createInterface, type Interface } from "node:readline";
import type { Command } from "commander";
import type { AgentSession } from "../../agent/agent-session.ts";
import type { PendingApproval } from "../../agent/approvals.ts";
import type { AgentStreamEvent, TurnResult } from "../../agent/types.ts";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { Json, SessionEvent } from "../../core/model.ts";
import {
  type AgentCommandOptions,
  AgentWorkspace,
  calledTools,
  compactJson,
  contentText,
  describeCall,
  describeResult,
} from "../agents.ts";
import { agentColor, colorEnabled, createPalette, type Palette } from "../colors.ts";
import { describeFailure, UsageError } from "../failures.ts";
import { absorbStreamErrors, absorbWriteErrors, type CliIo, isInteractive } from "../io.ts";
import { displayWidth, terminalText, WordWrapper, writeWrapped } from "../render.ts";
import { onStopSignals } from "../signals.ts";
import { createOutputFile, writeChunk } from "../streams.ts";
import { formatTime, renderTable, truncate } from "../table.ts";
import { addAgentOptions } from "./run.ts";

/** The REPL's commands, for `/help` and tab completion. */
export const CHAT_COMMANDS: readonly (readonly [string, string])[] = [
  ["/help", "this help"],
  ["/exit", "leave (also Ctrl-D)"],
  ["/sessions", "your recent sessions"],
  ["/resume ID", "continue another of your sessions"],
  ["/new", "start a new session"],
  ["/agent [NAME]", "switch agents in this conversation (no name: list the agents)"],
  ["/fork", "fork this session at its last event and continue in the fork"],
  ["/export [FILE]", "write this session as NDJSON to FILE (else here)"],
  ["/approve [ID]", "approve a pending tool call"],
  ["/deny [ID] [REASON]", "deny a pending tool call"],
];

/** How many of the latest messages a resumed conversation shows. */
const RESUME_MESSAGES = 6;
/** How many of the latest message, summary and tool-result events are read to show them. */
const RESUME_EVENTS = 80;
const EXIT_HINT = "(To exit, press Ctrl-C again or Ctrl-D, or type /exit)";

export function registerChatCommand(program: Command, io: CliIo): void {
  addAgentOptions(
    program.command("chat").description("talk with an agent in the terminal: streamed replies, tools, approvals"),
  ).action(async (options: AgentCommandOptions) => {
    await Chat.start(options, io);
  });
}

/** `typedAhead`: entered on a terminal while no prompt was waiting (during a turn). */
type Input =
  | { kind: "line"; text: string; typedAhead: boolean }
  | { kind: "eof" }
  | { kind: "exit" }
  | { kind: "aborted" };

/**
 * Lines typed (or piped) in, in order, read one at a time by the REPL and by approval prompts.
 * Piped input arrives all at once and waits here until it is asked for; the end of input is
 * sticky, and `stop()` makes every read answer `exit` at once.
 */
class InputQueue {
  private readonly items: Input[] = [];
  private waiter: ((item: Input) => void) | undefined;
  private ended = false;
  private stopped = false;

  push(text: string, typedAhead: boolean): void {
    this.deliver({ kind: "line", text, typedAhead });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.deliver({ kind: "eof" });
  }

  stop(): void {
    this.stopped = true;
    this.deliver({ kind: "exit" });
  }

  private deliver(item: Input): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(item);
    } else if (item.kind !== "exit") {
      this.items.push(item);
    }
  }

  /** The next input; `aborted` when `signal` aborts first. */
  next(signal?: AbortSignal): Promise<Input> {
    if (this.stopped) return Promise.resolve({ kind: "exit" });
    if (signal?.aborted) return Promise.resolve({ kind: "aborted" });
    const item = this.items.shift();
    if (item) {
      // The end of input stays: every later read sees it too.
      if (item.kind === "eof") this.items.unshift(item);
      return Promise.resolve(item);
    }
    return new Promise<Input>((resolve) => {
      const onAbort = () => {
        if (this.waiter === settle) this.waiter = undefined;
        resolve({ kind: "aborted" });
      };
      const settle = (value: Input) => {
        signal?.removeEventListener("abort", onAbort);
        if (value.kind === "eof") this.items.unshift(value);
        resolve(value);
      };
      this.waiter = settle;
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** The running turn: what Ctrl-C cancels. */
interface RunningTurn {
  readonly controller: AbortController;
}

/**
 * `frontdesk chat`: a REPL over one session at a time. Everything the conversation shows goes to
 * stdout (the prompt, the streamed reply, tool lines); errors go to stderr. On a terminal it uses
 * readline's line editing, history and tab completion; with piped input it reads line by line and
 * echoes each line after its prompt, so a transcript reads the same.
 */
class Chat {
  private readonly input = new InputQueue();
  private readonly palette: Palette;
  private readonly terminal: boolean;
  private rl: Interface | undefined;
  private sessionId = "";
  private agentName = "";
  private agent!: AgentSession;
  private titled = true;
  private turn: RunningTurn | undefined;
  /** Ctrl-C presses in a row at an empty prompt. */
  private interrupts = 0;
  private atLineStart = true;
  /** A prompt is shown and waits for a line. */
  private awaiting = false;
  private leaving = false;

  private constructor(
    private readonly io: CliIo,
    private readonly workspace: AgentWorkspace,
  ) {
    const stdinTty = (io.stdin as { isTTY?: boolean } | undefined)?.isTTY === true;
    this.terminal = stdinTty && isInteractive(io.stdout);
    this.palette = createPalette(colorEnabled(io.stdout, io.env));
  }

  static async start(options: AgentCommandOptions, io: CliIo): Promise<void> {
    if (io.stdin === undefined) throw new UsageError("chat reads its input from stdin, and there is none");
    // A terminal that went away fails writes with EIO, maybe after main() returned.
    absorbWriteErrors(io.stdout);
    absorbWriteErrors(io.stderr);
    const workspace = await AgentWorkspace.open(options, io);
    const chat = new Chat(io, workspace);
    try {
      await chat.open(options);
      await chat.loop();
    } finally {
      await chat.shutdown();
    }
  }

  // ── start and stop ──────────────────────────────────────────────────────────────────────────

  private async open(options: AgentCommandOptions): Promise<void> {
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
  private async attach(sessionId: string, agentName: string, how: { created: boolean }): Promise<void> {
    const agent = await this.workspace.agentSession(sessionId, agentName);
    try {
      await agent.initialize();
    } catch (error) {
      // A session made only for this chat would hold nothing but the failure.
      if (how.created) await this.workspace.sessions.delete(sessionId).catch(() => undefined);
      throw error;
    }
    const previous = this.sessionId !== "" && this.sessionId !== sessionId ? this.agent : undefined;
    this.agent = agent;
    this.sessionId = sessionId;
    this.agentName = agentName;
    const session = await this.workspace.sessions.get(sessionId);
    this.titled = session.title !== null;
    this.line(`session ${sessionId} · agent ${this.agentLabel()}`);
    if (!how.created) await this.showHistory();
    // The conversation left behind records that its agent closed.
    await previous?.close().catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    this.rl?.close();
    if (this.io.stdin === process.stdin) process.stdin.destroy();
    if (this.agent) await this.agent.close().catch(() => undefined);
    await this.workspace.close().catch(() => undefined);
  }

  // ── the loop ────────────────────────────────────────────────────────────────────────────────

  private async loop(): Promise<void> {
    const stdin = this.io.stdin as NonNullable<CliIo["stdin"]>;
    const rl = createInterface({
      input: stdin,
      output: this.io.stdout,
      terminal: this.terminal,
      historySize: 200,
      completer: (line: string) => this.complete(line),
    });
    this.rl = rl;
    rl.on("line", (text) => {
      this.input.push(text, this.terminal && !this.awaiting);
      this.awaiting = false;
    });
    rl.on("close", () => this.input.end());
    rl.on("SIGINT", () => this.interrupt());
    // A terminal that goes away (the window closed: EIO on read or on leaving raw mode) must not
    // crash the process: the input ends, SIGHUP stops the chat, the turn is cancelled cleanly.
    // The listener on stdin stays: a late EIO may come after readline has let go of it.
    rl.on("error", () => this.input.end());
    absorbStreamErrors(stdin);
    const removeSignals = onStopSignals(this.io, (signal) => {
      if (signal === "SIGINT") this.interrupt();
      else this.stop();
    });
    // Printed once the terminal is in raw mode: keys typed after it are read, never echoed twice.
    this.line(this.palette.dim("Type a message, /help for commands, Ctrl-D to exit."));
    try {
      while (!this.leaving) {
        this.prompt(this.promptText());
        const item = await this.input.next();
        if (item.kind === "exit" || item.kind === "aborted") break;
        if (item.kind === "eof") break;
        this.received(item);
        this.interrupts = 0;
        await this.handle(item.text);
      }
      this.newline();
    } finally {
      removeSignals();
    }
  }

  /** Ctrl-C: cancels the running turn; at the prompt clears the line, or hints, and the second in a row exits. */
  private interrupt(): void {
    const typed = this.rl !== undefined && this.terminal && this.rl.line !== "";
    if (typed) {
      this.rl?.write(null, { ctrl: true, name: "e" });
      this.rl?.write(null, { ctrl: true, name: "u" });
    }
    if (this.turn) {
      if (!this.turn.controller.signal.aborted) {
        this.turn.controller.abort(new DOMException("Cancelled with Ctrl-C", "AbortError"));
      }
      return;
    }
    if (typed) {
      this.interrupts = 0;
      return;
    }
    this.interrupts++;
    if (this.interrupts >= 2) {
      this.stop();
      return;
    }
    this.newline();
    this.line(this.palette.dim(EXIT_HINT));
    this.prompt(this.promptText());
  }

  /** SIGTERM, SIGHUP, a second Ctrl-C: cancel the turn and leave now. */
  private stop(): void {
    this.leaving = true;
    this.turn?.controller.abort(new DOMException("The chat is closing", "AbortError"));
    this.input.stop();
  }

  private async handle(text: string): Promise<void> {
    const trimmed = text.trim();
    if (trimmed === "") return;
    try {
      if (trimmed.startsWith("//")) await this.runTurn(trimmed.slice(1));
      else if (trimmed.startsWith("/")) await this.command(trimmed);
      else await this.runTurn(text);
    } catch (error) {
      this.error(error);
    }
  }

  // ── commands ────────────────────────────────────────────────────────────────────────────────

  private async command(text: string): Promise<void> {
    const [name = "", ...args] = text.split(/\s+/);
    const rest = text.slice(name.length).trim();
    switch (name.toLowerCase()) {
      case "/help":
      case "/?":
        return this.help();
      case "/exit":
      case "/quit":
        this.leaving = true;
        return;
      case "/sessions":
        return this.listSessions();
      case "/resume": {
        if (args.length !== 1) throw new UsageError("usage: /resume ID (/sessions lists them)");
        const id = args[0] as string;
        if (id === this.sessionId) throw new UsageError(`This is session ${id} already`);
        await this.workspace.sessions.get(id);
        const agent = (await this.workspace.lastAgentOf(id)) ?? this.agentName;
        await this.attach(id, agent, { created: false });
        return;
      }
      case "/new": {
        const session = await this.workspace.sessions.create();
        await this.attach(session.id, this.agentName, { created: true });
        return;
      }
      case "/agent":
        if (args.length === 0) return this.listAgents();
        return this.switchAgent(args[0] as string);
      case "/fork": {
        const source = this.sessionId;
        const fork = await this.workspace.sessions.fork(source);
        this.line(`forked session ${source} at #${fork.lastSeq}`);
        await this.attach(fork.id, this.agentName, { created: false });
        return;
      }
      case "/export":
        return this.exportSession(rest === "" ? undefined : rest);
      case "/approve":
        return this.answerPending("approve", args);
      case "/deny":
        return this.answerPending("deny", args);
      default:
        throw new FrontdeskError(
          "invalid_request",
          `Unknown command ${name}: /help lists the commands (start with // to send a message beginning with /)`,
        );
    }
  }

  private help(): void {
    const width = Math.max(...CHAT_COMMANDS.map(([usage]) => usage.length));
    for (const [usage, what] of CHAT_COMMANDS) this.line(`  ${usage.padEnd(width)}  ${what}`);
    this.line(
      this.palette.dim(
        "  Ctrl-C cancels a running turn (its partial reply is kept); at the prompt, twice exits. Ctrl-D exits.",
      ),
    );
    this.line(this.palette.dim("  Start a message with // to send text that begins with /."));
  }

  private async listSessions(): Promise<void> {
    const page = await this.workspace.sessions.listSessions({ orderBy: "updatedAt", order: "desc", limit: 10 });
    if (page.items.length === 0) {
      this.line("no sessions");
      return;
    }
    const rows = page.items.map((session) => [
      session.id === this.sessionId ? "*" : " ",
      session.id,
      formatTime(session.updatedAt),
      String(session.lastSeq),
      truncate(session.title ?? "-", 50),
    ]);
    for (const row of renderTable(["", "ID", "UPDATED", "EVENTS", "TITLE"], rows)) this.line(row);
    if (page.nextCursor !== null) this.line(this.palette.dim("(older sessions: frontdesk sessions list --user …)"));
  }

  private listAgents(): void {
    for (const [name, agent] of Object.entries(this.workspace.config.agents)) {
      const mark = name === this.agentName ? "*" : " ";
      const label = this.palette.paint(agentColor(name, agent.color), name);
      this.line(`${mark} ${label}${agent.description ? `  ${this.palette.dim(agent.description)}` : ""}`);
    }
  }

  private async switchAgent(name: string): Promise<void> {
    if (name === this.agentName) {
      this.line(`agent ${this.agentLabel()} already`);
      return;
    }
    this.workspace.assertAgent(name);
    const agent = await this.workspace.agentSession(this.sessionId, name);
    await agent.initialize();
    this.agent = agent;
    this.agentName = name;
    this.line(`agent ${this.agentLabel()}`);
  }

  private async exportSession(file: string | undefined): Promise<void> {
    const lines = this.workspace.sessions.exportSession(this.sessionId);
    if (file === undefined) {
      this.newline();
      for await (const line of lines) await writeChunk(this.io.stdout, `${line}\n`);
      return;
    }
    const output = await createOutputFile(file);
    let events = -1;
    try {
      for await (const line of lines) {
        await writeChunk(output.stream, `${line}\n`);
        events++;
      }
      await output.commit();
    } catch (error) {
      await output.discard();
      throw error;
    }
    this.line(`exported ${events} events to ${file}`);
  }

  /** `/approve [ID]`, `/deny [ID] [REASON]` at the prompt: answers a request waiting in this session. */
  private async answerPending(decision: "approve" | "deny", args: readonly string[]): Promise<void> {
    const pending = await this.agent.pendingApprovals();
    let target: PendingApproval | undefined;
    let reasonWords = args;
    const named = args[0] === undefined ? undefined : pending.find((item) => item.approvalId === args[0]);
    if (named) {
      target = named;
      reasonWords = args.slice(1);
    } else if (args[0]?.startsWith("apr_")) {
      throw new FrontdeskError("not_found", `No pending approval ${args[0]} in this session`);
    } else if (pending.length === 1) {
      target = pending[0];
    } else if (pending.length === 0) {
      this.line("no pending approvals");
      return;
    } else {
      for (const item of pending) this.line(`  ${item.approvalId}  ${describeCall(item.tool, item.input)}`);
      throw new UsageError(`${pending.length} approvals are pending: name one (/${decision} ID)`);
    }
    if (!target) return;
    const reason = decision === "deny" && reasonWords.length > 0 ? reasonWords.join(" ") : undefined;
    if (decision === "approve") await this.agent.approve(target.approvalId);
    else await this.agent.deny(target.approvalId, reason);
    this.line(`${decision === "approve" ? "approved" : "denied"} ${describeCall(target.tool, target.input)}`);
  }

  // ── turns ───────────────────────────────────────────────────────────────────────────────────

  private async runTurn(text: string): Promise<void> {
    if (!this.titled) {
      this.titled = true;
      await this.workspace.sessions
        .patch(this.sessionId, { title: truncate(text.replace(/\s+/g, " ").trim(), 80) })
        .catch(() => undefined);
    }
    const controller = new AbortController();
    this.turn = { controller };
    const view = new TurnView(this, this.agentName);
    let approvals: Promise<void> = Promise.resolve();
    try {
      const result = await this.agent.runTurn(text, {
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
    this.newline();
    this.prompt(`  ${this.palette.yellow("approve")} ${describeCall(request.tool, request.input)}? [y/N] `);
    const item = await this.input.next(signal);
    if (item.kind === "aborted" || item.kind === "exit") {
      this.newline();
      return; // the cancelled turn closes the request itself
    }
    const answer = item.kind === "line" ? item.text.trim() : "";
    if (item.kind === "line") this.received(item);
    else this.newline();
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
      if (approve) await this.agent.approve(request.approvalId);
      else await this.agent.deny(request.approvalId, reason === "" ? undefined : reason);
    } catch (error) {
      // Answered elsewhere first, or the turn was cancelled meanwhile: the log has the outcome.
      if (!isFrontdeskError(error, "conflict")) this.error(error);
    }
  }

  // ── output ──────────────────────────────────────────────────────────────────────────────────

  /**
   * The latest messages of the conversation, as the turns showed them: each tool call the
   * assistant made with its result under it (from the session's `tool_result` events, or the
   * tool message when that event is older than what was read).
   */
  private async showHistory(): Promise<void> {
    const events = await this.workspace.sessions.readEvents(this.sessionId, {
      last: RESUME_EVENTS,
      types: ["message", "summary", "tool_result"],
    });
    const shown = new Set(
      events
        .filter((event) => event.type === "summary" || (event.type === "message" && event.role !== "tool"))
        .slice(-RESUME_MESSAGES),
    );
    if (shown.size === 0) return;
    const results = resultsOfCalls(events);
    const { palette } = this;
    this.line(palette.dim("── earlier in this conversation ──"));
    for (const event of events) {
      if (!shown.has(event)) continue;
      if (event.type === "summary") {
        this.paragraph(palette.dim("(summary) "), 10, truncate(event.text.replace(/\s+/g, " "), 200), {
          style: palette.dim,
        });
        continue;
      }
      if (event.type !== "message") continue;
      const text = truncate(contentText(event.content).trim(), 1000);
      if (event.role === "user") {
        this.paragraph(`${palette.dim(">")} `, 2, text);
      } else if (event.role === "assistant") {
        if (text !== "") {
          // Which agent wrote an earlier message is not recorded on it: the label stays neutral.
          const label = `${palette.bold("assistant")} ${palette.dim("›")} `;
          this.paragraph(label, "assistant › ".length, text, { cancelled: event.finish === "cancelled" });
        }
        const answers = results.get(event) ?? [];
        for (const [index, call] of calledTools(event.content).entries()) {
          this.line(palette.dim(`  → ${terminalText(describeCall(call.tool, call.input))}`));
          const result = answers[index];
          if (result) {
            const line = `  ← ${terminalText(`${call.tool}: ${result.text}`)}`;
            this.line(result.ok ? palette.dim(line) : palette.yellow(line));
          }
        }
      } else {
        this.paragraph(palette.dim(`${event.role}: `), event.role.length + 2, text, { style: palette.dim });
      }
    }
    this.line(palette.dim("──"));
  }

  agentLabel(): string {
    return this.palette.paint(agentColor(this.agentName, this.workspace.colorOf(this.agentName)), this.agentName);
  }

  assistantLabel(name: string): string {
    const color = agentColor(name, this.workspace.colorOf(name));
    return `${this.palette.paint(color, this.palette.bold(name))} ${this.palette.dim("›")} `;
  }

  private promptText(): string {
    return this.palette.paint(agentColor(this.agentName, this.workspace.colorOf(this.agentName)), "> ");
  }

  get colors(): Palette {
    return this.palette;
  }

  /** Shows a prompt and notes that the cursor now sits after it. */
  private prompt(text: string): void {
    const rl = this.rl;
    if (!rl) return;
    rl.setPrompt(text);
    rl.prompt();
    this.atLineStart = false;
    this.awaiting = true;
  }

  /**
   * A line is taken: a terminal has moved to the next line already when it was typed at the
   * prompt; piped input and lines typed ahead during a turn are echoed after the prompt.
   */
  private received(item: { text: string; typedAhead: boolean }): void {
    this.awaiting = false;
    if (this.terminal && !item.typedAhead) this.atLineStart = true;
    else this.write(`${item.text}\n`);
  }

  write(text: string): void {
    if (text === "" || this.io.stdout.destroyed) return;
    this.io.stdout.write(text);
    this.atLineStart = text.endsWith("\n");
  }

  /** Ends the current line unless the cursor is at the start of one. */
  newline(): void {
    if (!this.atLineStart) this.write("\n");
  }

  line(text: string): void {
    this.newline();
    this.write(`${text}\n`);
  }

  /** One line on stderr, `error: <code>: <message>`, for every error the chat survives. */
  error(error: unknown): void {
    this.newline();
    // A malformed command at the prompt is a bad request like any other, not a bad command line.
    const failure = error instanceof UsageError ? new FrontdeskError("invalid_request", error.message) : error;
    this.report(describeFailure(failure).line.replace(/^frontdesk: /, ""));
  }

  /** `error: <code>: <message>` on stderr, on a line of its own. */
  report(codeAndMessage: string): void {
    this.newline();
    const line = terminalText(codeAndMessage.replace(/\s+/g, (run) => (run.includes("\n") ? " " : run)));
    if (!this.io.stderr.destroyed) this.io.stderr.write(`${this.palette.red("error:")} ${line}\n`);
  }

  /**
   * The width replies wrap at: the terminal's columns, read at each use so a resized window is
   * followed. None when stdout is not a terminal (a transcript in a file keeps its lines whole).
   */
  columns(): number | undefined {
    const stdout = this.io.stdout as { isTTY?: boolean; columns?: number };
    return stdout.isTTY === true && typeof stdout.columns === "number" && stdout.columns > 0
      ? stdout.columns
      : undefined;
  }

  /** A word wrapper at this chat's width. */
  wrapper(): WordWrapper {
    return new WordWrapper(() => this.columns());
  }

  /**
   * `label` (already styled, `labelWidth` columns wide), then `text` wrapped at word boundaries,
   * then `[cancelled]` when the reply was cut off.
   */
  paragraph(
    label: string,
    labelWidth: number,
    text: string,
    options: { style?: (text: string) => string; cancelled?: boolean } = {},
  ): void {
    const wrapper = this.wrapper();
    wrapper.startAt(labelWidth);
    const body = wrapper.push(text) + wrapper.end();
    this.newline();
    this.write(`${label}${options.style ? options.style(body) : body}`);
    if (options.cancelled) this.cancelledMark(wrapper.cursor);
    this.newline();
  }

  /** `[cancelled]` after text ending at `column`: on the same line if it fits. */
  cancelledMark(column: number): void {
    const mark = "[cancelled]";
    const width = this.columns();
    const fits = width === undefined || column + 1 + mark.length <= width;
    this.write(`${fits ? " " : "\n"}${this.palette.yellow(mark)}`);
  }

  private complete(line: string): [string[], string] {
    if (line.startsWith("/agent ")) {
      const prefix = line.slice("/agent ".length);
      const names = Object.keys(this.workspace.config.agents).filter((name) => name.startsWith(prefix));
      return [names, prefix];
    }
    if (!line.startsWith("/") || /\s/.test(line)) return [[], line];
    const names = CHAT_COMMANDS.map(([usage]) => usage.split(" ")[0] as string).filter((name) => name.startsWith(line));
    return [names, line];
  }
}

type ToolResultEvent = Extract<SessionEvent, { type: "tool_result" }>;
type ShownResult = { ok: boolean; text: string };
type ToolOutputPart = { type?: unknown; value?: unknown; reason?: unknown };

/** A tool message's result part (AI SDK `ToolResultOutput`), said as the live view says a result. */
function describeOutputPart(output: ToolOutputPart | undefined): ShownResult {
  const value = (output?.value ?? null) as Json;
  switch (output?.type) {
    case "execution-denied":
      return {
        ok: false,
        text: `denied${typeof output.reason === "string" ? `: ${truncate(output.reason, 100)}` : ""}`,
      };
    case "error-text":
    case "error-json":
      return {
        ok: false,
        text: `failed: ${typeof value === "string" ? truncate(value, 100) : compactJson(value, 100)}`,
      };
    default:
      return { ok: true, text: compactJson(value, 100) };
  }
}

/**
 * What each tool call of each assistant message in `events` gave, by message and call index.
 * Within a turn (from one user message to the next) calls and `tool_result` events pair up in
 * order, by tool and input (the result event carries no call id); a call whose result event was
 * not read falls back to the tool message's part with the call's id.
 */
function resultsOfCalls(events: readonly SessionEvent[]): Map<SessionEvent, (ShownResult | undefined)[]> {
  const answers = new Map<SessionEvent, (ShownResult | undefined)[]>();
  const parts = new Map<string, ToolOutputPart | undefined>();
  type Call = { message: SessionEvent; index: number; tool: string; input: string; id: unknown };
  let pool: { event: ToolResultEvent; input: string }[] = [];
  let calls: Call[] = [];
  const settle = () => {
    for (const call of calls) {
      let at = pool.findIndex((result) => result.event.tool === call.tool && result.input === call.input);
      if (at === -1) at = pool.findIndex((result) => result.event.tool === call.tool);
      const shown = answers.get(call.message) as (ShownResult | undefined)[];
      if (at !== -1) {
        shown[call.index] = describeResult((pool[at] as { event: ToolResultEvent }).event);
        pool.splice(at, 1);
      } else if (typeof call.id === "string" && parts.has(call.id)) {
        shown[call.index] = describeOutputPart(parts.get(call.id));
      }
    }
    pool = [];
    calls = [];
  };
  for (const event of events) {
    if (event.type === "tool_result") {
      pool.push({ event, input: JSON.stringify(event.input ?? null) });
      continue;
    }
    if (event.type !== "message" || !Array.isArray(event.content)) {
      if (event.type === "message" && event.role === "user") settle();
      continue;
    }
    if (event.role === "user") settle();
    const content = event.content as {
      type?: unknown;
      toolCallId?: unknown;
      toolName?: unknown;
      input?: unknown;
      output?: unknown;
    }[];
    if (event.role === "tool") {
      for (const part of content) {
        if (part?.type === "tool-result" && typeof part.toolCallId === "string") {
          parts.set(part.toolCallId, part.output as ToolOutputPart | undefined);
        }
      }
    } else if (event.role === "assistant") {
      const made = content.filter((part) => part?.type === "tool-call");
      if (made.length === 0) continue;
      answers.set(event, []);
      for (const [index, part] of made.entries()) {
        calls.push({
          message: event,
          index,
          tool: String(part.toolName),
          input: JSON.stringify(part.input ?? null),
          id: part.toolCallId,
        });
      }
    }
  }
  settle();
  return answers;
}

/**
 * How one turn looks: the agent's label, its streamed text wrapped at word boundaries, one line
 * per tool call and result. Events are drawn in order through a queue, and a long text is drawn
 * in slices with the event loop free between them, so a huge reply never holds the loop.
 */
class TurnView {
  private step: number | undefined;
  private inText = false;
  /** Deltas seen since the last assistant message: a model that does not stream gets its text printed whole. */
  private streamed = false;
  private readonly wrapper: WordWrapper;
  private drawn: Promise<void> = Promise.resolve();

  constructor(
    private readonly chat: Chat,
    private readonly agentName: string,
  ) {
    this.wrapper = chat.wrapper();
  }

  event(event: AgentStreamEvent): void {
    this.drawn = this.drawn.then(() => this.draw(event)).catch((error: unknown) => this.chat.error(error));
  }

  /** Resolves once everything received so far is on the screen. */
  idle(): Promise<void> {
    return this.drawn;
  }

  private async draw(event: AgentStreamEvent): Promise<void> {
    const { chat } = this;
    if (event.type === "delta") {
      if (event.text === "") return;
      if (!this.inText || this.step !== event.step) this.label();
      this.step = event.step;
      this.inText = true;
      this.streamed = true;
      await this.text(event.text);
      return;
    }
    if (event.type !== "event") return;
    const written = event.event;
    const palette = chat.colors;
    switch (written.type) {
      case "tool_call":
        this.endText();
        chat.line(palette.dim(`  → ${terminalText(describeCall(written.tool, written.input as Json))}`));
        break;
      case "tool_result": {
        this.endText();
        const result = describeResult(written);
        const text = `  ← ${terminalText(`${written.tool}: ${result.text}`)}`;
        chat.line(result.ok ? palette.dim(text) : palette.yellow(text));
        break;
      }
      case "message":
        if (written.role === "assistant") {
          const text = contentText(written.content);
          if (!this.streamed && text !== "") {
            this.label();
            this.inText = true;
            await this.text(text);
          }
          this.streamed = false;
        }
        break;
      case "summary":
        this.endText();
        chat.line(palette.dim("(the earlier conversation was summarized to fit the context window)"));
        break;
    }
  }

  private text(text: string): Promise<void> {
    return writeWrapped(text, this.wrapper, (out) => this.chat.write(out));
  }

  /** Writes the word held back at the end of the text, if any: something else follows. */
  private endText(): void {
    if (this.inText) this.chat.write(this.wrapper.end());
    this.inText = false;
  }

  private label(): void {
    this.endText();
    this.chat.newline();
    this.chat.write(this.chat.assistantLabel(this.agentName));
    this.wrapper.startAt(displayWidth(this.agentName) + " › ".length);
  }

  /** Waits until everything received is drawn, the held-back word included. */
  async settle(): Promise<void> {
    await this.idle();
    this.endText();
  }

  async finish(result: TurnResult): Promise<void> {
    await this.idle();
    const inText = this.inText;
    const { chat } = this;
    const palette = chat.colors;
    this.endText();
    if (result.finish === "cancelled") {
      if (inText) chat.cancelledMark(this.wrapper.cursor);
      else chat.line(palette.yellow("[cancelled]"));
    } else if (result.finish === "error") {
      chat.report(`${result.error?.code ?? "internal"}: ${result.error?.message ?? "the turn failed"}`);
    }
    chat.newline();
  }
}
