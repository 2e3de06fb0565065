/**
 * The Redis store's write path. Every write is one Lua script (scripts.ts), so it is atomic on the
 * server and checks its own preconditions there; this module only lays out KEYS and ARGV in the
 * order each script documents and reads its verdict. Writes hint this process's subscribers at once
 * (live.ts); the scripts publish for the other instances.
 */

import { FrontdeskError } from "../../core/errors.ts";
import type { SessionKey } from "../../core/model.ts";
import type {
  ApiKeyRecord,
  AppendOutcome,
  AppendRequest,
  Commit,
  CommitResult,
  DeleteCondition,
  IdempotencyRecord,
} from "../types.ts";
import type { RedisClient } from "./connection.ts";
import { type RedisContext, readyClient, rethrowTranslated, run, translate } from "./connection.ts";
import { APPEND_KEYS, type SessionKeys } from "./keys.ts";
import { DECISION_TTL_MS, type LeasedWrite, prepare, release, settle } from "./leases.ts";
import { hintLocally } from "./live.ts";
import {
  barrierChannel,
  commandReplicated,
  confirmReplicated,
  requireAcknowledged,
  runScriptReplicated,
} from "./replicas.ts";
import { APPEND, COMMIT, PUT_API_KEY, REMOVE, REVOKE_API_KEY, runScript, runScriptWith, TOUCH } from "./scripts.ts";

export async function commit(ctx: RedisContext, c: RedisClient, commit: Commit): Promise<CommitResult> {
  const { key, header, events, now } = commit;
  validateCommit(commit);
  const { keys } = ctx;
  const k = keys.session(key);
  const args: (string | number)[] = [
    now,
    commit.expectedVersion,
    JSON.stringify(header),
    header.version,
    header.lastSeq,
    header.expiresAt === null ? "" : header.expiresAt,
    header.lastAccessedAt,
    header.createdAt,
    header.updatedAt,
    k.member,
    k.ref,
    reclaimAfter(header.expiresAt, now, ctx.reclaimGraceMs),
    k.channel,
    commit.idempotency?.key ?? "",
    commit.idempotency ? JSON.stringify(commit.idempotency) : "",
    header.ttlMs === null ? "" : header.ttlMs,
    header.absoluteExpiresAt === null ? "" : header.absoluteExpiresAt,
    header.stats.messages,
    header.stats.toolCalls,
    header.stats.toolErrors,
    header.stats.inputTokens,
    header.stats.outputTokens,
    header.stats.costUsd,
    header.stats.durationMs,
    JSON.stringify(header.stats.toolsUsed),
    events.length,
    ...events.map((event) => JSON.stringify(event)),
    commit.removeEvents?.after ?? "",
    commit.removeEvents?.before ?? "",
    commit.rewrites?.length ?? 0,
  ];
  for (const event of commit.rewrites ?? []) args.push(event.seq, JSON.stringify(event));
  // A scope in the session's slot (or any scope, on a single Redis) is written by the script itself;
  // on a Cluster, one in another slot is leased first and applied after (leases.ts).
  const scriptKeys = everySessionKey(k);
  const leasedWrites: LeasedWrite[] = [];
  for (const write of commit.scoped ?? []) {
    const pairs = Object.entries(write.delta)
      .filter(([, value]) => value !== undefined)
      .map(([field, value]): [string, string] => [field, JSON.stringify(value)]);
    const scope = write.scope === "app" ? keys.appScope(key.namespace) : keys.userScope(key.namespace, key.userId);
    if (ctx.cluster && !keys.scopeInSessionSlot(key, write.scope)) {
      leasedWrites.push({ scope: write.scope, keys: scope, expectedVersion: write.expectedVersion, pairs });
      continue;
    }
    args.push(write.scope, write.expectedVersion, pairs.length, ...pairs.flat());
    scriptKeys.push(scope.state, scope.version);
  }
  const transaction = leasedWrites.length > 0 ? await prepare(ctx, c, key, leasedWrites, now) : undefined;
  if (transaction) {
    args.push("#decision", DECISION_TTL_MS);
    scriptKeys.push(transaction.decision);
  }
  const script = ctx.cluster ? COMMIT.cluster : COMMIT.standalone;
  let acknowledged: number | undefined;
  try {
    if (ctx.replicas) {
      [, acknowledged] = await runScriptReplicated(
        c,
        script,
        scriptKeys.length,
        [...scriptKeys, ...args],
        ctx.replicas,
      );
    } else {
      await runScript(c, script, scriptKeys, args);
    }
  } catch (error) {
    // Refused or lost: the decision record says which, and the leases follow it.
    if (transaction) await settle(ctx, c, transaction);
    throw error;
  }
  // The commit is on the master either way: local listeners re-read it whatever WAIT said.
  hintLocally(ctx, k.channel, header.lastSeq);
  if (transaction) await release(ctx, c, transaction, "apply");
  if (ctx.replicas) requireAcknowledged(ctx.replicas, acknowledged);
  return { version: header.version, lastSeq: header.lastSeq };
}

