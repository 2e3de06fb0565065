/**
 * The SQLite store's read path. `get` and `readScope` are the hot reads of every request:
 * they answer from the read cache while `PRAGMA data_version` says the database is unchanged, and
 * hand out one frozen object to every caller, so a cached read allocates nothing.
 */
import { yieldToEventLoop } from "../../core/event-loop.ts";
import { type SessionEvent, type SessionHeader, type SessionKey, scopeKeyId, sessionKeyId } from "../../core/model.ts";
import { deepFreeze } from "../../core/state.ts";
import { isExpired } from "../shared/list-filter.ts";
import type { ApiKeyRecord, EventRange, IdempotencyRecord, ListPage, ListQuery, ScopedState } from "../types.ts";
import { run, type SqliteContext } from "./connection.ts";
import { buildListStatement, buildTextScanStatement, TEXT_SCAN_ROWS } from "./list-query.ts";
import {
  type ApiKeyRow,
  type Connection,
  type HeaderRow,
  type IdempotencyRow,
  MAX_SEQ,
  ownerOf,
  type ScopeRow,
  scopeOwner,
  type TextScanRow,
} from "./statements.ts";

export function get(ctx: SqliteContext, c: Connection, key: SessionKey, now: number): SessionHeader | undefined {
  const { cache } = ctx;
  cache.revalidate(c);
  const id = sessionKeyId(key);
  const cached = cache.headers.get(id);
  if (cached) return isExpired(cached, now) ? undefined : cached;
  const row = c.selectHeader.get(key.namespace, ownerOf(key.userId), key.id, now) as HeaderRow | undefined;
  if (!row) return undefined;
  const header = deepFreeze(parseHeader(row));
  cache.headers.set(id, header);
  return header;
}

export function readEvents(c: Connection, key: SessionKey, range: EventRange): SessionEvent[] {
  const types = range.types && range.types.length > 0 ? JSON.stringify(range.types) : undefined;
  const statement =
    range.order === "desc" ? (types ? c.eventsDescTyped : c.eventsDesc) : types ? c.eventsAscTyped : c.eventsAsc;
  // seq > after ⟺ seq > floor(after), and seq < before ⟺ seq < ceil(before), for whole seqs.
  const after = Math.min(Math.max(Math.floor(range.after ?? 0), 0), MAX_SEQ);
  const before = Math.min(Math.max(Math.ceil(range.before ?? MAX_SEQ + 1), 0), MAX_SEQ + 1);
  const params: unknown[] = [after, before, key.namespace, ownerOf(key.userId), key.id];
  if (types) params.push(types);
  params.push(range.limit === undefined ? -1 : Math.max(0, Math.ceil(range.limit)));
  return (statement.all(...params) as string[]).map((body) => JSON.parse(body));
}

/** Its own wrapper: a text search (`q=`) is several statements, with the event loop free between them. */
export function list(ctx: SqliteContext, query: ListQuery): Promise<ListPage> {
  return query.text ? listMatchingText(ctx, query) : run(ctx, (c) => listPage(c, query));
}

function listPage(c: Connection, query: ListQuery): ListPage {
  const { sql, params } = buildListStatement(query);
  const rows = c.listStatement(sql).all(...params) as HeaderRow[];
  const hasMore = rows.length > query.limit;
  if (hasMore) rows.length = Math.max(0, query.limit);
  return { items: rows.map(parseHeader), hasMore };
}

/** A `q=` list, read a few rows per statement (see TEXT_SCAN_ROWS) with the event loop free between. */
async function listMatchingText(ctx: SqliteContext, query: ListQuery): Promise<ListPage> {
  const items: SessionHeader[] = [];
  let after = query.after;
  for (;;) {
    const rows = await run(ctx, (c) => {
      const { sql, params } = buildTextScanStatement(query, after);
      return c.listStatement(sql).all(...params) as TextScanRow[];
    });
    for (const row of rows) {
      if (row.matched !== 1) continue;
      if (items.length >= query.limit) return { items, hasMore: true };
      items.push(parseHeader(row));
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < TEXT_SCAN_ROWS) return { items, hasMore: false };
    after = { value: last.position, userId: last.user_id, id: last.id };
    await yieldToEventLoop();
  }
}

export const count = (c: Connection, namespace: string, userId: string | null, now: number): number =>
  c.count.get(namespace, ownerOf(userId), now) as number;

export function readScope(
  ctx: SqliteContext,
  c: Connection,
  namespace: string,
  scope: "user" | "app",
  userId: string | null,
): ScopedState {
  const { cache } = ctx;
  cache.revalidate(c);
  const id = scopeKeyId(namespace, scope, userId);
  const cached = cache.scopes.get(id);
  if (cached) return cached;
  const row = c.selectScope.get(namespace, scope, scopeOwner(scope, userId)) as ScopeRow | undefined;
  const read = deepFreeze(row ? { state: JSON.parse(row.state), version: row.version } : { state: {}, version: 0 });
  cache.scopes.set(id, read);
  return read;
}

export function findIdempotency(c: Connection, key: SessionKey, idempotencyKey: string): IdempotencyRecord | undefined {
  const row = c.selectIdempotency.get(key.namespace, ownerOf(key.userId), key.id, idempotencyKey) as
    | IdempotencyRow
    | undefined;
  return row
    ? {
        key: idempotencyKey,
        fingerprint: row.fingerprint,
        firstSeq: row.first_seq,
        lastSeq: row.last_seq,
        version: row.version,
        at: row.at,
      }
    : undefined;
}

export function findApiKey(c: Connection, hash: string): ApiKeyRecord | undefined {
  const row = c.selectApiKey.get(hash) as ApiKeyRow | undefined;
  return row ? apiKeyOf(row) : undefined;
}

export const listApiKeys = (c: Connection): ApiKeyRecord[] => (c.listApiKeys.all() as ApiKeyRow[]).map(apiKeyOf);

/** `touch` moves only the two columns, so they, not the header JSON, hold the current values. */
function parseHeader(row: HeaderRow): SessionHeader {
  const header = JSON.parse(row.header) as SessionHeader;
  header.expiresAt = row.expires_at;
  header.lastAccessedAt = row.last_accessed_at;
  return header;
}

const apiKeyOf = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  hash: row.hash,
  prefix: row.prefix,
  userId: row.user_id,
  admin: row.admin === 1,
  label: row.label,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
  ...(row.requests_per_second === null ? {} : { requestsPerSecond: row.requests_per_second }),
});
