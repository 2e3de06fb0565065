import { z } from "zod";
import { FrontdeskError } from "../../core/errors.ts";
import type { Json } from "../../core/model.ts";
import { runCommand } from "./command.ts";
import type { ToolHandler } from "./types.ts";

export const shellInputSchema = z.strictObject({
  command: z.string().min(1).max(8000).describe("A shell command line"),
});

export interface ShellToolOptions {
  cwd?: string;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

/** Runs a command line in a shell (off unless the config enables it; its default policy is `ask`). */
export function createShellTool(options: ShellToolOptions = {}): ToolHandler {
  return async (input, context) => {
    const { command } = shellInputSchema.parse(input);
    const result = await runCommand(command, { ...options, signal: context.signal });
    if (result.timedOut) {
      throw new FrontdeskError("unavailable", `The command timed out after ${options.timeoutMs ?? 30_000} ms`, {
        details: { stdout: result.stdout.slice(0, 2000) },
      });
    }
    return { command, ...result } satisfies Json;
  };
}
