/**
 * Change hints for subscribers. Commits publish on the session's channel inside their script (a
 * shard channel on a Cluster); one pub/sub connection per store subscribes once per channel and
 * fans out to every local listener.
 * Local commits also hint at once, without waiting for the round trip through Redis. Hints carry
 * no data, so a lost one only delays a wake-up: after the subscriber reconnects every channel gets
 * one fresh hint, because what was published meanwhile is gone.
 */
import { Cluster } from "ioredis";
import type { SessionKey } from "../../core/model.ts";
import type { Unsubscribe } from "../types.ts";
import { clusterOptions, type RedisClient, type RedisContext, run, use } from "./connection.ts";

const deliver = (ctx: RedisContext, channel: string, lastSeq: number): void => {
  const entry = ctx.channels.get(channel);
  if (!entry || entry.lastHint === lastSeq || !Number.isFinite(lastSeq)) return;
  entry.lastHint = lastSeq;
  for (const listener of [...entry.listeners]) {
    try {
      listener(lastSeq);
    } catch {
      // One listener's failure must not starve the others; hints carry no data to lose.
    }
  }
};

/** Hints this process's listeners after a local write (a microtask later, never inside the caller). */
export const hintLocally = (ctx: RedisContext, channel: string, lastSeq: number): void =>
  queueMicrotask(() => deliver(ctx, channel, lastSeq));

/**
 * On a Cluster, commits SPUBLISH on the session's shard channel, so the subscriber is a Cluster of
 * its own with one sharded subscriber per master. When a slot moves, its master drops the shard
 * channels' subscriptions; the subscriber sees the new slot map within a second (its periodic
 * refresh), subscribes again where the slot now lives and every channel gets one fresh hint, so
 * nothing appended meanwhile is missed: a listener re-reads from the last seq it saw.
 */
const openSubscriber = async (ctx: RedisContext, base: RedisClient): Promise<RedisClient> => {
  const s =
    base instanceof Cluster
      ? base.duplicate([], {
          ...clusterOptions(ctx, base.options),
          shardedSubscribers: true,
          slotsRefreshInterval: SLOTS_REFRESH_MS,
          // Subscriptions made while a node is still connecting wait for it instead of failing.
          enableOfflineQueue: true,
        })
      : base.duplicate({ ...ctx.reliability, autoResubscribe: true });
  ctx.subscriber = s;
  let reconnected = false;
  s.on("error", ctx.onError);
  const onMessage = (channel: string, message: string) => deliver(ctx, channel, Number(message));
  if (s instanceof Cluster) {
    s.on("smessage", onMessage);
    // Emitted after every resubscription that follows a change of the slot map.
    s.on("subscribersReady", () => void rehintAll(ctx));
  } else {
    s.on("message", onMessage);
    s.on("ready", () => {
      // Hints published while the subscriber was away are lost; one fresh hint per channel
      // makes listeners re-read instead of waiting for the next commit.
      if (reconnected) void rehintAll(ctx);
      reconnected = true;
    });
  }
  try {
    await s.connect();
    return s;
  } catch (error) {
    ctx.subscriber = undefined;
    s.disconnect();
    throw error;
  }
};

/** How often a Cluster subscriber looks for moved slots, which is how long a moved channel may stay silent. */
const SLOTS_REFRESH_MS = 1_000;

const rehintAll = async (ctx: RedisContext): Promise<void> => {
  for (const [channel, entry] of ctx.channels) {
    try {
      const c = await use(ctx);
      const seq = await c.hget(ctx.keys.session(entry.key).header, "s");
      deliver(ctx, channel, seq === null ? 0 : Number(seq));
    } catch {
      return; // still unreachable; the next reconnect tries again
    }
  }
};

export const subscribe = (
  ctx: RedisContext,
  key: SessionKey,
  onHint: (lastSeq: number) => void,
): Promise<Unsubscribe> =>
  run(ctx, async (c) => {
    ctx.subscriberReady ??= openSubscriber(ctx, c).catch((error: unknown) => {
      ctx.subscriberReady = undefined;
      throw error;
    });
    const s = await ctx.subscriberReady;
    const channel = ctx.keys.session(key).channel;
    const { channels } = ctx;
    let entry = channels.get(channel);
    if (!entry) {
      const ready = (s instanceof Cluster ? s.ssubscribe(channel) : s.subscribe(channel)).then(() => undefined);
      entry = { key, listeners: new Set(), ready, lastHint: undefined };
      channels.set(channel, entry);
    }
    const current = entry;
    current.listeners.add(onHint);
    try {
      await current.ready;
    } catch (error) {
      current.listeners.delete(onHint);
      if (current.listeners.size === 0 && channels.get(channel) === current) channels.delete(channel);
      throw error;
    }
    return async () => {
      if (!current.listeners.delete(onHint)) return;
      if (current.listeners.size > 0 || channels.get(channel) !== current) return;
      channels.delete(channel);
      // Best effort: a subscription left behind only costs a message we then ignore.
      await (s instanceof Cluster ? s.sunsubscribe(channel) : s.unsubscribe(channel)).catch(() => undefined);
    };
  });
