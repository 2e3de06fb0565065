import { createHash } from "node:crypto";
import type { ClientConfig, Notification, Pool, PoolConfig, QueryResultRow } from "pg";
import pg from "pg";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../../core/model.ts";
import type {
  ApiKeyRecord,
  Commit,
  CommitResult,
  DeleteCondition,
  EventRange,
  IdempotencyRecord,
  ListPage,
  ListQuery,
  ScopedState,
  ScopedWrite,
  SessionStore,
  StoreCapabilities,
  StoreContext,
  Unsubscribe,
} from "../types.ts";
import { migrate, SQLSTATE_CONFLICT, SQLSTATE_NOT_FOUND } from "./migrations.ts";
import { listQuery, quoteIdentifier, readEventsQuery, type Statement, statements } from "./sql.ts";

/** Where the store reports what it cannot throw: idle connection errors, the durability check. */
export interface PostgresStoreLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/**
 * Options of the PostgreSQL store. Give a connection (`url` or `connectionString`) or your own
 * `pool`. Options are read once and never mutated.
 * @example createPostgresStore({ url: "postgres://frontdesk:secret@db:5432/app", schema: "frontdesk" })
 */
export interface PostgresStoreOptions {
  /**
   * Connection URL: `postgres://user:password@host:5432/database?sslmode=require`. A `schema` query
   * parameter is taken out and used when the `schema` option is not given.
   */
  url?: string | URL;
  /** Same as `url`, under node-postgres's name. `url` wins when both are given. */
  connectionString?: string;
  /**
   * A pool you own. The store uses it, attaches an `'error'` handler while open, and never ends it;
   * `maxConnections`, `connectionTimeoutMs` and `statementTimeoutMs` then do not apply. Live
   * events open one extra connection with the pool's own settings (`pool.options`).
   */
  pool?: Pool;
  /**
   * Schema holding the store's tables, created on first use. A letter or `_`, then letters, digits
   * or `_`, at most 63 characters; used quoted, so case is kept.
   * @default "frontdesk"
   */
  schema?: string;
  /** Pool size. @default 10 */
  maxConnections?: number;
  /**
   * How long to wait for a connection (new or from a busy pool) before failing with `unavailable`.
   * @default 2000
   */
  connectionTimeoutMs?: number;
  /** Server-side `statement_timeout` for the store's connections; 0 keeps the server's own. @default 30000 */
  statementTimeoutMs?: number;
  /** Receives idle-connection errors and the startup durability warning. @default console.warn */
  logger?: PostgresStoreLogger;
}

export const STORE_NAME = "postgres";

/** Schema names the store accepts: a plain identifier, so quoting it is enough. */
export const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const COMMIT_ATTEMPTS = 5;
const RETRYABLE_SQLSTATES = new Set(["40001", "40P01"]);
const INVALID_INPUT_SQLSTATES = new Set(["22P02", "22021", "22P05", "22001", "22003", "54000"]);
const RECONNECT_MAX_DELAY_MS = 5000;
const LISTEN_CHECK_INTERVAL_MS = 30_000;
const LISTEN_CHECK_TIMEOUT_MS = 10_000;
/** Minimum time between two NOTIFY batches of one store: the most a hint to a peer is delayed. */
const HINT_INTERVAL_MS = 10;
/** NOTIFY payloads must stay under 8000 bytes; keys longer than this are sent hashed. */
const MAX_PLAIN_HINT_KEY_BYTES = 1000;

const DEFAULT_LOGGER: PostgresStoreLogger = {
  warn: (details, message) => console.warn(`frontdesk: ${message}`, details),
};

type HintListener = (lastSeq: number) => void;
interface Subscription {
  readonly key: SessionKey;
  readonly listeners: Set<HintListener>;
}

interface ScopeRead {
  readonly namespace: string;
  readonly scope: "user" | "app";
  readonly owner: string;
  resolve(state: ScopedState): void;
  reject(error: unknown): void;
}

interface HeaderRow {
  header: string;
  last_accessed_at: string;
  expires_at: string | null;
}

interface ApiKeyRow {
  id: string;
  hash: string;
  prefix: string;
  user_id: string;
  admin: boolean;
  label: string | null;
  created_at: string;
  revoked_at: string | null;
  requests_per_second: number | null;
}

