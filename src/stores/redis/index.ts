/**
 * The Redis store (ioredis): shared by many server instances. Every mutation is one Lua script
 * (scripts.ts) over keys hash-tagged per session (keys.ts); docs/stores/redis.md explains the
 * layout, the Cluster trade-offs and the durability you get. This module reads the options and
 * wires the parts, each a set of plain functions over one `RedisContext`: connection.ts (the
 * connections and error mapping), commands.ts (writes), reads.ts and live.ts (hints).
 */
// biome-ignore lint/style/useImportType: the declarations keep the value import the API report pins (api/).
import { Cluster, type ClusterNode, type ClusterOptions, Redis } from "ioredis";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionStore, StoreContext } from "../types.ts";
import * as commands from "./commands.ts";
import { closeConnections, createContext, type RedisContext, type RedisStoreLogger, run } from "./connection.ts";
import { subscribe } from "./live.ts";
import * as reads from "./reads.ts";
import type { ReplicaWait } from "./replicas.ts";

export type { RedisStoreLogger } from "./connection.ts";

/** Options of {@link createRedisStore}. Read once; never mutated. */
export interface RedisStoreOptions {
  /**
   * `redis://[[user]:password@]host:port/db` or `rediss://…` (TLS). Ignored when `client` is given.
   * @default "redis://127.0.0.1:6379"
   */
  url?: string;
  /**
   * Redis Cluster: the seed nodes (any few of the cluster's nodes) and options for `ioredis.Cluster`.
   * The URL form is `redis+cluster://host:port/?nodes=host2:port2,host3:port3`. The store always sets
   * the options that keep a write from being applied twice (docs/stores/redis.md, "Redis Cluster").
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /**
   * A connection you own, a `Redis` or a `Cluster`: the store uses it but never closes it. Give it
   * `enableOfflineQueue: false` so an outage fails fast, no `keyPrefix` (use this store's `keyPrefix`),
   * and for a Cluster `retryDelayOnFailover: 0`, so a command whose connection closed is never resent.
   * The store opens its own subscriber connection from it with `duplicate()`, and closes that one.
   */
  client?: Redis | Cluster;
  /**
   * Prepended to every key and channel, so several stores can share one database. No braces or
   * whitespace.
   * @default "fd"
   */
  keyPrefix?: string;
  /**
   * How many hash-tag buckets the sessions are spread over (docs/stores/redis.md, "Key layout"): on a
   * Cluster each is one slot. Fixed when the store is first written; a store opened without it uses
   * the stored count. @default 1 on a single Redis, 256 on a Cluster
   */
  buckets?: number;
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
  /**
   * Replicas that must acknowledge a write before the store resolves it (Redis `WAIT`, sent right
   * after the write on the same connection). Applies to commits, appends, deletes, `user:` state
   * erasure and API key writes, and to idempotent replays. When fewer acknowledge within
   * `waitTimeoutMs`, the write is on the master but may be lost on failover: the call fails with
   * `unavailable` and `details.outcome: "unknown"`, and a retry with the same idempotency key is
   * safe. docs/stores/redis.md says what each setting loses on a failover. @default 0 (no WAIT)
   */
  waitReplicas?: number;
  /** How long one `WAIT` blocks at most; whole milliseconds, below `commandTimeoutMs`. @default 500 */
  waitTimeoutMs?: number;
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
  const commandTimeoutMs = positive(options.commandTimeoutMs ?? 5_000, "commandTimeoutMs");
  const connectTimeoutMs = positive(options.connectTimeoutMs ?? 5_000, "connectTimeoutMs");
  const reclaimGraceMs = positive(options.reclaimGraceMs ?? 86_400_000, "reclaimGraceMs");
  const replicas = replicaWait(options, commandTimeoutMs);
  const callerClient = options.client;
  const callerPrefix =
    callerClient instanceof Cluster ? callerClient.options.keyPrefix : callerClient?.options.keyPrefix;
  if (options.cluster && options.cluster.nodes.length === 0) {
    throw new FrontdeskError("invalid_request", "The Redis store option cluster needs at least one seed node");
  }
  if (callerPrefix) {
    throw new FrontdeskError(
      "invalid_request",
      "The Redis client given to the store must not set keyPrefix: use the store's keyPrefix option",
    );
  }
  const ctx: RedisContext = createContext({
    url: options.url ?? "redis://127.0.0.1:6379",
    cluster: options.cluster ? { nodes: options.cluster.nodes, options: options.cluster.options ?? {} } : undefined,
    callerClient,
    keyPrefix: options.keyPrefix ?? "fd",
    buckets: options.buckets,
    commandTimeoutMs,
    connectTimeoutMs,
    reclaimGraceMs: Math.ceil(reclaimGraceMs),
    replicas,
    // Expiry always uses the `now` each call passes; only a lease's deadline needs a clock of its own.
    now: () => (context.clock ?? Date).now(),
    logger: options.logger ?? {
      warn: (details, message) => console.warn(`[frontdesk:redis] ${message}`, details),
    },
  });

