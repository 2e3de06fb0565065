/**
 * Moves a Redis store from the layout before buckets (layout 1: one hash tag per session, owner and
 * namespace, and the store-wide expiry index `P:{x}:expiry`) to the bucketed layout 2 (keys.ts),
 * on the standalone Redis it lives on. `frontdesk store migrate-redis` runs it.
 *
 * Every step can be cut off and run again:
 * - A guard member in the old expiry index keeps the index, and with it the new store's refusal of
 *   a half-migrated keyspace (connection.ts `checkLayout`), alive until the last step.
 * - That index is the cursor. One script per session RENAMEs its keys to their new names (the
 *   value and its TTL move together, in O(1), without a copy crossing the network), adds the
 *   index entries the COMMIT script would have written, removes the old ones and finally the
 *   session's own entry in the cursor, all atomically. A session whose header Redis already
 *   reclaimed only loses its old entries.
 * - Then one SCAN over the old tags: owned `user:` scopes move the same way (the owner-less one
 *   keeps its key), session keys missing from the cursor move too, and the old namespace and
 *   owner indexes, empty of live sessions by then, are deleted.
 * - Last, one script writes the layout marker and drops the cursor with its guard, and only when
 *   no session is left in it, so no store ever opens a keyspace still being moved.
 */
import { Redis } from "ioredis";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import { yieldToEventLoop } from "../../core/event-loop.ts";
import type { SessionKey } from "../../core/model.ts";
import { LAYOUT_VERSION, legacyExpiryIndex, translate } from "./connection.ts";
import { createKeyspace, escapeSegment, type Keyspace, unescapeSegment } from "./keys.ts";

export interface MigrateProgress {
  /** Sessions moved so far by this run. */
  readonly migrated: number;
  /** Sessions still in the old expiry index. */
  readonly remaining: number;
}

export interface MigrateRedisOptions {
  /** `redis://` or `rediss://`: the standalone Redis holding the old layout (it never ran on a Cluster). */
  readonly url: string;
  readonly keyPrefix: string;
  /**
   * The new layout's bucket count (docs/stores/redis.md, "Key layout"). @default the count of a
   * layout marker already written (a rerun after old servers wrote again), else 1
   */
  readonly buckets?: number;
  /** Sessions per round trip. @default 200 */
  readonly batch?: number;
  /** Called after every batch. */
  readonly onProgress?: (progress: MigrateProgress) => void;
  /** Stops between two batches; the run then answers `finished: false`, and the next run goes on. */
  readonly signal?: AbortSignal;
}

export interface MigrateRedisResult {
  /** False when stopped by the signal; run it again to finish. */
  readonly finished: boolean;
  /** True when a layout marker with this bucket count was there and no old session: nothing was done. */
  readonly alreadyMigrated: boolean;
  readonly buckets: number;
  /** Sessions moved, expired ones whose keys Redis had not reclaimed yet included. */
  readonly sessions: number;
  /** Old index entries of sessions whose keys Redis had already reclaimed: removed. */
  readonly reclaimed: number;
  /** Owned `user:` scopes moved. */
  readonly scopes: number;
  /** Old namespace and owner index keys deleted after the sessions moved (stale entries only). */
  readonly staleIndexes: number;
}

const DEFAULT_BATCH = 200;
/** A session an old server keeps changing under the migration is read again this often, then refused. */
const CHANGED_RETRIES = 5;
/** Never a session ref: those have exactly two `:`. It sorts last (score +inf) and is skipped. */
const GUARD = "#migrating";
const ABSENT = "-";

/**
 * KEYS: 1..9 the old header, events, idempotency, namespace created, namespace updated, owner
 *       created, owner updated, owner expiry, store expiry; 10..18 the new ones in the same order
 *       (the last one the bucket's expiry index)
 * ARGV: 1 member, 2 ref, 3 the header's `v` as read (ABSENT for none), 4 its `x` as read,
 *       5 createdAt, 6 updatedAt, 7 expiry score ("+inf" = never)
 * Replies "moved", "reclaimed" (no header: old entries removed), "changed" (the header is not what
 * the caller read: read again) or "taken" (the new header exists: a store wrote it; nothing done).
 */
