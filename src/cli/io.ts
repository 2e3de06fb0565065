import type { Readable, Writable } from "node:stream";

/**
 * Everything the CLI touches outside itself. `bin/frontdesk.js` passes the process's streams and
 * environment; tests pass in-memory streams, so no command reads `process.*` directly.
 */
export interface CliIo {
  /** Data only (tables, JSON lines, NDJSON exports, one new key): what scripts parse. */
  readonly stdout: Writable;
  /** Everything for people: errors, progress, confirmations, logs. */
  readonly stderr: Writable;
  /** Read by `sessions import -`. @default no input */
  readonly stdin?: Readable;
  /** Read instead of `process.env` (`FRONTDESK_STORE`, `FRONTDESK_PORT`, …). */
  readonly env: NodeJS.ProcessEnv;
  /**
   * Stops a running `serve` like SIGTERM does, for embedding and in-process tests. `serve` also
   * listens for SIGTERM and SIGINT on the process.
   */
  readonly signal?: AbortSignal;
}

export const writeLine = (stream: Writable, text = ""): void => {
  stream.write(`${text}\n`);
};

/** Progress bars and colours only when a person is watching (`isTTY`), plain lines otherwise. */
export const isInteractive = (stream: Writable): boolean => (stream as { isTTY?: boolean }).isTTY === true;

const absorbing = new WeakSet<object>();

/**
 * Makes write errors on `stream` harmless for good. A reader that goes away (`… | head`) or a
 * terminal that closes makes writes fail with EPIPE or EIO, reported on a later tick, possibly
 * after the command has finished: the listener must outlive the command, so it is never removed
 * (and added once per stream). A write that must know, such as an export, uses `writeChunk`.
 */
export function absorbWriteErrors(stream: Writable): void {
  absorbStreamErrors(stream);
}

/** The same for any stream (a terminal's stdin fails with EIO when the window closes). */
export function absorbStreamErrors(stream: Readable | Writable): void {
  if (absorbing.has(stream)) return;
  absorbing.add(stream);
  stream.on("error", () => {});
}
