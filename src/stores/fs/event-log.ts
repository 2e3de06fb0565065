/**
 * `events.jsonl`: one event per line, appended. Only the first `committedBytes` (recorded in
 * `metadata.json`) count; anything after them is a crashed commit's tail.
 *
 * Every line starts with `{"seq":N,` so a reader can check that an index entry points at the
 * event it claims without parsing the line. `events.idx` holds, for each block of INDEX_STRIDE
 * seqs (block b: seqs b·INDEX_STRIDE+1 …), the byte offset of the first stored event whose seq is
 * at least the block's first seq. Appends only ever write the entry of an event that starts a
 * block, so on a log nothing was removed from every entry points at exactly that event. An entry
 * is used only when it points at the start of a line whose seq is at least the block's first seq
 * and the line before it (if any) holds a smaller seq than that; anything else is ignored, so the
 * index can only make reads faster, never wrong, whatever it holds.
 *
 * A commit that rewrites or removes events never patches the log: {@link rewriteLog} writes the
 * kept lines into the files of the next generation (layout.ts names them), which `metadata.json`
 * adopts at the commit point, and the old files are unlinked. So no byte of a replaced or removed
 * event stays in any file once the commit returns.
 */
import { type FileHandle, open } from "node:fs/promises";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionEvent } from "../../core/model.ts";
import type { EventRange } from "../types.ts";
import { appendAll, appendAt, type Durability, isMissing, readAt, writeAt } from "./files.ts";
import { INDEX_ENTRY_BYTES, INDEX_STRIDE, type LogPaths } from "./layout.ts";

export type { LogPaths } from "./layout.ts";

const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;
const NEWLINE_BYTES = Buffer.from("\n", "latin1");
const SEQ_PREFIX = Buffer.from('{"seq":', "latin1");
/** Enough digits for any safe integer. */
const MAX_SEQ_DIGITS = 16;
/** A rewrite writes the new log in pieces of about this size. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

/** Where the committed log ends. */
export interface LogExtent {
  readonly bytes: number;
  readonly lastSeq: number;
}

/** Serialises an event with `seq` as its first key (see the module comment). */
const lineOf = (event: SessionEvent): string => {
  const { seq, ...rest } = event;
  return `${JSON.stringify({ seq, ...rest })}\n`;
};

/** The index block holding `seq`, and the first seq of a block. */
const blockOf = (seq: number): number => Math.floor((seq - 1) / INDEX_STRIDE);
const blockStart = (block: number): number => block * INDEX_STRIDE + 1;

const indexEntry = (offset: number): string => `${String(offset).padStart(INDEX_ENTRY_BYTES - 1, "0")}\n`;

/** The seq a line starts with, or undefined when `bytes` do not start like an event line. */
function seqAtLineStart(bytes: Buffer): number | undefined {
  const digits = SEQ_PREFIX.length;
  if (bytes.length <= digits || bytes.compare(SEQ_PREFIX, 0, digits, 0, digits) !== 0) return undefined;
  let seq = 0;
  let at = digits;
  for (; at < bytes.length && at < digits + MAX_SEQ_DIGITS; at++) {
    const byte = bytes[at] as number;
    if (byte < 0x30 || byte > 0x39) break;
    seq = seq * 10 + (byte - 0x30);
  }
  if (at === digits || (bytes[at] !== 0x2c && bytes[at] !== 0x7d)) return undefined;
  return seq;
}

/**
 * Appends `events` after the committed extent and records index entries for them. Returns the
 * new committed byte length, which the caller makes official by writing `metadata.json`.
 */
