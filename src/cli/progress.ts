import cliProgress from "cli-progress";
import { type CliIo, isInteractive, writeLine } from "./io.ts";

/**
 * Progress of one long operation (export, import, gc). On a TTY it draws a bar on stderr and
 * clears it when done; otherwise it stays silent until the end. Either way `finish` prints one
 * plain summary line (`exported 1234 events`), so logs and scripts see the same result.
 */
export interface Progress {
  /** Starts drawing; `total` null when unknown (a counter without a bar). */
  start(total: number | null): void;
  /** Moves the count forward by `by`. */
  increment(by?: number): void;
  /** Stops drawing and prints the summary line. */
  finish(summary: string): void;
  /** Stops drawing without a summary (the command failed). Idempotent. */
  abort(): void;
}

export interface ProgressOptions {
  /** What is moving, e.g. "exporting". */
  readonly label: string;
  /** What is counted, e.g. "events". */
  readonly unit: string;
}

export function createProgress(io: CliIo, options: ProgressOptions): Progress {
  if (!isInteractive(io.stderr)) {
    let stopped = false;
    return {
      start() {},
      increment() {},
      finish(summary) {
        if (stopped) return;
        stopped = true;
        writeLine(io.stderr, summary);
      },
      abort() {
        stopped = true;
      },
    };
  }

  let bar: cliProgress.SingleBar | undefined;
  let value = 0;
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    start(total) {
      const format =
        total === null
          ? `${options.label} {value} ${options.unit}`
          : `${options.label} [{bar}] {percentage}% {value}/{total} ${options.unit} | ETA {eta_formatted}`;
      bar = new cliProgress.SingleBar(
        {
          stream: io.stderr,
          format,
          clearOnComplete: true,
          hideCursor: true,
          barsize: 30,
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      );
      value = 0;
      bar.start(total ?? 0, 0);
    },
    increment(by = 1) {
      value += by;
      bar?.update(value);
    },
    finish(summary) {
      stop();
      writeLine(io.stderr, summary);
    },
    abort: stop,
  };
}