const MOVE_SESSION = `
local function drop_old()
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  for k = 4, 8 do redis.call('ZREM', KEYS[k], ARGV[1]) end
  redis.call('ZREM', KEYS[9], ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  drop_old()
  return 'reclaimed'
end
local h = redis.call('HMGET', KEYS[1], 'v', 'x')
if (h[1] or '${ABSENT}') ~= ARGV[3] or (h[2] or '${ABSENT}') ~= ARGV[4] then return 'changed' end
if redis.call('EXISTS', KEYS[10]) == 1 then return 'taken' end
redis.call('RENAME', KEYS[1], KEYS[10])
for k = 2, 3 do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    redis.call('RENAME', KEYS[k], KEYS[k + 9])
  else
    redis.call('DEL', KEYS[k + 9])
  end
end
redis.call('ZADD', KEYS[13], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[14], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[15], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[16], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[17], ARGV[7], ARGV[1])
redis.call('ZADD', KEYS[18], ARGV[7], ARGV[2])
drop_old()
return 'moved'
`;

/**
 * KEYS: 1 old state, 2 old version, 3 new state, 4 new version.
 * Returns 1 when it moved something, 0 when nothing was there; "taken" when a new key exists.
 */
const MOVE_SCOPE = `
for k = 1, 2 do
  if redis.call('EXISTS', KEYS[k]) == 1 and redis.call('EXISTS', KEYS[k + 2]) == 1 then return 'taken' end
end
local moved = 0
for k = 1, 2 do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    redis.call('RENAME', KEYS[k], KEYS[k + 2])
    moved = 1
  end
end
return moved
`;

/**
 * KEYS: 1 old expiry index, 2 layout marker. ARGV: 1 guard, 2 marker JSON.
 * Returns 1 when the marker was written, 0 when a session is still in the index (written meanwhile).
 */
const FINISH = `
local left = redis.call('ZCARD', KEYS[1])
if left > 1 or (left == 1 and redis.call('ZSCORE', KEYS[1], ARGV[1]) == false) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
`;

interface MigrationClient extends Redis {
  fdMoveSession(...keysAndArgs: string[]): Promise<string>;
  fdMoveScope(...keys: string[]): Promise<number | string>;
  fdFinish(...keysAndArgs: string[]): Promise<number>;
}

/** The old layout's keys of one session (`git show ef199aa^:src/stores/redis/keys.ts`). */
const legacySessionKeys = (prefix: string, key: SessionKey): string[] => {
  const owner = key.userId === null ? "#" : escapeSegment(key.userId);
  const ns = escapeSegment(key.namespace);
  const base = `${prefix}:{s:${ns}:${owner}:${escapeSegment(key.id)}}`;
  const nsBase = `${prefix}:{n:${ns}}`;
  const ownerBase = `${prefix}:{o:${ns}:${owner}}`;
  return [
    `${base}:h`,
    `${base}:e`,
    `${base}:i`,
    `${nsBase}:created`,
    `${nsBase}:updated`,
    `${ownerBase}:created`,
    `${ownerBase}:updated`,
    `${ownerBase}:expiry`,
    legacyExpiryIndex(prefix),
  ];
};

const legacyScopeKeys = (prefix: string, namespace: string, userId: string): [string, string] => {
  const base = `${prefix}:{u:${escapeSegment(namespace)}:${escapeSegment(userId)}}`;
  return [`${base}:state`, `${base}:version`];
};

/** SCAN MATCH treats `* ? [ ] \` as glob syntax; a prefix may hold them. */
const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&");

/** The header fields the index scores come from, as read (HMGET j u x v). */
type HeaderRead = [string | null, string | null, string | null, string | null];

