/**
 * The filesystem store's read path. Reads take no lock: `metadata.json` is replaced by rename, so a
 * reader sees one whole commit or the one before; it names the event log's current generation, and
 * the byte lengths it records tell the reader where the committed part of that log and of
 * `idempotency.jsonl` ends. A rewrite may unlink the log a reader was about to open: it then reads
 * `metadata.json` again. The one exception to taking no lock is a scope with a `pending` write,
 * which is settled under the scope's lock before it is answered.
 */
import { readFile } from "node:fs/promises";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../../core/model.ts";
import { compareListPosition, isExpired, listPositionOf, matchesListQuery } from "../shared/list-filter.ts";
import type { ApiKeyRecord, EventRange, IdempotencyRecord, ListPage, ListQuery, ScopedState } from "../types.ts";
import {
  type FsContext,
  type KeysFile,
  logOf,
  ownersOf,
  readMeta,
  type ScopeFile,
  scanOwner,
  settleScope,
} from "./context.ts";
import { readEventRange } from "./event-log.ts";
import { isMissing, readJsonFile, readJsonFileNow } from "./files.ts";
import { withLock } from "./lock.ts";

export async function get(ctx: FsContext, key: SessionKey, now: number): Promise<SessionHeader | undefined> {
  const meta = await readMeta(ctx.layout.session(key));
  return meta && !isExpired(meta.header, now) ? meta.header : undefined;
}

/** Rewrites that may land between reading `metadata.json` and opening its log before a read gives up. */
const MAX_LOG_SWITCHES = 16;

export async function readEvents(ctx: FsContext, key: SessionKey, range: EventRange): Promise<SessionEvent[]> {
  const paths = ctx.layout.session(key);
  let meta = await readMeta(paths);
  for (let switches = 0; meta && switches < MAX_LOG_SWITCHES; switches++) {
    const extent = { bytes: meta.eventsBytes, lastSeq: meta.header.lastSeq };
    const events = await readEventRange(paths.log(logOf(meta)), extent, range);
    if (events) return events;
    // The log is gone: a rewrite replaced it, or a delete removed the session, since we read metadata.json.
    const next = await readMeta(paths);
    if (next?.commitId === meta.commitId) {
      throw new FrontdeskError("unavailable", "The filesystem store found the event log of its last commit missing");
    }
    meta = next;
  }
  if (!meta) return [];
  throw new FrontdeskError("unavailable", "The filesystem store's event log kept being rewritten during a read");
}

export async function list(ctx: FsContext, query: ListQuery): Promise<ListPage> {
  const { layout } = ctx;
  const owners = query.userId !== undefined ? [query.userId] : await ownersOf(layout, query.namespace);
  const headers: SessionHeader[] = [];
  for (const owner of owners) {
    for (const meta of await scanOwner(layout, query.namespace, owner)) {
      if (matchesListQuery(meta.header, query)) headers.push(meta.header);
    }
  }
  headers.sort((a, b) => compareListPosition(listPositionOf(a, query.orderBy), listPositionOf(b, query.orderBy)));
  if (query.order === "desc") headers.reverse();
  const page = headers.slice(0, query.limit + 1);
  return { items: page.slice(0, query.limit), hasMore: page.length > query.limit };
}

export async function count(ctx: FsContext, namespace: string, userId: string | null, now: number): Promise<number> {
  const metas = await scanOwner(ctx.layout, namespace, userId);
  return metas.filter((meta) => !isExpired(meta.header, now)).length;
}

export async function readScope(
  ctx: FsContext,
  namespace: string,
  scope: "user" | "app",
  userId: string | null,
): Promise<ScopedState> {
  const paths = ctx.layout.scope(namespace, scope, userId);
  // Small like metadata.json (bounded by maxStateBytes), and read on every whole-state update.
  const file = readJsonFileNow<ScopeFile>(paths.file);
  if (file === undefined) return { state: {}, version: 0 };
  if (file.pending === undefined) return { state: file.state, version: file.version };
  // A commit is writing this scope right now, or crashed while doing so: wait for its lock.
  return withLock(paths.lock, ctx.lockSettings, () => settleScope(ctx, namespace, paths));
}

export async function findIdempotency(
  ctx: FsContext,
  key: SessionKey,
  idempotencyKey: string,
): Promise<IdempotencyRecord | undefined> {
  const paths = ctx.layout.session(key);
  const meta = await readMeta(paths);
  if (!meta || meta.idempotencyBytes === 0) return undefined;
  let text: string;
  try {
    text = (await readFile(paths.idempotency)).subarray(0, meta.idempotencyBytes).toString("utf8");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  let found: IdempotencyRecord | undefined;
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    const record = JSON.parse(line) as IdempotencyRecord;
    if (record.key === idempotencyKey) found = record;
  }
  return found;
}

export async function findApiKey(ctx: FsContext, hash: string): Promise<ApiKeyRecord | undefined> {
  const file = await readJsonFile<KeysFile>(ctx.layout.keysFile);
  return file?.keys.find((key) => key.hash === hash);
}

export async function listApiKeys(ctx: FsContext): Promise<ApiKeyRecord[]> {
  const file = await readJsonFile<KeysFile>(ctx.layout.keysFile);
  return (file?.keys ?? []).sort((a, b) => a.createdAt - b.createdAt);
}
