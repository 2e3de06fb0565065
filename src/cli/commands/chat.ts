// `frontdesk chat`: the command's registration and the REPL loop that wires the chat's parts
// together: input (chat/input.ts), the screen (chat/screen.ts), the conversation and its turns
// (chat/session.ts) and the slash commands (chat/commands.ts).
import type { Command } from "commander";
import { openAgentBackend } from "../agent-backend.ts";
import type { AgentBackend, AgentCommandOptions } from "../agents.ts";
import { completeCommand, runCommand } from "../chat/commands.ts";
import { ChatInput } from "../chat/input.ts";
import { ChatScreen } from "../chat/screen.ts";
import { Conversation } from "../chat/session.ts";
import { UsageError } from "../failures.ts";
import { absorbWriteErrors, type CliIo } from "../io.ts";
import { addAgentOptions } from "./run.ts";

export function registerChatCommand(program: Command, io: CliIo): void {
  addAgentOptions(
    program.command("chat").description("talk with an agent in the terminal: streamed replies, tools, approvals"),
  ).action(async (options: AgentCommandOptions) => {
    await Chat.start(options, io);
  });
}

/**
 * `frontdesk chat`: a REPL over one session at a time. Everything the conversation shows goes to
 * stdout (the prompt, the streamed reply, tool lines); errors go to stderr. On a terminal it uses
 * readline's line editing, history and tab completion; with piped input it reads line by line and
 * echoes each line after its prompt, so a transcript reads the same.
 */
class Chat {
  readonly screen: ChatScreen;
  readonly input: ChatInput;
  readonly conversation: Conversation;
  private leaving = false;

  private constructor(
    readonly io: CliIo,
    readonly workspace: AgentBackend,
  ) {
    this.screen = new ChatScreen(io);
    this.input = new ChatInput(io, this.screen);
    this.conversation = new Conversation(workspace, this.screen, this.input);
  }

  static async start(options: AgentCommandOptions, io: CliIo): Promise<void> {
    if (io.stdin === undefined) throw new UsageError("chat reads its input from stdin, and there is none");
    // A terminal that went away fails writes with EIO, maybe after main() returned.
    absorbWriteErrors(io.stdout);
    absorbWriteErrors(io.stderr);
    const workspace = await openAgentBackend(options, io);
    const chat = new Chat(io, workspace);
    try {
      await chat.conversation.open(options);
      await chat.loop();
    } finally {
      await chat.shutdown();
    }
  }

  private async shutdown(): Promise<void> {
    this.input.close();
    await this.conversation.close();
    await this.workspace.close().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    const { conversation, screen } = this;
    const removeSignals = this.input.startReading({
      cancelTurn: (reason) => conversation.cancelTurn(reason),
      leave: () => {
        this.leaving = true;
        conversation.leave("The chat is closing");
      },
      promptText: () => conversation.promptText(),
      complete: (line) => completeCommand(line, this.workspace.config.agents),
    });
    // Printed once the terminal is in raw mode: keys typed after it are read, never echoed twice.
    screen.line(screen.palette.dim("Type a message, /help for commands, Ctrl-D to exit."));
    try {
      await this.followRunning();
      while (!this.leaving) {
        const item = await this.input.read(conversation.promptText());
        if (item.kind !== "line") break; // the end of input, or leaving
        await this.handle(item.text);
        await this.followRunning();
      }
      screen.newline();
    } finally {
      removeSignals();
    }
  }

  /** A session attached (at the start, or by /resume) while a turn ran there: its reply, live, before the prompt. */
  private async followRunning(): Promise<void> {
    try {
      await this.conversation.followRunning();
    } catch (error) {
      this.screen.error(error);
    }
  }

  private async handle(text: string): Promise<void> {
    const trimmed = text.trim();
    if (trimmed === "") return;
    try {
      if (trimmed.startsWith("//")) await this.conversation.runTurn(trimmed.slice(1));
      else if (trimmed.startsWith("/")) {
        if ((await runCommand(this, trimmed)) === "leave") this.leaving = true;
      } else await this.conversation.runTurn(text);
    } catch (error) {
      this.screen.error(error);
    }
  }
}
