/**
 * The PostgreSQL store's SQL text, kept apart from the code that runs it so the statements can be
 * read (and their indexes checked against migrations.ts) in one place. Fixed statements are named
 * so each pooled connection prepares them once; the query builders emit one shape per set of filters.
 */
import type { EventRange, ListQuery } from "../types.ts";
import { LISTED } from "./migrations.ts";

/** The `user_id` column of an owner: `null` (no owner) is stored as "", a user id the core never accepts. */
export const ownerOf = (userId: string | null): string => userId ?? "";

/** Quotes an identifier that was already validated against `SCHEMA_PATTERN`. */
export const quoteIdentifier = (name: string): string => `"${name}"`;

/** A statement node-postgres prepares once per connection under `name`, then only binds. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * A text[] parameter sent as one JSON array: node-postgres writes a text[] by escaping each element
 * with regular expressions, which for an event of megabytes of quotes (a masked one) held the
 * event loop for tens of milliseconds; JSON.stringify escapes natively, the database splits it.
 */
const jsonTexts = (param: string) =>
  `ARRAY(SELECT t.value FROM json_array_elements_text(${param}::json) WITH ORDINALITY AS t(value, n) ORDER BY t.n)`;

/** The positions (from 1) of the event bodies among the parameters of the commit and the append functions. */
const COMMIT_BODIES = 21;
const APPEND_BODIES = 8;

/** `$1, …, $count`, the event bodies' parameter sent as JSON. */
const params = (count: number, bodies: number) =>
  Array.from({ length: count }, (_, i) => (i + 1 === bodies ? jsonTexts(`$${bodies}`) : `$${i + 1}`)).join(", ");

/**
 * Every fixed statement of the store for one (quoted) schema, built once per store. Named, so each
 * pooled connection parses and plans them once; `tag` keeps names distinct per schema.
 */
export function statements(s: string, tag: string) {
  const key = "namespace = $1 AND user_id = $2 AND id = $3";
  const live = (param: string) => `(expires_at IS NULL OR expires_at > ${param})`;
  const texts = {
    commit: `SELECT ${s}.frontdesk_commit(${params(24, COMMIT_BODIES)})`,
    commitRewriting: `SELECT ${s}.frontdesk_commit_rewriting(${params(29, COMMIT_BODIES)})`,
    append: `SELECT * FROM ${s}.frontdesk_append(${params(18, APPEND_BODIES)})`,
    get: `SELECT header, last_accessed_at, expires_at FROM ${s}.sessions WHERE ${key} AND ${live("$4")}`,
    touch: `UPDATE ${s}.sessions SET expires_at = $4, last_accessed_at = $5 WHERE ${key} AND ${live("$6")}`,
    count: `SELECT count(*)::integer AS n FROM ${s}.sessions WHERE namespace = $1 AND user_id = $2 AND ${live("$3")}`,
    delete: `SELECT ${s}.frontdesk_delete($1, $2, $3) AS deleted`,
    deleteAtVersion: `SELECT ${s}.frontdesk_delete_at_version($1, $2, $3, $4, $5) AS deleted`,
    sweep: `SELECT ${s}.frontdesk_sweep($1, $2) AS n`,
    // Hints go out after the commit, batched, in their own transaction with synchronous_commit
    // off: a NOTIFY inside the commit holds PostgreSQL's database-wide notify lock across the
    // commit's WAL flush, which serialises every commit (measured: about a fifth of the throughput).
    notify: `WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
      SELECT pg_notify($1, payload) FROM async, unnest($2::text[]) AS payload`,
    eraseScope: `DELETE FROM ${s}.scoped_state WHERE namespace = $1 AND scope = 'user' AND owner = $2`,
    readScope: `SELECT state, version FROM ${s}.scoped_state WHERE namespace = $1 AND scope = $2 AND owner = $3`,
    readScopes: `SELECT k.i AS index, s.state, s.version
      FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(ns, scope, owner, i)
      JOIN ${s}.scoped_state s ON s.namespace = k.ns AND s.scope = k.scope AND s.owner = k.owner`,
    findIdempotency: `SELECT i.record FROM ${s}.idempotency i
      WHERE i.sid = (SELECT sid FROM ${s}.sessions WHERE ${key}) AND i.key = $4`,
    lastSeqs: `SELECT k.i AS index, s.last_seq FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(ns, u, id, i)
      JOIN ${s}.sessions s ON s.namespace = k.ns AND s.user_id = k.u AND s.id = k.id`,
    putApiKey: `INSERT INTO ${s}.api_keys (id, hash, prefix, user_id, admin, label, created_at, revoked_at, requests_per_second)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    findApiKey: `SELECT * FROM ${s}.api_keys WHERE hash = $1`,
    listApiKeys: `SELECT * FROM ${s}.api_keys ORDER BY created_at, id`,
    revokeApiKey: `UPDATE ${s}.api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
  };
  return Object.fromEntries(
    Object.entries(texts).map(([key, text]) => [key, { name: `frontdesk_${key}_${tag}`, text }]),
  ) as { readonly [K in keyof typeof texts]: Statement };
}

