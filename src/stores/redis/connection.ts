/**
 * The Redis store's connections and the one context its parts share. A call must fail fast while
 * Redis is away (a 503 now, not an unbounded queue) and a script must never be resent after its
 * reply was lost (a second commit could append twice), so the client settings, the lazy first
 * connection with its one-time configuration check, and the mapping of every Redis failure to a
 * contract code all live here, where each method's call passes through.
 */
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { SessionKey } from "../../core/model.ts";
import type { RedisClient } from "./client.ts";
import { type AppendKeys, cachedSessionKeys, createKeyspace, type Keyspace } from "./keys.ts";
import type { ReplicaWait } from "./replicas.ts";

export type { RedisClient } from "./client.ts";

/** Where a Cluster store connects: its seed nodes and the options given to `ioredis.Cluster`. */
export interface ClusterSettings {
  readonly nodes: readonly ClusterNode[];
  readonly options: ClusterOptions;
}

/** Where the store's operational warnings go (pino and console both fit). */
export interface RedisStoreLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** The subscribers of one session's hint channel (live.ts keeps them). */
export interface HintChannel {
  readonly key: SessionKey;
  readonly listeners: Set<(lastSeq: number) => void>;
  readonly ready: Promise<void>;
  /** Local commits hint directly and again through pub/sub: the same value twice in a row is one hint. */
  lastHint: number | undefined;
}

/** What the store's parts share: its settings, its connections and the live channels. One per store. */
export interface RedisContext {
  /** Set again by the startup check when the layout marker names another bucket count than assumed. */
  keys: Keyspace;
  /** {@link Keyspace.session} with the append KEYS, cached for hot sessions. */
  sessionKeys: (key: SessionKey) => AppendKeys;
  /** The `buckets` option: undefined means the stored layout's, or the default for a new store. */
  readonly requestedBuckets: number | undefined;
  /** Set for a Cluster store: scripts SPUBLISH, hints use sharded subscribers, `app:` commits in two phases. */
  readonly cluster: ClusterSettings | undefined;
  /** PEXPIRE slack after `expiresAt`, whole milliseconds. */
  readonly reclaimGraceMs: number;
  /** How long a two-phase commit may hold a scope's lease before a reader aborts it (leases.ts). */
  readonly leaseMs: number;
  /** Also how long a Cluster call keeps trying through a slot migration (`throughRedirects`). */
  readonly commandTimeoutMs: number;
  /** The caller's clock, for the reads that get no `now` (a lease's deadline). */
  readonly now: () => number;
  /** Set by `waitReplicas`: the writes that must survive a failover WAIT for this many replicas (replicas.ts). */
  readonly replicas: ReplicaWait | undefined;
  readonly logger: RedisStoreLogger;
  /** The connection the caller owns, if any: used, never closed. */
  readonly callerClient: RedisClient | undefined;
  readonly url: string;
  readonly reliability: RedisOptions;
  readonly connectTimeoutMs: number;
  /** Bound once, so `close()` can detach them from a caller's client. */
  readonly onError: (error: Error) => void;
  readonly onReady: () => void;

  client: RedisClient | undefined;
  /** The bucket the next sweep starts in (commands.ts). */
  sweepFrom: number;
  connecting: Promise<void> | undefined;
  configChecked: Promise<void> | undefined;
  /** Set once the startup check is done: from then on a ready connection needs no `use()` turn. */
  checked: boolean;
  everReady: boolean;
  inOutage: boolean;
  closed: boolean;
  closing: Promise<void> | undefined;

  /** The pub/sub connection (live.ts): opened by the first subscribe. */
  subscriber: RedisClient | undefined;
  subscriberReady: Promise<RedisClient> | undefined;
  /** One subscription per session channel, shared by every local listener. */
  readonly channels: Map<string, HintChannel>;
}

export interface ConnectionSettings {
  readonly url: string;
  readonly cluster: ClusterSettings | undefined;
  readonly callerClient: RedisClient | undefined;
  readonly keyPrefix: string;
  readonly buckets: number | undefined;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reclaimGraceMs: number;
  readonly replicas: ReplicaWait | undefined;
  readonly logger: RedisStoreLogger;
  readonly now: () => number;
}

