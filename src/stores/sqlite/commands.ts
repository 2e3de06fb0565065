/**
 * The SQLite store's write path. Each write runs in a `BEGIN IMMEDIATE` transaction that rolls back
 * on any error, so a refused write leaves nothing (commits share one, a savepoint each: see
 * group-commit.ts); the checks run inside it, interleaved with the writes, so no other process can
 * slip in between a check and the write it guards. A write drops
 * what it changes from the read cache before it runs, because this connection's own writes do not
 * move `PRAGMA data_version`.
 */
import { FrontdeskError } from "../../core/errors.ts";
import { yieldToEventLoop } from "../../core/event-loop.ts";
import { type JsonObject, type SessionKey, scopeKeyId, sessionKeyId } from "../../core/model.ts";
import { applyDelta } from "../../core/state.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import type { ApiKeyRecord, Commit, DeleteCondition, SessionStore } from "../types.ts";
import { isConstraintError, MEMORY_PATH, run, type SqliteContext } from "./connection.ts";
import { hintDeleted } from "./live.ts";
import {
  type CheckpointRow,
  type Connection,
  MAX_RID,
  MAX_SEQ,
  ownerOf,
  type ScopeRow,
  scopeOwner,
  type VersionRow,
} from "./statements.ts";

/** What a commit wrote that its caller needs: the session's row id and the header as stored. */
export interface CommittedRows {
  rid: number;
  headerJson: string;
}

/**
 * One commit's checks and writes, interleaved. It runs inside a transaction (or a savepoint of one)
 * that group-commit.ts opens for several commits at once. `keepsListedFields`: the caller knows the
 * stored row at the expected version has this header's status, title, purpose and tags, so the
 * UPDATE leaves those columns (and their indexes) alone; the version check in it still guards.
 */
export function commitRows(c: Connection, commit: Commit, keepsListedFields = false): CommittedRows {
  const { key, header, now } = commit;
  const owner = ownerOf(key.userId);
  const headerJson = JSON.stringify(header);
  // In the order of statements.ts's APPEND_COLUMNS, then the listed fields (UPDATED_COLUMNS).
  const columns: unknown[] = [
    header.version,
    header.lastSeq,
    header.updatedAt,
    header.lastAccessedAt,
    header.expiresAt,
    headerJson,
  ];
  if (!keepsListedFields) columns.push(header.status, header.title, header.purpose, JSON.stringify(header.tags));
  // Any throw rolls back the enclosing transaction or savepoint, so a refused commit leaves nothing.
  let rid: number | undefined;
  let previousLastSeq = 0;
  if (commit.expectedVersion === 0) {
    c.deleteExpired.run(key.namespace, owner, key.id, now);
    rid = c.insertSession.get(...columns, header.createdAt, key.namespace, owner, key.id) as number | undefined;
    if (rid === undefined) {
      const current = c.selectVersion.get(key.namespace, owner, key.id) as VersionRow | undefined;
      throw new FrontdeskError("conflict", "A session with this id already exists", {
        details: { currentVersion: current?.version },
      });
    }
    assertCommitShape(commit, 0);
  } else {
    // The stored last_seq is matched in the UPDATE itself, so checking that the events continue
    // the log costs no extra read; a miss is diagnosed below.
    previousLastSeq = header.lastSeq - commit.events.length;
    const updated = (keepsListedFields ? c.updateSessionAppend : c.updateSession).get(
      ...columns,
      key.namespace,
      owner,
      key.id,
      commit.expectedVersion,
      previousLastSeq,
      now,
    ) as { rid: number; created_at: number } | undefined;
    if (updated === undefined) {
      const current = c.selectVersion.get(key.namespace, owner, key.id) as VersionRow | undefined;
      if (!current || (current.expires_at !== null && current.expires_at <= now)) {
        throw new FrontdeskError("not_found", "Session not found");
      }
      if (current.version !== commit.expectedVersion) {
        throw new FrontdeskError("conflict", "The session changed since it was read", {
          details: { currentVersion: current.version },
        });
      }
      assertCommitShape(commit, current.last_seq);
      throw new FrontdeskError("conflict", "The session changed since it was read");
    }
    assertCommitShape(commit, previousLastSeq);
    rid = updated.rid;
    if (updated.created_at !== header.createdAt) c.updateCreatedAt.run(header.createdAt, rid);
  }
  if (header.lastSeq > MAX_SEQ) {
    throw new FrontdeskError("invalid_request", `A session holds at most ${MAX_SEQ} events`);
  }
  if (rid > MAX_RID) throw new FrontdeskError("unavailable", "The SQLite store has used up its session row ids");
  for (const write of commit.scoped ?? []) {
    const scopeOwnerId = scopeOwner(write.scope, key.userId);
    const row = c.selectScope.get(key.namespace, write.scope, scopeOwnerId) as ScopeRow | undefined;
    const version = row?.version ?? 0;
    if (version !== write.expectedVersion) {
      throw new FrontdeskError("conflict", `The ${write.scope}: state changed since it was read`, {
        details: { scope: write.scope, currentVersion: version },
      });
    }
    const state = applyDelta(row ? (JSON.parse(row.state) as JsonObject) : {}, write.delta);
    c.writeScope.run(key.namespace, write.scope, scopeOwnerId, JSON.stringify(state), version + 1);
  }
  const removed = commit.removeEvents;
  if (removed) {
    // Only stored events can be removed (never this commit's own), and clamping keeps both bounds
    // inside this session's eid range.
    const before = Math.min(removed.before, previousLastSeq + 1);
    if (before > removed.after + 1) c.removeEvents.run(rid, removed.after, rid, before);
  }
  for (const event of commit.rewrites ?? []) c.rewriteEvent.run(event.type, JSON.stringify(event), rid, event.seq);
  for (const event of commit.events) c.insertEvent.run(rid, event.seq, event.type, JSON.stringify(event));
  const record = commit.idempotency;
  if (record) {
    c.putIdempotency.run(
      rid,
      record.key,
      record.fingerprint,
      record.firstSeq,
      record.lastSeq,
      record.version,
      record.at,
    );
  }
  return { rid, headerJson };
}

