import type { Command } from "commander";
import type { AgentStreamEvent, TurnResult } from "../../agent/types.ts";
import { openAgentBackend } from "../agent-backend.ts";
import { type AgentCommandOptions, type AgentRunner, describeCall, describeResult } from "../agents.ts";
import { CommandExit, EXIT_CODE, UsageError } from "../failures.ts";
import { type CliIo, writeLine } from "../io.ts";
import { onStopSignals, type StopSignal, signalExitCode } from "../signals.ts";
import { readStdinText } from "../streams.ts";
import { truncate } from "../table.ts";

interface RunOptions extends AgentCommandOptions {
  json?: boolean;
  approveAll?: boolean;
}

/** Why a headless run denies a tool: nobody is there to answer. */
export const HEADLESS_DENIAL = "no one to ask in a headless run (pass --approve-all to approve)";

/** The options `chat` and `run` share, in the same words. */
export function addAgentOptions(command: Command): Command {
  return command
    .option("--agent <name>", "the agent to run (default: the session's last agent, else the config's defaultAgent)")
    .option("--session <id>", "continue this session of yours (default: a new session)")
    .option("--model <model>", "run the agent on this model: a key of the config's models, or provider:modelId")
    .option(
      "--store <url>",
      "the store, opened in this process (default: $FRONTDESK_STORE, else the config file's store, else sqlite:./.frontdesk/frontdesk.db)",
    )
    .option(
      "--server <url>",
      "run the turns on a running server instead of opening the store (default: $FRONTDESK_SERVER unless --store is given)",
    )
    .option("--key <key>", "API key for --server (default: $FRONTDESK_KEY)")
    .option(
      "--user <id>",
      "whose sessions (default: $FRONTDESK_USER, else local; with --server: the key's user, another one only for an admin key)",
    )
    .option(
      "--config <file>",
      "the agent config (default: $FRONTDESK_CONFIG, else ./frontdesk.config.json if present)",
    );
}

export function registerRunCommand(program: Command, io: CliIo): void {
  addAgentOptions(
    program
      .command("run")
      .description("run one agent turn headless: prints the reply (or every event with --json)")
      .argument("<message>", "the user's message, or - to read it from stdin"),
  )
    .option("--json", "print every event as one JSON line (deltas, tool calls, persisted events, then done)")
    .option("--approve-all", "approve every tool call the agent asks approval for (default: deny them)")
    .action(async (message: string, options: RunOptions) => {
      await runOnce(message, options, io);
    });
}