/** Every append's path: on a ready connection it is {@link appendOn} with no async layer of its own. */
export function append(ctx: RedisContext, request: AppendRequest): Promise<AppendOutcome | undefined> {
  const c = readyClient(ctx);
  if (c && !ctx.cluster) {
    // The common case, as in run() but with one promise fewer.
    try {
      return appendOn(ctx, c, request).catch(rethrowTranslated);
    } catch (error) {
      return Promise.reject(translate(error));
    }
  }
  return run(ctx, (ready) => appendOn(ctx, ready, request));
}

/** The one-step append on a ready connection. */
const appendOn = (ctx: RedisContext, c: RedisClient, request: AppendRequest): Promise<AppendOutcome | undefined> => {
  const { key, events, stats, now } = request;
  const k = ctx.sessionKeys(key);
  const idempotency = request.idempotency;
  const { tools, inputTokens, outputTokens, costUsd, durationMs } = stats;
  const noExtras = tools.length + inputTokens.length + outputTokens.length + costUsd.length + durationMs.length === 0;
  // KEYS, then ARGV in the order APPEND documents; one flat array, so nothing is spread again.
  // ARGV 1 folds every number the script needs into one string; it is written once the extras are counted.
  const argv: (string | number)[] = [...k.appendKeys, ""];
  if (idempotency) {
    argv.push(
      idempotency.key,
      `${JSON.stringify(idempotency).slice(0, -1)},"firstSeq":`,
      `,"at":${JSON.stringify(now)}}`,
    );
  } else {
    argv.push("");
  }
  const extrasFrom = argv.length;
  if (!noExtras) {
    argv.push(tools.length);
    for (const tool of tools) argv.push(JSON.stringify(tool));
    for (const sums of [inputTokens, outputTokens, costUsd, durationMs]) argv.push(sums.length, ...sums);
  }
  argv[APPEND_KEYS] =
    `${now} ${request.expectedVersion ?? ""} ${request.maxEventsPerSession} ${ctx.reclaimGraceMs} ` +
    `${stats.messages} ${stats.toolCalls} ${stats.toolErrors} ${argv.length - extrasFrom} ${events.length}`;
  for (const event of events) {
    // The script prepends `{"seq":<n>,`: every event starts with its id, so never with `}`.
    argv.push(JSON.stringify(event).slice(1));
  }
  const outcome = (answer: unknown): AppendOutcome | undefined => {
    const reply = answer as [string, ...(string | number)[]];
    switch (reply[0]) {
      case "appended": {
        const lastSeq = Number(reply[2]);
        hintLocally(ctx, k.channel, lastSeq);
        return { outcome: "appended", version: Number(reply[1]), lastSeq };
      }
      case "replayed":
        return { outcome: "replayed", record: JSON.parse(String(reply[1])) as IdempotencyRecord };
      case "not_found":
        return { outcome: "not_found" };
      case "full":
        return { outcome: "full" };
      case "version_mismatch":
        return { outcome: "version_mismatch", currentVersion: Number(reply[1]) };
      default:
        return undefined; // "legacy": a header from before the field layout; the commit path rewrites it
    }
  };
  const wait = ctx.replicas;
  const script = ctx.cluster ? APPEND.cluster : APPEND.standalone;
  if (!wait) return runScriptWith(c, script, APPEND_KEYS, argv).then(outcome);
  return runScriptReplicated(c, script, APPEND_KEYS, argv, wait).then(async ([answer, acknowledged]) => {
    const result = outcome(answer);
    // The other outcomes wrote nothing: there is nothing to lose.
    if (result?.outcome === "appended") requireAcknowledged(wait, acknowledged);
    else if (result?.outcome === "replayed") await confirmReplicated(c, wait, barrierChannel(k.channel));
    return result;
  });
};

