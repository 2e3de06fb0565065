/**
 * The PostgreSQL store's read path: single statements, each answered from an index (sql.ts says
 * which). Headers come back as the stored JSON with the two columns touch moves laid over it, in
 * the usual field order (the text puts the fields a plain append moves first).
 * The user: and app: scope reads the core issues together are batched into one round trip.
 */
import { type SessionEvent, type SessionHeader, SessionHeaderSchema, type SessionKey } from "../../core/model.ts";
import type { ApiKeyRecord, EventRange, IdempotencyRecord, ListPage, ListQuery, ScopedState } from "../types.ts";
import { type PostgresContext, query } from "./connection.ts";
import { listQuery, ownerOf, readEventsQuery } from "./sql.ts";

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

export async function get(ctx: PostgresContext, key: SessionKey, now: number): Promise<SessionHeader | undefined> {
  const { rows } = await query<HeaderRow>(ctx, ctx.sql.get, [key.namespace, ownerOf(key.userId), key.id, now]);
  return rows[0] ? headerOf(rows[0]) : undefined;
}

export async function readEvents(ctx: PostgresContext, key: SessionKey, range: EventRange): Promise<SessionEvent[]> {
  if (range.limit !== undefined && range.limit <= 0) return [];
  const { text, values } = readEventsQuery(
    ctx.schema,
    ctx.statementTag,
    [key.namespace, ownerOf(key.userId), key.id],
    range,
  );
  const { rows } = await query<{ body: string }>(ctx, text, values);
  return rows.map((row) => JSON.parse(row.body) as SessionEvent);
}

export async function list(ctx: PostgresContext, listRequest: ListQuery): Promise<ListPage> {
  const { text, values } = listQuery(ctx.schema, listRequest);
  const { rows } = await query<HeaderRow>(ctx, text, values);
  const items = rows.slice(0, listRequest.limit).map(headerOf);
  return { items, hasMore: rows.length > listRequest.limit };
}

export async function count(ctx: PostgresContext, namespace: string, userId: string | null, now: number) {
  const { rows } = await query<{ n: number }>(ctx, ctx.sql.count, [namespace, ownerOf(userId), now]);
  return rows[0]?.n ?? 0;
}

// The core reads the user: and app: scopes together (Promise.all): reads asked for in the same
// tick go out as one query, one round trip and one pooled connection instead of two.
export const readScope = (
  ctx: PostgresContext,
  namespace: string,
  scope: "user" | "app",
  userId: string | null,
): Promise<ScopedState> =>
  new Promise<ScopedState>((resolve, reject) => {
    const owner = scope === "app" ? "" : ownerOf(userId);
    if (!ctx.scopeReads) {
      ctx.scopeReads = [];
      queueMicrotask(() => readScopes(ctx));
    }
    ctx.scopeReads.push({ namespace, scope, owner, resolve, reject });
  });

const readScopes = (ctx: PostgresContext): void => {
  const batch = ctx.scopeReads ?? [];
  ctx.scopeReads = undefined;
  const run = async (): Promise<(ScopedState | undefined)[]> => {
    const [first] = batch;
    if (batch.length === 1 && first) {
      const { rows } = await query<ScopedState>(ctx, ctx.sql.readScope, [first.namespace, first.scope, first.owner]);
      return [rows[0]];
    }
    const { rows } = await query<ScopedState & { index: string }>(ctx, ctx.sql.readScopes, [
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

export async function findIdempotency(
  ctx: PostgresContext,
  key: SessionKey,
  idempotencyKey: string,
): Promise<IdempotencyRecord | undefined> {
  const { rows } = await query<{ record: string }>(ctx, ctx.sql.findIdempotency, [
    key.namespace,
    ownerOf(key.userId),
    key.id,
    idempotencyKey,
  ]);
  return rows[0] ? (JSON.parse(rows[0].record) as IdempotencyRecord) : undefined;
}

export async function findApiKey(ctx: PostgresContext, hash: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await query<ApiKeyRow>(ctx, ctx.sql.findApiKey, [hash]);
  return rows[0] ? apiKeyOf(rows[0]) : undefined;
}

export async function listApiKeys(ctx: PostgresContext): Promise<ApiKeyRecord[]> {
  const { rows } = await query<ApiKeyRow>(ctx, ctx.sql.listApiKeys);
  return rows.map(apiKeyOf);
}

/** The order every store hands a header's fields out in: the header schema's, as the core builds them. */
const HEADER_ORDER = Object.keys(SessionHeaderSchema.shape);
const STATS_ORDER = Object.keys(SessionHeaderSchema.shape.stats.shape);

/** `value`'s fields in `order`, then any others (a later version's) as they came. */
const inOrder = (value: Record<string, unknown>, order: readonly string[]): Record<string, unknown> => {
  const ordered: Record<string, unknown> = {};
  for (const name of order) if (name in value) ordered[name] = value[name];
  for (const name in value) if (!(name in ordered)) ordered[name] = value[name];
  return ordered;
};

/**
 * The stored text with the two columns touch() moves (without rewriting the text) laid over it,
 * its fields put back in the usual order: the text has the fields a plain append moves first
 * (commands.ts `headerText`), and its stats as jsonb printed them.
 */
const headerOf = (row: HeaderRow): SessionHeader => {
  const stored = JSON.parse(row.header) as Record<string, unknown>;
  stored.lastAccessedAt = Number(row.last_accessed_at);
  stored.expiresAt = row.expires_at === null ? null : Number(row.expires_at);
  stored.stats = inOrder(stored.stats as Record<string, unknown>, STATS_ORDER);
  return inOrder(stored, HEADER_ORDER) as unknown as SessionHeader;
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