  return {
    name: STORE_NAME,
    capabilities: { shared: true },

    commit: (commit) => run(ctx, (c) => commands.commit(ctx, c, commit)),
    append: (request) => commands.append(ctx, request),
    touch: (key, times, now) => run(ctx, (c) => commands.touch(ctx, c, key, times, now)),
    delete: (key, condition) => run(ctx, (c) => commands.deleteSession(ctx, c, key, condition)),
    sweep: (now, limit) => run(ctx, (c) => commands.sweep(ctx, c, now, limit)),
    eraseScope: (namespace, userId) => run(ctx, (c) => commands.eraseScope(ctx, c, namespace, userId)),
    putApiKey: (record) => run(ctx, (c) => commands.putApiKey(ctx, c, record)),
    revokeApiKey: (id, at) => run(ctx, (c) => commands.revokeApiKey(ctx, c, id, at)),

    get: (key, now) => run(ctx, (c) => reads.get(ctx, c, key, now)),
    readEvents: (key, range) => run(ctx, (c) => reads.readEvents(ctx, c, key, range)),
    list: (query) => run(ctx, (c) => reads.list(ctx, c, query)),
    count: (namespace, userId, now) => run(ctx, (c) => reads.count(ctx, c, namespace, userId, now)),
    readScope: (namespace, scope, userId) => run(ctx, (c) => reads.readScope(ctx, c, namespace, scope, userId)),
    findIdempotency: (key, idempotencyKey) => run(ctx, (c) => reads.findIdempotency(ctx, c, key, idempotencyKey)),
    findApiKey: (hash) => run(ctx, (c) => reads.findApiKey(ctx, c, hash)),
    listApiKeys: () => run(ctx, (c) => reads.listApiKeys(ctx, c)),

    subscribe: (key, onHint) => subscribe(ctx, key, onHint),

    close(): Promise<void> {
      ctx.closing ??= (async () => {
        ctx.closed = true;
        ctx.channels.clear();
        await closeConnections(ctx);
      })();
      return ctx.closing;
    },
  };
}

/**
 * `redis://[[user]:password@]host:port/db?prefix=fd&waitReplicas=1&waitTimeoutMs=500` or
 * `rediss://…`: `prefix` becomes `keyPrefix`; `waitReplicas`, `waitTimeoutMs` and `buckets` the
 * options of those names; any other query parameter goes to ioredis as an option.
 * A Cluster is `redis+cluster://[[user]:password@]host:port/?nodes=host2:port2,host3:port3&prefix=fd`
 * (`rediss+cluster://` for TLS): the authority and every `nodes` entry are seed nodes.
 */