export async function appendEvents(
  paths: LogPaths,
  extent: LogExtent,
  events: readonly SessionEvent[],
  durability: Durability,
): Promise<number> {
  if (events.length === 0) return extent.bytes;
  const entries: [block: number, offset: number][] = [];
  const lines: string[] = [];
  let offset = extent.bytes;
  for (const event of events) {
    const line = lineOf(event);
    if ((event.seq - 1) % INDEX_STRIDE === 0) entries.push([(event.seq - 1) / INDEX_STRIDE, offset]);
    lines.push(line);
    offset += Buffer.byteLength(line);
  }
  await appendAt(paths.events, extent.bytes, Buffer.from(lines.join(""), "utf8"), durability);
  if (entries.length > 0) {
    // Positional writes: an entry a crashed commit left for the same block is simply overwritten.
    const writes = entries.map(([block, at]): [number, Buffer] => [
      block * INDEX_ENTRY_BYTES,
      Buffer.from(indexEntry(at), "utf8"),
    ]);
    await writeAt(paths.index, writes, durability);
  }
  return offset;
}

/** What a rewriting commit does to the log, in this order (the contract's {@link Commit}). */
export interface LogChange {
  /** Stored events with `after < seq < before` are left out. */
  readonly removeEvents?: { readonly after: number; readonly before: number } | undefined;
  /** Each replaces the stored event with its seq; one whose seq is not stored is ignored. */
  readonly rewrites: readonly SessionEvent[];
  /** Appended after the kept events. */
  readonly events: readonly SessionEvent[];
}

/**
 * Writes the committed log of `from`, changed by `change`, as the new log `to` (its lines, then
 * its index) and returns its byte length, which the caller makes official by writing
 * `metadata.json` that names `to`. Kept lines are copied byte for byte. Whatever `to` held (a
 * crashed rewrite's leftovers) is truncated first.
 *
 * Reads the whole kept part of the log and writes it again: a prune costs what it keeps (it starts
 * reading at the first kept block when it removes from the start), a redaction costs the log.
 */
