/**
 * Change hints for subscribers, through LISTEN/NOTIFY on one channel per schema. Local writes hint
 * this process's listeners at once; peers get batched NOTIFYs after the commit. One LISTEN
 * connection per store, outside the pool, receives the peers' hints; it is checked periodically,
 * because a connection that dies silently raises nothing, and after a reconnect every subscriber
 * is hinted with its session's lastSeq, since whatever was notified meanwhile is gone. Hints carry
 * no data: a lost one is only a late wake-up, listeners re-read the log by seq.
 */
import { createHash } from "node:crypto";
import type { ClientConfig, Notification } from "pg";
import pg from "pg";
import type { SessionKey } from "../../core/model.ts";
import type { Unsubscribe } from "../types.ts";
import { type HintListener, type PostgresContext, query } from "./connection.ts";
import { ownerOf } from "./sql.ts";

const RECONNECT_MAX_DELAY_MS = 5000;
const LISTEN_CHECK_INTERVAL_MS = 30_000;
const LISTEN_CHECK_TIMEOUT_MS = 10_000;
/** Minimum time between two NOTIFY batches of one store: the most a hint to a peer is delayed. */
const HINT_INTERVAL_MS = 10;
/** NOTIFY payloads must stay under 8000 bytes; keys longer than this are sent hashed. */
const MAX_PLAIN_HINT_KEY_BYTES = 1000;

/** One NOTIFY channel per schema: stores on other schemas of the same database never wake each other. */
export const channelFor = (schemaName: string): string => {
  const plain = `frontdesk:${schemaName}`;
  // Channel names are identifiers: at most 63 bytes.
  return plain.length <= 63 ? plain : `frontdesk:${createHash("sha256").update(schemaName).digest("hex").slice(0, 40)}`;
};

/** Hints this process's listeners and, batched, every peer on the same schema. */
export const hint = (ctx: PostgresContext, key: SessionKey, lastSeq: number): void => {
  hintLocal(ctx, key, lastSeq);
  notifyPeers(ctx, key, lastSeq);
};

const hintLocal = (ctx: PostgresContext, key: SessionKey, lastSeq: number): void => {
  const subscription = ctx.subscriptions.get(hintKey(key));
  if (subscription) for (const listener of subscription.listeners) queueMicrotask(() => callSafely(listener, lastSeq));
};

// Peers are hinted after the commit, not inside it (see sql.notify), in batches: one NOTIFY
// statement in flight at a time, and at most one per HINT_INTERVAL_MS, so a busy store pays one
// small transaction per batch instead of one per commit. The first hint after a quiet spell goes
// out at once. A hint lost to a crash in between is only a late wake-up: listeners re-read the log by seq.
const sendHints = async (ctx: PostgresContext): Promise<void> => {
  ctx.lastHintAt = performance.now();
  const batch = [...ctx.pendingHints.values()];
  ctx.pendingHints = new Map();
  try {
    await query(ctx, ctx.sql.notify, [ctx.channel, batch]);
    ctx.hintFailureLogged = false;
  } catch (error) {
    if (!ctx.hintFailureLogged) {
      ctx.hintFailureLogged = true;
      ctx.logger.warn(
        { code: (error as { code?: string }).code, channel: ctx.channel },
        "could not send live-event hints to peers",
      );
    }
  } finally {
    ctx.notifying = undefined;
    if (ctx.pendingHints.size > 0) scheduleHints(ctx);
  }
};

const scheduleHints = (ctx: PostgresContext): void => {
  if (ctx.notifying || ctx.hintTimer) return;
  const waitMs = ctx.lastHintAt + HINT_INTERVAL_MS - performance.now();
  if (waitMs <= 0 || ctx.closed) {
    ctx.notifying = sendHints(ctx);
    return;
  }
  ctx.hintTimer = setTimeout(() => {
    ctx.hintTimer = undefined;
    scheduleHints(ctx);
  }, waitMs);
  ctx.hintTimer.unref();
};

const notifyPeers = (ctx: PostgresContext, key: SessionKey, lastSeq: number): void => {
  ctx.pendingHints.set(hintKey(key), hintPayload(key, lastSeq));
  scheduleHints(ctx);
};

/** Sends whatever is pending now, for close(). */
const drainHints = async (ctx: PostgresContext): Promise<void> => {
  clearTimeout(ctx.hintTimer);
  ctx.hintTimer = undefined;
  while (ctx.notifying || ctx.pendingHints.size > 0) {
    if (ctx.notifying) await ctx.notifying;
    else ctx.notifying = sendHints(ctx);
  }
};

const onNotification = (ctx: PostgresContext, message: Notification): void => {
  if (message.channel !== ctx.channel || message.payload === undefined) return;
  const split = message.payload.indexOf(":");
  const lastSeq = Number(message.payload.slice(0, split));
  const subscription = ctx.subscriptions.get(message.payload.slice(split + 1));
  if (subscription && Number.isSafeInteger(lastSeq)) {
    for (const listener of subscription.listeners) callSafely(listener, lastSeq);
  }
};

