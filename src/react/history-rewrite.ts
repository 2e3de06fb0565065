/**
 * What a `frontdesk.history_changed` notice means for a reader that holds earlier events in memory.
 * The server rewrote its log in the commit that appended the notice (a redaction left tombstones, a
 * prune removed events and left a marker); only copies held elsewhere still show the old content.
 * So the reader reads again what the notice names and puts it in place of what it holds.
 *
 * Browser-safe, like the client: the console's own event log (src/web) applies rewrites with
 * {@link applyRewrite} too.
 */
import { type FrontdeskClient, isHistoryChanged, isPrunedMarker } from "../client/index.ts";
import type { SessionEvent } from "../index.ts";

/** Events as the server now stores them, to put in place of the copies a reader holds. */
export interface HistoryRewrite {
  /** The `frontdesk.history_changed` event that announced the change. */
  notice: SessionEvent;
  /** The notice's `data.kind`: a redaction (or a hide-last) left tombstones; a prune left the marker. */
  kind: "redaction" | "prune";
  /** The events named by the notice as now stored: tombstones, or the pruned marker. Only seqs already held are replaced. */
  events: readonly SessionEvent[];
  /** Every event before this seq is gone (a prune); 0 for a redaction. */
  prunedThrough: number;
}

/** Seqs one read covers at most (the API's page size). */
const READ_SPAN = 1000;

/** What a `frontdesk.history_changed` notice says changed. */
export type HistoryNotice =
  | { kind: "redaction"; seqs: number[] }
  | { kind: "prune"; throughSeq: number }
  | { kind: "unknown" };

/** The notice's data, checked: a reader must never act on a malformed one. */
export function noticeOf(event: SessionEvent): HistoryNotice {
  if (!isHistoryChanged(event) || event.type !== "custom") return { kind: "unknown" };
  const data = event.data as { kind?: unknown; seqs?: unknown; throughSeq?: unknown } | undefined;
  if (data?.kind === "redaction" && Array.isArray(data.seqs)) {
    const seqs = data.seqs.filter(
      (seq): seq is number => Number.isSafeInteger(seq) && (seq as number) > 0 && (seq as number) < event.seq,
    );
    return { kind: "redaction", seqs: [...new Set(seqs)].sort((a, b) => a - b) };
  }
  if (data?.kind === "prune" && Number.isSafeInteger(data.throughSeq) && (data.throughSeq as number) > 0) {
    return { kind: "prune", throughSeq: data.throughSeq as number };
  }
  return { kind: "unknown" };
}

/**
 * Reads what `notice` changed, as the server stores it now. `holds` narrows the reads to the
 * events a reader still needs (it skips seqs not held, or already tombstones); without it every
 * named seq is read. Undefined when there is nothing to replace.
 */
export async function readRewrite(
  client: FrontdeskClient,
  sessionId: string,
  notice: SessionEvent,
  holds?: (seq: number) => SessionEvent | undefined,
): Promise<HistoryRewrite | undefined> {
  const parsed = noticeOf(notice);
  if (parsed.kind === "prune") {
    // The log now starts at the marker; a later prune may already have moved it further on.
    const [first] = await client.readEvents(sessionId, { limit: 1 });
    const marker = first && isPrunedMarker(first) ? first : undefined;
    const prunedThrough = Math.max(parsed.throughSeq, marker?.seq ?? 0);
    return { notice, kind: "prune", events: marker ? [marker] : [], prunedThrough };
  }
  if (parsed.kind !== "redaction") return undefined;
  const wanted = holds
    ? parsed.seqs.filter((seq) => {
        const held = holds(seq);
        return held !== undefined && held.redacted === undefined;
      })
    : parsed.seqs;
  if (wanted.length === 0) return undefined;
  const named = new Set(wanted);
  const events: SessionEvent[] = [];
  for (const [first, last] of spans(wanted)) {
    const page = await client.readEvents(sessionId, { after: first - 1, limit: last - first + 1 });
    for (const event of page) if (named.has(event.seq)) events.push(event);
  }
  return { notice, kind: "redaction", events, prunedThrough: 0 };
}

/** Sorted seqs grouped into [first, last] spans of at most {@link READ_SPAN}: one read each. */
function spans(seqs: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const seq of seqs) {
    const open = out.at(-1);
    if (open && seq - open[0] < READ_SPAN) open[1] = seq;
    else out.push([seq, seq]);
  }
  return out;
}

/**
 * `events` (in seq order) with the rewrite applied: what was pruned dropped, and each held event
 * the rewrite names replaced by its stored form. Events not held are never added, so a rewrite
 * read late cannot bring back what a later prune removed. The same array when nothing changed.
 */
export function applyRewrite<E extends { seq: number }>(
  events: readonly E[],
  rewrite: { events: readonly E[]; prunedThrough: number },
): readonly E[] {
  const bySeq = new Map(rewrite.events.map((event) => [event.seq, event]));
  let changed = false;
  const out: E[] = [];
  for (const event of events) {
    if (event.seq < rewrite.prunedThrough) {
      changed = true;
      continue;
    }
    const stored = bySeq.get(event.seq);
    if (stored !== undefined && stored !== event) changed = true;
    out.push(stored ?? event);
  }
  return changed ? out : events;
}
