/**
 * Two-phase commits for the scopes a Cluster cannot keep in a session's slot: the namespace-wide
 * `app:` scope and the owner-less `user:` scope. A commit that writes one:
 *
 * 1. leases the scope (LEASE_SCOPE, in the scope's slot): the version is checked there, and the
 *    change waits in the lease;
 * 2. commits the session (COMMIT, in the session's slot), which also records the decision
 *    "committed" under a key in that slot: this is the commit point, all or nothing with the
 *    session's own changes and its `user:` state;
 * 3. applies the lease (RESOLVE_LEASE), or drops it when step 2 failed.
 *
 * A process that dies between the steps leaves a lease. Whoever reads the scope next finishes it:
 * a "committed" decision is applied; a lease past its deadline without one is aborted by recording
 * "aborted" first (SET NX), so a late step 2 then fails (`FDABORTED`) instead of committing. A
 * reader never sees a change whose session commit did not happen, and sees every one that did.
 */
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionKey } from "../../core/model.ts";
import type { RedisClient, RedisContext } from "./connection.ts";
import type { ScopeKeys } from "./keys.ts";
import { runScriptReplicated } from "./replicas.ts";
import { runScript, script } from "./scripts.ts";

/** How long a decision record outlives its commit: far longer than any lease waits to be finished. */
export const DECISION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface LeasedWrite {
  readonly scope: "user" | "app";
  readonly keys: ScopeKeys;
  readonly expectedVersion: number;
  readonly pairs: readonly [string, string][];
}

export interface Transaction {
  readonly id: string;
  readonly decision: string;
  readonly leased: LeasedWrite[];
}

const leaseKeys = (ctx: RedisContext, keys: ScopeKeys): string[] => [
  keys.state,
  keys.version,
  ctx.keys.scopeLease(keys),
];

/**
 * Step 1 for every out-of-slot write. A lease another transaction left behind is finished first when
 * it can be (decided, or past its deadline); one still in flight answers a scope conflict, which
 * the manager retries like any other. On any failure the leases already taken are dropped.
 */
export async function prepare(
  ctx: RedisContext,
  c: RedisClient,
  key: SessionKey,
  writes: LeasedWrite[],
  now: number,
): Promise<Transaction> {
  const id = `${now.toString(36)}.${crypto.randomUUID()}`;
  const transaction: Transaction = { id, decision: ctx.keys.decision(key, id), leased: [] };
  try {
    for (const write of writes) {
      const args = [write.expectedVersion, write.scope, id, transaction.decision, now + ctx.leaseMs];
      for (const [field, value] of write.pairs) args.push(field, value);
      let reply = await lease(ctx, c, write.keys, args);
      if (reply[0] === "leased" && (await finishLease(ctx, c, write.keys, now))) {
        reply = await lease(ctx, c, write.keys, args);
      }
      if (reply[0] !== "prepared") {
        throw new FrontdeskError("conflict", `The ${write.scope}: state is being changed by another commit`, {
          details: { scope: write.scope },
        });
      }
      transaction.leased.push(write);
    }
    return transaction;
  } catch (error) {
    await release(ctx, c, transaction, "abort");
    throw error;
  }
}

/**
 * One lease script. With `waitReplicas`, the lease must be on the replicas before the session commit
 * records its decision: a failover that lost the lease would lose a committed change. A lease the
 * replicas did not confirm is dropped again and the commit fails before anything was committed.
 * Applying needs no wait: a lease a failover brings back is applied again by the next reader.
 */
async function lease(ctx: RedisContext, c: RedisClient, keys: ScopeKeys, args: (string | number)[]): Promise<[string]> {
  const scriptKeys = leaseKeys(ctx, keys);
  if (!ctx.replicas) return (await runScript(c, LEASE_SCOPE, scriptKeys, args)) as [string];
  const [reply, acknowledged] = await runScriptReplicated(
    c,
    LEASE_SCOPE,
    scriptKeys.length,
    [...scriptKeys, ...args],
    ctx.replicas,
  );
  const answer = reply as [string];
  if (answer[0] === "prepared" && (acknowledged === undefined || acknowledged < ctx.replicas.count)) {
    await runScript(c, RESOLVE_LEASE, scriptKeys, [String(args[2]), "abort"]).catch(() => undefined);
    throw new FrontdeskError(
      "unavailable",
      "Redis replicas did not confirm the shared state's lease in time; nothing was committed",
      {
        details: { replicasAcknowledged: acknowledged, replicasRequired: ctx.replicas.count },
      },
    );
  }
  return answer;
}

