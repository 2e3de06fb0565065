/**
 * The live history inside an append-only log. Items are events that are never rewritten; a pop, a
 * clear or a history edit appends a marker event instead. The live history is a chain of runs:
 * a run is a marker (or the log's start, seq 0) followed by contiguous item events, and each marker
 * says where the history beneath it continues (`below`). The session state names only the top run
 * (its marker's seq `head` and its last seq `end`), the live count and an epoch, so it stays O(1)
 * however long the history, and reading the newest k items reads k item events plus at most two
 * markers per run crossed, never the history before them.
 *
 * Frontdesk's edits of the log (docs/privacy.md) never break the chain: a redacted item reads as a
 * placeholder (items.ts) in its place; a redacted marker has lost where the history beneath it
 * continues, so the history ends there; a pruned log has lost everything before its
 * `frontdesk.pruned` marker, so the history ends at the first item after it. The notices those
 * edits append sit between runs, never inside one, and the walk never reads them.
 */
import type { AgentInputItem } from "@openai/agents-core";
import { type EventInput, FrontdeskError, type SessionEvent } from "../../index.ts";
import { isPrunedMarker } from "../shared/redaction.ts";
import { storedItem } from "./items.ts";

/** The session state key that holds {@link HistoryState}. */
export const HISTORY_STATE_KEY = "openaiAgents";

/** The `custom` event name of the markers that pop, clear and edit the history. */
export const MARKER_EVENT = "openai-agents.history";

/** A point in the chain: items `head+1..end` are live, then the history below `head`'s marker. */
export interface Position {
  readonly head: number;
  readonly end: number;
}

export interface HistoryState extends Position {
  /** How many items are live. */
  readonly count: number;
  /** Bumped by every clear: operation ids of history transactions are remembered per epoch. */
  readonly epoch: number;
}

export const EMPTY_HISTORY: HistoryState = { head: 0, end: 0, count: 0, epoch: 0 };
export const BOTTOM: Position = { head: 0, end: 0 };

export type MarkerOp = "run" | "pop" | "clear" | "transaction" | "compaction" | "rewrite";

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** The history state a session holds, refusing one that is not this adapter's. */
export function historyOf(state: Readonly<Record<string, unknown>>): HistoryState {
  const value = state[HISTORY_STATE_KEY];
  if (value === undefined) return EMPTY_HISTORY;
  const history = value as Partial<HistoryState>;
  if (
    typeof value !== "object" ||
    value === null ||
    !isCount(history.head) ||
    !isCount(history.end) ||
    !isCount(history.count) ||
    !isCount(history.epoch) ||
    history.end < history.head
  ) {
    throw new FrontdeskError("internal", `The session state's "${HISTORY_STATE_KEY}" is not an item history`);
  }
  return { head: history.head, end: history.end, count: history.count, epoch: history.epoch };
}

/** A marker event: what it did, where the history beneath it continues, and anything to record. */
export function markerEvent(op: MarkerOp, below: Position, extra: Record<string, unknown> = {}): EventInput {
  return {
    type: "custom",
    name: MARKER_EVENT,
    data: { op, below: { head: below.head, end: below.end }, ...extra },
  } as EventInput;
}

/** Where the history beneath a marker continues; a redacted marker no longer says, so nothing is. */
function belowOf(event: SessionEvent): Position {
  if (event.redacted && event.type === "custom" && event.name === MARKER_EVENT) return BOTTOM;
  const data = (event as { name?: string; data?: { below?: Partial<Position> } }).data;
  const below = data?.below;
  if (
    event.type !== "custom" ||
    (event as { name?: string }).name !== MARKER_EVENT ||
    !below ||
    !isCount(below.head) ||
    !isCount(below.end) ||
    below.end < below.head ||
    below.end >= event.seq
  ) {
    throw new FrontdeskError("internal", `Session event ${event.seq} was expected to be a history marker`);
  }
  return { head: below.head, end: below.end };
}

/** Reads events `from..to` (inclusive) of one session. */
export type RangeReader = (from: number, to: number) => Promise<readonly SessionEvent[]>;

/** One live item, with the run it sits in: the position just after it is `{ head, end: seq }`. */
export interface Entry {
  readonly seq: number;
  readonly head: number;
  readonly item: AgentInputItem;
}

/**
 * The newest `limit` live items below `from`, newest first, and the position left beneath them.
 * `rest` is normalized (a run with items, or the bottom) only when asked, since that may cost one
 * more read of a marker; positions written into markers are always normalized, so the chain never
 * holds a sequence of empty runs.
 */
export async function walk(
  read: RangeReader,
  from: Position,
  limit: number,
  normalizeRest = false,
): Promise<{ entries: Entry[]; rest: Position }> {
  const entries: Entry[] = [];
  let position = from;
  while (entries.length < limit || (normalizeRest && position.end === position.head && position.head > 0)) {
    const { head, end } = position;
    if (end === head) {
      if (head === 0) break;
      const marker = await readRange(read, head, head);
      position = marker.pruned ? BOTTOM : belowOf(marker.events[0] as SessionEvent);
      continue;
    }
    const wanted = limit - entries.length;
    if (wanted < end - head) {
      const { events, pruned } = await readRange(read, end - wanted + 1, end);
      for (let i = events.length - 1; i >= 0; i--) entries.push(entryOf(events[i] as SessionEvent, head));
      position = pruned ? BOTTOM : { head, end: end - wanted };
      continue;
    }
    // The whole run is wanted: its marker comes in the same read, and says where to go next.
    const { events, pruned } = await readRange(read, head === 0 ? 1 : head, end);
    const first = head === 0 || pruned ? 0 : 1;
    for (let i = events.length - 1; i >= first; i--) entries.push(entryOf(events[i] as SessionEvent, head));
    position = head === 0 || pruned ? BOTTOM : belowOf(events[0] as SessionEvent);
  }
  return { entries, rest: position };
}

/** `position` as a run with items, or the bottom: the form every marker records. */
export async function normalized(read: RangeReader, position: Position): Promise<Position> {
  return (await walk(read, position, 0, true)).rest;
}

const entryOf = (event: SessionEvent, head: number): Entry => ({ seq: event.seq, head, item: storedItem(event) });

/**
 * Events `from..to`, gapless. When pruning removed the start of the range, only what is left after
 * the `frontdesk.pruned` marker comes back, with `pruned` set: nothing before it can be read again.
 */
async function readRange(
  read: RangeReader,
  from: number,
  to: number,
): Promise<{ events: readonly SessionEvent[]; pruned: boolean }> {
  let events = await read(from, to);
  let start = from;
  const marker = events[0];
  const pruned = marker !== undefined && marker.seq >= from && isPrunedMarker(marker);
  if (pruned) {
    start = marker.seq + 1;
    events = events.filter((event) => event.seq >= start && event.seq <= to);
  }
  const length = Math.max(0, to - start + 1);
  if (events.length !== length || events.some((event, i) => event.seq !== start + i)) {
    throw new FrontdeskError("internal", `Session events ${from}..${to} of the item history are missing`);
  }
  return { events, pruned };
}
