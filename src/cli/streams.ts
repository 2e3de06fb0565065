import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { UsageError } from "./failures.ts";
import type { CliIo } from "./io.ts";

const outputClosed = (): Error =>
  Object.assign(new Error("The output was closed before everything was written"), { code: "EPIPE" });

/**
 * Writes and waits for `drain` when the stream is full, so a big export never buffers in memory.
 * Fails (never hangs) when the reader went away, as `frontdesk sessions export s1 | head` does.
 */
export async function writeChunk(stream: Writable, chunk: string): Promise<void> {
  if (stream.destroyed || stream.writableEnded) throw outputClosed();
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      stream.off("error", onError);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(outputClosed());
    const onError = (error: Error) => settle(error);
    stream.once("drain", onDrain);
    stream.once("close", onClose);
    stream.once("error", onError);
  });
}

/**
 * Lines of a readable (an NDJSON export), without their line ends. The line reader is created
 * only when iteration starts: readline starts the stream flowing at once, and lines it emits
 * before anyone iterates are lost (the store is opened in between).
 */
export async function* readLines(input: Readable): AsyncGenerator<string> {
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of reader) yield line;
  } finally {
    reader.close();
  }
}

/** The lines of FILE, or of stdin for `-` or no file. Refuses to wait on a terminal. */
export async function openInputLines(file: string | undefined, io: CliIo): Promise<AsyncIterable<string>> {
  if (file === undefined || file === "-") {
    if (io.stdin === undefined) throw new UsageError("No input: pass a FILE or pipe an export into stdin");
    if ((io.stdin as { isTTY?: boolean }).isTTY === true) {
      throw new UsageError("stdin is a terminal: pass a FILE or pipe an export into stdin");
    }
    return readLines(io.stdin);
  }
  const input = createReadStream(file);
  try {
    await once(input, "open");
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return readLines(input);
}

/**
 * A file written whole or not at all: lines go to a temporary file beside it that replaces FILE
 * only on `commit`, so a failed export never leaves a truncated file behind.
 */
export interface OutputFile {
  readonly stream: Writable;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export async function createOutputFile(path: string): Promise<OutputFile> {
  const temporary = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;
  const stream = createWriteStream(temporary, { flags: "wx" });
  try {
    await once(stream, "open");
  } catch (error) {
    throw new UsageError(`Cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // A late write error (disk full) must fail the export, not crash the process.
  let failure: Error | undefined;
  stream.on("error", (error) => {
    failure ??= error;
  });
  const close = async (): Promise<void> => {
    if (stream.closed) return;
    stream.end();
    await once(stream, "close");
  };
  return {
    stream,
    async commit() {
      await close();
      if (failure) throw failure;
      await rename(temporary, path);
    },
    async discard() {
      await close().catch(() => {});
      await rm(temporary, { force: true });
    },
  };
}

/** All of stdin as text (`frontdesk run -`). Refuses to wait on a terminal. */
export async function readStdinText(io: CliIo, what = "the message"): Promise<string> {
  if (io.stdin === undefined) throw new UsageError(`No input: pipe ${what} into stdin`);
  if ((io.stdin as { isTTY?: boolean }).isTTY === true) {
    throw new UsageError(`stdin is a terminal: pass ${what} as an argument or pipe it into stdin`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}