export function createContext(settings: ConnectionSettings): RedisContext {
  const { commandTimeoutMs, connectTimeoutMs } = settings;
  const cluster =
    settings.cluster ?? (settings.callerClient instanceof Cluster ? { nodes: [], options: {} } : undefined);
  const keys = createKeyspace(settings.keyPrefix, settings.buckets ?? defaultBuckets(cluster !== undefined));
  const context: RedisContext = {
    keys,
    sessionKeys: cachedSessionKeys(keys),
    requestedBuckets: settings.buckets,
    cluster,
    reclaimGraceMs: settings.reclaimGraceMs,
    // Two command timeouts: a commit still within its own timeout is never aborted under it.
    leaseMs: 2 * commandTimeoutMs,
    commandTimeoutMs,
    now: settings.now,
    replicas: settings.replicas,
    logger: settings.logger,
    callerClient: settings.callerClient,
    url: settings.url,
    // Fail fast instead of queueing while Redis is away (a 503 now, not an unbounded queue), and never resend a
    // script whose reply was lost: a second run of a commit could append twice.
    reliability: {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: commandTimeoutMs,
      connectTimeout: connectTimeoutMs,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2_000) + Math.floor(Math.random() * 100),
    },
    connectTimeoutMs,
    onError: (error) => {
      if (context.inOutage) return;
      context.inOutage = true;
      context.logger.warn(
        { code: (error as NodeJS.ErrnoException).code ?? error.name },
        "Redis connection error; calls fail with `unavailable` while the store reconnects in the background",
      );
    },
    onReady: () => {
      context.inOutage = false;
      context.everReady = true;
    },
    client: undefined,
    sweepFrom: 0,
    connecting: undefined,
    configChecked: undefined,
    checked: false,
    everReady: false,
    inOutage: false,
    closed: false,
    closing: undefined,
    subscriber: undefined,
    subscriberReady: undefined,
    channels: new Map(),
  };
  return context;
}

/**
 * A new store's bucket count: one on a single Redis, where a script may touch any key and one
 * namespace index per order serves `list` in one walk; 256 on a Cluster, evenly spread over its
 * slots, so that a reshard moves buckets in small steps and a listing reads 256 indexes.
 */
const defaultBuckets = (cluster: boolean): number => (cluster ? 256 : 1);

/**
 * Cluster settings on top of the store's: a redirect (MOVED, ASK) and a refusal that ran nothing
 * (TRYAGAIN, CLUSTERDOWN) are retried inside the store, but a command whose connection closed is
 * never resent (`retryDelayOnFailover: 0`), since it may have run: a second commit could append twice.
 * The Cluster's own queue is on, because ioredis opens a node's connection on its first command and
 * refuses the commands that come while it connects otherwise; `use()` fails fast instead whenever
 * the Cluster as a whole is not ready, and each node's commands keep the command timeout.
 */
export const clusterOptions = (ctx: Pick<RedisContext, "reliability">, given: ClusterOptions): ClusterOptions => {
  const { lazyConnect, enableOfflineQueue: _queueOnNodes, ...node } = ctx.reliability;
  return {
    maxRedirections: 16,
    retryDelayOnTryAgain: 50,
    retryDelayOnClusterDown: 100,
    slotsRefreshTimeout: 2_000,
    ...given,
    lazyConnect,
    enableOfflineQueue: true,
    retryDelayOnFailover: 0,
    scaleReads: "master",
    redisOptions: { ...given.redisOptions, ...node },
  };
};

const openClient = (ctx: RedisContext): RedisClient => {
  const c =
    ctx.callerClient ??
    (ctx.cluster
      ? new Cluster([...ctx.cluster.nodes], clusterOptions(ctx, ctx.cluster.options))
      : new Redis(ctx.url, ctx.reliability));
  c.on("error", ctx.onError);
  c.on("ready", ctx.onReady);
  return c;
};