export async function rewriteLog(
  from: LogPaths,
  extent: LogExtent,
  to: LogPaths,
  change: LogChange,
  durability: Durability,
): Promise<number> {
  const replacements = new Map(change.rewrites.map((event) => [event.seq, event]));
  const removed = change.removeEvents;
  const isRemoved = (seq: number): boolean => removed !== undefined && seq > removed.after && seq < removed.before;
  const index = new IndexBuilder();
  const out = await open(to.events, "w", 0o644);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let offset = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    await appendAll(out, Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  const add = async (seq: number, ...parts: Buffer[]): Promise<void> => {
    index.line(seq, offset);
    for (const part of parts) {
      pending.push(part);
      pendingBytes += part.length;
      offset += part.length;
    }
    if (pendingBytes >= WRITE_CHUNK_BYTES) await flush();
  };
  try {
    if (extent.bytes > 0) {
      let log: FileHandle;
      try {
        log = await open(from.events, "r");
      } catch (error) {
        if (!isMissing(error)) throw error;
        throw new FrontdeskError("unavailable", "The filesystem store found the event log of its last commit missing");
      }
      try {
        if ((await log.stat()).size < extent.bytes) {
          throw new FrontdeskError(
            "unavailable",
            "The filesystem store found events.jsonl shorter than its last commit",
          );
        }
        // Removing from the start: every line before the block holding `before` goes, so skip them unread.
        const skip =
          removed !== undefined && removed.after === 0 && removed.before > INDEX_STRIDE
            ? ((await indexedOffset(log, from, blockOf(removed.before), extent)) ?? 0)
            : 0;
        for await (const line of linesForward(log, skip, extent.bytes)) {
          const seq = seqAtLineStart(line);
          if (seq === undefined) {
            throw new FrontdeskError("unavailable", "The filesystem store found a corrupt event line");
          }
          if (isRemoved(seq)) continue;
          const replacement = replacements.get(seq);
          if (replacement) await add(seq, Buffer.from(lineOf(replacement), "utf8"));
          else await add(seq, line, NEWLINE_BYTES);
        }
      } finally {
        await log.close();
      }
    }
    for (const event of change.events) await add(event.seq, Buffer.from(lineOf(event), "utf8"));
    await flush();
    if (durability === "full") await out.sync();
  } finally {
    await out.close();
  }
  const entries = index.finish(change.events.at(-1)?.seq ?? extent.lastSeq, offset);
  const indexFile = await open(to.index, "w", 0o644);
  try {
    if (entries.bytes.length > 0) {
      await indexFile.write(entries.bytes, 0, entries.bytes.length, entries.firstBlock * INDEX_ENTRY_BYTES);
    }
    if (durability === "full") await indexFile.sync();
  } finally {
    await indexFile.close();
  }
  return offset;
}

/**
 * The index of a log written whole, for blocks from the first stored event's onwards; earlier
 * blocks stay a hole, which reads treat as "no entry" (and start at the file's beginning, which is
 * right for them).
 */
class IndexBuilder {
  private firstBlock: number | undefined;
  private lastSeq: number | undefined;
  private readonly entries: string[] = [];

  /** A line holding `seq` starts at `offset`: it is where every block since the last line's starts. */
  line(seq: number, offset: number): void {
    if (this.lastSeq === undefined) {
      this.firstBlock = blockOf(seq);
      this.entries.push(indexEntry(offset));
    } else {
      for (let block = blockOf(this.lastSeq) + 1; block <= blockOf(seq); block++) this.entries.push(indexEntry(offset));
    }
    this.lastSeq = seq;
  }

  /**
   * Blocks after the last line up to the header's `lastSeq` start where the next append will
   * write (`end`); appends write the entries of later blocks themselves.
   */
  finish(lastSeq: number, end: number): { firstBlock: number; bytes: Buffer } {
    if (this.lastSeq === undefined) {
      if (lastSeq < 1) return { firstBlock: 0, bytes: Buffer.alloc(0) };
      this.firstBlock = blockOf(lastSeq);
      this.entries.push(indexEntry(end));
    } else {
      for (let block = blockOf(this.lastSeq) + 1; block <= blockOf(lastSeq); block++) {
        this.entries.push(indexEntry(end));
      }
    }
    return { firstBlock: this.firstBlock ?? 0, bytes: Buffer.from(this.entries.join(""), "latin1") };
  }
}

/**
 * Reads events within the committed extent, in O(limit) for the newest ones (`order: "desc"`).
 * Undefined when the log file does not exist: a rewrite replaced it since the caller read
 * `metadata.json` (or a delete removed the session), so the caller reads `metadata.json` again.
 */
export async function readEventRange(
  paths: LogPaths,
  extent: LogExtent,
  range: EventRange,
): Promise<SessionEvent[] | undefined> {
  const after = Math.max(0, range.after ?? 0);
  const before = Math.min(range.before ?? Number.POSITIVE_INFINITY, extent.lastSeq + 1);
  const limit = range.limit ?? Number.POSITIVE_INFINITY;
  if (extent.bytes === 0 || before <= after + 1 || limit <= 0) return [];
  const types = range.types && range.types.length > 0 ? new Set(range.types) : undefined;

  let handle: FileHandle;
  try {
    handle = await open(paths.events, "r");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  try {
    if ((await handle.stat()).size < extent.bytes) {
      throw new FrontdeskError("unavailable", "The filesystem store found events.jsonl shorter than its last commit");
    }
    const out: SessionEvent[] = [];
    const keep = (event: SessionEvent): boolean => {
      if (!types || types.has(event.type)) out.push(event);
      return out.length < limit;
    };
    if (range.order === "desc") {
      // Start at the first indexed event at or after `before`, or at the end of the log.
      const startBlock = Math.ceil((before - 1) / INDEX_STRIDE);
      const end =
        blockStart(startBlock) <= extent.lastSeq
          ? await indexedOffset(handle, paths, startBlock, extent)
          : extent.bytes;
      for await (const line of linesBackward(handle, end ?? extent.bytes)) {
        const event = parseLine(line);
        if (event.seq >= before) continue;
        if (event.seq <= after || !keep(event)) break;
      }
    } else {
      const startBlock = blockOf(after + 1);
      const start = startBlock > 0 ? ((await indexedOffset(handle, paths, startBlock, extent)) ?? 0) : 0;
      for await (const line of linesForward(handle, start, extent.bytes)) {
        const event = parseLine(line);
        if (event.seq <= after) continue;
        if (event.seq >= before || !keep(event)) break;
      }
    }
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * Where the events of `block` and later start (see the module comment), from the index, when the
 * index has it right: every line before the offset holds a seq below the block's first.
 */
async function indexedOffset(
  log: FileHandle,
  paths: LogPaths,
  block: number,
  extent: LogExtent,
): Promise<number | undefined> {
  let index: FileHandle;
  try {
    index = await open(paths.index, "r");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  let offset: number;
  try {
    const entry = await readAt(index, block * INDEX_ENTRY_BYTES, INDEX_ENTRY_BYTES);
    offset = Number(entry.toString("latin1", 0, INDEX_ENTRY_BYTES - 1));
    if (entry.length !== INDEX_ENTRY_BYTES || !Number.isSafeInteger(offset) || offset >= extent.bytes) return undefined;
  } finally {
    await index.close();
  }
  const first = blockStart(block);
  const probe = await readAt(log, Math.max(0, offset - 1), SEQ_PREFIX.length + MAX_SEQ_DIGITS + 2);
  if (offset > 0 && probe[0] !== NEWLINE) return undefined;
  const seq = seqAtLineStart(offset === 0 ? probe : probe.subarray(1));
  if (seq === undefined || seq < first) return undefined;
  if (seq === first || offset === 0) return offset;
  // The block's first seq is not stored (removed): the offset is right only if the line before
  // belongs to an earlier block.
  for await (const line of linesBackward(log, offset)) {
    const previous = seqAtLineStart(line);
    return previous !== undefined && previous < first ? offset : undefined;
  }
  return offset;
}

function parseLine(line: Buffer): SessionEvent {
  return JSON.parse(line.toString("utf8")) as SessionEvent;
}

/** Complete lines in [start, end), first to last. */
async function* linesForward(handle: FileHandle, start: number, end: number): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  for (let position = start; position < end; ) {
    const chunk = await readAt(handle, position, Math.min(CHUNK_BYTES, end - position));
    if (chunk.length === 0) break;
    position += chunk.length;
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let lineStart = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, lineStart)) {
      if (nl > lineStart) yield data.subarray(lineStart, nl);
      lineStart = nl + 1;
    }
    carry = data.subarray(lineStart);
  }
  if (carry.length > 0) yield carry;
}

/** Complete lines in [0, end), last to first, reading only as far back as the caller consumes. */
async function* linesBackward(handle: FileHandle, end: number): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  for (let position = end; position > 0; ) {
    const size = Math.min(CHUNK_BYTES, position);
    position -= size;
    const chunk = await readAt(handle, position, size);
    const data = carry.length > 0 ? Buffer.concat([chunk, carry]) : chunk;
    // Bytes before the first newline may continue a line that starts before `position`.
    const first = position === 0 ? -1 : data.indexOf(NEWLINE);
    if (position > 0 && first === -1) {
      carry = data;
      continue;
    }
    let lineEnd = data.length;
    for (let nl = data.lastIndexOf(NEWLINE, lineEnd - 1); ; nl = data.lastIndexOf(NEWLINE, lineEnd - 1)) {
      if (nl < first || nl === -1) break;
      if (lineEnd > nl + 1) yield data.subarray(nl + 1, lineEnd);
      lineEnd = nl;
    }
    carry = data.subarray(0, position === 0 ? lineEnd : first + 1);
    if (position === 0 && carry.length > 0) yield carry;
  }
}