/** Step 3: applies (after the commit) or drops (when it failed for sure) every lease of the transaction. */
export async function release(
  ctx: RedisContext,
  c: RedisClient,
  transaction: Transaction,
  outcome: "apply" | "abort",
): Promise<void> {
  await Promise.all(
    transaction.leased.map((write) =>
      runScript(c, RESOLVE_LEASE, leaseKeys(ctx, write.keys), [transaction.id, outcome]).catch(() => undefined),
    ),
  );
}

/**
 * After a commit whose reply was lost or refused: the decision decides. Recording "aborted" first
 * makes a commit still in flight fail; if the commit got there first, the lease is applied.
 */
export async function settle(ctx: RedisContext, c: RedisClient, transaction: Transaction): Promise<void> {
  const aborted = await c.set(transaction.decision, "aborted", "PX", DECISION_TTL_MS, "NX").catch(() => undefined);
  if (aborted === "OK") return release(ctx, c, transaction, "abort");
  const decided = await c.get(transaction.decision).catch(() => null);
  // Unreadable: leave the lease; the next reader past its deadline finishes it.
  if (decided === "committed") await release(ctx, c, transaction, "apply");
  else if (decided === "aborted") await release(ctx, c, transaction, "abort");
}

/**
 * Finishes the lease on a scope when its transaction is decided or past its deadline. Returns
 * whether the scope is free of it now; false while a transaction that may still commit holds it.
 */
export async function finishLease(ctx: RedisContext, c: RedisClient, keys: ScopeKeys, now: number): Promise<boolean> {
  const [tx, decision, deadline] = await c.hmget(ctx.keys.scopeLease(keys), "#tx", "#decision", "#deadline");
  if (tx == null || decision == null) return true;
  let decided = await c.get(decision);
  if (decided === null && Number(deadline) <= now) {
    decided =
      (await c.set(decision, "aborted", "PX", DECISION_TTL_MS, "NX")) === "OK" ? "aborted" : await c.get(decision);
  }
  if (decided !== "committed" && decided !== "aborted") return false;
  await runScript(
    c,
    RESOLVE_LEASE,
    [keys.state, keys.version, ctx.keys.scopeLease(keys)],
    [tx, decided === "committed" ? "apply" : "abort"],
  );
  return true;
}

/**
 * Phase one of a commit whose scope lives in another slot than the session (the `app:` scope, and
 * the owner-less `user:` scope, on a Cluster): checks the scope's version and leases it to one
 * transaction, the change kept in the lease, until the session's slot records the decision.
 * KEYS: 1 scope state, 2 scope version, 3 lease
 * ARGV: 1 expectedVersion, 2 scope name, 3 transaction id, 4 decision key, 5 deadline (ms), then
 *       field/JSON pairs ("null" deletes)
 * Replies { "prepared" } or { "leased" } (another transaction holds the scope); a version other than
 * expected replies `FDSCOPE <scope> <version>`.
 */
export const LEASE_SCOPE = script(
  "lease-scope",
  `
if redis.call('EXISTS', KEYS[3]) == 1 then return { 'leased' } end
local version = redis.call('GET', KEYS[2]) or '0'
if tonumber(version) ~= tonumber(ARGV[1]) then return redis.error_reply('FDSCOPE ' .. ARGV[2] .. ' ' .. version) end
local lease = { '#tx', ARGV[3], '#decision', ARGV[4], '#deadline', ARGV[5] }
for j = 6, #ARGV, 2 do
  lease[#lease + 1] = 'f:' .. ARGV[j]
  lease[#lease + 1] = ARGV[j + 1]
end
redis.call('HSET', KEYS[3], unpack(lease))
return { 'prepared' }
`,
);

/**
 * Phase two: applies a leased change (and counts the scope's version up) or drops it, only while
 * the lease is still the named transaction's.
 * KEYS: 1 scope state, 2 scope version, 3 lease. ARGV: 1 transaction id, 2 "apply" or "abort".
 * Returns 1 when it resolved the lease, 0 when the lease was gone or another's.
 */
export const RESOLVE_LEASE = script(
  "resolve-lease",
  `
if redis.call('HGET', KEYS[3], '#tx') ~= ARGV[1] then return 0 end
if ARGV[2] == 'apply' then
  local lease = redis.call('HGETALL', KEYS[3])
  for j = 1, #lease, 2 do
    local field = lease[j]
    if string.sub(field, 1, 2) == 'f:' then
      if lease[j + 1] == 'null' then
        redis.call('HDEL', KEYS[1], string.sub(field, 3))
      else
        redis.call('HSET', KEYS[1], string.sub(field, 3), lease[j + 1])
      end
    end
  end
  redis.call('INCR', KEYS[2])
end
redis.call('DEL', KEYS[3])
return 1
`,
);
