/**
 * Real pseudo-terminals for the CLI's terminal tests: tmux runs the built binary, keys are typed
 * with `send-keys`, and what the screen shows is read with `capture-pane`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { BIN } from "./processes.ts";

export const hasTmux = spawnSync("tmux", ["-V"]).status === 0;

const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

let servers = 0;

/**
 * A private tmux server (nothing of the user's tmux is touched, and its environment is ours) whose
 * windows start in `dir`.
 */
export class TmuxServer {
  readonly socket = `frontdesk-test-${process.pid}-${++servers}`;
  private readonly started: string[] = [];
  private counter = 0;

  constructor(readonly dir: string) {}

  tmux(...args: string[]): string {
    return execFileSync("tmux", ["-L", this.socket, "-f", "/dev/null", ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", HOME: this.dir, LANG: "C.UTF-8", LC_ALL: "C.UTF-8", TERM: "xterm-256color" },
    });
  }

  /** A window (120×40 unless told) running `frontdesk …args`. */
  open(args: string[], size: { columns: number; rows: number } = { columns: 120, rows: 40 }): Terminal {
    const name = `chat-${process.pid}-${++this.counter}`;
    this.started.push(name);
    return new Terminal(this, name, args, size);
  }

  /** Closes a window at once, as closing a terminal emulator does (its program gets SIGHUP). */
  kill(terminal: Terminal): void {
    spawnSync("tmux", ["-L", this.socket, "kill-session", "-t", terminal.name]);
  }

  /** Closes every window opened so far (a test's cleanup). */
  closeAll(): void {
    for (const name of this.started.splice(0)) spawnSync("tmux", ["-L", this.socket, "kill-session", "-t", name]);
  }

  shutdown(): void {
    spawnSync("tmux", ["-L", this.socket, "kill-server"]);
  }
}

/** One terminal window running `frontdesk …args` (through sh, which prints the exit status); the pane stays after the exit. */
export class Terminal {
  constructor(
    private readonly server: TmuxServer,
    readonly name: string,
    args: string[],
    size: { columns: number; rows: number },
  ) {
    const command = `${["node", BIN, ...args].map(shellQuote).join(" ")}; echo "[frontdesk exited with status $?]"`;
    server.tmux(
      "new-session",
      "-d",
      "-s",
      name,
      "-x",
      String(size.columns),
      "-y",
      String(size.rows),
      "-c",
      server.dir,
      command,
    );
    server.tmux("set-option", "-t", name, "remain-on-exit", "on");
  }

  /** Types `keys` (tmux key names such as Enter, C-c, C-d, or literal text). */
  send(...keys: string[]): void {
    this.server.tmux("send-keys", "-t", this.name, ...keys);
  }

  /** Types text literally (no key-name lookup), then Enter. */
  type(text: string): void {
    this.server.tmux("send-keys", "-t", this.name, "-l", text);
    this.server.tmux("send-keys", "-t", this.name, "Enter");
  }

  /** The visible screen, as plain text; with `history`, the lines scrolled off the top too. */
  screen(history = false): string {
    return this.server.tmux("capture-pane", "-p", "-J", ...(history ? ["-S", "-"] : []), "-t", this.name);
  }

  /** The screen with its colour escapes. */
  screenWithColours(): string {
    return this.server.tmux("capture-pane", "-p", "-e", "-J", "-t", this.name);
  }

  /**
   * Polls the screen (short waits, bounded by an overall deadline) until `check` finds what it
   * wants; the assertion is on the screen, never on the time waited.
   */
  async until<T>(what: string, check: (screen: string) => T | undefined, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    for (;;) {
      screen = this.screen();
      const found = check(screen);
      if (found !== undefined && found !== null && found !== false) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen shows:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
    return this.until(String(pattern), (screen) => pattern.exec(screen) ?? undefined, timeoutMs);
  }

  /**
   * Waits until the program has exited and returns its exit status, as the shell that ran it
   * prints it on the screen. (tmux's own `pane_dead_status` is set only once the server reaps the
   * child, which tmux 3.3 sometimes does seconds late.)
   */
  async exited(timeoutMs = 20_000): Promise<number> {
    const match = await this.waitFor(/^\[frontdesk exited with status (\d+)\]$/m, timeoutMs);
    return Number(match[1]);
  }
}