/** The ARGV of MOVE_SESSION after member and ref: what the COMMIT script would have indexed. */
const moveArgs = (headerKey: string, [j, u, x, v]: HeaderRead): string[] => {
  if (j === null) {
    // Reclaimed (the script checks), or a header with no JSON, which no Frontdesk ever wrote.
    if (v !== null) throw new FrontdeskError("internal", `The Redis key ${headerKey} is a header without its JSON`);
    return [ABSENT, ABSENT, "0", "0", "+inf"];
  }
  const header = JSON.parse(j) as { createdAt: number; updatedAt: number; expiresAt: number | null };
  const expiresAt = x ?? (header.expiresAt === null ? "" : String(header.expiresAt));
  return [
    v ?? ABSENT,
    x ?? ABSENT,
    String(header.createdAt),
    u ?? String(header.updatedAt),
    expiresAt === "" ? "+inf" : expiresAt,
  ];
};

const parseMarker = (marker: string): { layout: number; buckets: number } | undefined => {
  try {
    const parsed = JSON.parse(marker) as { layout?: unknown; buckets?: unknown };
    return Number.isSafeInteger(parsed.layout) && Number.isSafeInteger(parsed.buckets)
      ? { layout: parsed.layout as number, buckets: parsed.buckets as number }
      : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Moves the store under `keyPrefix` at `url` to layout 2 with `buckets` buckets. Stop every
 * Frontdesk server of the old version first. Resumable: a run that was stopped or killed is
 * finished by running it again, and a run over a migrated store does nothing.
 */
export async function migrateRedisLayout(options: MigrateRedisOptions): Promise<MigrateRedisResult> {
  const url = parseUrl(options.url);
  const batch = options.batch ?? DEFAULT_BATCH;
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > 100_000) {
    throw new FrontdeskError("invalid_request", "The migration batch must be a whole number from 1 to 100000");
  }
  // Validates the prefix and the bucket count before anything connects.
  createKeyspace(options.keyPrefix, options.buckets ?? 1);
  const client = new Redis(url, {
    lazyConnect: true,
    // A migration stops at the first failure and is run again: nothing is resent behind its back.
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    autoResendUnfulfilledCommands: false,
    commandTimeout: 60_000,
    connectTimeout: 10_000,
  }) as MigrationClient;
  let lastError: Error | undefined;
  client.on("error", (error: Error) => {
    lastError = error;
  });
  client.defineCommand("fdMoveSession", { numberOfKeys: 18, lua: MOVE_SESSION });
  client.defineCommand("fdMoveScope", { numberOfKeys: 4, lua: MOVE_SCOPE });
  client.defineCommand("fdFinish", { numberOfKeys: 2, lua: FINISH });
  try {
    await client.connect();
    return await new Migration(client, options, batch).run();
  } catch (error) {
    if (isFrontdeskError(error)) throw error;
    const translated = translate(error);
    throw lastError && translated.code === "unavailable"
      ? new FrontdeskError("unavailable", `Redis is unavailable: ${lastError.message}`)
      : translated;
  } finally {
    client.disconnect();
  }
}

const parseUrl = (text: string): string => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FrontdeskError("invalid_request", "The Redis URL is not a URL");
  }
  if (url.protocol === "redis+cluster:" || url.protocol === "rediss+cluster:") {
    throw new FrontdeskError(
      "invalid_request",
      "The layout before buckets never ran on a Redis Cluster: migrate on the standalone Redis that holds it",
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new FrontdeskError("invalid_request", "The Redis URL must start with redis:// or rediss://");
  }
  return url.href;
};

class Migration {
  private readonly prefix: string;
  private readonly legacyExpiry: string;
  private keys!: Keyspace;
  private sessions = 0;
  private reclaimed = 0;
  private scopes = 0;
  private staleIndexes = 0;

  constructor(
    private readonly client: MigrationClient,
    private readonly options: MigrateRedisOptions,
    private readonly batch: number,
  ) {
    this.prefix = options.keyPrefix;
    this.legacyExpiry = legacyExpiryIndex(options.keyPrefix);
  }