/**
 * The PostgreSQL store: shared by any number of server instances, durable once PostgreSQL has
 * acknowledged the commit. Every commit is one statement (a function call) in its own transaction;
 * live events cross instances through LISTEN/NOTIFY. Nothing connects before the first call.
 * @example
 * const store = createPostgresStore({ url: process.env.DATABASE_URL });
 * const manager = createSessionManager({ store });
 */
export function createPostgresStore(options: PostgresStoreOptions, _context: StoreContext = {}): SessionStore {
  const connection = splitSchemaParam(options.url !== undefined ? String(options.url) : options.connectionString);
  const connectionString = connection.url;
  const schemaName = options.schema ?? connection.schema ?? "frontdesk";
  if (!SCHEMA_PATTERN.test(schemaName)) {
    throw new FrontdeskError("invalid_request", `Invalid postgres schema name: must match ${SCHEMA_PATTERN.source}`);
  }
  if (connectionString === undefined && options.pool === undefined) {
    throw new FrontdeskError("invalid_request", "The postgres store needs a `url`, a `connectionString` or a `pool`");
  }
  const ownPoolConfig: PoolConfig = {
    application_name: "frontdesk",
    ...(connectionString !== undefined ? { connectionString } : {}),
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 2000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    keepAlive: true,
  };
  const logger = options.logger ?? DEFAULT_LOGGER;
  const schema = quoteIdentifier(schemaName);
  // Prepared statement names are per connection and must not collide across schemas sharing a pool.
  const statementTag =
    schemaName.length <= 40 ? schemaName : createHash("sha256").update(schemaName).digest("hex").slice(0, 40);
  const sql = statements(schema, statementTag);
  const channel = channelFor(schemaName);
  const databaseName = databaseOf(connectionString, options.pool);

  let pool: Pool | undefined;
  let readyPromise: Promise<void> | undefined;
  let durabilityChecked = false;
  let closed = false;
  let closing: Promise<void> | undefined;

  const subscriptions = new Map<string, Subscription>();
  let listenClient: pg.Client | undefined;
  let listening: Promise<void> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let reconnectDelayMs = 100;
  let heartbeat: NodeJS.Timeout | undefined;

  const onPoolError = (error: Error): void => {
    logger.warn(
      { code: (error as { code?: string }).code },
      "an idle PostgreSQL connection failed; the pool replaces it",
    );
  };
  const getPool = (): Pool => {
    if (pool) return pool;
    pool = options.pool ?? new pg.Pool(ownPoolConfig);
    pool.on("error", onPoolError);
    return pool;
  };
  const query = <R extends QueryResultRow>(statement: Statement | string, values?: unknown[]) =>
    getPool().query<R>(
      typeof statement === "string"
        ? { text: statement, values }
        : { name: statement.name, text: statement.text, values },
    );

  const checkDurability = async (client: pg.PoolClient): Promise<void> => {
    const { rows } = await client.query<{ synchronous_commit: string; fsync: string }>(
      "SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync",
    );
    const row = rows[0];
    if (row?.synchronous_commit === "off") {
      logger.warn(
        { setting: "synchronous_commit", value: "off", schema: schemaName },
        "PostgreSQL synchronous_commit is off: commits are acknowledged before they are durable, so a server crash can lose the last ones",
      );
    }
    if (row?.fsync === "off") {
      logger.warn(
        { setting: "fsync", value: "off", schema: schemaName },
        "PostgreSQL fsync is off: a server crash can lose or corrupt data",
      );
    }
  };

  const ready = (): Promise<void> =>
    (readyPromise ??= (async () => {
      const client = await getPool().connect();
      let failure: unknown;
      try {
        await migrate(client, schema, schemaName);
        if (!durabilityChecked) {
          durabilityChecked = true;
          await checkDurability(client).catch(() => undefined);
        }
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        client.release(failure === undefined ? undefined : true);
      }
    })().catch((error: unknown) => {
      // Not cached: the next call migrates again, so the store recovers once PostgreSQL is back.
      readyPromise = undefined;
      throw error;
    }));

  /** The one wrapper every public method goes through: open check, migrations, error translation. */
  const guarded =
    <A extends unknown[], R>(body: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (closed) throw new FrontdeskError("unavailable", "The postgres store is closed");
      try {
        await ready();
        return await body(...args);
      } catch (error) {
        throw translateError(error, databaseName);
      }
    };

  const hintLocal = (key: SessionKey, lastSeq: number): void => {
    const subscription = subscriptions.get(hintKey(key));
    if (subscription)
      for (const listener of subscription.listeners) queueMicrotask(() => callSafely(listener, lastSeq));
  };

  // Peers are hinted after the commit, not inside it (see sql.notify), in batches: one NOTIFY
  // statement in flight at a time, and at most one per HINT_INTERVAL_MS, so a busy store pays one
  // small transaction per batch instead of one per commit. The first hint after a quiet spell goes
  // out at once. A hint lost to a crash in between is only a late wake-up: listeners re-read the log by seq.
  let pendingHints = new Map<string, string>();
  let notifying: Promise<void> | undefined;
  let hintTimer: NodeJS.Timeout | undefined;
  let lastHintAt = Number.NEGATIVE_INFINITY;
  let hintFailureLogged = false;
  const sendHints = async (): Promise<void> => {
    lastHintAt = performance.now();
    const batch = [...pendingHints.values()];
    pendingHints = new Map();
    try {
      await query(sql.notify, [channel, batch]);
      hintFailureLogged = false;
    } catch (error) {
      if (!hintFailureLogged) {
        hintFailureLogged = true;
        logger.warn({ code: (error as { code?: string }).code, channel }, "could not send live-event hints to peers");
      }
    } finally {
      notifying = undefined;
      if (pendingHints.size > 0) scheduleHints();
    }
  };
  const scheduleHints = (): void => {
    if (notifying || hintTimer) return;
    const waitMs = lastHintAt + HINT_INTERVAL_MS - performance.now();
    if (waitMs <= 0 || closed) {
      notifying = sendHints();
      return;
    }
    hintTimer = setTimeout(() => {
      hintTimer = undefined;
      scheduleHints();
    }, waitMs);
    hintTimer.unref();
  };
  const notifyPeers = (key: SessionKey, lastSeq: number): void => {
    pendingHints.set(hintKey(key), hintPayload(key, lastSeq));
    scheduleHints();
  };
  /** Sends whatever is pending now, for close(). */
  const drainHints = async (): Promise<void> => {
    clearTimeout(hintTimer);
    hintTimer = undefined;
    while (notifying || pendingHints.size > 0) {
      if (notifying) await notifying;
      else notifying = sendHints();
    }
  };

  const onNotification = (message: Notification): void => {
    if (message.channel !== channel || message.payload === undefined) return;
    const split = message.payload.indexOf(":");
    const lastSeq = Number(message.payload.slice(0, split));
    const subscription = subscriptions.get(message.payload.slice(split + 1));
    if (subscription && Number.isSafeInteger(lastSeq)) {
      for (const listener of subscription.listeners) callSafely(listener, lastSeq);
    }
  };

  const dropListener = (client: pg.Client, error?: Error): void => {
    if (client !== listenClient) return;
    clearInterval(heartbeat);
    listenClient = undefined;
    listening = undefined;
    client.end().catch(() => undefined);
    if (closed) return;
    logger.warn(
      { code: (error as { code?: string } | undefined)?.code, channel },
      "the PostgreSQL LISTEN connection was lost; reconnecting",
    );
    scheduleReconnect();
  };

  // A connection dropped silently (NAT timeout, partition) raises no error, and a LISTEN connection
  // is otherwise idle: a periodic round trip notices, so subscribers never wait forever.
  const checkListener = (client: pg.Client): void => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("LISTEN connection check timed out")), LISTEN_CHECK_TIMEOUT_MS);
    });
    Promise.race([client.query("SELECT 1"), timeout])
      .catch((error: unknown) => dropListener(client, error as Error))
      .finally(() => clearTimeout(timer));
  };

  const connectListener = async (): Promise<void> => {
    const config: ClientConfig = {
      ...(options.pool ? options.pool.options : ownPoolConfig),
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    };
    const client = new pg.Client(config);
    // Attached before connecting: an error event without a handler would crash the process.
    client.on("error", (error) => dropListener(client, error));
    client.on("end", () => dropListener(client));
    client.on("notification", onNotification);
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      client.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await client.end().catch(() => undefined);
      return;
    }
    listenClient = client;
    reconnectDelayMs = 100;
    heartbeat = setInterval(() => checkListener(client), LISTEN_CHECK_INTERVAL_MS);
    heartbeat.unref();
  };

  const listen = (): Promise<void> =>
    (listening ??= connectListener().catch((error: unknown) => {
      listening = undefined;
      throw error;
    }));

  /** Hints every subscriber with its session's current lastSeq: whatever was notified while disconnected. */
  const catchUp = async (): Promise<void> => {
    const subs = [...subscriptions.values()];
    if (subs.length === 0) return;
    const { rows } = await query<{ index: string; last_seq: string }>(sql.lastSeqs, [
      subs.map((s) => s.key.namespace),
      subs.map((s) => ownerOf(s.key.userId)),
      subs.map((s) => s.key.id),
    ]);
    for (const row of rows) {
      const subscription = subs[Number(row.index) - 1];
      if (subscription) for (const listener of subscription.listeners) callSafely(listener, Number(row.last_seq));
    }
  };

  const scheduleReconnect = (): void => {
    if (closed || reconnectTimer || subscriptions.size === 0) return;
    const delay = reconnectDelayMs;
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, RECONNECT_MAX_DELAY_MS);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      listen()
        .then(catchUp)
        .catch(() => scheduleReconnect());
    }, delay);
    reconnectTimer.unref();
  };

  // The core reads the user: and app: scopes together (Promise.all): reads asked for in the same
  // tick go out as one query, one round trip and one pooled connection instead of two.
  let scopeReads: ScopeRead[] | undefined;
  const readScopes = (): void => {
    const batch = scopeReads ?? [];
    scopeReads = undefined;
    const run = async (): Promise<(ScopedState | undefined)[]> => {
      const [first] = batch;
      if (batch.length === 1 && first) {
        const { rows } = await query<ScopedState>(sql.readScope, [first.namespace, first.scope, first.owner]);
        return [rows[0]];
      }
      const { rows } = await query<ScopedState & { index: string }>(sql.readScopes, [
        batch.map((read) => read.namespace),
        batch.map((read) => read.scope),
        batch.map((read) => read.owner),
      ]);
      const found: (ScopedState | undefined)[] = [];
      for (const row of rows) found[Number(row.index) - 1] = row;
      return found;
    };
    run().then(
      (found) => {
        for (const [i, read] of batch.entries()) {
          const row = found[i];
          read.resolve(row ? { state: row.state, version: row.version } : { state: {}, version: 0 });
        }
      },
      (error: unknown) => {
        for (const read of batch) read.reject(error);
      },
    );
  };

  const capabilities: StoreCapabilities = { shared: true };

  return {
    name: STORE_NAME,
    capabilities,

    commit: guarded(async (commit: Commit): Promise<CommitResult> => {
      const { key, header } = commit;
      const values = [
        key.namespace,
        ownerOf(key.userId),
        key.id,
        commit.expectedVersion,
        commit.now,
        header.version,
        header.lastSeq,
        header.status,
        header.title,
        header.purpose,
        header.title?.toLowerCase() ?? null,
        header.purpose?.toLowerCase() ?? null,
        header.tags,
        header.createdAt,
        header.updatedAt,
        header.lastAccessedAt,
        header.expiresAt,
        JSON.stringify(header),
        commit.events.map((event) => event.seq),
        commit.events.map((event) => event.type),
        commit.events.map((event) => JSON.stringify(event)),
        scopedParam(commit.scoped, ownerOf(key.userId)),
        commit.idempotency?.key ?? null,
        commit.idempotency ? JSON.stringify(commit.idempotency) : null,
      ];
      for (let attempt = 1; ; attempt++) {
        try {
          await query(sql.commit, values);
          break;
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (attempt >= COMMIT_ATTEMPTS || code === undefined || !RETRYABLE_SQLSTATES.has(code)) throw error;
          await sleep(Math.random() * 10 * attempt);
        }
      }
      hintLocal(key, header.lastSeq);
      notifyPeers(key, header.lastSeq);
      return { version: header.version, lastSeq: header.lastSeq };
    }),

    get: guarded(async (key: SessionKey, now: number): Promise<SessionHeader | undefined> => {
      const { rows } = await query<HeaderRow>(sql.get, [key.namespace, ownerOf(key.userId), key.id, now]);
      return rows[0] ? headerOf(rows[0]) : undefined;
    }),

    touch: guarded(async (key, times, now): Promise<boolean> => {
      const result = await query(sql.touch, [
        key.namespace,
        ownerOf(key.userId),
        key.id,
        times.expiresAt,
        times.lastAccessedAt,
        now,
      ]);
      return (result.rowCount ?? 0) > 0;
    }),

    readEvents: guarded(async (key: SessionKey, range: EventRange): Promise<SessionEvent[]> => {
      if (range.limit !== undefined && range.limit <= 0) return [];
      const { text, values } = readEventsQuery(
        schema,
        statementTag,
        [key.namespace, ownerOf(key.userId), key.id],
        range,
      );
      const { rows } = await query<{ body: string }>(text, values);
      return rows.map((row) => JSON.parse(row.body) as SessionEvent);
    }),

    list: guarded(async (listRequest: ListQuery): Promise<ListPage> => {
      const { text, values } = listQuery(schema, listRequest);
      const { rows } = await query<HeaderRow>(text, values);
      const items = rows.slice(0, listRequest.limit).map(headerOf);
      return { items, hasMore: rows.length > listRequest.limit };
    }),

    count: guarded(async (namespace: string, userId: string | null, now: number): Promise<number> => {
      const { rows } = await query<{ n: number }>(sql.count, [namespace, ownerOf(userId), now]);
      return rows[0]?.n ?? 0;
    }),

    delete: guarded(async (key: SessionKey, condition?: DeleteCondition): Promise<boolean> => {
      const owner = ownerOf(key.userId);
      // The conditional form checks expiry and version under the row lock, in the same transaction.
      const { rows } = condition
        ? await query<{ deleted: boolean }>(sql.deleteAtVersion, [
            key.namespace,
            owner,
            key.id,
            condition.expectedVersion,
            condition.now,
          ])
        : await query<{ deleted: boolean }>(sql.delete, [key.namespace, owner, key.id]);
      const deleted = rows[0]?.deleted === true;
      if (deleted) {
        hintLocal(key, 0);
        notifyPeers(key, 0);
      }
      return deleted;
    }),

    sweep: guarded(async (now: number, limit: number): Promise<number> => {
      if (limit <= 0) return 0;
      const { rows } = await query<{ n: number }>(sql.sweep, [now, limit]);
      return rows[0]?.n ?? 0;
    }),

    readScope: guarded(
      (namespace: string, scope: "user" | "app", userId: string | null): Promise<ScopedState> =>
        new Promise<ScopedState>((resolve, reject) => {
          const owner = scope === "app" ? "" : ownerOf(userId);
          if (!scopeReads) {
            scopeReads = [];
            queueMicrotask(readScopes);
          }
          scopeReads.push({ namespace, scope, owner, resolve, reject });
        }),
    ),

    findIdempotency: guarded(async (key: SessionKey, idempotencyKey: string) => {
      const { rows } = await query<{ record: string }>(sql.findIdempotency, [
        key.namespace,
        ownerOf(key.userId),
        key.id,
        idempotencyKey,
      ]);
      return rows[0] ? (JSON.parse(rows[0].record) as IdempotencyRecord) : undefined;
    }),

    subscribe: guarded(async (key: SessionKey, onHint: HintListener): Promise<Unsubscribe> => {
      const id = hintKey(key);
      let subscription = subscriptions.get(id);
      if (!subscription) subscriptions.set(id, (subscription = { key: { ...key }, listeners: new Set() }));
      const listeners = subscription.listeners;
      const remove = (): void => {
        listeners.delete(onHint);
        if (listeners.size === 0 && subscriptions.get(id)?.listeners === listeners) subscriptions.delete(id);
      };
      listeners.add(onHint);
      try {
        await listen();
      } catch (error) {
        remove();
        throw error;
      }
      return async () => remove();
    }),

    putApiKey: guarded(async (record: ApiKeyRecord): Promise<void> => {
      await query(sql.putApiKey, [
        record.id,
        record.hash,
        record.prefix,
        record.userId,
        record.admin,
        record.label,
        record.createdAt,
        record.revokedAt,
        record.requestsPerSecond ?? null,
      ]);
    }),

    findApiKey: guarded(async (hash: string) => {
      const { rows } = await query<ApiKeyRow>(sql.findApiKey, [hash]);
      return rows[0] ? apiKeyOf(rows[0]) : undefined;
    }),

    listApiKeys: guarded(async () => {
      const { rows } = await query<ApiKeyRow>(sql.listApiKeys);
      return rows.map(apiKeyOf);
    }),

    revokeApiKey: guarded(async (id: string, at: number): Promise<boolean> => {
      const result = await query(sql.revokeApiKey, [id, at]);
      return (result.rowCount ?? 0) > 0;
    }),

    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        clearTimeout(reconnectTimer);
        clearInterval(heartbeat);
        subscriptions.clear();
        await drainHints();
        const client = listenClient;
        listenClient = undefined;
        await listening?.catch(() => undefined);
        if (client) await client.end().catch(() => undefined);
        if (pool && options.pool) pool.off("error", onPoolError);
        else if (pool) await pool.end().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/**
 * `postgres://user:password@host:5432/database?schema=frontdesk` (or `postgresql://`). `schema` is
 * the store's; every other query parameter (`sslmode`, `options`, `application_name`…) goes to
 * node-postgres as is.
 */
export function openFromUrl(url: URL, context: StoreContext & { logger?: PostgresStoreLogger }): SessionStore {
  return createPostgresStore({ url, ...(context.logger ? { logger: context.logger } : {}) }, context);
}

/** Takes the store's own `?schema=` out of a connection URL, so node-postgres never sees it. */
const splitSchemaParam = (url: string | undefined): { url: string | undefined; schema: string | undefined } => {
  if (url === undefined || !/^postgres(ql)?:/i.test(url)) return { url, schema: undefined };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, schema: undefined };
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  if (schema === undefined) return { url, schema };
  parsed.searchParams.delete("schema");
  return { url: parsed.href, schema };
};

