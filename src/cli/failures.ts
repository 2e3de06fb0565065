import { isFrontdeskError } from "../core/errors.ts";

/** Process exit codes: scripts branch on these, so they never change meaning. */
export const EXIT_CODE = {
  /** Done. */
  ok: 0,
  /** The command was well formed but failed: not found, conflict, unreachable server, … */
  failure: 1,
  /** The command line or its input was invalid (also `invalid_request` from a store or server). */
  usage: 2,
} as const;

/** A command line the CLI cannot act on: a missing or conflicting option, a malformed value. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Ends a command with a chosen exit code: a turn that failed (1) or was interrupted by a signal
 * (128 + its number, e.g. 130 for SIGINT). `line` is printed as `frontdesk: <line>` unless empty.
 */
export class CommandExit extends Error {
  override readonly name = "CommandExit";
  constructor(
    readonly exitCode: number,
    readonly line: string,
  ) {
    super(line);
  }
}

/** Shaped like commander's `CommanderError` without importing it here. */
interface CommanderLike {
  readonly code: string;
  readonly exitCode: number;
  readonly message: string;
}

const isCommanderError = (error: unknown): error is CommanderLike =>
  typeof (error as CommanderLike | undefined)?.code === "string" &&
  (error as CommanderLike).code.startsWith("commander.") &&
  typeof (error as CommanderLike).exitCode === "number";

/** One line, whatever the message: the contract is "a one-line message on stderr". */
const oneLine = (text: string): string =>
  text
    .split(/\r?\n/)
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .join(" ");

export interface Failure {
  readonly exitCode: number;
  /** `frontdesk: <code>: <message>`, without a newline; empty when there is nothing to say. */
  readonly line: string;
}

/**
 * Turns anything a command threw into its exit code and one line for stderr. Frontdesk errors keep
 * their wire code (`frontdesk: not_found: Session not found`), so what a script sees from the CLI
 * matches what it would see from the HTTP API.
 */
export function describeFailure(error: unknown): Failure {
  if (error instanceof CommandExit) {
    return { exitCode: error.exitCode, line: error.line === "" ? "" : `frontdesk: ${oneLine(error.line)}` };
  }
  if (isFrontdeskError(error)) {
    return {
      exitCode: error.code === "invalid_request" ? EXIT_CODE.usage : EXIT_CODE.failure,
      line: `frontdesk: ${error.code}: ${oneLine(error.message)}`,
    };
  }
  if (error instanceof UsageError) {
    return { exitCode: EXIT_CODE.usage, line: `frontdesk: usage: ${oneLine(error.message)}` };
  }
  if (isCommanderError(error)) {
    return {
      exitCode: EXIT_CODE.usage,
      line: `frontdesk: usage: ${oneLine(error.message.replace(/^error:\s*/, ""))}`,
    };
  }
  const system = error as NodeJS.ErrnoException | undefined;
  if (system instanceof Error && typeof system.code === "string") {
    return { exitCode: EXIT_CODE.failure, line: `frontdesk: ${system.code}: ${oneLine(system.message)}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: EXIT_CODE.failure, line: `frontdesk: internal: ${oneLine(message) || "unexpected error"}` };
}

/** The stack and causes, for `--debug`. */
export function describeStack(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? String(current)) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) parts.push("caused by:");
  }
  return parts.join("\n");
}