const dropListener = (ctx: PostgresContext, client: pg.Client, error?: Error): void => {
  if (client !== ctx.listenClient) return;
  clearInterval(ctx.heartbeat);
  ctx.listenClient = undefined;
  ctx.listening = undefined;
  client.end().catch(() => undefined);
  if (ctx.closed) return;
  ctx.logger.warn(
    { code: (error as { code?: string } | undefined)?.code, channel: ctx.channel },
    "the PostgreSQL LISTEN connection was lost; reconnecting",
  );
  scheduleReconnect(ctx);
};

// A connection dropped silently (NAT timeout, partition) raises no error, and a LISTEN connection
// is otherwise idle: a periodic round trip notices, so subscribers never wait forever.
const checkListener = (ctx: PostgresContext, client: pg.Client): void => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("LISTEN connection check timed out")), LISTEN_CHECK_TIMEOUT_MS);
  });
  Promise.race([client.query("SELECT 1"), timeout])
    .catch((error: unknown) => dropListener(ctx, client, error as Error))
    .finally(() => clearTimeout(timer));
};

const connectListener = async (ctx: PostgresContext): Promise<void> => {
  const config: ClientConfig = {
    ...(ctx.callerPool ? ctx.callerPool.options : ctx.poolConfig),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  const client = new pg.Client(config);
  // Attached before connecting: an error event without a handler would crash the process.
  client.on("error", (error) => dropListener(ctx, client, error));
  client.on("end", () => dropListener(ctx, client));
  client.on("notification", (message) => onNotification(ctx, message));
  try {
    await client.connect();
    await client.query(`LISTEN "${ctx.channel}"`);
  } catch (error) {
    client.end().catch(() => undefined);
    throw error;
  }
  if (ctx.closed) {
    await client.end().catch(() => undefined);
    return;
  }
  ctx.listenClient = client;
  ctx.reconnectDelayMs = 100;
  ctx.heartbeat = setInterval(() => checkListener(ctx, client), LISTEN_CHECK_INTERVAL_MS);
  ctx.heartbeat.unref();
};

const listen = (ctx: PostgresContext): Promise<void> =>
  (ctx.listening ??= connectListener(ctx).catch((error: unknown) => {
    ctx.listening = undefined;
    throw error;
  }));

/** Hints every subscriber with its session's current lastSeq: whatever was notified while disconnected. */
const catchUp = async (ctx: PostgresContext): Promise<void> => {
  const subs = [...ctx.subscriptions.values()];
  if (subs.length === 0) return;
  const { rows } = await query<{ index: string; last_seq: string }>(ctx, ctx.sql.lastSeqs, [
    subs.map((s) => s.key.namespace),
    subs.map((s) => ownerOf(s.key.userId)),
    subs.map((s) => s.key.id),
  ]);
  for (const row of rows) {
    const subscription = subs[Number(row.index) - 1];
    if (subscription) for (const listener of subscription.listeners) callSafely(listener, Number(row.last_seq));
  }
};

const scheduleReconnect = (ctx: PostgresContext): void => {
  if (ctx.closed || ctx.reconnectTimer || ctx.subscriptions.size === 0) return;
  const delay = ctx.reconnectDelayMs;
  ctx.reconnectDelayMs = Math.min(ctx.reconnectDelayMs * 2, RECONNECT_MAX_DELAY_MS);
  ctx.reconnectTimer = setTimeout(() => {
    ctx.reconnectTimer = undefined;
    listen(ctx)
      .then(() => catchUp(ctx))
      .catch(() => scheduleReconnect(ctx));
  }, delay);
  ctx.reconnectTimer.unref();
};

export async function subscribe(ctx: PostgresContext, key: SessionKey, onHint: HintListener): Promise<Unsubscribe> {
  const id = hintKey(key);
  let subscription = ctx.subscriptions.get(id);
  if (!subscription) ctx.subscriptions.set(id, (subscription = { key: { ...key }, listeners: new Set() }));
  const listeners = subscription.listeners;
  const remove = (): void => {
    listeners.delete(onHint);
    if (listeners.size === 0 && ctx.subscriptions.get(id)?.listeners === listeners) ctx.subscriptions.delete(id);
  };
  listeners.add(onHint);
  try {
    await listen(ctx);
  } catch (error) {
    remove();
    throw error;
  }
  return async () => remove();
}

/** Stops the timers, sends the hints still pending and ends the LISTEN connection. */
export async function closeLive(ctx: PostgresContext): Promise<void> {
  clearTimeout(ctx.reconnectTimer);
  clearInterval(ctx.heartbeat);
  ctx.subscriptions.clear();
  await drainHints(ctx);
  const client = ctx.listenClient;
  ctx.listenClient = undefined;
  await ctx.listening?.catch(() => undefined);
  if (client) await client.end().catch(() => undefined);
}

const hintKey = (key: SessionKey): string => {
  const plain = JSON.stringify([key.namespace, key.userId, key.id]);
  return Buffer.byteLength(plain) <= MAX_PLAIN_HINT_KEY_BYTES
    ? plain
    : `#${createHash("sha256").update(plain).digest("base64")}`;
};

const hintPayload = (key: SessionKey, lastSeq: number): string => `${lastSeq}:${hintKey(key)}`;

const callSafely = (listener: HintListener, lastSeq: number): void => {
  try {
    listener(lastSeq);
  } catch {
    // A failing listener must not stop the others or the notification stream.
  }
};
