/** File primitives with the store's durability rules: temp → fsync → rename → fsync dir. */
import { randomBytes } from "node:crypto";
import { constants, type FileHandle, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
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

export async function fsyncDir(dir: string, durability: Durability): Promise<void> {
  if (durability === "none") return;
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
  const handle = await open(temp, "w", 0o644);
  try {
    await handle.writeFile(data, "utf8");
    if (durability === "full") await handle.sync();
  } finally {
    await handle.close();
  }
  beforeRename?.();
  await rename(temp, file);
  await fsyncDir(path.dirname(file), durability);
}

/** Like {@link writeFileAtomic} for files written without a lock: a unique temp name per writer. */
export async function writeFileAtomicUnlocked(file: string, data: string, durability: Durability): Promise<void> {
  const temp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    const handle = await open(temp, "w", 0o644);
    try {
      await handle.writeFile(data, "utf8");
      if (durability === "full") await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await fsyncDir(path.dirname(file), durability);
}

/**
 * Opens `file` for appending at `committedBytes`: any tail past it is what a crashed commit left
 * and is cut off first, so the new bytes land exactly where readers expect them.
 */
export async function openForAppend(file: string, committedBytes: number): Promise<FileHandle> {
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644);
  try {
    const { size } = await handle.stat();
    if (size < committedBytes) {
      throw new FrontdeskError(
        "unavailable",
        `The filesystem store found ${path.basename(file)} shorter than its last commit (was it written without durability?)`,
      );
    }
    if (size > committedBytes) await handle.truncate(committedBytes);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Writes all of `data` through `handle` (appending), then fsyncs when durable. */
export async function appendAll(handle: FileHandle, data: Buffer, durability: Durability): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    written += bytesWritten;
  }
  if (durability === "full") await handle.sync();
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
