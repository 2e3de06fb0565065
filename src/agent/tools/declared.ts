import { FrontdeskError } from "../../core/errors.ts";
import type { Json } from "../../core/model.ts";
import { runCommand } from "./command.ts";
import type { ToolHandler } from "./types.ts";

/**
 * A tool declared in the config with a `command`: the command runs in a shell with the input as
 * JSON on stdin and in $FRONTDESK_TOOL_INPUT. Its stdout is the output (parsed as JSON when it is
 * JSON); a non-zero exit is a tool error carrying stderr.
 */
export function createCommandTool(
  name: string,
  command: string,
  options: { cwd?: string; timeoutMs?: number; maxOutputBytes?: number },
): ToolHandler {
  return async (input, context) => {
    const json = JSON.stringify(input ?? {});
    const result = await runCommand(command, {
      ...options,
      signal: context.signal,
      stdin: json,
      env: { ...process.env, FRONTDESK_TOOL_NAME: name, FRONTDESK_TOOL_INPUT: json },
    });
    if (result.timedOut) {
      throw new FrontdeskError("unavailable", `The ${name} tool timed out after ${options.timeoutMs ?? 30_000} ms`);
    }
    if (result.exitCode !== 0) {
      const status = result.exitCode === null ? `signal ${result.signal}` : `exit code ${result.exitCode}`;
      const stderr = result.stderr.trim().slice(0, 2000);
      throw Object.assign(new Error(stderr ? `${stderr} (${status})` : status), { code: "command_failed" });
    }
    const text = result.stdout.trim();
    try {
      return JSON.parse(text) as Json;
    } catch {
      return result.truncated ? { output: text, truncated: true } : text;
    }
  };
}
