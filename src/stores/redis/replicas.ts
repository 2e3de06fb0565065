/**
 * Waiting for replicas (the `waitReplicas` option). Redis replicates asynchronously: a write the
 * master acknowledged can still be lost when it fails before its replicas copied it. `WAIT n t`
 * blocks until n replicas acknowledged every write this connection made, or t ms passed. It cannot
 * run inside a script and names no key, so it goes on the same connection, sent in the same tick as
 * the write: ioredis writes commands to the socket in call order, which makes the pair a pipeline.
 *
 * A short count means the write happened on the master but may not survive a failover: its outcome
 * is unknown, so the caller gets `unavailable` with `details.outcome: "unknown"` and may retry with
 * the same idempotency key (docs/stores/redis.md).
 */
import { Cluster } from "ioredis";
import { FrontdeskError } from "../../core/errors.ts";
import type { RedisClient } from "./client.ts";
import type { LuaScript } from "./scripts.ts";

export interface ReplicaWait {
  /** Replicas that must acknowledge a write before the store resolves it. */
  readonly count: number;
  /** How long one WAIT blocks at most; below `commandTimeoutMs`, so WAIT answers before the client gives up. */
  readonly timeoutMs: number;
}

/** The write happened on the master; whether it survives a failover is not known. */
export const outcomeUnknown = (wait: ReplicaWait, acknowledged: number | undefined): FrontdeskError =>
  new FrontdeskError(
    "unavailable",
    "The write was not confirmed by enough Redis replicas in time; its outcome is unknown (retry with the same idempotency key)",
    {
      details: {
        outcome: "unknown",
        ...(acknowledged === undefined ? {} : { replicasAcknowledged: acknowledged }),
        replicasRequired: wait.count,
      },
    },
  );

/**
 * Sends one write and its WAIT together. A write that failed is the write's error; a write that
 * succeeded comes back with the replicas that acknowledged it (undefined when WAIT itself failed,
 * e.g. the connection dropped: the write is then just as uncertain). A Cluster routes a command
 * without a key to any node, so there the two go as one pipeline, which it sends to the write's
 * node on one connection; a single Redis has one connection, where call order is socket order.
 */
async function writeThenWait(
  c: RedisClient,
  wait: ReplicaWait,
  command: string,
  args: readonly (string | number)[],
): Promise<[unknown, number | undefined]> {
  if (c instanceof Cluster) {
    const replies = await c
      .pipeline()
      .call(command, ...args)
      .call("WAIT", wait.count, wait.timeoutMs)
      .exec();
    if (!replies) throw new FrontdeskError("unavailable", "Redis aborted a write");
    const [[writeError, reply] = [null, undefined], [waitError, acknowledged] = [null, undefined]] = replies;
    if (writeError) throw writeError;
    return [reply, waitError ? undefined : Number(acknowledged)];
  }
  const reply = c.call(command, ...args);
  const acknowledged = (c.call("WAIT", wait.count, wait.timeoutMs) as Promise<number>).then(
    (n) => n,
    () => undefined,
  );
  return [await reply, await acknowledged];
}

/**
 * Runs a script and WAITs right after it. On NOSCRIPT nothing ran, and the WAIT sent with the
 * EVALSHA covers only earlier writes: the source goes again with a WAIT of its own.
 */
export async function runScriptReplicated(
  c: RedisClient,
  lua: LuaScript,
  numKeys: number,
  keysAndArgs: readonly (string | number)[],
  wait: ReplicaWait,
): Promise<[unknown, number | undefined]> {
  try {
    return await writeThenWait(c, wait, "EVALSHA", [lua.sha, numKeys, ...keysAndArgs]);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await writeThenWait(c, wait, "EVAL", [lua.source, numKeys, ...keysAndArgs]);
  }
}

/** Any command that writes (DEL, …), then WAIT. */
export const commandReplicated = (
  c: RedisClient,
  wait: ReplicaWait,
  command: string,
  args: readonly (string | number)[],
): Promise<[unknown, number | undefined]> => writeThenWait(c, wait, command, args);

/** Throws the outcome-unknown error unless enough replicas acknowledged. */
export function requireAcknowledged(wait: ReplicaWait, acknowledged: number | undefined): void {
  if (acknowledged === undefined || acknowledged < wait.count) throw outcomeUnknown(wait, acknowledged);
}

/** Where {@link confirmReplicated} publishes for one session: next to its hint channel, never listened to. */
export const barrierChannel = (hintChannel: string): string => `${hintChannel}:barrier`;

/**
 * Before answering a replay: the record found was written earlier, perhaps by another instance
 * whose own WAIT fell short, so a WAIT on this connection alone would not cover it (WAIT waits for
 * this connection's last write). A PUBLISH is replicated in order after the record on a standalone
 * Redis, so once enough replicas acknowledged it they hold the record too; on a Cluster an SPUBLISH
 * to a channel in the record's slot goes to that slot's master and its replicas. The channel has
 * no subscribers.
 */
export async function confirmReplicated(c: RedisClient, wait: ReplicaWait, barrierChannel: string): Promise<void> {
  const publish = c instanceof Cluster ? "SPUBLISH" : "PUBLISH";
  const [, acknowledged] = await writeThenWait(c, wait, publish, [barrierChannel, ""]);
  requireAcknowledged(wait, acknowledged);
}