  async run(): Promise<MigrateRedisResult> {
    const { client } = this;
    const layoutMarker = createKeyspace(this.prefix).layoutMarker;
    const marker = await client.get(layoutMarker);
    let buckets = this.options.buckets ?? 1;
    if (marker !== null) {
      const stored = parseMarker(marker);
      if (!stored || stored.layout !== LAYOUT_VERSION) {
        throw new FrontdeskError(
          "invalid_request",
          `The layout marker ${layoutMarker} is not one this version of Frontdesk wrote`,
        );
      }
      if (this.options.buckets !== undefined && stored.buckets !== this.options.buckets) {
        throw new FrontdeskError(
          "invalid_request",
          `The store under the prefix "${this.prefix}" is already on layout ${LAYOUT_VERSION} with buckets=${stored.buckets}, not ${this.options.buckets}`,
        );
      }
      buckets = stored.buckets;
      if ((await client.exists(this.legacyExpiry)) === 0) return this.result(true, buckets, true);
    }
    this.keys = createKeyspace(this.prefix, buckets);
    // From here until FINISH the old index exists, so a store of the new version refuses to open.
    await client.zadd(this.legacyExpiry, "NX", "+inf", GUARD);

    // Sessions an old server wrote during the scan land in the index again: FINISH declines, and
    // the loop takes them. A server that keeps writing keeps the marker away; stop it.
    for (;;) {
      if (!(await this.moveIndexedSessions())) return this.result(false, buckets);
      if (!(await this.sweepLegacyKeys())) return this.result(false, buckets);
      const done = await client.fdFinish(
        this.legacyExpiry,
        layoutMarker,
        GUARD,
        JSON.stringify({ layout: LAYOUT_VERSION, buckets }),
      );
      if (done === 1) return this.result(true, buckets);
    }
  }

  private result(finished: boolean, buckets: number, alreadyMigrated = false): MigrateRedisResult {
    return {
      finished,
      alreadyMigrated,
      buckets,
      sessions: this.sessions,
      reclaimed: this.reclaimed,
      scopes: this.scopes,
      staleIndexes: this.staleIndexes,
    };
  }

  private get stopped(): boolean {
    return this.options.signal?.aborted === true;
  }

  /** Every session in the old expiry index, a batch per round trip pair. False when stopped. */
  private async moveIndexedSessions(): Promise<boolean> {
    const { client } = this;
    for (;;) {
      if (this.stopped) return false;
      const refs = (await client.zrange(this.legacyExpiry, 0, this.batch)).filter((ref) => ref !== GUARD);
      if (refs.length === 0) return true;
      await this.moveSessions(refs.slice(0, this.batch));
      const remaining = Math.max(0, (await client.zcard(this.legacyExpiry)) - 1);
      this.options.onProgress?.({ migrated: this.sessions, remaining });
      // Yield between batches, so that signals and the caller's timers run.
      await yieldToEventLoop();
    }
  }