/** The command connection, connected, with the startup check done: every public method starts here. */
export async function use(ctx: RedisContext): Promise<RedisClient> {
  if (ctx.closed) throw new FrontdeskError("unavailable", "The Redis store is closed");
  // Our connection gave up for good (ioredis ends it on some connector failures): open anew.
  if (ctx.client && !ctx.callerClient && ctx.client.status === "end") ctx.client = undefined;
  const c = (ctx.client ??= openClient(ctx));
  if (c.status === "ready") ctx.everReady = true;
  if (!ctx.connecting && c.status === "wait") {
    ctx.connecting = c.connect().finally(() => (ctx.connecting = undefined));
  } else if (!ctx.connecting && !ctx.everReady && (c.status === "connecting" || c.status === "connect")) {
    // A caller's client that is still making its first connection: wait for it (bounded) rather
    // than fail a call that merely came early. Later reconnects fail fast instead.
    ctx.connecting = firstConnection(c, ctx.connectTimeoutMs).finally(() => (ctx.connecting = undefined));
  }
  if (ctx.connecting) await ctx.connecting;
  // A Cluster that lost every node queues commands until it is back: fail fast instead, like a single Redis.
  if (c instanceof Cluster && ctx.everReady && c.status !== "ready") {
    throw new FrontdeskError("unavailable", "The Redis Cluster is unavailable");
  }
  ctx.configChecked ??= Promise.all([checkConfig(c, ctx.logger), checkLayout(ctx, c)]).then(() => undefined);
  try {
    await ctx.configChecked;
  } catch (error) {
    // A layout refused now (an old layout, another bucket count) is refused again on every call.
    if (!isFrontdeskError(error)) ctx.configChecked = undefined;
    throw error;
  }
  ctx.checked = true;
  return c;
}

/** The connection when it can take a call at once, without `use()`. */
export const readyClient = (ctx: RedisContext): RedisClient | undefined =>
  ctx.checked && !ctx.closed && ctx.client !== undefined && ctx.client.status === "ready" ? ctx.client : undefined;

/** Runs one store call on a usable connection; whatever fails leaves as a contract error. */
export async function run<T>(ctx: RedisContext, body: (c: RedisClient) => Promise<T>): Promise<T> {
  try {
    const c = readyClient(ctx);
    if (c) return await (ctx.cluster ? throughRedirects(ctx, () => body(c)) : body(c));
    const ready = await use(ctx);
    return await (ctx.cluster ? throughRedirects(ctx, () => body(ready)) : body(ready));
  } catch (error) {
    throw translate(error);
  }
}

/**
 * ioredis gives up on a command after `maxRedirections` redirects. While a slot migrates, a script
 * whose keys are split between the two masters, or that creates a key, is refused with TRYAGAIN
 * until the last key moved and the slot changed owner: for a bucket with many keys that outlasts
 * ioredis's budget. A refusal that ran nothing (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) is safe to send
 * again, so the call is tried again until the command timeout; anything else, a closed connection
 * above all, is not.
 */
export async function throughRedirects<T>(ctx: RedisContext, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ctx.commandTimeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isRedirectExhausted(error) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, REDIRECT_PAUSE_MS));
    }
  }
}

