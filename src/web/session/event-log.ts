/**
 * A session's events as the page holds them: gapless and in seq order. Events arrive from three
 * places that overlap (the initial pages, the live stream, a chat turn's stream), so `add` keeps
 * each seq once, holds back any that arrive ahead of a missing one, and asks for the missing range
 * when it does not show up on its own.
 */
import { type EventPage, type FrontdeskEvent, getJson, ownerQuery, sessionPath } from "../api/client.ts";

const PAGE = 1000;
/** Events loaded when a session opens; older ones load on request. */
export const INITIAL_WINDOW = 20_000;
const GAP_WAIT_MS = 1500;

export class EventLog {
  /** Contiguous: events[i].seq === firstSeq + i. A new array on every change (React snapshots). */
  events: readonly FrontdeskEvent[] = [];
  /** Events with a seq past a missing one, waiting for it. */
  private readonly ahead = new Map<number, FrontdeskEvent>();
  private readonly listeners = new Set<() => void>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;
  /** Seq before the first held event; 0 when the log is complete from the start. */
  base = 0;

  constructor(private readonly fillGap: (after: number, limit: number) => void) {}

  get lastSeq(): number {
    return this.base + this.events.length;
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

  /** Older events, seq `base - events.length + 1 .. base`, put in front. */
  prepend(events: readonly FrontdeskEvent[]): void {
    const first = this.base - events.length + 1;
    if (events.length === 0 || events.some((event, i) => event.seq !== first + i)) return;
    this.base = first - 1;
    this.events = [...events, ...this.events];
    this.emit();
  }

  add(batch: readonly FrontdeskEvent[]): void {
    let last = this.lastSeq;
    const appended: FrontdeskEvent[] = [];
    for (const event of batch) if (event.seq > last) this.ahead.set(event.seq, event);
    for (;;) {
      const next = this.ahead.get(last + 1);
      if (!next) break;
      this.ahead.delete(last + 1);
      appended.push(next);
      last++;
    }
    if (appended.length > 0) {
      this.events = [...this.events, ...appended];
      this.emit();
    }
    this.watchGap();
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
      const firstAhead = Math.min(...this.ahead.keys());
      this.fillGap(from, Math.min(PAGE, firstAhead - from - 1));
    }, GAP_WAIT_MS);
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Events `after+1 .. upTo`, in pages of 1000 fetched four at a time. */
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
  const pages: FrontdeskEvent[][] = new Array(starts.length);
  let loaded = 0;
  let next = 0;
  const worker = async () => {
    while (next < starts.length) {
      const index = next++;
      const start = starts[index]!;
      const page = await getJson<EventPage>(sessionPath(sessionId, "/events"), {
        query: { ...ownerQuery(userId), after: start, limit: Math.min(PAGE, upTo - start) },
        signal,
      });
      pages[index] = page.items;
      loaded += page.items.length;
      onProgress?.(loaded, upTo - after);
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, starts.length) }, worker));
  return pages.flat();
}
