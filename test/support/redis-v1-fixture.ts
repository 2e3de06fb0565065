/**
 * Writes a Redis store in the key layout before buckets ("layout 1", `git show ef199aa^:src/stores/redis/keys.ts`
 * and the old table of docs/stores/redis.md) with raw commands, exactly as that version's scripts
 * left it, so that the migration is tested against the old layout itself and not against code
 * that shares anything with the migration. Each fixture also carries what the store must answer
 * once migrated: the expected model.
 */
import type { Redis } from "ioredis";
import { emptyStats, type SessionEvent, type SessionHeader, type SessionKey } from "../../src/core/model.ts";
import type { IdempotencyRecord } from "../../src/stores/types.ts";

/** The old escaping, restated: `%XX` for `% : { } #`, space, ASCII controls and DEL. */
const escapeV1 = (segment: string): string =>
  segment.replace(
    /[%:{}#]|[^!-~\u0080-\uffff]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
const ownerOf = (userId: string | null): string => (userId === null ? "#" : escapeV1(userId));

/** The old layout's key names. */
export const v1Keys = (prefix: string) => ({
  session(key: SessionKey) {
    const member = `${ownerOf(key.userId)}:${escapeV1(key.id)}`;
    const ref = `${escapeV1(key.namespace)}:${member}`;
    const base = `${prefix}:{s:${ref}}`;
    const ns = `${prefix}:{n:${escapeV1(key.namespace)}}`;
    const owner = `${prefix}:{o:${escapeV1(key.namespace)}:${ownerOf(key.userId)}}`;
    return {
      header: `${base}:h`,
      events: `${base}:e`,
      idempotency: `${base}:i`,
      nsCreated: `${ns}:created`,
      nsUpdated: `${ns}:updated`,
      ownerCreated: `${owner}:created`,
      ownerUpdated: `${owner}:updated`,
      ownerExpiry: `${owner}:expiry`,
      member,
      ref,
    };
  },
  userScope: (namespace: string, userId: string | null) => `${prefix}:{u:${escapeV1(namespace)}:${ownerOf(userId)}}`,
  appScope: (namespace: string) => `${prefix}:{a:${escapeV1(namespace)}}`,
  expiry: `${prefix}:{x}:expiry`,
  apiKeys: `${prefix}:{k}`,
});

export interface V1Session {
  /** What `get` answers at the fixture's `now` (or would, were it not expired). */
  readonly header: SessionHeader;
  /** The events still stored, in seq order (removed ones left out). */
  readonly events: readonly SessionEvent[];
  /** The seqs removed by a pruning commit, first..last inclusive; none when absent. */
  readonly removed?: readonly [number, number];
  readonly idempotency: readonly IdempotencyRecord[];
  /**
   * "fields": a header as layout 2's scripts left it after a plain append (`j` older than the fields
   * laid over it); "json-only": one written before the header fields, with only `j v s x a`.
   */
  readonly headerShape: "fields" | "json-only";
}

export interface V1Scope {
  readonly namespace: string;
  readonly userId: string | null;
  readonly state: Record<string, unknown>;
  readonly version: number;
}

export interface V1Fixture {
  readonly now: number;
  readonly sessions: readonly V1Session[];
  /** Index entries whose keys Redis already reclaimed (PEXPIRE): they exist only as index members. */
  readonly reclaimed: readonly (SessionKey & { createdAt: number; expiresAt: number })[];
  readonly userScopes: readonly V1Scope[];
  readonly appScopes: readonly Omit<V1Scope, "userId">[];
  /** PEXPIRE slack after `expiresAt`, as the store's reclaimGraceMs. */
  readonly graceMs: number;
}

const event = (seq: number, at: number, text: string): SessionEvent =>
  ({ seq, id: `e${seq}`, at, type: "message", role: "user", content: `${text} #${seq}` }) as SessionEvent;

/** The runs field `p` for a log 1..lastSeq with first..last removed: "<first seq>:<index> …". */
const runsOf = ([first, last]: readonly [number, number]): string => {
  const runs: string[] = [];
  if (first > 1) runs.push("1:0");
  const kept = first - 1;
  // A removal of the newest events leaves a run that starts past the end, where appends continue.
  runs.push(`${last + 1}:${kept}`);
  return runs.join(" ");
};

export interface SessionSpec {
  key: SessionKey;
  /** Offset of createdAt from `now`, ms (negative: in the past). */
  created: number;
  /** Offset of updatedAt from createdAt, ms. @default 10 per event */
  updated?: number;
  events: number;
  /** "never", "live" (an hour left) or "expired" (a minute ago, keys not reclaimed yet). */
  expiry: "never" | "live" | "expired";
  removed?: readonly [number, number];
  idempotencyKeys?: number;
  headerShape?: V1Session["headerShape"];
  title?: string;
  tags?: string[];
}

/** A session per spec, as the expected model: the header `get` returns and the events kept. */
export function sessionFromSpec(spec: SessionSpec, now: number): V1Session {
  const createdAt = now + spec.created;
  const updatedAt = createdAt + (spec.updated ?? 10 * spec.events);
  const expiresAt = spec.expiry === "never" ? null : spec.expiry === "live" ? now + 3_600_000 : now - 60_000;
  const all = Array.from({ length: spec.events }, (_, i) => event(i + 1, createdAt + 10 * (i + 1), spec.key.id));
  const removed = spec.removed;
  const events = removed ? all.filter((e) => e.seq < removed[0] || e.seq > removed[1]) : all;
  const header: SessionHeader = {
    ...spec.key,
    status: "active",
    title: spec.title ?? `title of ${spec.key.id}`,
    purpose: null,
    tags: spec.tags ?? [],
    metadata: { origin: "v1" },
    state: { step: spec.events },
    version: spec.events + 1,
    lastSeq: spec.events,
    stats: { ...emptyStats(), messages: spec.events, toolsUsed: spec.events > 1 ? ["search"] : [] },
    createdAt,
    updatedAt,
    lastAccessedAt: updatedAt,
    ttlMs: expiresAt === null ? null : 3_600_000,
    expiresAt,
    absoluteExpiresAt: null,
    parent: null,
  };
  const idempotency = Array.from(
    { length: spec.idempotencyKeys ?? 0 },
    (_, i): IdempotencyRecord => ({
      key: `idem-${i}`,
      fingerprint: `fp-${spec.key.id}-${i}`,
      firstSeq: i + 1,
      lastSeq: i + 1,
      version: i + 2,
      at: createdAt + 10 * (i + 1),
    }),
  );
  return { header, events, ...(removed ? { removed } : {}), idempotency, headerShape: spec.headerShape ?? "fields" };
}

const num = (value: number | null): string => (value === null ? "" : String(value));

/** Writes `fixture` in the old layout; `pipelineSize` sessions per round trip. */
export async function writeV1(client: Redis, prefix: string, fixture: V1Fixture, pipelineSize = 500): Promise<void> {
  const keys = v1Keys(prefix);
  for (let from = 0; from < fixture.sessions.length; from += pipelineSize) {
    const p = client.pipeline();
    for (const session of fixture.sessions.slice(from, from + pipelineSize)) {
      const { header } = session;
      const k = keys.session(header);
      const x = num(header.expiresAt);
      if (session.headerShape === "json-only") {
        p.hset(k.header, {
          j: JSON.stringify(header),
          v: String(header.version),
          s: String(header.lastSeq),
          x,
          a: String(header.lastAccessedAt),
        });
      } else {
        // The JSON as the last commit wrote it, before the plain append whose fields are laid over it.
        const stale: SessionHeader = {
          ...header,
          version: header.version - 1,
          lastSeq: header.lastSeq - 1,
          updatedAt: header.createdAt,
          lastAccessedAt: header.createdAt,
          stats: { ...header.stats, messages: header.stats.messages - 1, toolsUsed: [] },
        };
        const s = header.stats;
        p.hset(k.header, {
          j: JSON.stringify(stale),
          v: String(header.version),
          s: String(header.lastSeq),
          x,
          a: String(header.lastAccessedAt),
          u: String(header.updatedAt),
          t: num(header.ttlMs),
          b: num(header.absoluteExpiresAt),
          m: String(s.messages),
          c: String(s.toolCalls),
          r: String(s.toolErrors),
          i: String(s.inputTokens),
          o: String(s.outputTokens),
          k: String(s.costUsd),
          d: String(s.durationMs),
          w: JSON.stringify(s.toolsUsed),
        });
      }
      if (session.removed) {
        const [first, last] = session.removed;
        p.hset(k.header, { g: String(last - first + 1), p: runsOf(session.removed) });
      }
      if (session.events.length > 0) p.rpush(k.events, ...session.events.map((e) => JSON.stringify(e)));
      for (const record of session.idempotency) p.hset(k.idempotency, record.key, JSON.stringify(record));
      const score = header.expiresAt === null ? "+inf" : String(header.expiresAt);
      p.zadd(k.nsCreated, String(header.createdAt), k.member);
      p.zadd(k.nsUpdated, String(header.updatedAt), k.member);
      p.zadd(k.ownerCreated, String(header.createdAt), k.member);
      p.zadd(k.ownerUpdated, String(header.updatedAt), k.member);
      p.zadd(k.ownerExpiry, score, k.member);
      p.zadd(keys.expiry, score, k.ref);
      if (header.expiresAt !== null) {
        // Relative to Redis's clock, as the scripts' PEXPIRE was: the fixture's `now` is this moment.
        const ms = Math.max(0, header.expiresAt - fixture.now) + fixture.graceMs;
        for (const key of [k.header, k.events, k.idempotency]) p.pexpire(key, ms);
      }
    }
    await execOrThrow(p);
  }
  const p = client.pipeline();
  for (const gone of fixture.reclaimed) {
    const k = keys.session(gone);
    p.zadd(k.nsCreated, String(gone.createdAt), k.member);
    p.zadd(k.nsUpdated, String(gone.createdAt), k.member);
    p.zadd(k.ownerCreated, String(gone.createdAt), k.member);
    p.zadd(k.ownerUpdated, String(gone.createdAt), k.member);
    p.zadd(k.ownerExpiry, String(gone.expiresAt), k.member);
    p.zadd(keys.expiry, String(gone.expiresAt), k.ref);
  }
  for (const scope of fixture.userScopes) {
    const base = keys.userScope(scope.namespace, scope.userId);
    writeScope(p, base, scope);
  }
  for (const scope of fixture.appScopes) writeScope(p, keys.appScope(scope.namespace), scope);
  await execOrThrow(p);
}

const writeScope = (p: ReturnType<Redis["pipeline"]>, base: string, scope: Omit<V1Scope, "userId">): void => {
  const fields = Object.entries(scope.state).map(([field, value]) => [field, JSON.stringify(value)]);
  if (fields.length > 0) p.hset(`${base}:state`, Object.fromEntries(fields));
  p.set(`${base}:version`, String(scope.version));
};

const execOrThrow = async (p: ReturnType<Redis["pipeline"]>): Promise<void> => {
  for (const [error] of (await p.exec()) ?? []) if (error) throw error;
};

/** Every key under `prefix` in the old layout's tags: none may be left once migrated, but the owner-less scope's. */
export async function v1KeysLeft(client: Redis, prefix: string): Promise<string[]> {
  const left: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await client.scan(cursor, "MATCH", `${prefix}:{[snoux]*`, "COUNT", 1000);
    cursor = next;
    left.push(...found);
  } while (cursor !== "0");
  // The owner-less `user:` scope keeps its key in the new layout.
  return left.filter((key) => !/^[^{]*\{u:[^:}]*:#\}/.test(key)).sort();
}