const REDIRECT_PAUSE_MS = 25;
const REDIRECTS_EXHAUSTED =
  /^Too many Cluster redirections\. Last error: ReplyError: (MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

// A MULTI or a pipeline is not redirected by ioredis: its EXEC answers the refusal itself.
const REFUSED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

const isRedirectExhausted = (error: unknown): boolean =>
  error instanceof Error &&
  (REDIRECTS_EXHAUSTED.test(error.message) || (error.name === "ReplyError" && REFUSED.test(error.message)));

/** Closes what the store opened: the subscriber always, the command connection unless the caller owns it. */
export async function closeConnections(ctx: RedisContext): Promise<void> {
  const s = ctx.subscriber;
  ctx.subscriber = undefined;
  ctx.subscriberReady = undefined;
  if (s) await quit(s);
  const c = ctx.client;
  ctx.client = undefined;
  if (!c) return;
  if (ctx.callerClient) {
    c.off("error", ctx.onError);
    c.off("ready", ctx.onReady);
  } else {
    await quit(c);
  }
}

/** Startup check (once, never fatal): names every setting that weakens what the store promises. */
async function checkConfig(c: RedisClient, logger: RedisStoreLogger): Promise<void> {
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

/**
 * The layout marker: a store without one is new (it writes one with its bucket count) unless it
 * holds sessions in the layout before buckets, which only `frontdesk store migrate-redis` reads.
 * A marker naming another bucket count than the `buckets` option is an error: the keys would not
 * be found; without the option the marker's count is used.
 */
async function checkLayout(ctx: RedisContext, c: RedisClient): Promise<void> {
  const { prefix } = ctx.keys;
  let marker = await c.get(ctx.keys.layoutMarker);
  if (marker === null) {
    if ((await c.exists(legacyExpiryIndex(prefix))) === 1) {
      throw new FrontdeskError(
        "unavailable",
        `This Redis holds sessions under the prefix "${prefix}" in the layout of Frontdesk before buckets; run \`frontdesk store migrate-redis\` on it once (docs/stores/redis.md, "Migrating")`,
      );
    }
    const created = JSON.stringify({ layout: LAYOUT_VERSION, buckets: ctx.keys.buckets });
    marker =
      (await c.set(ctx.keys.layoutMarker, created, "NX")) === "OK" ? created : await c.get(ctx.keys.layoutMarker);
  }
  const stored = parseLayout(marker);
  if (!stored) {
    throw new FrontdeskError(
      "unavailable",
      `The layout marker ${ctx.keys.layoutMarker} is not one this version of Frontdesk wrote`,
    );
  }
  if (stored.buckets === ctx.keys.buckets) return;
  if (ctx.requestedBuckets !== undefined) {
    throw new FrontdeskError(
      "invalid_request",
      `The Redis store was created with buckets=${stored.buckets}, not ${ctx.requestedBuckets}; drop the option, or move the data with \`frontdesk store migrate-redis\``,
    );
  }
  ctx.keys = createKeyspace(prefix, stored.buckets);
  ctx.sessionKeys = cachedSessionKeys(ctx.keys);
}

/** The stored layout's version: 2 is the bucketed one (keys.ts). */
export const LAYOUT_VERSION = 2;

/** The store-wide expiry index of the layout before buckets: a store holding it holds sessions in that layout. */
export const legacyExpiryIndex = (prefix: string): string => `${prefix}:{x}:expiry`;

const parseLayout = (marker: string | null): { buckets: number } | undefined => {
  try {
    const parsed = JSON.parse(marker ?? "") as { layout?: unknown; buckets?: unknown };
    return parsed.layout === LAYOUT_VERSION && Number.isSafeInteger(parsed.buckets)
      ? { buckets: parsed.buckets as number }
      : undefined;
  } catch {
    return undefined;
  }
};

const firstConnection = (c: RedisClient, timeoutMs: number): Promise<void> =>
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

/**
 * How long a polite QUIT may take before the sockets are dropped. A Cluster's `quit()` waits for
 * every node's connection, and one that is reconnecting (after a failover, a slot move, a node
 * going away) can keep it from ever settling: a server told to stop then never exits.
 */
export const QUIT_TIMEOUT_MS = 2000;

/** QUIT when the connection is up, bounded by {@link QUIT_TIMEOUT_MS}; else, or after it, drop it. */
export const quit = async (
  c: Pick<RedisClient, "status" | "quit" | "disconnect">,
  timeoutMs = QUIT_TIMEOUT_MS,
): Promise<void> => {
  if (c.status === "ready") {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), timeoutMs);
    });
    try {
      const outcome = await Promise.race([c.quit().then(() => "quit" as const), expired]);
      if (outcome === "quit") return;
    } catch {
      // fall through: drop the socket instead
    } finally {
      clearTimeout(timer);
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
  // A Cluster redirect still failing after ioredis's redirections (a reshard in full swing): nothing ran.
  "MOVED",
  "ASK",
];

/**
 * The store's edge: script verdicts become their contract codes, anything else from Redis becomes
 * `unavailable` (or `internal` for a reply that means a bug). Messages never include the URL.
 */
export const rethrowTranslated = (error: unknown): never => {
  throw translate(error);
};

export function translate(error: unknown): FrontdeskError {
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
      case "FDABORTED":
        // A two-phase commit that outlived its lease: a reader rolled it back first, nothing was written.
        return new FrontdeskError("conflict", "The commit outlived its lease on shared state and was rolled back", {
          details: { scope: "lease" },
        });
      case "FDSEQ":
        return new FrontdeskError("invalid_request", "A commit's events must continue the session's seq");
      case "FDREWRITE":
        return new FrontdeskError("invalid_request", "A commit may only rewrite events already in the log");
      default:
        if (word && UNAVAILABLE_REPLIES.includes(word)) {
          return new FrontdeskError("unavailable", `Redis refused the command (${word})`, { cause: error });
        }
        return new FrontdeskError("internal", "Redis rejected a store command", { cause: error });
    }
  }
  return new FrontdeskError("unavailable", "Redis is unavailable", { cause: error });
}