  /** Moves the sessions named by `refs` (old expiry index members), each atomically. */
  private async moveSessions(refs: readonly string[]): Promise<void> {
    let pending = refs;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > CHANGED_RETRIES) {
        throw new FrontdeskError(
          "conflict",
          `${pending.length} sessions kept changing while they moved: stop every Frontdesk server of the old version, then run the migration again`,
        );
      }
      const parsed = pending.map((ref) => ({ ref, key: this.keys.parseRef(ref) }));
      const malformed = parsed.filter((p) => p.key === undefined);
      if (malformed.length > 0) {
        // Not a session ref (no session key maps to it), so there is nothing to move.
        this.reclaimed += await this.client.zrem(this.legacyExpiry, ...malformed.map((p) => p.ref));
      }
      const valid = parsed.filter((p): p is { ref: string; key: SessionKey } => p.key !== undefined);
      if (valid.length === 0) return;
      const read = this.client.pipeline();
      const legacy = valid.map(({ key }) => legacySessionKeys(this.prefix, key));
      for (const keys of legacy) read.hmget(keys[0] as string, "j", "u", "x", "v");
      const headers = await execPipeline(read);
      const move = this.client.pipeline() as unknown as { fdMoveSession(...args: string[]): void } & ReturnType<
        Redis["pipeline"]
      >;
      valid.forEach(({ key }, i) => {
        const next = this.keys.session(key);
        const old = legacy[i] as string[];
        move.fdMoveSession(
          ...old,
          next.header,
          next.events,
          next.idempotency,
          next.namespaceCreated,
          next.namespaceUpdated,
          next.ownerCreated,
          next.ownerUpdated,
          next.ownerExpiry,
          next.expiry,
          next.member,
          next.ref,
          ...moveArgs(old[0] as string, headers[i] as HeaderRead),
        );
      });
      const verdicts = (await execPipeline(move)) as string[];
      const changed: string[] = [];
      verdicts.forEach((verdict, i) => {
        const { ref, key } = valid[i] as { ref: string; key: SessionKey };
        if (verdict === "moved") this.sessions++;
        else if (verdict === "reclaimed") this.reclaimed++;
        else if (verdict === "changed") changed.push(ref);
        else {
          throw new FrontdeskError(
            "conflict",
            `The session ${JSON.stringify(key)} exists in both layouts (a store of the new version wrote it while an old one ran): resolve it by hand, then run the migration again`,
          );
        }
      });
      pending = changed;
    }
  }

  /**
   * One SCAN over the old tags of sessions, owners, namespaces and `user:` scopes: moves what the
   * expiry index did not name (owned scopes, strays) and deletes the old indexes. False when stopped.
   */
  private async sweepLegacyKeys(): Promise<boolean> {
    const { client, prefix } = this;
    const head = `${prefix}:{`;
    let cursor = "0";
    do {
      if (this.stopped) return false;
      const [next, found] = await client.scan(cursor, "MATCH", `${globEscape(head)}[suno]:*`, "COUNT", 1000);
      cursor = next;
      const strays = new Set<string>();
      const scopes = new Map<string, { namespace: string; userId: string }>();
      const staleIndexes: string[] = [];
      for (const key of found) {
        const close = key.indexOf("}", head.length);
        if (close === -1) continue;
        const tag = key.slice(head.length, close);
        const kind = tag.slice(0, 2);
        const segments = tag.slice(2).split(":");
        const suffix = key.slice(close + 1);
        if (kind === "s:" && segments.length === 3 && /^:[hei]$/.test(suffix)) {
          strays.add(segments.join(":"));
        } else if (kind === "u:" && segments.length === 2 && (suffix === ":state" || suffix === ":version")) {
          // The owner-less scope keeps its key in the new layout.
          const [namespace, owner] = segments as [string, string];
          if (owner !== "#") scopes.set(tag, { namespace: unescapeSegment(namespace), userId: unescapeSegment(owner) });
        } else if (
          (kind === "n:" && segments.length === 1 && (suffix === ":created" || suffix === ":updated")) ||
          (kind === "o:" && segments.length === 2 && /^:(created|updated|expiry)$/.test(suffix))
        ) {
          staleIndexes.push(key);
        }
      }
      if (strays.size > 0) await this.moveSessions([...strays]);
      await this.moveScopes([...scopes.values()]);
      if (staleIndexes.length > 0) this.staleIndexes += await client.del(...staleIndexes);
    } while (cursor !== "0");
    return true;
  }

  private async moveScopes(owned: readonly { namespace: string; userId: string }[]): Promise<void> {
    if (owned.length === 0) return;
    const move = this.client.pipeline() as unknown as { fdMoveScope(...keys: string[]): void } & ReturnType<
      Redis["pipeline"]
    >;
    for (const { namespace, userId } of owned) {
      const next = this.keys.userScope(namespace, userId);
      move.fdMoveScope(...legacyScopeKeys(this.prefix, namespace, userId), next.state, next.version);
    }
    const verdicts = await execPipeline(move);
    verdicts.forEach((verdict, i) => {
      if (verdict === 1) this.scopes++;
      else if (verdict === "taken") {
        const { namespace, userId } = owned[i] as { namespace: string; userId: string };
        throw new FrontdeskError(
          "conflict",
          `The user: scope of ${JSON.stringify(userId)} in ${JSON.stringify(namespace)} exists in both layouts: resolve it by hand, then run the migration again`,
        );
      }
    });
  }
}

/** Runs a pipeline; the first command that failed fails the whole. */
async function execPipeline(pipeline: ReturnType<Redis["pipeline"]>): Promise<unknown[]> {
  const replies = await pipeline.exec();
  if (!replies) throw new FrontdeskError("unavailable", "Redis aborted the pipeline");
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}
