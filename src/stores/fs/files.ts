/**
 * File primitives with the store's durability rules: temp → fsync → rename → fsync dir.
 *
 * A commit's small steps (open, write a few KB, close, rename) are synchronous calls, and only its
 * fsyncs go to libuv's thread pool, where they wait on the disk without holding the event loop.
 * Each trip through the pool cost about 80 µs on the CI machine, against a few µs for the same call
 * made synchronously on the page cache, and a commit made some twenty of them: an update took
 * 2.8 ms at `durability: none`. The SQLite store writes synchronously for the same reason. What is
 * proportional to a session's size (rewriting or reading a whole log) stays asynchronous.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, fsync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { constants, type FileHandle, mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";

/** Whether writes are flushed to stable storage before they are acknowledged. */
export type Durability = "full" | "none";

export const errnoOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;
export const isMissing = (error: unknown): boolean => errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR";

/**
 * Turns a failure of the filesystem into `unavailable`. The message names the action and the
 * errno, never a path: paths reveal the deployment and are kept in `cause` only.
 */
export const storeFailure = (action: string, error: unknown): FrontdeskError => {
  if (isFrontdeskError(error)) return error;
  const code = errnoOf(error);
  return new FrontdeskError("unavailable", `The filesystem store could not ${action}${code ? ` (${code})` : ""}`, {
    cause: error,
  });
};

const fsyncFd = promisify(fsync);

/** Flushes `fd` to stable storage when durable. */
async function syncWhenDurable(fd: number, durability: Durability): Promise<void> {
  if (durability === "full") await fsyncFd(fd);
}

export async function fsyncDir(dir: string, durability: Durability): Promise<void> {
  if (durability === "none") return;
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** `mkdir -p`, then (when durable) fsyncs the parent of every folder it created so they survive power loss. */
export async function ensureDir(dir: string, durability: Durability): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined || durability === "none") return;
  for (let created = dir; ; created = path.dirname(created)) {
    await fsyncDir(path.dirname(created), durability);
    if (created === first || path.dirname(created) === created) break;
  }
}

/** The parsed JSON file, or undefined when it does not exist. */
export async function readJsonFile<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  return parseJsonFile<T>(file, text);
}

/**
 * {@link readJsonFile} without the thread pool, for one small file on the hot path (a session's
 * `metadata.json`: the header, bounded by `maxStateBytes`). `readFile` is four thread-pool round
 * trips (open, fstat, read, close): 330 µs on the CI machine, against 13 µs for this synchronous
 * read of a cached page, and an update reads it twice (the header read, then again under the
 * lock). The parse that follows holds the event loop longer than the read. Scans of many files keep the asynchronous read.
 */
export function readJsonFileNow<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  return parseJsonFile<T>(file, text);
}

function parseJsonFile<T>(file: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new FrontdeskError("unavailable", `The filesystem store found a corrupt ${path.basename(file)}`, { cause });
  }
}

/** The temp file {@link writeFileAtomic} writes `file`'s next content to before renaming it. */
export const tempFileOf = (file: string): string => `${file}.tmp`;

/**
 * Replaces `file` whole: readers see the old or the new content, never a mix, even after a crash.
 * Callers hold the file's lock, so one fixed temp name suffices and a crash leaves at most one
 * stray temp file, overwritten by the next write.
 */
export async function writeFileAtomic(
  file: string,
  data: string,
  durability: Durability,
  beforeRename?: () => void,
): Promise<void> {
  const temp = tempFileOf(file);
  await writeWhole(temp, data, durability);
  beforeRename?.();
  renameSync(temp, file);
  await fsyncDir(path.dirname(file), durability);
}

/** Creates or truncates `file`, writes `data` into it and fsyncs it when durable. */
async function writeWhole(file: string, data: string, durability: Durability): Promise<void> {
  const fd = openSync(file, "w", 0o644);
  try {
    writeAll(fd, Buffer.from(data, "utf8"));
    await syncWhenDurable(fd, durability);
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `data` at the file's current position (its end, for a file opened to append). */
function writeAll(fd: number, data: Buffer, position: number | null = null): void {
  let written = 0;
  while (written < data.length) {
    written += writeSync(fd, data, written, data.length - written, position === null ? null : position + written);
  }
}

/** Like {@link writeFileAtomic} for files written without a lock: a unique temp name per writer. */
export async function writeFileAtomicUnlocked(file: string, data: string, durability: Durability): Promise<void> {
  const temp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await writeWhole(temp, data, durability);
    renameSync(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await fsyncDir(path.dirname(file), durability);
}

/**
 * Appends `data` to `file` at `committedBytes`, then fsyncs when durable: any tail past
 * `committedBytes` is what a crashed commit left and is cut off first, so the new bytes land
 * exactly where readers expect them.
 */
export async function appendAt(
  file: string,
  committedBytes: number,
  data: Buffer,
  durability: Durability,
): Promise<void> {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644);
  try {
    const { size } = fstatSync(fd);
    if (size < committedBytes) {
      throw new FrontdeskError(
        "unavailable",
        `The filesystem store found ${path.basename(file)} shorter than its last commit (was it written without durability?)`,
      );
    }
    if (size > committedBytes) ftruncateSync(fd, committedBytes);
    writeAll(fd, data);
    await syncWhenDurable(fd, durability);
  } finally {
    closeSync(fd);
  }
}

/** Writes each `[position, data]` into `file` (created when missing), then fsyncs it once when durable. */
export async function writeAt(
  file: string,
  writes: readonly [position: number, data: Buffer][],
  durability: Durability,
): Promise<void> {
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    for (const [position, data] of writes) writeAll(fd, data, position);
    await syncWhenDurable(fd, durability);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes all of `data` through `handle` (appending). For a log rewrite, which may copy a whole
 * history and so stays asynchronous; it fsyncs the file once, at its end.
 */
export async function appendAll(handle: FileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    written += bytesWritten;
  }
}

/** Reads exactly `length` bytes at `position`, fewer only at end of file. */
export async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}
