/**
 * The Redis store (ioredis): shared by many server instances. Every mutation is one Lua script
 * (scripts.ts) over keys hash-tagged per session (keys.ts); docs/stores/redis.md explains the
 * layout, the Cluster trade-offs and the durability you get.
 */
import { Redis, type RedisOptions } from "ioredis";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import { LruMap } from "../../core/lru-map.ts";
import { type Json, type SessionEvent, type SessionHeader, type SessionKey, sessionKeyId } from "../../core/model.ts";
import { compareListPosition, isExpired, listPositionOf, matchesListQuery } from "../shared/list-filter.ts";
import type {
  ApiKeyRecord,
  AppendOutcome,
  AppendRequest,
  Commit,
  CommitResult,
  EventRange,
  IdempotencyRecord,
  ListPage,
  ListQuery,
  ScopedState,
  SessionStore,
  StoreCapabilities,
  StoreContext,
  Unsubscribe,
} from "../types.ts";
import { createKeyspace, type Keyspace, type SessionKeys } from "./keys.ts";
import {
  APPEND,
  COMMIT,
  FIND_API_KEY,
  PUT_API_KEY,
  REMOVE,
  REVOKE_API_KEY,
  runScript,
  runScriptWith,
  TOUCH,
} from "./scripts.ts";

/** Where the store's operational warnings go (pino and console both fit). */
export interface RedisStoreLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** Options of {@link createRedisStore}. Read once; never mutated. */
export interface RedisStoreOptions {
  /**
   * `redis://[[user]:password@]host:port/db` or `rediss://…` (TLS). Ignored when `client` is given.
   * @default "redis://127.0.0.1:6379"
   */
  url?: string;
  /**
   * A connection you own: the store uses it but never closes it. Give it `enableOfflineQueue: false`
   * so an outage fails fast, and no `keyPrefix` (use this store's `keyPrefix`). The store opens its
   * own subscriber connection from it with `duplicate()`, and closes that one.
   */
  client?: Redis;
  /**
   * Prepended to every key and channel, so several stores can share one database. No braces or
   * whitespace.
   * @default "fd"
   */
  keyPrefix?: string;
  /** A command without a reply after this long fails with `unavailable`. @default 5_000 */
  commandTimeoutMs?: number;
  /** A connection attempt that takes longer fails (and is retried in the background). @default 5_000 */
  connectTimeoutMs?: number;
  /**
   * How long after `expiresAt` Redis may drop an expired session's keys by itself (PEXPIRE). Only
   * space reclamation: an expired session is never served whatever this is. It covers clock skew
   * between the application and Redis. @default 86_400_000 (one day)
   */
  reclaimGraceMs?: number;
  /** Receives the startup configuration warnings and connection trouble. @default console.warn */
  logger?: RedisStoreLogger;
}

export const STORE_NAME = "redis";

/**
 * Opens a Redis store. Nothing connects until the first call; that call also checks the server's
 * durability and eviction settings once and warns about risky ones (never fatal).
 * @example const store = createRedisStore({ url: "redis://127.0.0.1:6379/0", keyPrefix: "myapp" });
 */
