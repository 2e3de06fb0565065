/**
 * Change hints for subscribers. This store's own writes hint their subscribers directly; commits by
 * other processes on the same file are found by a poll that runs only while something is
 * subscribed and costs one `PRAGMA data_version` per tick when nothing changed. Hints are advisory:
 * a listener re-reads the log by seq, so a missed or doubled hint loses nothing.
 */
import { type SessionKey, sessionKeyId } from "../../core/model.ts";
import type { Unsubscribe } from "../types.ts";
import type { SqliteContext, Subscription } from "./connection.ts";
import { type Connection, type MarkRow, ownerOf } from "./statements.ts";

const markOf = (row: MarkRow | undefined): string => (row ? `${row.rid}:${row.version}` : "");

const hint = (subscription: Subscription, lastSeq: number): void => {
  for (const listener of subscription.listeners) queueMicrotask(() => listener(lastSeq));
};

/** After this store committed session `key` (row `rid`): its subscribers learn the new last seq. */
export function hintCommitted(
  ctx: SqliteContext,
  key: SessionKey,
  rid: number,
  version: number,
  lastSeq: number,
): void {
  const subscription = ctx.subscriptions.get(sessionKeyId(key));
  if (subscription) {
    subscription.mark = `${rid}:${version}`;
    hint(subscription, lastSeq);
  }
}

/** After this store deleted session `key`. */
export function hintDeleted(ctx: SqliteContext, key: SessionKey): void {
  const subscription = ctx.subscriptions.get(sessionKeyId(key));
  if (subscription) {
    subscription.mark = "";
    hint(subscription, 0);
  }
}

function poll(ctx: SqliteContext): void {
  const connection = ctx.connection;
  if (!connection || ctx.subscriptions.size === 0) return;
  try {
    const dataVersion = connection.dataVersion.get() as number;
    if (dataVersion === ctx.seenDataVersion) return;
    for (const subscription of ctx.subscriptions.values()) {
      const row = connection.selectMark.get(...subscription.keyParams) as MarkRow | undefined;
      const mark = markOf(row);
      if (mark !== subscription.mark) {
        subscription.mark = mark;
        hint(subscription, row?.last_seq ?? 0);
      }
    }
    // Only once every key was checked: a failure half way leaves the change for the next tick.
    ctx.seenDataVersion = dataVersion;
  } catch {
    // Hints are best effort (listeners re-read the log by seq): the next tick retries, and a lasting failure
    // surfaces to the listener's own reads.
  }
}

export function stopPolling(ctx: SqliteContext): void {
  if (ctx.pollTimer) clearInterval(ctx.pollTimer);
  ctx.pollTimer = undefined;
}

export function subscribe(
  ctx: SqliteContext,
  c: Connection,
  key: SessionKey,
  onHint: (lastSeq: number) => void,
): Unsubscribe {
  const { subscriptions } = ctx;
  const id = sessionKeyId(key);
  let subscription = subscriptions.get(id);
  if (!subscription) {
    if (subscriptions.size === 0) {
      // The baseline is read before the marks, so a peer commit in between is seen next tick.
      ctx.seenDataVersion = c.dataVersion.get() as number;
      if (ctx.capabilities.shared) {
        ctx.pollTimer = setInterval(poll, ctx.settings.pollIntervalMs, ctx);
        ctx.pollTimer.unref();
      }
    }
    const keyParams = [key.namespace, ownerOf(key.userId), key.id] as const;
    const mark = markOf(c.selectMark.get(...keyParams) as MarkRow | undefined);
    subscription = { keyParams, mark, listeners: new Set() };
    subscriptions.set(id, subscription);
  }
  const entry = subscription;
  // A wrapper per call, so subscribing one function twice needs two unsubscribes.
  const listener = (lastSeq: number): void => onHint(lastSeq);
  entry.listeners.add(listener);
  return async () => {
    entry.listeners.delete(listener);
    if (entry.listeners.size === 0 && subscriptions.get(id) === entry) {
      subscriptions.delete(id);
      if (subscriptions.size === 0) stopPolling(ctx);
    }
  };
}