export function touch(
  ctx: SqliteContext,
  c: Connection,
  key: SessionKey,
  times: Parameters<SessionStore["touch"]>[1],
  now: number,
): boolean {
  ctx.cache.headers.delete(sessionKeyId(key));
  const params = [times.expiresAt, times.lastAccessedAt, key.namespace, ownerOf(key.userId), key.id, now];
  return c.write.immediate(c.touch, params) > 0;
}

export function deleteSession(
  ctx: SqliteContext,
  c: Connection,
  key: SessionKey,
  condition: DeleteCondition | undefined,
): boolean {
  ctx.cache.headers.delete(sessionKeyId(key));
  const removed = condition
    ? c.transaction.immediate(deleteRowsAtVersion, c, { key, condition })
    : c.write.immediate(c.deleteSession, [key.namespace, ownerOf(key.userId), key.id]) > 0;
  if (removed) hintDeleted(ctx, key);
  return removed;
}

/** The conditional delete's transaction: true when deleted, false when absent or expired. */
function deleteRowsAtVersion(c: Connection, { key, condition }: { key: SessionKey; condition: DeleteCondition }) {
  const owner = ownerOf(key.userId);
  const { expectedVersion, now } = condition;
  if (c.deleteLiveAtVersion.run(key.namespace, owner, key.id, expectedVersion, now).changes > 0) return true;
  const current = c.selectVersion.get(key.namespace, owner, key.id) as VersionRow | undefined;
  if (!current || (current.expires_at !== null && current.expires_at <= now)) return false;
  throw new FrontdeskError("conflict", "The session changed since it was read", {
    details: { currentVersion: current.version },
  });
}

/** Removes one owner's `user:` state; their next scoped write starts again at version 0. */
export function eraseScope(ctx: SqliteContext, c: Connection, namespace: string, userId: string | null): boolean {
  ctx.cache.scopes.delete(scopeKeyId(namespace, "user", userId));
  return c.write.immediate(c.eraseScope, [namespace, ownerOf(userId)]) > 0;
}