export function createRedisStore(options: RedisStoreOptions = {}, context: StoreContext = {}): SessionStore {
  void context; // expiry always uses the `now` each call passes; there is no background work.
  const url = options.url ?? "redis://127.0.0.1:6379";
  const callerClient = options.client;
  const commandTimeoutMs = positive(options.commandTimeoutMs ?? 5_000, "commandTimeoutMs");
  const connectTimeoutMs = positive(options.connectTimeoutMs ?? 5_000, "connectTimeoutMs");
  const reclaimGraceMs = positive(options.reclaimGraceMs ?? 86_400_000, "reclaimGraceMs");
  const logger: RedisStoreLogger = options.logger ?? {
    warn: (details, message) => console.warn(`[frontdesk:redis] ${message}`, details),
  };
  const keys: Keyspace = createKeyspace(options.keyPrefix ?? "fd");
  const graceMs = Math.ceil(reclaimGraceMs);
  const sessionKeys = cachedSessionKeys(keys);
  if (callerClient?.options.keyPrefix) {
    throw new FrontdeskError(
      "invalid_request",
      "The Redis client given to the store must not set keyPrefix: use the store's keyPrefix option",
    );
  }

  // Fail fast instead of queueing while Redis is away (a 503 now, not an unbounded queue), and never resend a
  // script whose reply was lost: a second run of a commit could append twice.
  const reliability: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2_000) + Math.floor(Math.random() * 100),
  };

  let client: Redis | undefined;
  let connecting: Promise<void> | undefined;
  let configChecked: Promise<void> | undefined;
  let subscriber: Redis | undefined;
  let subscriberReady: Promise<Redis> | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;
  let inOutage = false;
  const channels = new Map<string, Channel>();

  const onError = (error: Error): void => {
    if (inOutage) return;
    inOutage = true;
    logger.warn(
      { code: (error as NodeJS.ErrnoException).code ?? error.name },
      "Redis connection error; calls fail with `unavailable` while the store reconnects in the background",
    );
  };
  let everReady = false;
  const onReady = (): void => {
    inOutage = false;
    everReady = true;
  };

  const openClient = (): Redis => {
    const c = callerClient ?? new Redis(url, reliability);
    c.on("error", onError);
    c.on("ready", onReady);
    return c;
  };

  /** The command connection, connected, with the startup check done: every public method starts here. */
  const use = async (): Promise<Redis> => {
    if (closed) throw new FrontdeskError("unavailable", "The Redis store is closed");
    // Our connection gave up for good (ioredis ends it on some connector failures): open anew.
    if (client && !callerClient && client.status === "end") client = undefined;
    const c = (client ??= openClient());
    if (c.status === "ready") everReady = true;
    if (!connecting && c.status === "wait") {
      connecting = c.connect().finally(() => (connecting = undefined));
    } else if (!connecting && !everReady && (c.status === "connecting" || c.status === "connect")) {
      // A caller's client that is still making its first connection: wait for it (bounded) rather
      // than fail a call that merely came early. Later reconnects fail fast instead.
      connecting = firstConnection(c, connectTimeoutMs).finally(() => (connecting = undefined));
    }
    if (connecting) await connecting;
    configChecked ??= checkConfig(c, logger);
    await configChecked;
    checked = true;
    return c;
  };

  // Set once the startup check is done: from then on a ready connection needs no `use()` turn.
  let checked = false;
  /** The connection when it can take a call at once, without `use()`. */
  const readyClient = (): Redis | undefined =>
    checked && !closed && client !== undefined && client.status === "ready" ? client : undefined;
  const run = async <T>(body: (c: Redis) => Promise<T>): Promise<T> => {
    try {
      const c = readyClient();
      if (c) return await body(c);
      return await body(await use());
    } catch (error) {
      throw translate(error);
    }
  };

  const readHeader = async (c: Redis, k: SessionKeys): Promise<SessionHeader | undefined> =>
    decodeHeader(await c.hmget(k.header, ...HEADER_FIELDS));

  // Hints: one pub/sub subscription per session channel, shared by every local listener.
  const deliver = (channel: string, lastSeq: number): void => {
    const entry = channels.get(channel);
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
  const hintLocally = (channel: string, lastSeq: number): void => queueMicrotask(() => deliver(channel, lastSeq));

  const openSubscriber = async (base: Redis): Promise<Redis> => {
    const s = base.duplicate({ ...reliability, autoResubscribe: true });
    subscriber = s;
    let reconnected = false;
    s.on("error", onError);
    s.on("message", (channel: string, message: string) => deliver(channel, Number(message)));
    s.on("ready", () => {
      // Hints published while the subscriber was away are lost; one fresh hint per channel
      // makes listeners re-read instead of waiting for the next commit.
      if (reconnected) void rehintAll();
      reconnected = true;
    });
    try {
      await s.connect();
      return s;
    } catch (error) {
      subscriber = undefined;
      s.disconnect();
      throw error;
    }
  };
  const rehintAll = async (): Promise<void> => {
    for (const [channel, entry] of channels) {
      try {
        const c = await use();
        const seq = await c.hget(keys.session(entry.key).header, "s");
        deliver(channel, seq === null ? 0 : Number(seq));
      } catch {
        return; // still unreachable; the next reconnect tries again
      }
    }
  };

  const capabilities: StoreCapabilities = { shared: true };

  /** The one-step append on a ready connection; no async layer of its own (it is every append's path). */
  const appendOn = (c: Redis, request: AppendRequest): Promise<AppendOutcome | undefined> => {
    const { key, events, stats, now } = request;
    const k = sessionKeys(key);
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
      `${now} ${request.expectedVersion ?? ""} ${request.maxEventsPerSession} ${graceMs} ` +
      `${stats.messages} ${stats.toolCalls} ${stats.toolErrors} ${argv.length - extrasFrom} ${events.length}`;
    for (const event of events) {
      // The script prepends `{"seq":<n>,`: every event starts with its id, so never with `}`.
      argv.push(JSON.stringify(event).slice(1));
    }
    return runScriptWith(c, APPEND, APPEND_KEYS, argv).then((answer) => {
      const reply = answer as [string, ...(string | number)[]];
      switch (reply[0]) {
        case "appended": {
          const lastSeq = Number(reply[2]);
          hintLocally(k.channel, lastSeq);
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
    });
  };

  return {
    name: STORE_NAME,
    capabilities,

    commit: (commit: Commit): Promise<CommitResult> =>
      run(async (c) => {
        const { key, header, events, now } = commit;
        validateCommit(commit);
        const k = keys.session(key);
        const user = keys.userScope(key.namespace, key.userId);
        const app = keys.appScope(key.namespace);
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
          reclaimAfter(header.expiresAt, now, reclaimGraceMs),
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
        ];
        for (const write of commit.scoped ?? []) {
          const pairs = Object.entries(write.delta).filter(([, value]) => value !== undefined);
          args.push(write.scope, write.expectedVersion, pairs.length);
          for (const [field, value] of pairs) args.push(field, JSON.stringify(value));
        }
        await runScript(
          c,
          COMMIT,
          [
            k.header,
            k.events,
            k.idempotency,
            k.namespaceCreated,
            k.namespaceUpdated,
            k.ownerCreated,
            k.ownerUpdated,
            k.ownerExpiry,
            k.expiry,
            user.state,
            user.version,
            app.state,
            app.version,
          ],
          args,
        );
        hintLocally(k.channel, header.lastSeq);
        return { version: header.version, lastSeq: header.lastSeq };
      }),

    append: (request: AppendRequest): Promise<AppendOutcome | undefined> => {
      const c = readyClient();
      if (c) {
        // The common case, as in run() but with one promise fewer.
        try {
          return appendOn(c, request).catch(rethrowTranslated);
        } catch (error) {
          return Promise.reject(translate(error));
        }
      }
      return run((ready) => appendOn(ready, request));
    },

    get: (key, now) =>
      run(async (c) => {
        const header = await readHeader(c, keys.session(key));
        return header && !isExpired(header, now) ? header : undefined;
      }),

    touch: (key, times, now) =>
      run(async (c) => {
        const k = keys.session(key);
        const touched = await runScript(
          c,
          TOUCH,
          [k.header, k.events, k.idempotency, k.ownerExpiry, k.expiry],
          [
            now,
            times.expiresAt === null ? "" : times.expiresAt,
            times.lastAccessedAt,
            reclaimAfter(times.expiresAt, now, reclaimGraceMs),
            k.member,
            k.ref,
          ],
        );
        return touched === 1;
      }),

    readEvents: (key, range) => run((c) => readEvents(c, keys.session(key).events, range)),

    list: (query) => run((c) => list(c, keys, query)),

    count: (namespace, userId, now) => run((c) => c.zcount(keys.ownerExpiry(namespace, userId), `(${now}`, "+inf")),

    delete: (key, condition) =>
      run(async (c) => {
        const k = keys.session(key);
        // With a condition the script checks expiry and version before deleting, atomically.
        const args = [k.member, k.ref, "", k.channel, condition?.expectedVersion ?? "", condition?.now ?? ""];
        const removed = (await runScript(c, REMOVE, removeKeys(k), args)) === 1;
        if (removed) hintLocally(k.channel, 0);
        return removed;
      }),

    sweep: (now, limit) =>
      run(async (c) => {
        let removed = 0;
        // Every candidate leaves the expiry range (deleted, cleaned or re-scored), so rounds advance.
        while (removed < limit) {
          const batch = Math.min(limit - removed, 200);
          const refs = await c.zrangebyscore(keys.expiry, "-inf", now, "LIMIT", 0, batch);
          if (refs.length === 0) break;
          const results = await Promise.all(
            refs.map(async (ref) => {
              const key = keys.parseRef(ref);
              if (!key) return c.zrem(keys.expiry, ref).then(() => 0);
              const k = keys.session(key);
              return runScript(c, REMOVE, removeKeys(k), [k.member, k.ref, now, "", "", ""]);
            }),
          );
          removed += results.filter((r) => r === 1).length;
          if (refs.length < batch) break;
        }
        return removed;
      }),

    readScope: (namespace, scope, userId) =>
      run(async (c): Promise<ScopedState> => {
        const k = scope === "app" ? keys.appScope(namespace) : keys.userScope(namespace, userId);
        const reply = await c.multi().hgetall(k.state).get(k.version).exec();
        if (!reply) throw new FrontdeskError("unavailable", "Redis aborted the scope read");
        const [[stateError, state], [versionError, version]] = reply as [
          [Error | null, unknown],
          [Error | null, unknown],
        ];
        if (stateError || versionError) throw stateError ?? versionError;
        return {
          state: Object.fromEntries(
            Object.entries(state as Record<string, string>).map(([field, value]) => [field, JSON.parse(value) as Json]),
          ),
          version: version === null ? 0 : Number(version),
        };
      }),

    findIdempotency: (key, idempotencyKey) =>
      run(async (c) => {
        const record = await c.hget(keys.session(key).idempotency, idempotencyKey);
        return record === null ? undefined : (JSON.parse(record) as IdempotencyRecord);
      }),

    subscribe: (key: SessionKey, onHint: (lastSeq: number) => void): Promise<Unsubscribe> =>
      run(async (c) => {
        subscriberReady ??= openSubscriber(c).catch((error: unknown) => {
          subscriberReady = undefined;
          throw error;
        });
        const s = await subscriberReady;
        const channel = keys.session(key).channel;
        let entry = channels.get(channel);
        if (!entry) {
          const ready = s.subscribe(channel).then(() => undefined);
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
          await s.unsubscribe(channel).catch(() => undefined);
        };
      }),

    putApiKey: (record) =>
      run(async (c) => {
        const { records, byHash, revoked } = keys.apiKeys;
        await runScript(
          c,
          PUT_API_KEY,
          [records, byHash, revoked],
          [record.id, record.hash, JSON.stringify({ ...record, revokedAt: null }), record.revokedAt ?? ""],
        );
      }),

    findApiKey: (hash) =>
      run(async (c) => {
        const { records, byHash, revoked } = keys.apiKeys;
        const reply = (await runScript(c, FIND_API_KEY, [byHash, records, revoked], [hash])) as [string, string] | null;
        return reply ? decodeApiKey(reply[0], reply[1]) : undefined;
      }),

    listApiKeys: () =>
      run(async (c) => {
        const { records, revoked } = keys.apiKeys;
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
      }),

    revokeApiKey: (id, at) =>
      run(async (c) => {
        const { records, revoked } = keys.apiKeys;
        return (await runScript(c, REVOKE_API_KEY, [records, revoked], [id, at])) === 1;
      }),

    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        channels.clear();
        const s = subscriber;
        subscriber = undefined;
        subscriberReady = undefined;
        if (s) await quit(s);
        const c = client;
        client = undefined;
        if (!c) return;
        if (callerClient) {
          c.off("error", onError);
          c.off("ready", onReady);
        } else {
          await quit(c);
        }
      })();
      return closing;
    },
  };
}