const ownerOf = (userId: string | null): string => userId ?? "";

const headerOf = (row: HeaderRow): SessionHeader => {
  const header = JSON.parse(row.header) as SessionHeader;
  // touch() moves these two columns without rewriting the header text.
  header.lastAccessedAt = Number(row.last_accessed_at);
  header.expiresAt = row.expires_at === null ? null : Number(row.expires_at);
  return header;
};

const apiKeyOf = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  hash: row.hash,
  prefix: row.prefix,
  userId: row.user_id,
  admin: row.admin,
  label: row.label,
  createdAt: Number(row.created_at),
  revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  ...(row.requests_per_second === null ? {} : { requestsPerSecond: Number(row.requests_per_second) }),
});

/** Scoped writes as the commit function reads them; sorted so concurrent commits lock scopes in one order. */
const scopedParam = (scoped: readonly ScopedWrite[] | undefined, owner: string): string | null => {
  if (!scoped || scoped.length === 0) return null;
  const writes = [...scoped]
    .sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0))
    .map((write) => {
      const sets: Record<string, unknown> = {};
      const unsets: string[] = [];
      for (const [name, value] of Object.entries(write.delta)) {
        if (value === null) unsets.push(name);
        else sets[name] = value;
      }
      return {
        scope: write.scope,
        owner: write.scope === "app" ? "" : owner,
        expected: write.expectedVersion,
        sets,
        unsets,
      };
    });
  return JSON.stringify(writes);
};