/**
 * How long a scrub waits for other connections' readers and writer to let go of the WAL. The wait
 * blocks the event loop (better-sqlite3 is synchronous), so it is short: a reader that stays
 * longer makes the scrub `pending`, and the caller calls again later.
 */
export const SCRUB_WAIT_MS = 50;

/**
 * With secure_delete on, removed content is already zeroed in the pages that held it, but older
 * copies of those pages stay in the WAL until a checkpoint has copied every frame back into the
 * database file and truncated the log. A reader on another connection that still uses the WAL
 * stops that, and leaves the scrub pending.
 *
 * Not covered: when SQLite rebalances a B-tree page it rewrites the cells packed at the page's end
 * and leaves the page's unused middle as it was, so stale copies of rows that were moved away
 * can stay there, and secure_delete does not reach them when those rows are deleted later. Only a
 * VACUUM, which rebuilds every page, removes those: `thorough` runs one first. It is not the
 * default because it rewrites the whole file under the write lock.
 */
export function scrub(ctx: SqliteContext, c: Connection, thorough = false): { pending: boolean } {
  if (ctx.settings.path === MEMORY_PATH) return { pending: false };
  // With the ordinary busy timeout: a VACUUM is asked for where blocking is acceptable.
  if (thorough) c.db.exec("VACUUM");
  c.db.pragma(`busy_timeout = ${Math.min(SCRUB_WAIT_MS, ctx.settings.busyTimeoutMs)}`);
  try {
    const result = c.checkpoint.get() as CheckpointRow;
    return { pending: result.busy !== 0 || result.log !== result.checkpointed };
  } finally {
    c.db.pragma(`busy_timeout = ${ctx.settings.busyTimeoutMs}`);
  }
}

/**
 * Expired sessions one sweep transaction deletes. A session costs a few hundred µs of synchronous
 * work, most of it I/O: its row and the entries of seven indexes sit on pages of their own (about
 * ten written to the WAL at commit, and again into the file by the checkpoint that every 1,000 WAL
 * pages brings into whichever commit crosses it), the cascade trigger's three deletes, and
 * secure_delete's zeroing. Sweeping all 10,000 expired sessions of the million-session store
 * (copies of it, twice each): chunks of 25 took 341–369 µs a session and held the event loop up
 * to 40–59 ms, chunks of 50 313 µs and 53 ms, chunks of 100 300–316 µs and 65–68 ms. The
 * checkpoint sets the floor of the hold; smaller chunks rewrite the pages they share (the expiry
 * index's leaves) in more commits.
 */
export const SWEEP_CHUNK = 50;

/**
 * Deletes up to `limit` expired sessions in transactions of {@link SWEEP_CHUNK}, giving the event
 * loop back between them (other writes and reads run there). Stops early when the store closes;
 * what was swept by then is returned.
 */
export async function sweep(ctx: SqliteContext, now: number, limit: number): Promise<number> {
  let swept = 0;
  for (;;) {
    const chunk = Math.max(0, Math.min(SWEEP_CHUNK, limit - swept));
    const deleted = await run(ctx, (c) => {
      ctx.cache.headers.clear();
      return c.write.immediate(c.sweep, [now, chunk]);
    });
    swept += deleted;
    if (deleted < chunk || swept >= limit) return swept;
    await yieldToEventLoop();
    if (ctx.closed) return swept;
  }
}

export function putApiKey(c: Connection, record: ApiKeyRecord): void {
  try {
    c.write.immediate(c.insertApiKey, [
      record.id,
      record.hash,
      record.prefix,
      record.userId,
      record.admin ? 1 : 0,
      record.label,
      record.createdAt,
      record.revokedAt,
      record.requestsPerSecond ?? null,
    ]);
  } catch (error) {
    if (isConstraintError(error)) {
      throw new FrontdeskError("conflict", "An API key with this id or hash exists", { cause: error });
    }
    throw error;
  }
}

export const revokeApiKey = (c: Connection, id: string, at: number): boolean =>
  c.write.immediate(c.revokeApiKey, [at, id]) > 0;