export type Statements = ReturnType<typeof statements>;

/** Escapes LIKE wildcards so user text is matched literally (with `ESCAPE '\\'`). */
export const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * `readEvents`: a range scan of the (sid, seq) primary key from the session's row, so the last k
 * events cost O(k) whatever the history's length.
 */
export function readEventsQuery(
  s: string,
  tag: string,
  key: readonly [namespace: string, owner: string, id: string],
  range: EventRange,
): Statement & { values: unknown[] } {
  const values: unknown[] = [...key];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const session = `FROM ${s}.sessions WHERE namespace = $1 AND user_id = $2 AND id = $3`;
  const where = [`e.sid = (SELECT sid ${session})`];
  if (range.after !== undefined && range.after > 0) where.push(`e.seq > ${param(range.after)}`);
  if (range.before !== undefined) where.push(`e.seq < ${param(range.before)}`);
  const hasTypes = range.types !== undefined && range.types.length > 0;
  if (hasTypes) where.push(`e.type = ANY(${param(range.types)}::text[])`);
  const direction = range.order === "desc" ? "DESC" : "ASC";
  // One prepared statement per shape (which bounds and filters are present): at most 32.
  const shape = [
    range.after !== undefined && range.after > 0,
    range.before !== undefined,
    hasTypes,
    range.limit !== undefined,
  ]
    .map((present) => (present ? "1" : "0"))
    .join("");
  const name = `frontdesk_events_${shape}${direction}_${tag}`;
  if (range.limit === undefined) {
    return {
      name,
      text: `SELECT e.body FROM ${s}.events e WHERE ${where.join(" AND ")} ORDER BY e.seq ${direction}`,
      values,
    };
  }
  const limit = param(range.limit);
  if (direction === "ASC") {
    return {
      name,
      text: `SELECT e.body FROM ${s}.events e WHERE ${where.join(" AND ")} ORDER BY e.seq LIMIT ${limit}`,
      values,
    };
  }
  // Newest first: PostgreSQL plans from row estimates that know nothing of this session's length
  // (statistics give every session the average, a fresh table has none), and for a long session
  // it may fetch every event and sort them: 10 ms for the last 50 of 10,000. So the newest events
  // are read from a window of twice the limit below the upper bound, an index condition that
  // bounds any plan; only when the window holds too few (removed events, rare types) does the
  // rest of the log below it fill the page, and with LIMIT 0 otherwise that part never runs.
  const top = range.before !== undefined ? `LEAST(last_seq, ${param(range.before)} - 1)` : "last_seq";
  const floor = `(SELECT ${top} ${session}) - ${param(2 * Math.ceil(range.limit))}`;
  const filter = where.join(" AND ");
  return {
    name,
    text:
      `WITH recent AS (SELECT e.seq, e.body FROM ${s}.events e WHERE ${filter} AND e.seq > ${floor} ORDER BY e.seq DESC LIMIT ${limit}) ` +
      `SELECT body FROM (SELECT seq, body FROM recent UNION ALL (SELECT e.seq, e.body FROM ${s}.events e ` +
      `WHERE ${filter} AND e.seq <= ${floor} ORDER BY e.seq DESC LIMIT ${limit} - (SELECT count(*) FROM recent))) page ` +
      "ORDER BY seq DESC",
    values,
  };
}

