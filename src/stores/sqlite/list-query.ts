import type { ListCursor, ListQuery } from "../types.ts";

/** SQL and its parameters for one `list()` call; the SQL depends only on the query's shape. */
export interface ListStatement {
  sql: string;
  params: unknown[];
}

/** Registered on every connection: the case-insensitive substring test of `list-filter.ts`. */
export const TEXT_MATCH_FUNCTION = "frontdesk_text_match";

/** JavaScript `toLowerCase` rather than SQL `LIKE`, whose case folding stops at ASCII. */
export const textMatch = (title: unknown, purpose: unknown, needle: unknown): number =>
  (typeof title === "string" && title.toLowerCase().includes(needle as string)) ||
  (typeof purpose === "string" && purpose.toLowerCase().includes(needle as string))
    ? 1
    : 0;

const ORDER_COLUMNS = { createdAt: "created_at", updatedAt: "updated_at" } as const;

/**
 * Builds the keyset query that `shared/list-filter.ts` defines: the filters, then items strictly
 * beyond `after` in (value, owner, id) order, `limit + 1` rows so the caller can tell `hasMore`.
 * Every ordering is backed by an index: `(namespace, user_id, value, id)` for one owner,
 * `(namespace, value, user_id, id)` for all owners, and `(namespace, status, created_at, …)` for all
 * owners in one status by creation time.
 */
export function buildListStatement(query: ListQuery, select = "header, expires_at, last_accessed_at"): ListStatement {
  const column = ORDER_COLUMNS[query.orderBy];
  const desc = query.order === "desc";
  const where = ["namespace = ?", "(expires_at IS NULL OR expires_at > ?)"];
  const params: unknown[] = [query.namespace, query.now];
  const owner = query.userId === undefined ? undefined : (query.userId ?? "");

  if (owner !== undefined) {
    where.push("user_id = ?");
    params.push(owner);
  }
  if (query.status?.length === 1) {
    // An equality, not a list, so the planner can walk sessions_status_created in order.
    where.push("status = ?");
    params.push(query.status[0]);
  } else if (query.status && query.status.length > 0) {
    where.push("status IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(query.status));
  }
  if (query.tags && query.tags.length > 0) {
    const tags = [...new Set(query.tags)];
    // A prefilter on the tags column: the column is JSON.stringify of the tags, so a session that
    // has a tag holds JSON.stringify(tag) as a substring (a match may still be a false positive,
    // which the exact test after it drops). Read from the index entry where the index carries
    // tags, it rejects a row without a table read or a session_tags probe.
    for (const tag of tags) {
      where.push("instr(tags, ?) > 0");
      params.push(JSON.stringify(tag));
    }
    where.push(
      "(SELECT count(*) FROM session_tags t WHERE t.rid = sessions.rid AND t.tag IN (SELECT value FROM json_each(?))) = ?",
    );
    params.push(JSON.stringify(tags), tags.length);
  }
  if (query.text) {
    where.push(`${TEXT_MATCH_FUNCTION}(title, purpose, ?)`);
    params.push(query.text.toLowerCase());
  }
  const bounds = [
    [query.createdAfter, "created_at >"],
    [query.createdBefore, "created_at <"],
    [query.updatedAfter, "updated_at >"],
    [query.updatedBefore, "updated_at <"],
  ] as const;
  for (const [value, test] of bounds) {
    if (value !== undefined) {
      where.push(`${test} ?`);
      params.push(value);
    }
  }

  const after = query.after;
  if (after) {
    const beyond = desc ? "<" : ">";
    const cursorOwner = after.userId ?? "";
    if (owner === undefined) {
      where.push(`(${column}, user_id, id) ${beyond} (?, ?, ?)`);
      params.push(after.value, cursorOwner, after.id);
    } else if (owner === cursorOwner) {
      where.push(`(${column}, id) ${beyond} (?, ?)`);
      params.push(after.value, after.id);
    } else {
      // Every row has the same owner here, so the id no longer decides: it is past the cursor
      // from the cursor's value on when the owner sorts beyond the cursor's owner, else only after it.
      const ownerBeyond = desc ? owner < cursorOwner : owner > cursorOwner;
      where.push(`${column} ${beyond}${ownerBeyond ? "=" : ""} ?`);
      params.push(after.value);
    }
  }

  const direction = desc ? "DESC" : "ASC";
  const sql =
    `SELECT ${select} FROM sessions WHERE ${where.join(" AND ")} ` +
    `ORDER BY ${column} ${direction}, user_id ${direction}, id ${direction} LIMIT ?`;
  params.push(Math.max(0, query.limit) + 1);
  return { sql, params };
}

/**
 * Rows one statement of a text search (`q=`) looks at. Each costs a case-folding substring test of
 * a title and a purpose (up to 4.6 K characters) inside a synchronous SQLite call, so a search that
 * matches little would otherwise scan a whole namespace in one call: it is a series of short
 * statements instead, the event loop free between them.
 */
export const TEXT_SCAN_ROWS = 16;

/**
 * The next {@link TEXT_SCAN_ROWS} rows after `after` that pass every filter but the text, in list
 * order, each with its keyset position and whether the text matches.
 */
export function buildTextScanStatement(query: ListQuery, after: ListCursor | undefined): ListStatement {
  const column = ORDER_COLUMNS[query.orderBy];
  const { sql, params } = buildListStatement(
    { ...query, text: undefined, after, limit: TEXT_SCAN_ROWS - 1 },
    `header, expires_at, last_accessed_at, ${column} AS position, user_id, id, ${TEXT_MATCH_FUNCTION}(title, purpose, ?) AS matched`,
  );
  return { sql, params: [(query.text ?? "").toLowerCase(), ...params] };
}
