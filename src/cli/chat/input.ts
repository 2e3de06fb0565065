// The chat's input: readline over stdin, the prompt, Ctrl-C, Ctrl-D and the stop signals. Lines
// are queued so the REPL and approval prompts read them one at a time in order, whether typed on
// a terminal (even during a turn) or piped in all at once.
import { createInterface, type Interface } from "node:readline";
import { absorbStreamErrors, type CliIo, isInteractive } from "../io.ts";
import { onStopSignals } from "../signals.ts";
import type { ChatScreen } from "./screen.ts";

const EXIT_HINT = "(To exit, press Ctrl-C again or Ctrl-D, or type /exit)";

/** `typedAhead`: entered on a terminal while no prompt was waiting (during a turn). */
export type Input =
  | { kind: "line"; text: string; typedAhead: boolean }
  | { kind: "eof" }
  | { kind: "exit" }
  | { kind: "aborted" };

/** What the input asks of the rest of the chat when a key or a signal calls for it. */
export interface InputControls {
  /** Cancels the running turn for `reason`; false when no turn runs. */
  cancelTurn(reason: string): boolean;
  /** SIGTERM, SIGHUP, a second Ctrl-C: cancel the turn and leave now. */
  leave(): void;
  /** The REPL's prompt, shown again after a Ctrl-C hint. */
  promptText(): string;
  /** Tab completion of the line typed so far: the candidates and the part they complete. */
  complete(line: string): [string[], string];
}

/**
 * Lines typed (or piped) in, in order, read one at a time by the REPL and by approval prompts.
 * Piped input arrives all at once and waits here until it is asked for; the end of input is
 * sticky, and `stop()` makes every read answer `exit` at once.
 */
class InputQueue {
  private readonly items: Input[] = [];
  private waiter: ((item: Input) => void) | undefined;
  private ended = false;
  private stopped = false;

  push(text: string, typedAhead: boolean): void {
    this.deliver({ kind: "line", text, typedAhead });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.deliver({ kind: "eof" });
  }

  stop(): void {
    this.stopped = true;
    this.deliver({ kind: "exit" });
  }

  private deliver(item: Input): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(item);
    } else if (item.kind !== "exit") {
      this.items.push(item);
    }
  }

  /** The next input; `aborted` when `signal` aborts first. */
  next(signal?: AbortSignal): Promise<Input> {
    if (this.stopped) return Promise.resolve({ kind: "exit" });
    if (signal?.aborted) return Promise.resolve({ kind: "aborted" });
    const item = this.items.shift();
    if (item) {
      // The end of input stays: every later read sees it too.
      if (item.kind === "eof") this.items.unshift(item);
      return Promise.resolve(item);
    }
    return new Promise<Input>((resolve) => {
      const onAbort = () => {
        if (this.waiter === settle) this.waiter = undefined;
        resolve({ kind: "aborted" });
      };
      const settle = (value: Input) => {
        signal?.removeEventListener("abort", onAbort);
        if (value.kind === "eof") this.items.unshift(value);
        resolve(value);
      };
      this.waiter = settle;
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * On a terminal, readline's line editing, history and tab completion; with piped input, line by
 * line, each echoed after its prompt so a transcript reads the same.
 */
export class ChatInput {
  private readonly queue = new InputQueue();
  private readonly terminal: boolean;
  private rl: Interface | undefined;
  private controls: InputControls | undefined;
  /** Ctrl-C presses in a row at an empty prompt. */
  private interrupts = 0;
  /** A prompt is shown and waits for a line. */
  private awaiting = false;

  constructor(
    private readonly io: CliIo,
    private readonly screen: ChatScreen,
  ) {
    const stdinTty = (io.stdin as { isTTY?: boolean } | undefined)?.isTTY === true;
    this.terminal = stdinTty && isInteractive(io.stdout);
  }

  /** Starts reading stdin and handling Ctrl-C and the stop signals. Returns the function that removes the signal handlers. */
  startReading(controls: InputControls): () => void {
    this.controls = controls;
    const stdin = this.io.stdin as NonNullable<CliIo["stdin"]>;
    const rl = createInterface({
      input: stdin,
      output: this.io.stdout,
      terminal: this.terminal,
      historySize: 200,
      completer: (line: string) => controls.complete(line),
    });
    this.rl = rl;
    rl.on("line", (text) => {
      this.queue.push(text, this.terminal && !this.awaiting);
      this.awaiting = false;
    });
    rl.on("close", () => this.queue.end());
    rl.on("SIGINT", () => this.interrupt());
    // A terminal that goes away (the window closed: EIO on read or on leaving raw mode) must not
    // crash the process: the input ends, SIGHUP stops the chat, the turn is cancelled cleanly.
    // The listener on stdin stays: a late EIO may come after readline has let go of it.
    rl.on("error", () => this.queue.end());
    absorbStreamErrors(stdin);
    return onStopSignals(this.io, (signal) => {
      if (signal === "SIGINT") this.interrupt();
      else this.stop();
    });
  }

  /** The REPL's read: shows `prompt` and waits for the next line (anything else ends the chat). */
  async read(prompt: string): Promise<Input> {
    this.prompt(prompt);
    const item = await this.queue.next();
    if (item.kind === "line") {
      this.received(item);
      this.interrupts = 0;
    }
    return item;
  }

  /**
   * A question during a turn (an approval): shows `prompt` on a line of its own and waits for the
   * answer; `aborted` when `signal` aborts first.
   */
  async ask(prompt: string, signal: AbortSignal): Promise<Input> {
    this.screen.newline();
    this.prompt(prompt);
    const item = await this.queue.next(signal);
    if (item.kind === "line") this.received(item);
    else this.screen.newline();
    return item;
  }

  /** Shows a prompt and notes that the cursor now sits after it. */
  private prompt(text: string): void {
    const rl = this.rl;
    if (!rl) return;
    rl.setPrompt(text);
    rl.prompt();
    this.screen.promptShown();
    this.awaiting = true;
  }

  /**
   * A line is taken: a terminal has moved to the next line already when it was typed at the
   * prompt; piped input and lines typed ahead during a turn are echoed after the prompt.
   */
  private received(item: { text: string; typedAhead: boolean }): void {
    this.awaiting = false;
    if (this.terminal && !item.typedAhead) this.screen.lineTyped();
    else this.screen.write(`${item.text}\n`);
  }

  /** Ctrl-C: cancels the running turn; at the prompt clears the line, or hints, and the second in a row exits. */
  private interrupt(): void {
    const typed = this.rl !== undefined && this.terminal && this.rl.line !== "";
    if (typed) {
      this.rl?.write(null, { ctrl: true, name: "e" });
      this.rl?.write(null, { ctrl: true, name: "u" });
    }
    if (this.controls?.cancelTurn("Cancelled with Ctrl-C")) return;
    if (typed) {
      this.interrupts = 0;
      return;
    }
    this.interrupts++;
    if (this.interrupts >= 2) {
      this.stop();
      return;
    }
    this.screen.newline();
    this.screen.line(this.screen.palette.dim(EXIT_HINT));
    if (this.controls) this.prompt(this.controls.promptText());
  }

  private stop(): void {
    this.controls?.leave();
    this.queue.stop();
  }

  close(): void {
    this.rl?.close();
    if (this.io.stdin === process.stdin) process.stdin.destroy();
  }
}