/** One NOTIFY channel per schema: stores on other schemas of the same database never wake each other. */
const channelFor = (schemaName: string): string => {
  const plain = `frontdesk:${schemaName}`;
  // Channel names are identifiers: at most 63 bytes.
  return plain.length <= 63 ? plain : `frontdesk:${createHash("sha256").update(schemaName).digest("hex").slice(0, 40)}`;
};

const hintKey = (key: SessionKey): string => {
  const plain = JSON.stringify([key.namespace, key.userId, key.id]);
  return Buffer.byteLength(plain) <= MAX_PLAIN_HINT_KEY_BYTES
    ? plain
    : `#${createHash("sha256").update(plain).digest("base64")}`;
};

const hintPayload = (key: SessionKey, lastSeq: number): string => `${lastSeq}:${hintKey(key)}`;

const callSafely = (listener: HintListener, lastSeq: number): void => {
  try {
    listener(lastSeq);
  } catch {
    // A failing listener must not stop the others or the notification stream.
  }
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The SQLSTATE of a connection to a database that does not exist. */
const SQLSTATE_NO_DATABASE = "3D000";

/** The database a connection string or pool names, when it says; PostgreSQL's default is the user's name. */
function databaseOf(connectionString: string | undefined, pool: Pool | undefined): string | undefined {
  if (pool) return pool.options.database ?? undefined;
  if (connectionString === undefined) return undefined;
  try {
    const url = new URL(connectionString);
    const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
    return name !== "" ? name : decodeURIComponent(url.username) || undefined;
  } catch {
    return undefined;
  }
}

/** What to do about a database that is not there: the operator creates it, or fixes the URL. */
function missingDatabase(error: unknown, configured: string | undefined): FrontdeskError {
  // The server names the database in its message (never a secret); the configured name is the fallback.
  const reported = /database "(.+)" does not exist/.exec(String((error as { message?: unknown }).message))?.[1];
  const name = reported ?? configured;
  if (name === undefined) {
    return new FrontdeskError(
      "unavailable",
      "The PostgreSQL database in the URL does not exist: create it (`createdb NAME` or `CREATE DATABASE`), or fix the URL",
      { cause: error },
    );
  }
  const shellName = /^[\w.-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`;
  const sqlName = `"${name.replaceAll('"', '""')}"`;
  return new FrontdeskError(
    "unavailable",
    `The PostgreSQL database "${name}" does not exist: create it with \`createdb ${shellName}\` (or \`CREATE DATABASE ${sqlName};\` in psql), or fix the database name in the URL`,
    { cause: error },
  );
}

/** Backend errors become the contract's codes; messages never carry the cause's text (it may hold secrets). */
function translateError(error: unknown, databaseName?: string): unknown {
  if (isFrontdeskError(error)) return error;
  const { code, detail, message } = error as { code?: unknown; detail?: unknown; message?: unknown };
  if (code === SQLSTATE_NO_DATABASE) return missingDatabase(error, databaseName);
  if (code === SQLSTATE_NOT_FOUND) return new FrontdeskError("not_found", "Session not found");
  if (code === SQLSTATE_CONFLICT) {
    const currentVersion = Number(detail);
    const scope = typeof message === "string" && message.startsWith("scope:") ? message.slice(6) : undefined;
    if (scope) {
      return new FrontdeskError("conflict", `The ${scope}: state changed since it was read`, {
        details: { scope, currentVersion },
      });
    }
    if (message === "idempotency") {
      return new FrontdeskError("conflict", "This idempotency key was already used", { cause: error });
    }
    return new FrontdeskError(
      "conflict",
      message === "session exists" ? "A session with this id already exists" : "The session changed since it was read",
      { details: { currentVersion } },
    );
  }
  if (code === "23505")
    return new FrontdeskError("conflict", "A record with this key already exists", { cause: error });
  if (typeof code === "string" && INVALID_INPUT_SQLSTATES.has(code)) {
    return new FrontdeskError("invalid_request", `PostgreSQL rejected the value (SQLSTATE ${code})`, { cause: error });
  }
  if (typeof code === "string" && (code.startsWith("42") || code.startsWith("XX"))) {
    return new FrontdeskError("internal", `PostgreSQL store error (SQLSTATE ${code})`, { cause: error });
  }
  const reason = typeof code === "string" ? code : "no connection";
  return new FrontdeskError("unavailable", `PostgreSQL is unavailable (${reason})`, { cause: error });
}
