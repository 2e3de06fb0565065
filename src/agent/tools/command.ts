import { execFile } from "node:child_process";
import { FrontdeskError } from "../../core/errors.ts";

export interface CommandOptions {
  cwd?: string;
  /** @default 30_000 */
  timeoutMs?: number;
  /** Cap on stdout and on stderr, each; output beyond it is cut and the command killed. @default 65_536 */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /** Written to the command's stdin, which is then closed. */
  stdin?: string;
  env?: NodeJS.ProcessEnv;
}

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when output passed `maxOutputBytes` and was cut. */
  truncated: boolean;
  timedOut: boolean;
}

/**
 * Runs a command line through `child_process.execFile` with a shell (`/bin/sh -c` on POSIX), with a
 * timeout and an output cap. A failing command does not throw: its exit code is in the result.
 * Rejects with `unavailable` when no shell can be started, and with the signal's reason on abort.
 */
export function runCommand(command: string, options: CommandOptions = {}): Promise<CommandResult> {
  const maxOutputBytes = options.maxOutputBytes ?? 64 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [],
      {
        shell: true,
        cwd: options.cwd,
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: maxOutputBytes,
        encoding: "utf8",
        windowsHide: true,
        signal: options.signal,
        env: options.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (options.signal?.aborted) {
          reject(options.signal.reason ?? new DOMException("The command was cancelled", "AbortError"));
          return;
        }
        const failure = error as (NodeJS.ErrnoException & { killed?: boolean; signal?: string | null }) | null;
        if (failure && typeof failure.code === "string" && failure.code === "ENOENT" && !failure.killed) {
          reject(
            new FrontdeskError("unavailable", `Cannot start a shell in ${options.cwd ?? "the working directory"}`),
          );
          return;
        }
        const truncated = failure?.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER";
        const timedOut = !truncated && failure?.killed === true;
        resolve({
          exitCode: failure ? (typeof failure.code === "number" ? failure.code : null) : 0,
          signal: failure?.signal ?? null,
          stdout: capText(stdout, maxOutputBytes),
          stderr: capText(stderr, maxOutputBytes),
          truncated,
          timedOut,
        });
      },
    );
    child.stdin?.on("error", () => undefined); // a command that never reads its stdin must not crash us
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    else child.stdin?.end();
  });
}

const capText = (text: string, maxBytes: number): string => {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  return Buffer.from(text).subarray(0, maxBytes).toString("utf8");
};
