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
import type { Redis } from "ioredis";
import { FrontdeskError } from "../../core/errors.ts";
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

const sendWait = (c: Redis, wait: ReplicaWait): Promise<number> =>
  c.call("WAIT", wait.count, wait.timeoutMs) as Promise<number>;

/**
 * Sends one write and its WAIT together. A write that failed is the write's error; a write that
 * succeeded comes back with the replicas that acknowledged it (undefined when WAIT itself failed,
 * e.g. the connection dropped: the write is then just as uncertain).
 */
async function writeThenWait<T>(
  c: Redis,
  wait: ReplicaWait,
  write: () => Promise<T>,
): Promise<[T, number | undefined]> {
  const reply = write();
  const acknowledged = sendWait(c, wait).then(
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
  c: Redis,
  lua: LuaScript,
  numKeys: number,
  keysAndArgs: readonly (string | number)[],
  wait: ReplicaWait,
): Promise<[unknown, number | undefined]> {
  // ioredis flattens an array argument into the command's arguments (its typings omit that).
  const flat = c as unknown as {
    evalsha(sha: string, numKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown>;
    eval(source: string, numKeys: number, keysAndArgs: readonly (string | number)[]): Promise<unknown>;
  };
  try {
    return await writeThenWait(c, wait, () => flat.evalsha(lua.sha, numKeys, keysAndArgs));
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await writeThenWait(c, wait, () => flat.eval(lua.source, numKeys, keysAndArgs));
  }
}

/** Any command that writes (DEL, …), then WAIT. */
export const commandReplicated = <T>(
  c: Redis,
  wait: ReplicaWait,
  write: () => Promise<T>,
): Promise<[T, number | undefined]> => writeThenWait(c, wait, write);

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
 * Redis, so once enough replicas acknowledged it they hold the record too. The channel has no
 * subscribers.
 */
export async function confirmReplicated(c: Redis, wait: ReplicaWait, barrierChannel: string): Promise<void> {
  const [, acknowledged] = await writeThenWait(c, wait, () => c.publish(barrierChannel, ""));
  requireAcknowledged(wait, acknowledged);
}