export async function touch(
  ctx: RedisContext,
  c: RedisClient,
  key: SessionKey,
  times: { expiresAt: number | null; lastAccessedAt: number },
  now: number,
): Promise<boolean> {
  const k = ctx.keys.session(key);
  const touched = await runScript(
    c,
    TOUCH,
    [k.header, k.events, k.idempotency, k.ownerExpiry, k.expiry],
    [
      now,
      times.expiresAt === null ? "" : times.expiresAt,
      times.lastAccessedAt,
      reclaimAfter(times.expiresAt, now, ctx.reclaimGraceMs),
      k.member,
      k.ref,
    ],
  );
  return touched === 1;
}

export async function deleteSession(
  ctx: RedisContext,
  c: RedisClient,
  key: SessionKey,
  condition: DeleteCondition | undefined,
): Promise<boolean> {
  const k = ctx.keys.session(key);
  // With a condition the script checks expiry and version before deleting, atomically.
  const args = [k.member, k.ref, "", k.channel, condition?.expectedVersion ?? "", condition?.now ?? ""];
  const scriptKeys = everySessionKey(k);
  const remove = ctx.cluster ? REMOVE.cluster : REMOVE.standalone;
  if (!ctx.replicas) {
    const removed = (await runScript(c, remove, scriptKeys, args)) === 1;
    if (removed) hintLocally(ctx, k.channel, 0);
    return removed;
  }
  const [reply, acknowledged] = await runScriptReplicated(
    c,
    remove,
    scriptKeys.length,
    [...scriptKeys, ...args],
    ctx.replicas,
  );
  if (reply !== 1) return false;
  hintLocally(ctx, k.channel, 0);
  requireAcknowledged(ctx.replicas, acknowledged);
  return true;
}

/**
 * Removes what is left of a session whose header Redis reclaimed by itself (PEXPIRE): its index
 * entries and any leftover key. A session whose header is there, live or expired, is left alone,
 * checked atomically, so a create racing this keeps its session.
 */
export async function dropReclaimed(ctx: RedisContext, c: RedisClient, key: SessionKey): Promise<void> {
  const k = ctx.keys.session(key);
  await runScript(c, ctx.cluster ? REMOVE.cluster : REMOVE.standalone, everySessionKey(k), [
    k.member,
    k.ref,
    ONLY_WITHOUT_HEADER,
    "",
    "",
    "",
  ]);
}

/** REMOVE's sweep clock before which every stored header counts as live: only a missing one is removed. */
const ONLY_WITHOUT_HEADER = String(-Number.MAX_VALUE);

/** Drops one owner's `user:` scope: its state and its version, which then reads 0 again. */
export async function eraseScope(
  ctx: RedisContext,
  c: RedisClient,
  namespace: string,
  userId: string | null,
): Promise<boolean> {
  const k = ctx.keys.userScope(namespace, userId);
  // The keys carry the scope's hash tag, so one DEL removes them together, in one slot: a pending
  // two-phase change (leases.ts) goes with them.
  const lease = ctx.keys.scopeLease(k);
  if (!ctx.replicas) return (await c.del(k.state, k.version, lease)) > 0;
  // An erasure a failover undoes would bring the data back: it waits like a delete.
  const [removed, acknowledged] = await commandReplicated(c, ctx.replicas, "DEL", [k.state, k.version, lease]);
  if (Number(removed) > 0) requireAcknowledged(ctx.replicas, acknowledged);
  return Number(removed) > 0;
}

/**
 * Sweeps bucket after bucket, from where the last limited sweep stopped, so a bounded sweep of a
 * large store reaches every bucket over successive calls. One short probe of every bucket's expiry
 * index goes first, side by side, so the buckets with nothing expired cost no round trip of their own.
 */
export async function sweep(ctx: RedisContext, c: RedisClient, now: number, limit: number): Promise<number> {
  const { keys } = ctx;
  const { expiries } = keys;
  const remove = ctx.cluster ? REMOVE.cluster : REMOVE.standalone;
  const due =
    expiries.length === 1
      ? [true]
      : await Promise.all(
          expiries.map((expiry) => c.zrangebyscore(expiry, "-inf", now, "LIMIT", 0, 1).then((refs) => refs.length > 0)),
        );
  let removed = 0;
  for (let visited = 0; visited < expiries.length && removed < limit; visited++) {
    const bucket = (ctx.sweepFrom + visited) % expiries.length;
    const expiry = expiries[bucket] as string;
    if (!due[bucket]) continue;
    // Every candidate leaves the expiry range (deleted, cleaned or re-scored), so rounds advance.
    for (;;) {
      const batch = Math.min(limit - removed, 200);
      const refs = await c.zrangebyscore(expiry, "-inf", now, "LIMIT", 0, batch);
      const results = await Promise.all(
        refs.map(async (ref) => {
          const key = keys.parseRef(ref);
          if (!key) return c.zrem(expiry, ref).then(() => 0);
          const k = keys.session(key);
          return runScript(c, remove, everySessionKey(k), [k.member, k.ref, now, "", "", ""]);
        }),
      );
      removed += results.filter((r) => r === 1).length;
      const exhausted = refs.length < batch;
      if (removed >= limit) {
        // The next sweep starts in this bucket if it may hold more, else in the next one.
        ctx.sweepFrom = exhausted ? bucket + 1 : bucket;
        return removed;
      }
      if (exhausted) break;
    }
  }
  return removed;
}

