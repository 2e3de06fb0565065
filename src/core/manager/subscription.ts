/**
 * Following a session live: replay what is after a seq, then every event as it is committed, with
 * no gap and no duplicate at the hand-over. Every subscriber in this process shares one follower
 * of the session's log (live-tail.ts).
 */

import { acquireTail, releaseTail } from "../live-tail.ts";
import { type SessionEvent, sessionKeyId } from "../model.ts";
import { keyOf, type ManagerContext, notFound } from "./context.ts";
import type { EventSubscription, SessionRef } from "./types.ts";
import { nonNegativeInt } from "./validation.ts";

/**
 * Replays events after `after`, then follows live ones. The store's notifications are only
 * hints: every delivery re-reads the log by seq, so nothing is missed or duplicated at the
 * hand-over or after a lost hint. Every subscriber of a session in this process shares one
 * follower of its log, so an append costs one read however many subscribers there are. Ends when
 * the session is deleted or expires.
 */
export function subscribe(context: ManagerContext, ref: SessionRef, options: { after?: number }): EventSubscription {
  const key = keyOf(context, ref);
  const after = nonNegativeInt(options.after ?? 0, "after");
  const store = context.store;
  const clock = context.clock;
  let closed = false;
  let stopWaiting: (() => void) | undefined;

  async function* follow(): AsyncGenerator<SessionEvent> {
    const id = sessionKeyId(key);
    const tail = acquireTail(store, key, id);
    try {
      await tail.open();
      if (!(await store.get(key, clock.now()))) throw notFound();
      let cursor = after;
      let woken = false;
      while (!closed) {
        const batch = await tail.eventsAfter(cursor);
        for (const event of batch) {
          if (closed) return;
          cursor = event.seq;
          yield event;
        }
        if (batch.length > 0) continue;
        // A hint that brought no event may mean the session is gone: then the stream ends.
        if (woken && !(await store.get(key, clock.now()))) return;
        // close() may have run while this generator was suspended in a read: check before waiting.
        if (closed) return;
        const wait = tail.waitForChange();
        stopWaiting = wait.cancel;
        await wait.promise;
        stopWaiting = undefined;
        woken = true;
      }
    } finally {
      await releaseTail(store, id, tail);
    }
  }

  const iterator = follow();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async close() {
      closed = true;
      stopWaiting?.();
      await iterator.return(undefined);
    },
  };
}
