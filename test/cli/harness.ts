import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { main } from "../../src/cli/main.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { openStore } from "../../src/stores/registry.ts";

/** A stdout/stderr stand-in that keeps what was written; `isTTY` makes it look like a terminal. */
export class CapturedStream extends Writable {
  text = "";
  isTTY?: boolean;
  columns = 100;
  constructor(tty = false) {
    super();
    if (tty) this.isTTY = true;
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
    this.emit("written");
  }
  /** Terminal control sequences used by progress bars (cursor moves, clears). */
  cursorTo(_x: number, _y?: number, callback?: () => void): boolean {
    callback?.();
    return true;
  }
  clearLine(_dir: number, callback?: () => void): boolean {
    callback?.();
    return true;
  }
  moveCursor(_dx: number, _dy: number, callback?: () => void): boolean {
    callback?.();
    return true;
  }
  clearScreenDown(callback?: () => void): boolean {
    callback?.();
    return true;
  }
}

/** Waits until `pattern` matches what `stream` got, woken by each write; fails after `timeoutMs`. */
export async function waitForText(
  stream: CapturedStream,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(stream.text);
    if (match) return match;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`timed out waiting for ${pattern}; got: ${stream.text}`);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stream.off("written", done);
        resolve();
      };
      const timer = setTimeout(done, remaining);
      stream.on("written", done);
    });
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  env?: Record<string, string>;
  /** Make stderr a TTY, so progress bars draw. */
  tty?: boolean;
  signal?: AbortSignal;
}

/** Runs `frontdesk …argv` in this process with captured streams and a clean environment. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream(options.tty === true);
  const stdin = options.stdin === undefined ? undefined : Readable.from([options.stdin]);
  const code = await main(argv, { stdout, stderr, stdin, env: options.env ?? {}, signal: options.signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A fresh temporary directory with a SQLite store URL inside it; `remove()` deletes it. */
export function tempStore(): { dir: string; url: string; path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-cli-"));
  const path = join(dir, "frontdesk.db");
  return { dir, path, url: `sqlite:${path}`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens the store at `url`, hands an unbound manager to `work`, and closes the store. */
export async function withManager<T>(
  url: string,
  work: (manager: SessionManager) => Promise<T>,
  namespace = "default",
): Promise<T> {
  const store = await openStore(url);
  try {
    return await work(new SessionManager(() => ({}), store, namespace, { defaultTtlMs: null }));
  } finally {
    await store.close();
  }
}

/** Non-empty lines. */
export const lines = (text: string): string[] => text.split("\n").filter((line) => line !== "");

/** Runs `serve` in this process until the returned `stop()`; resolves once it is listening. */
export async function serveInProcess(args: string[], env: Record<string, string> = {}) {
  const controller = new AbortController();
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const done = main(["serve", "--port", "0", ...args], {
    stdout,
    stderr,
    env: { FRONTDESK_LOG_LEVEL: "silent", ...env },
    signal: controller.signal,
  });
  const outcome = done.then((code) => {
    throw new Error(`serve ended early with ${code}: ${stderr.text}`);
  });
  const url = (await Promise.race([waitForText(stdout, /^listening on (\S+)\n$/), outcome]))[1]!;
  outcome.catch(() => {});
  return {
    url,
    stdout,
    stderr,
    async stop() {
      controller.abort();
      return done;
    },
  };
}
