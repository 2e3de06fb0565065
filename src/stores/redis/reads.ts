/**
 * The Redis store's read path: plain commands where one command (or one MULTI) is atomic enough.
 * The header hash is decoded here because touch and the one-step append move some of its fields
 * without rewriting the JSON. Events are a list in seq order: a read that removals cannot shift is one
 * LRANGE, and one that can is a script (READ_EVENTS) that maps seqs to indexes atomically; either way
 * k events cost O(k). Listing walks a sorted-set index and filters like list-filter.ts.
 */

import { FrontdeskError } from "../../core/errors.ts";
import type { Json, SessionEvent, SessionHeader, SessionKey } from "../../core/model.ts";
import { compareListPosition, isExpired, listPositionOf, matchesListQuery } from "../shared/list-filter.ts";
import type { ApiKeyRecord, EventRange, IdempotencyRecord, ListPage, ListQuery, ScopedState } from "../types.ts";
import { dropReclaimed } from "./commands.ts";
import type { RedisClient, RedisContext } from "./connection.ts";
import { finishLease } from "./leases.ts";
import { barrierChannel, confirmReplicated } from "./replicas.ts";
import { FIND_API_KEY, READ_EVENTS, runScript } from "./scripts.ts";

export async function get(
  ctx: RedisContext,
  c: RedisClient,
  key: SessionKey,
  now: number,
): Promise<SessionHeader | undefined> {
  const header = decodeHeader(await c.hmget(ctx.keys.session(key).header, ...HEADER_FIELDS));
  return header && !isExpired(header, now) ? header : undefined;
}

/** Events are chunked when a `types` filter may skip many; a plain range is one call. */
const EVENT_CHUNK = 256;

export async function readEvents(
  ctx: RedisContext,
  c: RedisClient,
  key: SessionKey,
  range: EventRange,
): Promise<SessionEvent[]> {
  const k = ctx.keys.session(key);
  let after = Math.max(0, Math.floor(range.after ?? 0));
  // Only seqs below `before`, a whole number here: seq < 7.5 is seq < 8.
  let before = range.before === undefined ? undefined : Math.ceil(range.before);
  const limit = range.limit === undefined ? Number.POSITIVE_INFINITY : Math.ceil(range.limit);
  if (limit <= 0 || (before !== undefined && before <= after + 1)) return [];
  const desc = range.order === "desc";
  const parse = (items: string[]): SessionEvent[] => items.map((item) => JSON.parse(item) as SessionEvent);
  /** Up to `count` stored events with after < seq < before, the oldest or (desc) the newest, ascending. */
  const slice = async (count: number): Promise<SessionEvent[]> => {
    const top = Math.min(count, before === undefined ? Number.POSITIVE_INFINITY : before - 1 - after);
    if (desc ? before === undefined && Number.isFinite(count) : after === 0) {
      // The list's ends hold the newest and the oldest stored events whatever was removed, and no
      // event with seq < before sits past index before - 2, so one LRANGE answers.
      const items = await c.lrange(k.events, desc ? -count : 0, desc || !Number.isFinite(top) ? -1 : top - 1);
      return parse(items).filter((e) => e.seq > after && (before === undefined || e.seq < before));
    }
    if (!desc) {
      // While nothing was ever removed, seq n sits at index n - 1. The header's removal count `g`,
      // read after the range on the same connection, only grows: none then means none before.
      const stop = Number.isFinite(top) ? after + top - 1 : -1;
      const [items, removed] = await Promise.all([c.lrange(k.events, after, stop), c.hget(k.header, "g")]);
      if (removed === null) return parse(items);
    }
    const args = [after, before ?? "", Number.isFinite(count) ? count : "", desc ? "desc" : "asc"];
    return parse((await runScript(c, READ_EVENTS, [k.header, k.events], args)) as string[]);
  };
  const types = range.types && range.types.length > 0 ? new Set(range.types) : undefined;
  if (!types) {
    const events = await slice(limit);
    return desc ? events.reverse() : events;
  }
  // Chunks continue from the last seq seen, so they stay right whatever the log's gaps.
  const out: SessionEvent[] = [];
  while (out.length < limit) {
    const chunk = await slice(EVENT_CHUNK);
    if (desc) chunk.reverse();
    for (const event of chunk) if (types.has(event.type) && out.length < limit) out.push(event);
    const edge = chunk.at(-1);
    if (chunk.length < EVENT_CHUNK || !edge) break;
    if (desc) before = edge.seq;
    else after = edge.seq;
  }
  return out;
}