/**
 * `redis://[[user]:password@]host:port/db?prefix=fd` or `rediss://…`: `prefix` becomes
 * `keyPrefix`; any other query parameter goes to ioredis as an option.
 */
export function openFromUrl(url: URL, context: StoreContext & { logger?: RedisStoreLogger }): SessionStore {
  const connection = new URL(url.href);
  const prefix = connection.searchParams.get("prefix");
  connection.searchParams.delete("prefix");
  return createRedisStore(
    {
      url: connection.href,
      ...(prefix ? { keyPrefix: prefix } : {}),
      ...(context.logger ? { logger: context.logger } : {}),
    },
    context,
  );
}

interface Channel {
  readonly key: SessionKey;
  readonly listeners: Set<(lastSeq: number) => void>;
  readonly ready: Promise<void>;
  /** Local commits hint directly and again through pub/sub: the same value twice in a row is one hint. */
  lastHint: number | undefined;
}

/** The KEYS of APPEND, first in its argument array: {@link AppendKeys.appendKeys}. */
const APPEND_KEYS = 7;

interface AppendKeys extends SessionKeys {
  /** header, events, idempotency, namespace updated, owner updated, owner expiry, store expiry */
  readonly appendKeys: readonly string[];
}

/** Most-recently used sessions' key strings, so a hot session's keys are built (and escaped) once. */
const SESSION_KEYS_CACHED = 1024;

