import { isHistoryChanged, isPrunedMarker } from "./log-markers.ts";
import type { SessionEvent, SessionKey } from "./model.ts";
import { deepFreeze } from "./state.ts";
import type { SessionStore, Unsubscribe } from "./store-contract.ts";

/** Events kept per followed session: enough for every live follower to be served from memory. */
const RING_CAPACITY = 1024;
const READ_BATCH = 500;

/**
 * One shared follower of a session's log per store and key, for every subscriber in this process.
 * A commit's hint makes one store read however many subscribers follow the session (a thousand
 * SSE clients cost one read per append, not a thousand), and the newest events stay in a ring so
 * live subscribers are served from memory. Subscribers behind the ring read the store directly.
 *
 * Correctness never depends on the ring: it holds a contiguous run of seqs read from the store,
 * and a subscriber only ever takes events strictly after its own cursor, in seq order.
 */
export class LiveTail {
  /** Contiguous seqs `known - ring.length + 1 … known`, frozen, shared by every subscriber. */
  private ring: SessionEvent[] = [];
  private known = 0;
  private started = false;
  /** Bumped by every hint; a refresh records the generation it has caught up with. */
  private generation = 0;
  private caughtUp = -1;
  private refreshing: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();
  private unsubscribe: Unsubscribe | undefined;
  private subscribing: Promise<void> | undefined;
  refs = 0;

  constructor(
    private readonly store: SessionStore,
    private readonly key: SessionKey,
  ) {}

  /** Starts listening for hints (once); subscribers call this before their first read. */
  async open(): Promise<void> {
    this.subscribing ??= this.store
      .subscribe(this.key, () => {
        this.generation++;
        for (const wake of this.waiters) wake();
        this.waiters.clear();
      })
      .then((unsubscribe) => {
        this.unsubscribe = unsubscribe;
      });
    await this.subscribing;
  }

  async close(): Promise<void> {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    await this.subscribing?.catch(() => undefined);
    await this.unsubscribe?.();
  }

  /** Events after `cursor`, oldest first; empty when the follower has caught up with the log. */
  async eventsAfter(cursor: number, limit = READ_BATCH): Promise<SessionEvent[]> {
    for (;;) {
      const ringStart = this.known - this.ring.length + 1;
      if (this.started && cursor >= ringStart - 1 && cursor < this.known) {
        const from = cursor - ringStart + 1;
        return this.ring.slice(from, from + limit);
      }
      if (this.started && cursor < ringStart - 1) {
        // Behind the ring (a replay from long ago): its own reads, so it never holds others back.
        return deepFreeze(await this.store.readEvents(this.key, { after: cursor, limit }));
      }
      if (!this.started || cursor > this.known) {
        // Start (or restart) the ring at this follower's position rather than reading up to it.
        this.ring = [];
        this.known = cursor;
        this.started = true;
        this.caughtUp = -1;
      }
      if (this.caughtUp === this.generation) return [];
      await this.refresh();
    }
  }

  /**
   * Resolves at the next hint (or at once when one arrived since the last refresh): the caller
   * then asks `eventsAfter` again.
   */
  waitForChange(): { promise: Promise<void>; cancel: () => void } {
    if (this.caughtUp !== this.generation) return { promise: Promise.resolve(), cancel: () => undefined };
    let wake!: () => void;
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
    });
    this.waiters.add(wake);
    return {
      promise,
      cancel: () => {
        this.waiters.delete(wake);
        wake();
      },
    };
  }

  /** One read for every follower waiting at the head of the log. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const generation = this.generation;
      const after = this.known;
      const batch = await this.store.readEvents(this.key, { after, limit: READ_BATCH });
      // Only events that continue the ring are kept, so it stays contiguous whatever happened meanwhile.
      if (this.known === after) {
        for (const event of batch) {
          if (event.seq !== this.known + 1) {
            // A pruned marker stands for every seq before it: the log goes on from there.
            if (!(isPrunedMarker(event) && event.seq > this.known)) break;
            this.ring = [];
          }
          // Events before a notice may have been redacted or pruned: the ring must not serve them again.
          if (isHistoryChanged(event)) this.ring = [];
          this.ring.push(deepFreeze(event));
          this.known = event.seq;
        }
        if (this.ring.length > RING_CAPACITY) this.ring.splice(0, this.ring.length - RING_CAPACITY);
        if (batch.length < READ_BATCH) this.caughtUp = generation;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }
}

const tails = new WeakMap<SessionStore, Map<string, LiveTail>>();

/** The shared tail of one session in one store, counted so the last subscriber closes it. */
export function acquireTail(store: SessionStore, key: SessionKey, id: string): LiveTail {
  let byKey = tails.get(store);
  if (!byKey) tails.set(store, (byKey = new Map()));
  let tail = byKey.get(id);
  if (!tail) byKey.set(id, (tail = new LiveTail(store, key)));
  tail.refs++;
  return tail;
}

export async function releaseTail(store: SessionStore, id: string, tail: LiveTail): Promise<void> {
  tail.refs--;
  if (tail.refs > 0) return;
  const byKey = tails.get(store);
  if (byKey?.get(id) === tail) byKey.delete(id);
  await tail.close();
}
