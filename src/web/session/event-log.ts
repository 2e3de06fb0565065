/**
 * A session's events as the page holds them: gapless and in seq order. Events arrive from three
 * places that overlap (the initial pages, the live stream, a chat turn's stream), so `add` keeps
 * each seq once, holds back any that arrive ahead of a missing one, and asks for the missing range
 * when it does not show up on its own.
 *
 * A pruned session's log starts at the `frontdesk.pruned` marker, which stands for every seq up to
 * its own: the only gap the log accepts is the one before it. When the past changes while the page
 * is open (a redaction, a prune), `rewrite` puts what the server now stores in place of what is held.
 */
import { isPrunedMarker } from "../../client/index.ts";
import { applyRewrite } from "../../react/index.ts";
import { type EventPage, type FrontdeskEvent, getJson, ownerQuery, sessionPath } from "../api/client.ts";

const PAGE = 1000;
/** Events loaded when a session opens; older ones load on request. */
export const INITIAL_WINDOW = 20_000;
const GAP_WAIT_MS = 1500;

export class EventLog {
  /**
   * Contiguous: events[i].seq === events[0].seq + i, and events[0].seq === base + 1 unless it is
   * the pruned marker (base 0: nothing older exists). A new array on every change (React snapshots).
   */
  events: readonly FrontdeskEvent[] = [];
  /** Events with a seq past a missing one, waiting for it. */
  private readonly ahead = new Map<number, FrontdeskEvent>();
  private readonly listeners = new Set<() => void>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;
  /** Seq before the first held event; 0 when the log is complete from the start (or from the pruned marker). */
  base = 0;

  constructor(private readonly fillGap: (after: number, limit: number) => void) {}

  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? this.base;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  snapshot = (): readonly FrontdeskEvent[] => this.events;

  /** Starts the log at `base` (the seq before the first loaded one). */
  reset(base: number, events: readonly FrontdeskEvent[]): void {
    this.base = base;
    this.events = [];
    this.ahead.clear();
    this.add(events);
  }

  /** Older events, up to seq `base`, put in front (from the pruned marker on, when they start with it). */
  prepend(loaded: readonly FrontdeskEvent[]): void {
    const events = loaded.filter((event) => event.seq <= this.base);
    const head = events[0];
    if (!head) return;
    const first = isPrunedMarker(head) ? head.seq : this.base - events.length + 1;
    if (events.some((event, i) => event.seq !== first + i) || events.at(-1)?.seq !== this.base) return;
    this.base = isPrunedMarker(head) ? 0 : first - 1;
    this.events = [...events, ...this.events];
    this.emit();
  }

  add(batch: readonly FrontdeskEvent[]): void {
    let last = this.lastSeq;
    const appended: FrontdeskEvent[] = [];
    let pruned = false;
    for (const event of batch) if (event.seq > last) this.ahead.set(event.seq, event);
    for (;;) {
      // The marker stands for every seq before it, so it continues the log from anywhere before it.
      const next = this.ahead.get(last + 1) ?? this.ahead.get(smallestKey(this.ahead));
      if (!next || (next.seq !== last + 1 && !isPrunedMarker(next))) break;
      if (isPrunedMarker(next)) {
        // What is held before it was pruned meanwhile.
        pruned = true;
        appended.length = 0;
      }
      this.ahead.delete(next.seq);
      appended.push(next);
      last = next.seq;
    }
    if (pruned) {
      this.base = 0;
      this.events = appended;
      this.emit();
    } else if (appended.length > 0) {
      this.events = [...this.events, ...appended];
      this.emit();
    }
    this.watchGap();
  }

  /**
   * The past changed (notices, or this page's own redaction): held events become what the server
   * stores now; events before `prunedThrough` are gone.
   */
  rewrite(change: { events: readonly FrontdeskEvent[]; prunedThrough: number }): void {
    for (const seq of [...this.ahead.keys()]) if (seq < change.prunedThrough) this.ahead.delete(seq);
    for (const event of change.events) if (this.ahead.has(event.seq)) this.ahead.set(event.seq, event);
    const events = applyRewrite(this.events, change);
    if (events === this.events) return;
    const heldUpTo = this.lastSeq;
    this.events = events;
    const head = events[0];
    if (head) this.base = isPrunedMarker(head) ? 0 : head.seq - 1;
    else {
      // All that was held came before the marker: the log goes on from the marker.
      this.base = heldUpTo;
      const marker = change.events.find(isPrunedMarker);
      if (marker) this.ahead.set(marker.seq, marker);
    }
    this.emit();
    if (!head) this.add([]);
  }

  dispose(): void {
    clearTimeout(this.gapTimer);
    this.listeners.clear();
  }

  private watchGap(): void {
    clearTimeout(this.gapTimer);
    if (this.ahead.size === 0) return;
    const from = this.lastSeq;
    this.gapTimer = setTimeout(() => {
      if (this.ahead.size === 0 || this.lastSeq !== from) return;
      const firstAhead = smallestKey(this.ahead);
      this.fillGap(from, Math.min(PAGE, firstAhead - from - 1));
    }, GAP_WAIT_MS);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

const smallestKey = (map: ReadonlyMap<number, unknown>): number => {
  let smallest = Number.POSITIVE_INFINITY;
  for (const key of map.keys()) if (key < smallest) smallest = key;
  return smallest;
};

/**
 * Events `after+1 .. upTo`, in ranges of 1000 fetched four at a time (a range of big events in
 * several pages), each seq once. In a pruned
 * log, a page from before the marker answers the marker and what follows it: pages wholly before
 * the marker are then skipped.
 */
export async function loadRange(
  sessionId: string,
  userId: string | null,
  after: number,
  upTo: number,
  signal: AbortSignal,
  onProgress?: (loaded: number, total: number) => void,
): Promise<FrontdeskEvent[]> {
  const starts: number[] = [];
  for (let start = after; start < upTo; start += PAGE) starts.push(start);
  const pages: FrontdeskEvent[][] = new Array(starts.length).fill([]);
  let loaded = 0;
  let next = 0;
  let prunedThrough = 0;
  const worker = async () => {
    while (next < starts.length) {
      const index = next++;
      const start = starts[index]!;
      const limit = Math.min(PAGE, upTo - start);
      if (start + limit < prunedThrough) {
        loaded += limit;
        continue;
      }
      const end = start + limit;
      const items: FrontdeskEvent[] = [];
      // A page of big events ends early at the server's byte budget: its cursor reads on to the range's end.
      for (let cursor = start; ; ) {
        const page = await getJson<EventPage>(sessionPath(sessionId, "/events"), {
          query: { ...ownerQuery(userId), after: cursor, limit: end - cursor },
          signal,
        });
        const head = page.items[0];
        if (head && isPrunedMarker(head)) prunedThrough = Math.max(prunedThrough, head.seq);
        items.push(...page.items);
        if (page.nextAfter === null || page.nextAfter >= end || page.nextAfter <= cursor) break;
        cursor = page.nextAfter;
      }
      pages[index] = items;
      loaded += limit;
      onProgress?.(Math.min(loaded, upTo - after), upTo - after);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, starts.length) }, worker));
  const bySeq = new Map<number, FrontdeskEvent>();
  for (const page of pages) for (const event of page) if (event.seq <= upTo) bySeq.set(event.seq, event);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}