const cachedSessionKeys = (keys: Keyspace): ((key: SessionKey) => AppendKeys) => {
  const cache = new LruMap<string, AppendKeys>(SESSION_KEYS_CACHED);
  return (key) => {
    const id = sessionKeyId(key);
    const hit = cache.get(id);
    if (hit) return hit;
    const k = keys.session(key);
    const entry: AppendKeys = {
      ...k,
      appendKeys: [k.header, k.events, k.idempotency, k.namespaceUpdated, k.ownerUpdated, k.ownerExpiry, k.expiry],
    };
    cache.set(id, entry);
    return entry;
  };
};

const positive = (value: number, name: string): number => {
  if (!Number.isFinite(value) || value <= 0) {
    throw new FrontdeskError("invalid_request", `The Redis store option ${name} must be a positive number`);
  }
  return value;
};

/** PEXPIRE milliseconds, relative to the caller's clock so a fake clock cannot make Redis drop a live session. */
const reclaimAfter = (expiresAt: number | null, now: number, graceMs: number): string =>
  expiresAt === null ? "" : String(Math.max(0, Math.ceil(expiresAt - now)) + Math.ceil(graceMs));

const removeKeys = (k: SessionKeys): string[] => [
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

/** The parts of a commit the store relies on for its layout; the core always sends them right. */
const validateCommit = ({ key, header, events, expectedVersion }: Commit): void => {
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
};

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

/** Events are chunked when a `types` filter may skip many; a plain range is one LRANGE. */
const EVENT_CHUNK = 256;

async function readEvents(c: Redis, eventsKey: string, range: EventRange): Promise<SessionEvent[]> {
  const after = Math.max(0, Math.floor(range.after ?? 0));
  const limit = range.limit === undefined ? Number.POSITIVE_INFINITY : Math.ceil(range.limit);
  // seq n sits at index n - 1: `lastIndex` is the index of the newest seq below `before`.
  const lastIndex = range.before === undefined ? undefined : Math.ceil(range.before) - 2;
  if (limit <= 0 || (lastIndex !== undefined && lastIndex < after)) return [];
  const types = range.types && range.types.length > 0 ? new Set(range.types) : undefined;
  const parse = (items: string[]): SessionEvent[] => items.map((item) => JSON.parse(item) as SessionEvent);

  if (range.order !== "desc") {
    if (!types) {
      const stop = Math.min(lastIndex ?? Number.POSITIVE_INFINITY, after + limit - 1);
      return parse(await c.lrange(eventsKey, after, Number.isFinite(stop) ? stop : -1));
    }
    const out: SessionEvent[] = [];
    for (let start = after; out.length < limit; start += EVENT_CHUNK) {
      const stop = Math.min(start + EVENT_CHUNK - 1, lastIndex ?? Number.POSITIVE_INFINITY);
      if (stop < start) break;
      const chunk = parse(await c.lrange(eventsKey, start, stop));
      for (const event of chunk) if (types.has(event.type) && out.length < limit) out.push(event);
      if (chunk.length < stop - start + 1) break;
    }
    return out;
  }

  if (!types && lastIndex === undefined) {
    // The newest `limit` in one O(k) call: negative indexes need no length.
    const start = Number.isFinite(limit) ? -limit : after;
    const chunk = parse(await c.lrange(eventsKey, start, -1));
    return chunk.filter((event) => event.seq > after).reverse();
  }
  // `before` may lie past the end, so the top index needs the length.
  const length = await c.llen(eventsKey);
  const size = types ? EVENT_CHUNK : limit;
  const out: SessionEvent[] = [];
  for (let stop = Math.min(length - 1, lastIndex ?? length - 1); stop >= after && out.length < limit; ) {
    const start = Math.max(after, stop - size + 1);
    const chunk = parse(await c.lrange(eventsKey, start, stop));
    for (let i = chunk.length - 1; i >= 0 && out.length < limit; i--) {
      const event = chunk[i] as SessionEvent;
      if (!types || types.has(event.type)) out.push(event);
    }
    stop = start - 1;
  }
  return out;
}

const scoreArg = (score: number): string =>
  score === Number.POSITIVE_INFINITY ? "+inf" : score === Number.NEGATIVE_INFINITY ? "-inf" : String(score);

/**
 * Walks the owner's (or the namespace's) sorted set by the order field in chunks, keeping only
 * headers that match every filter (list-filter.ts is the reference), until `limit + 1` matched and
 * every entry sharing the last one's score has been seen, then sorts by the exact keyset order.
 */
async function list(c: Redis, keys: Keyspace, query: ListQuery): Promise<ListPage> {
  const limit = Math.max(0, Math.floor(query.limit));
  const index = keys.listIndex(query.namespace, query.userId, query.orderBy);
  const desc = query.order === "desc";
  const byCreated = query.orderBy === "createdAt";
  let low = (byCreated ? query.createdAfter : query.updatedAfter) ?? Number.NEGATIVE_INFINITY;
  let high = (byCreated ? query.createdBefore : query.updatedBefore) ?? Number.POSITIVE_INFINITY;
  if (query.after && desc) high = Math.min(high, query.after.value);
  if (query.after && !desc) low = Math.max(low, query.after.value);
  if (low > high) return { items: [], hasMore: false };

  const chunk = Math.min(Math.max(limit + 1, 50), 500);
  const matched: SessionHeader[] = [];
  let boundary: number | undefined;
  // Keyset over the index itself: resume at the last score seen, skipping the members already read there.
  let edge = desc ? high : low;
  let seenAtEdge = 0;
  scan: for (;;) {
    const reply = desc
      ? await c.zrevrangebyscore(index, scoreArg(edge), scoreArg(low), "WITHSCORES", "LIMIT", seenAtEdge, chunk)
      : await c.zrangebyscore(index, scoreArg(edge), scoreArg(high), "WITHSCORES", "LIMIT", seenAtEdge, chunk);
    const count = reply.length / 2;
    if (count === 0) break;
    const headers = await Promise.all(
      Array.from({ length: count }, (_, i) => {
        const key = keys.parseMember(query.namespace, reply[2 * i] as string);
        return key ? c.hmget(keys.session(key).header, ...HEADER_FIELDS).then(decodeHeader) : undefined;
      }),
    );
    for (let i = 0; i < count; i++) {
      const score = Number(reply[2 * i + 1]);
      if (boundary !== undefined && score !== boundary) break scan;
      const header = headers[i];
      if (header && matchesListQuery(header, query)) {
        matched.push(header);
        if (boundary === undefined && matched.length > limit) boundary = score;
      }
      if (score === edge) seenAtEdge++;
      else {
        edge = score;
        seenAtEdge = 1;
      }
    }
    if (count < chunk) break;
  }
  matched.sort((a, b) => compareListPosition(listPositionOf(a, query.orderBy), listPositionOf(b, query.orderBy)));
  if (desc) matched.reverse();
  return { items: matched.slice(0, limit), hasMore: matched.length > limit };
}

/** Startup check (once, never fatal): names every setting that weakens what the store promises. */
async function checkConfig(c: Redis, logger: RedisStoreLogger): Promise<void> {
  const read = async (name: string): Promise<string | undefined> => {
    try {
      const reply = (await c.call("CONFIG", "GET", name)) as string[];
      return reply[1];
    } catch {
      return undefined; // CONFIG is often renamed or disabled on managed Redis; then we cannot tell.
    }
  };
  const [appendonly, appendfsync, maxmemory, policy] = await Promise.all([
    read("appendonly"),
    read("appendfsync"),
    read("maxmemory"),
    read("maxmemory-policy"),
  ]);
  if (appendonly === "no") {
    logger.warn(
      { setting: "appendonly", value: appendonly },
      'Redis appendonly is "no": sessions written since the last RDB snapshot are lost when Redis restarts (docs/stores/redis.md)',
    );
  } else if (appendonly === "yes" && appendfsync === "no") {
    logger.warn(
      { setting: "appendfsync", value: appendfsync },
      'Redis appendfsync is "no": the operating system decides when commits reach disk; a machine crash can lose acknowledged ones',
    );
  }
  if (policy !== undefined && policy !== "noeviction" && maxmemory !== undefined && maxmemory !== "0") {
    logger.warn(
      { setting: "maxmemory-policy", value: policy },
      policy.startsWith("volatile-")
        ? `Redis maxmemory-policy is "${policy}": every session with a TTL carries a PEXPIRE, so Redis may evict live sessions under memory pressure; use noeviction`
        : `Redis maxmemory-policy is "${policy}": Redis may evict sessions, events and indexes under memory pressure; use noeviction`,
    );
  }
}

const firstConnection = (c: Redis, timeoutMs: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      clearTimeout(timer);
      c.off("ready", onReady);
      c.off("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onReady = (): void => settle();
    const onClose = (): void => settle(new Error("The connection closed before it was ready"));
    const timer = setTimeout(() => settle(new Error("The connection was not ready in time")), timeoutMs);
    c.once("ready", onReady);
    c.once("close", onClose);
  });

const quit = async (c: Redis): Promise<void> => {
  if (c.status === "ready") {
    try {
      await c.quit();
      return;
    } catch {
      // fall through: drop the socket instead
    }
  }
  c.disconnect();
};

const UNAVAILABLE_REPLIES = [
  "OOM",
  "READONLY",
  "LOADING",
  "BUSY",
  "MASTERDOWN",
  "CLUSTERDOWN",
  "TRYAGAIN",
  "NOREPLICAS",
  "MISCONF",
];

/**
 * The store's edge: script verdicts become their contract codes, anything else from Redis becomes
 * `unavailable` (or `internal` for a reply that means a bug). Messages never include the URL.
 */
const rethrowTranslated = (error: unknown): never => {
  throw translate(error);
};

function translate(error: unknown): FrontdeskError {
  if (isFrontdeskError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === "ReplyError") {
    // Redis prefixes "ERR " to an error reply that has no space in it.
    const words = message.split(" ");
    if (words[0] === "ERR" && words[1]?.startsWith("FD")) words.shift();
    const [word, ...rest] = words;
    switch (word) {
      case "FDCONFLICT":
        return new FrontdeskError(
          "conflict",
          rest.length > 0 ? "The session changed since it was read" : "An API key with this id or hash exists",
          rest.length > 0 ? { details: { currentVersion: Number(rest[0]) } } : {},
        );
      case "FDNOTFOUND":
        return new FrontdeskError("not_found", "Session not found");
      case "FDSCOPE":
        return new FrontdeskError("conflict", `The ${rest[0]}: state changed since it was read`, {
          details: { scope: rest[0], currentVersion: Number(rest[1]) },
        });
      case "FDSEQ":
        return new FrontdeskError("invalid_request", "A commit's events must continue the session's seq");
      default:
        if (word && UNAVAILABLE_REPLIES.includes(word)) {
          return new FrontdeskError("unavailable", `Redis refused the command (${word})`, { cause: error });
        }
        return new FrontdeskError("internal", "Redis rejected a store command", { cause: error });
    }
  }
  return new FrontdeskError("unavailable", "Redis is unavailable", { cause: error });
}