const scoreArg = (score: number): string =>
  score === Number.POSITIVE_INFINITY ? "+inf" : score === Number.NEGATIVE_INFINITY ? "-inf" : String(score);

/**
 * Walks the owner's sorted set, or every bucket's share of the namespace's (or of the owner-less
 * sessions'), by the order field, keeping only headers that match every filter (list-filter.ts is
 * the reference), until `limit + 1` matched and every entry sharing the last one's score has been
 * seen; then sorts by the exact keyset order. Several indexes are merged by score as they are read,
 * each fetched in small chunks, so a page across 256 buckets reads about `limit + 1` headers, not
 * `limit + 1` per bucket.
 */
export async function list(ctx: RedisContext, c: RedisClient, query: ListQuery): Promise<ListPage> {
  const { keys } = ctx;
  const limit = Math.max(0, Math.floor(query.limit));
  const desc = query.order === "desc";
  const byCreated = query.orderBy === "createdAt";
  let low = (byCreated ? query.createdAfter : query.updatedAfter) ?? Number.NEGATIVE_INFINITY;
  let high = (byCreated ? query.createdBefore : query.updatedBefore) ?? Number.POSITIVE_INFINITY;
  if (query.after && desc) high = Math.min(high, query.after.value);
  if (query.after && !desc) low = Math.max(low, query.after.value);
  if (low > high) return { items: [], hasMore: false };

  const indexes = keys.listIndexes(query.namespace, query.userId, query.orderBy);
  const batch = Math.min(Math.max(limit + 1, 50), 500);
  const firstChunk =
    indexes.length === 1 ? batch : Math.min(batch, Math.max(4, Math.ceil((2 * (limit + 1)) / indexes.length)));
  const cursors = indexes.map((index) => new IndexCursor(c, index, desc, low, high, firstChunk));
  // Before the smallest head can be taken, every index that may hold a smaller one must show its head.
  const fill = () => Promise.all(cursors.filter((cursor) => cursor.needsFetch()).map((cursor) => cursor.fetch()));
  const before = (a: number, b: number) => (desc ? a > b : a < b);

  const matched: SessionHeader[] = [];
  let boundary: number | undefined;
  // Members whose header Redis already reclaimed (PEXPIRE): nothing of them is listed, and their
  // entries go now, so no index keeps naming a session, or its owner, that is gone.
  const reclaimed: SessionKey[] = [];
  scan: for (;;) {
    await fill();
    const taken: [string, number][] = [];
    while (taken.length < batch) {
      let best: IndexCursor | undefined;
      for (const cursor of cursors) {
        const head = cursor.head();
        if (head && (!best || before(head[1], (best.head() as [string, number])[1]))) best = cursor;
      }
      if (!best) break;
      const entry = best.take();
      if (boundary !== undefined && entry[1] !== boundary) break;
      taken.push(entry);
      if (best.needsFetch()) break;
    }
    if (taken.length === 0) break;
    const headers = await Promise.all(
      taken.map(([member]) => {
        const key = keys.parseMember(query.namespace, member);
        if (!key) return undefined;
        return c.hmget(keys.session(key).header, ...HEADER_FIELDS).then((fields) => {
          const header = decodeHeader(fields);
          if (!header) reclaimed.push(key);
          return header;
        });
      }),
    );
    for (let i = 0; i < taken.length; i++) {
      const score = (taken[i] as [string, number])[1];
      if (boundary !== undefined && score !== boundary) break scan;
      const header = headers[i];
      if (header && matchesListQuery(header, query)) {
        matched.push(header);
        if (boundary === undefined && matched.length > limit) boundary = score;
      }
    }
  }
  await Promise.all(reclaimed.map((key) => dropReclaimed(ctx, c, key)));
  matched.sort((a, b) => compareListPosition(listPositionOf(a, query.orderBy), listPositionOf(b, query.orderBy)));
  if (desc) matched.reverse();
  return { items: matched.slice(0, limit), hasMore: matched.length > limit };
}