export async function putApiKey(ctx: RedisContext, c: RedisClient, record: ApiKeyRecord): Promise<void> {
  const { records, byHash, revoked } = ctx.keys.apiKeys;
  const scriptKeys = [records, byHash, revoked];
  const args = [record.id, record.hash, JSON.stringify({ ...record, revokedAt: null }), record.revokedAt ?? ""];
  if (!ctx.replicas) {
    await runScript(c, PUT_API_KEY, scriptKeys, args);
    return;
  }
  const [, acknowledged] = await runScriptReplicated(c, PUT_API_KEY, 3, [...scriptKeys, ...args], ctx.replicas);
  requireAcknowledged(ctx.replicas, acknowledged);
}

export async function revokeApiKey(ctx: RedisContext, c: RedisClient, id: string, at: number): Promise<boolean> {
  const { records, revoked } = ctx.keys.apiKeys;
  if (!ctx.replicas) return (await runScript(c, REVOKE_API_KEY, [records, revoked], [id, at])) === 1;
  // A revocation a failover undoes would let the key in again.
  const [reply, acknowledged] = await runScriptReplicated(
    c,
    REVOKE_API_KEY,
    2,
    [records, revoked, id, at],
    ctx.replicas,
  );
  if (reply !== 1) return false;
  requireAcknowledged(ctx.replicas, acknowledged);
  return true;
}

/** PEXPIRE milliseconds, relative to the caller's clock so a fake clock cannot make Redis drop a live session. */
const reclaimAfter = (expiresAt: number | null, now: number, graceMs: number): string =>
  expiresAt === null ? "" : String(Math.max(0, Math.ceil(expiresAt - now)) + Math.ceil(graceMs));

/** The keys COMMIT and REMOVE both take first: everything the session owns or is indexed under. */
const everySessionKey = (k: SessionKeys): string[] => [
  k.header,
  k.events,
  k.idempotency,
  k.namespaceCreated,
  k.namespaceUpdated,
  k.ownerCreated,
  k.ownerUpdated,
  k.ownerExpiry,
  k.expiry,
];

/**
 * The parts of a commit the store relies on for its layout; the core always sends them right. The
 * script checks what needs the stored session: that rewrites stay within the previous lastSeq.
 */
const validateCommit = ({ key, header, events, expectedVersion, removeEvents, rewrites }: Commit): void => {
  const same = header.namespace === key.namespace && header.userId === key.userId && header.id === key.id;
  if (!same) throw new FrontdeskError("invalid_request", "The commit's header belongs to another session key");
  if (header.version !== expectedVersion + 1) {
    throw new FrontdeskError("invalid_request", "A commit's header.version must be expectedVersion + 1");
  }
  const firstSeq = header.lastSeq - events.length + 1;
  events.forEach((event, i) => {
    if (event.seq !== firstSeq + i) {
      throw new FrontdeskError("invalid_request", "A commit's events must carry the seqs up to header.lastSeq");
    }
  });
  const wholeRange =
    removeEvents === undefined ||
    (Number.isSafeInteger(removeEvents.after) && Number.isSafeInteger(removeEvents.before) && removeEvents.after >= 0);
  if (!wholeRange) {
    throw new FrontdeskError("invalid_request", "The commit's removeEvents bounds must be whole numbers ≥ 0");
  }
  for (const event of rewrites ?? []) {
    if (!Number.isSafeInteger(event.seq) || event.seq < 1) {
      throw new FrontdeskError("invalid_request", "A commit may only rewrite events already in the log");
    }
    if (removeEvents && event.seq > removeEvents.after && event.seq < removeEvents.before) {
      throw new FrontdeskError("invalid_request", "A commit may not rewrite an event it removes");
    }
  }
};