export function openFromUrl(url: URL, context: StoreContext & { logger?: RedisStoreLogger }): SessionStore {
  const connection = new URL(url.href);
  const prefix = connection.searchParams.get("prefix");
  const waitReplicas = integerParam(connection, "waitReplicas");
  const waitTimeoutMs = integerParam(connection, "waitTimeoutMs");
  const buckets = integerParam(connection, "buckets");
  connection.searchParams.delete("prefix");
  const common = {
    ...(prefix ? { keyPrefix: prefix } : {}),
    ...(waitReplicas === undefined ? {} : { waitReplicas }),
    ...(waitTimeoutMs === undefined ? {} : { waitTimeoutMs }),
    ...(buckets === undefined ? {} : { buckets }),
    ...(context.logger ? { logger: context.logger } : {}),
  };
  const cluster = clusterFromUrl(connection);
  return createRedisStore(cluster ? { ...common, cluster } : { ...common, url: connection.href }, context);
}

/** The seed nodes and connection options of a `redis+cluster:` URL; undefined for a plain `redis:` one. */
const clusterFromUrl = (url: URL): { nodes: ClusterNode[]; options: ClusterOptions } | undefined => {
  const tls = url.protocol === "rediss+cluster:";
  if (!tls && url.protocol !== "redis+cluster:") return undefined;
  const seeds = [url.host, ...(url.searchParams.get("nodes") ?? "").split(",")].filter((node) => node.length > 0);
  url.searchParams.delete("nodes");
  const nodes = seeds.map((seed) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(seed);
    if (!match) {
      throw new FrontdeskError("invalid_request", "Each Redis Cluster seed node must be host:port");
    }
    // An IPv6 host comes bracketed, as URLs write it; ioredis wants it bare.
    return { host: (match[1] as string).replace(/^\[(.*)\]$/, "$1"), port: Number(match[2]) };
  });
  if (nodes.length === 0) throw new FrontdeskError("invalid_request", "A redis+cluster: URL names no seed node");
  const redisOptions: Record<string, unknown> = {};
  if (url.username) redisOptions.username = decodeURIComponent(url.username);
  if (url.password) redisOptions.password = decodeURIComponent(url.password);
  if (tls) redisOptions.tls = {};
  // Like ioredis's own URL options, any other parameter is a connection option (numbers as numbers).
  for (const [name, value] of url.searchParams) redisOptions[name] = /^\d+$/.test(value) ? Number(value) : value;
  return { nodes, options: { redisOptions } };
};

/** Takes a whole-number query parameter off the URL, so ioredis never sees it. The message never quotes the URL. */
const integerParam = (url: URL, name: string): number | undefined => {
  const raw = url.searchParams.get(name);
  url.searchParams.delete(name);
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) {
    throw new FrontdeskError("invalid_request", `The Redis URL parameter ${name} must be a whole number`);
  }
  return Number(raw);
};

const replicaWait = (options: RedisStoreOptions, commandTimeoutMs: number): ReplicaWait | undefined => {
  const count = options.waitReplicas ?? 0;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new FrontdeskError("invalid_request", "The Redis store option waitReplicas must be a whole number ≥ 0");
  }
  // The default must not clash with a short commandTimeoutMs in a store that never WAITs.
  if (count === 0 && options.waitTimeoutMs === undefined) return undefined;
  const timeoutMs = options.waitTimeoutMs ?? Math.min(500, Math.floor(commandTimeoutMs / 2));
  // WAIT 0 would block forever; a WAIT longer than the command timeout would be cut off before it answers.
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs >= commandTimeoutMs) {
    throw new FrontdeskError(
      "invalid_request",
      "The Redis store option waitTimeoutMs must be a whole number of milliseconds > 0 and below commandTimeoutMs",
    );
  }
  return count === 0 ? undefined : { count, timeoutMs };
};

const positive = (value: number, name: string): number => {
  if (!Number.isFinite(value) || value <= 0) {
    throw new FrontdeskError("invalid_request", `The Redis store option ${name} must be a positive number`);
  }
  return value;
};
