import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerChatCommand } from "./commands/chat.ts";
import { registerKeyCommands } from "./commands/keys.ts";
import { registerMcpCommand } from "./commands/mcp.ts";
import { registerRunCommand } from "./commands/run.ts";
import { registerServeCommand } from "./commands/serve.ts";
import { registerSessionCommands } from "./commands/sessions.ts";
import { registerStoreCommands } from "./commands/store.ts";
import { registerUserCommands } from "./commands/users.ts";
import { describeFailure, describeStack, EXIT_CODE } from "./failures.ts";
import { absorbWriteErrors, type CliIo, writeLine } from "./io.ts";

export { EXIT_CODE } from "./failures.ts";
export type { CliIo } from "./io.ts";

/** The package version, read once from package.json (two levels up from src/cli and dist/cli alike). */
const version = (): string => {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
};

function buildProgram(io: CliIo): Command {
  const program = new Command("frontdesk")
    .description("Frontdesk: session management for AI agents")
    .version(version(), "-V, --version", "print the version")
    .option("--debug", "on failure, print the stack trace too")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      // Commander writes to stderr only for errors and help-on-error; main() reports both as one
      // line instead, like every other failure.
      writeErr: () => {},
      outputError: () => {},
    })
    .showSuggestionAfterError(true);
  registerServeCommand(program, io);
  registerChatCommand(program, io);
  registerRunCommand(program, io);
  registerSessionCommands(program, io);
  registerKeyCommands(program, io);
  registerUserCommands(program, io);
  registerStoreCommands(program, io);
  registerMcpCommand(program, io);
  // Every subcommand exits and reports the same way as the program.
  const configure = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput(program.configureOutput());
      configure(sub);
    }
  };
  configure(program);
  return program;
}

/** The command words of argv that name (sub)commands, e.g. `frontdesk sessions`. */
function commandPath(program: Command, argv: readonly string[]): string {
  const names = [program.name()];
  let current = program;
  for (const word of argv) {
    if (word.startsWith("-")) continue;
    const next = current.commands.find((command) => command.name() === word || command.aliases().includes(word));
    if (!next) break;
    names.push(next.name());
    current = next;
  }
  return names.join(" ");
}

/**
 * Runs one `frontdesk` command line and resolves with its exit code: 0 done, 1 failed, 2 bad
 * usage or input. Never calls `process.exit` and never writes outside `io`; a failure is one line
 * on stderr (`frontdesk: not_found: Session not found`), with the stack only under `--debug`.
 *
 * @example process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  const debug = argv.includes("--debug");
  // A reader that goes away (`frontdesk sessions export s1 | head`) makes stdout emit EPIPE; the
  // write that hits it fails the command in one line instead of crashing the process.
  absorbWriteErrors(io.stdout);
  absorbWriteErrors(io.stderr);
  try {
    if (argv.length === 0) {
      writeLine(
        io.stderr,
        "frontdesk: usage: missing command (serve, chat, run, sessions, keys, users, store, mcp); see frontdesk --help",
      );
      return EXIT_CODE.usage;
    }
    await program.parseAsync([...argv], { from: "user" });
    return EXIT_CODE.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT_CODE.ok;
      if (error.code === "commander.help") {
        // A command group without its subcommand.
        const path = commandPath(program, argv);
        writeLine(io.stderr, `frontdesk: usage: missing command; see ${path} --help`);
        return EXIT_CODE.usage;
      }
    }
    const failure = describeFailure(error);
    if (failure.line !== "") writeLine(io.stderr, failure.line);
    if (debug) writeLine(io.stderr, describeStack(error));
    return failure.exitCode;
  }
}