async function runOnce(message: string, options: RunOptions, io: CliIo): Promise<void> {
  // `echo hi | frontdesk run -`: the line end that closes the input is not part of the message.
  const text = message === "-" ? (await readStdinText(io)).replace(/\r?\n$/, "") : message;
  if (text.trim() === "") throw new UsageError("The message is empty");
  const workspace = await openAgentBackend(options, io);
  try {
    const sessions = workspace.sessions;
    let agentName = options.agent;
    if (options.session !== undefined) {
      await sessions.get(options.session); // not_found before anything is written
      agentName ??= await workspace.lastAgentOf(options.session);
    }
    agentName ??= workspace.defaultAgent;
    await workspace.prepare(agentName); // an unknown agent or a bad --model: nothing is created

    const created =
      options.session === undefined
        ? await sessions.create({ title: truncate(text.replace(/\s+/g, " ").trim(), 80) })
        : undefined;
    const sessionId = options.session ?? (created?.id as string);

    let agent: AgentRunner | undefined;
    const output = options.json ? new JsonOutput(io) : new TextOutput(io);
    const answer = (approvalId: string, tool: string, input: unknown): void => {
      const approve = options.approveAll === true;
      writeLine(io.stderr, `${approve ? "approved" : "denied"} ${describeCall(tool, input as never)}`);
      const answered = approve ? agent?.approve(approvalId) : agent?.deny(approvalId, HEADLESS_DENIAL);
      // A cancelled turn closes its approvals: answering one then is a harmless conflict.
      void answered?.catch(() => undefined);
    };
    const onEvent = (event: AgentStreamEvent): void => {
      output.event(event);
      if (event.type === "event" && event.event.type === "approval_request") {
        answer(event.event.approvalId, event.event.tool, event.event.input);
      }
    };
    agent = await workspace.agentSession(sessionId, agentName, onEvent);

    let result: TurnResult;
    let stoppedBy: StopSignal | undefined;
    const controller = new AbortController();
    const removeSignals = onStopSignals(io, (signal) => {
      stoppedBy ??= signal;
      controller.abort(new DOMException(`Interrupted (${signal})`, "AbortError"));
      // The turn winds down (its partial reply is written); a second signal kills the process.
      removeSignals();
    });
    try {
      try {
        await agent.initialize();
        if (created) writeLine(io.stderr, `session ${sessionId}`);
        result = await agent.runTurn(text, { signal: controller.signal });
      } catch (error) {
        // Refused before the turn started: a session made for it would only hold the failure.
        if (created) await sessions.delete(sessionId).catch(() => undefined);
        throw error;
      }
    } finally {
      removeSignals();
    }

    output.done(sessionId, result);
    if (result.finish === "cancelled") {
      throw new CommandExit(signalExitCode(stoppedBy ?? "SIGINT"), "cancelled: the turn was cancelled");
    }
    if (result.finish === "error") {
      throw new CommandExit(
        EXIT_CODE.failure,
        `${result.error?.code ?? "internal"}: ${result.error?.message ?? "The turn failed"}`,
      );
    }
  } finally {
    await workspace.close();
  }
}

interface RunOutput {
  event(event: AgentStreamEvent): void;
  done(sessionId: string, result: TurnResult): void;
}

/** `--json`: every event as it comes, then one `done` line with the outcome. */
class JsonOutput implements RunOutput {
  constructor(private readonly io: CliIo) {}

  event(event: AgentStreamEvent): void {
    writeLine(this.io.stdout, JSON.stringify(event));
  }

  done(sessionId: string, result: TurnResult): void {
    const { events: _events, ...outcome } = result;
    writeLine(this.io.stdout, JSON.stringify({ type: "done", sessionId, ...outcome }));
  }
}

/** The reply's text on stdout as it streams (each model step on its own line); tools on stderr. */
class TextOutput implements RunOutput {
  private step: number | undefined;
  private open = false;

  constructor(private readonly io: CliIo) {}

  event(event: AgentStreamEvent): void {
    if (event.type === "delta") {
      if (event.text === "") return;
      if (this.open && this.step !== event.step) this.io.stdout.write("\n");
      this.step = event.step;
      this.open = !event.text.endsWith("\n");
      this.io.stdout.write(event.text);
      return;
    }
    if (event.type !== "event") return;
    const written = event.event;
    if ((written.type === "tool_call" || written.type === "tool_result") && this.open) {
      // End the reply's line before a tool line: on a terminal the two streams share the screen,
      // and stdout gets the same bytes either way (the next step would start a new line).
      this.io.stdout.write("\n");
      this.open = false;
    }
    if (written.type === "tool_call") {
      writeLine(this.io.stderr, `→ ${describeCall(written.tool, written.input)}`);
    } else if (written.type === "tool_result") {
      const result = describeResult(written);
      writeLine(this.io.stderr, `${result.ok ? "←" : "✗"} ${written.tool}: ${result.text}`);
    }
  }

  done(_sessionId: string, result: TurnResult): void {
    // A model that did not stream still has its reply printed.
    if (this.step === undefined && result.text !== "") {
      this.io.stdout.write(result.text);
      this.open = !result.text.endsWith("\n");
    }
    if (this.open) this.io.stdout.write("\n");
    this.open = false;
  }
}
