import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The real entry point, as installed: `node bin/frontdesk.js` over the built `dist/`. */
export const BIN = fileURLToPath(new URL("../../bin/frontdesk.js", import.meta.url));
const BUILT_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** The process tests need `npm run build` first (`npm test` does it in `pretest`). */
export function assertBuilt(): void {
  if (!existsSync(BUILT_MAIN)) {
    throw new Error(`${BUILT_MAIN} is missing: run \`npm run build\` before the CLI's process tests`);
  }
}

/** A running `frontdesk` process whose stdout and stderr are collected as they arrive. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters = new Set<() => void>();

  constructor(args: string[], env: Record<string, string> = {}, stdin?: string, cwd?: string) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", FRONTDESK_LOG_LEVEL: "warn", ...env },
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (stdin !== undefined) this.child.stdin?.end(stdin);
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      this.wake();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        resolve({ code, signal });
        this.wake();
      });
    });
  }

  /** True until the process has exited or been killed by a signal. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Kills the process if it still runs: a test's cleanup, whatever state the test left it in. */
  async kill(): Promise<void> {
    if (this.running) await this.stop("SIGKILL");
  }

  /** The admin key `serve` creates on an empty store and prints once on stderr. */
  async adminKey(): Promise<string> {
    return (await this.waitFor(/created admin API key \(shown once\): (fd_\S+)/, { stream: "stderr" }))[1] as string;
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /**
   * Waits until `pattern` matches stdout (or stderr), woken by each chunk of output rather than
   * by polling a clock; fails after `timeoutMs` or when the process exits first.
   */
  async waitFor(
    pattern: RegExp,
    options: { stream?: "stdout" | "stderr"; timeoutMs?: number } = {},
  ): Promise<RegExpExecArray> {
    const stream = options.stream ?? "stdout";
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    for (;;) {
      const match = pattern.exec(this[stream]);
      if (match) return match;
      if (exited || this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `frontdesk exited before ${pattern} on ${stream}; stdout: ${this.stdout} stderr: ${this.stderr}`,
        );
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${pattern} on ${stream}; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, remaining);
        this.waiters.add(done);
      });
    }
  }

  /** Sends `signal` and waits for the exit, failing after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000) {
    if (this.running) this.child.kill(signal);
    return this.waitExit(timeoutMs, signal);
  }

  /** Waits for the exit; after `timeoutMs` kills the process and fails. */
  async waitExit(timeoutMs = 30_000, after = "start") {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`frontdesk did not exit within ${timeoutMs} ms of ${after}; stderr: ${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs `frontdesk …args` to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}, stdin?: string, cwd?: string) {
  const cli = new CliProcess(args, env, stdin, cwd);
  const { code, signal } = await cli.waitExit();
  return { code, signal, stdout: cli.stdout, stderr: cli.stderr };
}

/**
 * Starts `frontdesk serve` and resolves once it printed its `listening on` line (within `timeoutMs`,
 * 20 s unless given).
 */
export async function startServe(args: string[], env: Record<string, string> = {}, cwd?: string, timeoutMs?: number) {
  const cli = new CliProcess(["serve", ...args], env, undefined, cwd);
  const match = await cli.waitFor(/^listening on (http:\/\/\S+)\n/, { timeoutMs });
  return { cli, url: match[1] as string };
}