const ORDER_COLUMNS = { createdAt: "created_at", updatedAt: "updated_at" } as const;

/**
 * `list`: every filter is a column predicate backed by an index; the keyset cursor is a row
 * comparison on (order column, user_id, id), the same order the indexes hold.
 */
export function listQuery(s: string, query: ListQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const column = ORDER_COLUMNS[query.orderBy];
  // LISTED holds for every stored session; stating it lets the partial list indexes serve this
  // query (migrations.ts, version 7).
  const where = [`namespace = ${param(query.namespace)}`, LISTED];
  if (query.userId !== undefined) where.push(`user_id = ${param(query.userId ?? "")}`);
  where.push(`(expires_at IS NULL OR expires_at > ${param(query.now)})`);
  const oneStatus = query.status?.length === 1 ? query.status[0] : undefined;
  // An equality, not ANY, so the planner can walk sessions_status_created_listed in order.
  if (oneStatus !== undefined) where.push(`status = ${param(oneStatus)}`);
  else if (query.status && query.status.length > 0) where.push(`status = ANY(${param(query.status)}::text[])`);
  if (query.tags && query.tags.length > 0) where.push(`tags @> ${param(query.tags)}::text[]`);
  if (query.text) {
    // Lower-cased by JavaScript at write time (title_lc, purpose_lc) and here, so the match is
    // exactly the reference `toLowerCase().includes()` whatever the database's locale.
    const pattern = param(`%${escapeLike(query.text.toLowerCase())}%`);
    where.push(`(title_lc LIKE ${pattern} ESCAPE '\\' OR purpose_lc LIKE ${pattern} ESCAPE '\\')`);
  }
  if (query.createdAfter !== undefined) where.push(`created_at > ${param(query.createdAfter)}`);
  if (query.createdBefore !== undefined) where.push(`created_at < ${param(query.createdBefore)}`);
  if (query.updatedAfter !== undefined) where.push(`updated_at > ${param(query.updatedAfter)}`);
  if (query.updatedBefore !== undefined) where.push(`updated_at < ${param(query.updatedBefore)}`);
  const direction = query.order === "desc" ? "DESC" : "ASC";
  if (query.after) {
    const position = `(${param(query.after.value)}::bigint, ${param(query.after.userId ?? "")}::text, ${param(query.after.id)}::text)`;
    where.push(`(${column}, user_id, id) ${query.order === "desc" ? "<" : ">"} ${position}`);
  }
  const order = `ORDER BY ${column} ${direction}, user_id ${direction}, id ${direction}`;
  if (query.userId === undefined && oneStatus !== undefined) {
    // Every owner in one status: the page's keys come from an index-only scan of
    // sessions_status_created_listed (the filters read from the entries, no heap fetch for the rows they
    // reject), then only the page's rows are read. By creation time the scan is in order; by
    // update time the planner weighs a top-N sort of the status's entries (a rare status) against
    // walking sessions_updated_listed (a common one). Rows on pages changed since the last vacuum still
    // take a heap fetch for visibility, so this degrades to a plain index scan, never worse.
    return {
      text: `SELECT s.header, s.last_accessed_at, s.expires_at FROM ${s}.sessions s JOIN (
          SELECT sid, ${column}, user_id, id FROM ${s}.sessions WHERE ${where.join(" AND ")} ${order}
          LIMIT ${param(query.limit + 1)}
        ) page ON s.sid = page.sid
        ORDER BY page.${column} ${direction}, page.user_id ${direction}, page.id ${direction}`,
      values,
    };
  }
  return {
    text: `SELECT header, last_accessed_at, expires_at FROM ${s}.sessions WHERE ${where.join(" AND ")}
      ${order} LIMIT ${param(query.limit + 1)}`,
    values,
  };
}