/**
 * Reads one sorted set in score order, a chunk at a time, resuming at the last score fetched and
 * skipping the members already fetched there (a keyset over the index itself); chunks double up
 * to 500 as the walk goes on.
 */
class IndexCursor {
  private entries: [string, number][] = [];
  private next = 0;
  private done = false;
  private edge: number;
  private seenAtEdge = 0;

  constructor(
    private readonly c: RedisClient,
    private readonly index: string,
    private readonly desc: boolean,
    private readonly low: number,
    private readonly high: number,
    private chunk: number,
  ) {
    this.edge = desc ? high : low;
  }

  head(): [string, number] | undefined {
    return this.entries[this.next];
  }

  take(): [string, number] {
    return this.entries[this.next++] as [string, number];
  }

  needsFetch(): boolean {
    return !this.done && this.next >= this.entries.length;
  }

  async fetch(): Promise<void> {
    const { c, index, chunk } = this;
    const reply = this.desc
      ? await c.zrevrangebyscore(
          index,
          scoreArg(this.edge),
          scoreArg(this.low),
          "WITHSCORES",
          "LIMIT",
          this.seenAtEdge,
          chunk,
        )
      : await c.zrangebyscore(
          index,
          scoreArg(this.edge),
          scoreArg(this.high),
          "WITHSCORES",
          "LIMIT",
          this.seenAtEdge,
          chunk,
        );
    this.entries = [];
    this.next = 0;
    for (let i = 0; i < reply.length; i += 2) {
      const score = Number(reply[i + 1]);
      this.entries.push([reply[i] as string, score]);
      if (score === this.edge) this.seenAtEdge++;
      else {
        this.edge = score;
        this.seenAtEdge = 1;
      }
    }
    if (this.entries.length < chunk) this.done = true;
    this.chunk = Math.min(chunk * 2, 500);
  }
}

