/**
 * `events.jsonl`: one event per line, appended, never rewritten. Only the first `committedBytes`
 * (recorded in `metadata.json`) count; anything after them is a crashed commit's tail.
 *
 * Every line starts with `{"seq":N,` so a reader can check that an index entry points at the
 * event it claims without parsing the line. `events.idx` holds the byte offset of events
 * 1, 1 + INDEX_STRIDE, 1 + 2·INDEX_STRIDE…; an entry that fails that check is ignored, so the
 * index can only make reads faster, never wrong.
 */
import { constants, type FileHandle, open } from "node:fs/promises";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionEvent } from "../../core/model.ts";
import type { EventRange } from "../types.ts";
import { appendAll, type Durability, isMissing, openForAppend, readAt } from "./files.ts";
import { INDEX_ENTRY_BYTES, INDEX_STRIDE } from "./layout.ts";

const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

export interface LogPaths {
  readonly events: string;
  readonly index: string;
}

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
  const log = await openForAppend(paths.events, extent.bytes);
  try {
    await appendAll(log, Buffer.from(lines.join(""), "utf8"), durability);
  } finally {
    await log.close();
  }
  if (entries.length > 0) {
    // Positional writes: an entry a crashed commit left for the same block is simply overwritten.
    const index = await open(paths.index, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      for (const [block, at] of entries) {
        await index.write(`${String(at).padStart(INDEX_ENTRY_BYTES - 1, "0")}\n`, block * INDEX_ENTRY_BYTES, "utf8");
      }
      if (durability === "full") await index.sync();
    } finally {
      await index.close();
    }
  }
  return offset;
}

/** Reads events within the committed extent, in O(limit) for the newest ones (`order: "desc"`). */
export async function readEventRange(paths: LogPaths, extent: LogExtent, range: EventRange): Promise<SessionEvent[]> {
  const after = Math.max(0, range.after ?? 0);
  const before = Math.min(range.before ?? Number.POSITIVE_INFINITY, extent.lastSeq + 1);
  const limit = range.limit ?? Number.POSITIVE_INFINITY;
  if (extent.bytes === 0 || before <= after + 1 || limit <= 0) return [];
  const types = range.types && range.types.length > 0 ? new Set(range.types) : undefined;

  let handle: FileHandle;
  try {
    handle = await open(paths.events, "r");
  } catch (error) {
    if (isMissing(error)) return [];
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
      const startSeq = startBlock * INDEX_STRIDE + 1;
      const end = startSeq <= extent.lastSeq ? await indexedOffset(handle, paths, startSeq, extent) : extent.bytes;
      for await (const line of linesBackward(handle, end ?? extent.bytes)) {
        const event = parseLine(line);
        if (event.seq >= before) continue;
        if (event.seq <= after || !keep(event)) break;
      }
    } else {
      const startSeq = Math.floor(after / INDEX_STRIDE) * INDEX_STRIDE + 1;
      const start = startSeq > 1 ? ((await indexedOffset(handle, paths, startSeq, extent)) ?? 0) : 0;
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

/** The byte offset of event `seq` (a block start) from the index, when the index has it right. */
async function indexedOffset(
  log: FileHandle,
  paths: LogPaths,
  seq: number,
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
    const entry = await readAt(index, ((seq - 1) / INDEX_STRIDE) * INDEX_ENTRY_BYTES, INDEX_ENTRY_BYTES);
    offset = Number(entry.toString("latin1", 0, INDEX_ENTRY_BYTES - 1));
    if (entry.length !== INDEX_ENTRY_BYTES || !Number.isSafeInteger(offset) || offset >= extent.bytes) return undefined;
  } finally {
    await index.close();
  }
  const prefix = `{"seq":${seq}`;
  const probe = await readAt(log, Math.max(0, offset - 1), prefix.length + 2);
  const lineStart = offset === 0 ? 0 : 1;
  if (offset > 0 && probe[0] !== NEWLINE) return undefined;
  const text = probe.toString("latin1", lineStart);
  if (!text.startsWith(prefix) || (text[prefix.length] !== "," && text[prefix.length] !== "}")) return undefined;
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