export async function count(
  ctx: RedisContext,
  c: RedisClient,
  namespace: string,
  userId: string | null,
  now: number,
): Promise<number> {
  const counts = await Promise.all(
    ctx.keys.ownerExpiries(namespace, userId).map((index) => c.zcount(index, `(${now}`, "+inf")),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

export async function readScope(
  ctx: RedisContext,
  c: RedisClient,
  namespace: string,
  scope: "user" | "app",
  userId: string | null,
  leaseFinished = false,
): Promise<ScopedState> {
  const k = scope === "app" ? ctx.keys.appScope(namespace) : ctx.keys.userScope(namespace, userId);
  // On a Cluster the scopes outside the buckets may hold a two-phase commit's lease (leases.ts):
  // one that is decided is finished before the state is read, so a committed change is never missed.
  const leased = ctx.cluster !== undefined && (scope === "app" || userId === null);
  const read = c.multi().hgetall(k.state).get(k.version);
  if (leased) read.exists(ctx.keys.scopeLease(k));
  const reply = await read.exec();
  if (!reply) throw new FrontdeskError("unavailable", "Redis aborted the scope read");
  for (const [error] of reply) if (error) throw error;
  const [[, state], [, version], lease] = reply as [
    [null, Record<string, string>],
    [null, string | null],
    [null, number]?,
  ];
  // Read again once after finishing a lease; a newer lease then is in flight, and the state read is its pre-image.
  if (lease?.[1] === 1 && !leaseFinished && (await finishLease(ctx, c, k, ctx.now()))) {
    return readScope(ctx, c, namespace, scope, userId, true);
  }
  return {
    state: Object.fromEntries(Object.entries(state).map(([field, value]) => [field, JSON.parse(value) as Json])),
    version: version === null ? 0 : Number(version),
  };
}

export async function findIdempotency(
  ctx: RedisContext,
  c: RedisClient,
  key: SessionKey,
  idempotencyKey: string,
): Promise<IdempotencyRecord | undefined> {
  const k = ctx.keys.session(key);
  const record = await c.hget(k.idempotency, idempotencyKey);
  if (record === null) return undefined;
  // The caller answers a replay from this record: it must be as safe from a failover as a fresh write.
  if (ctx.replicas) await confirmReplicated(c, ctx.replicas, barrierChannel(k.channel));
  return JSON.parse(record) as IdempotencyRecord;
}

export async function findApiKey(ctx: RedisContext, c: RedisClient, hash: string): Promise<ApiKeyRecord | undefined> {
  const { records, byHash, revoked } = ctx.keys.apiKeys;
  const reply = (await runScript(c, FIND_API_KEY, [byHash, records, revoked], [hash])) as [string, string] | null;
  return reply ? decodeApiKey(reply[0], reply[1]) : undefined;
}

export async function listApiKeys(ctx: RedisContext, c: RedisClient): Promise<ApiKeyRecord[]> {
  const { records, revoked } = ctx.keys.apiKeys;
  const reply = await c.multi().hvals(records).hgetall(revoked).exec();
  if (!reply) throw new FrontdeskError("unavailable", "Redis aborted the API key read");
  const [[recordsError, values], [revokedError, revokedAt]] = reply as [
    [Error | null, unknown],
    [Error | null, unknown],
  ];
  if (recordsError || revokedError) throw recordsError ?? revokedError;
  const revocations = revokedAt as Record<string, string>;
  return (values as string[])
    .map((json) => {
      const record = JSON.parse(json) as ApiKeyRecord;
      return decodeApiKey(json, revocations[record.id] ?? "");
    })
    .sort((a, b) => a.createdAt - b.createdAt);
}

/**
 * The header hash's fields: `j` is the header JSON as the last commit wrote it; the others are the
 * fields that touch and the one-step append move without rewriting `j`, laid over it.
 */
const HEADER_FIELDS = ["j", "x", "a", "v", "s", "u", "t", "b", "m", "c", "r", "i", "o", "k", "d", "w"] as const;

const decodeHeader = (fields: (string | null)[]): SessionHeader | undefined => {
  const [json, x, a, v, s, u, t, b, m, c, r, i, o, k, d, w] = fields;
  if (json === null || json === undefined) return undefined;
  const header = JSON.parse(json) as SessionHeader;
  const nullable = (value: string): number | null => (value === "" ? null : Number(value));
  // Headers written before a field existed lack it: the JSON's value stands then.
  if (x != null) header.expiresAt = nullable(x);
  if (a != null) header.lastAccessedAt = Number(a);
  if (v != null) header.version = Number(v);
  if (s != null) header.lastSeq = Number(s);
  if (u != null) header.updatedAt = Number(u);
  if (t != null) header.ttlMs = nullable(t);
  if (b != null) header.absoluteExpiresAt = nullable(b);
  if (m != null && c != null && r != null && i != null && o != null && k != null && d != null && w != null) {
    header.stats = {
      messages: Number(m),
      toolCalls: Number(c),
      toolErrors: Number(r),
      toolsUsed: JSON.parse(w) as string[],
      inputTokens: Number(i),
      outputTokens: Number(o),
      costUsd: Number(k),
      durationMs: Number(d),
    };
  }
  return header;
};

const decodeApiKey = (json: string, revokedAt: string): ApiKeyRecord => {
  const record = JSON.parse(json) as ApiKeyRecord;
  return { ...record, revokedAt: revokedAt === "" ? null : Number(revokedAt) };
};
