/**
 * The PostgreSQL store's write path. A commit is one call of the `frontdesk_commit` function
 * (migrations.ts), so its checks, its events, its scoped writes and its idempotency record land in
 * one statement's transaction; deletes and sweeps are functions too. This module only binds the
 * parameters in the order each function takes them and hints subscribers after a write (live.ts).
 */
import type { SessionEvent, SessionKey } from "../../core/model.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import type { ApiKeyRecord, Commit, CommitResult, DeleteCondition, ScopedWrite } from "../types.ts";
import { type PostgresContext, query, retryingConflicts } from "./connection.ts";
import { hint } from "./live.ts";
import { ownerOf } from "./sql.ts";

export async function commit(ctx: PostgresContext, commit: Commit): Promise<CommitResult> {
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
  const rewrites = commit.rewrites ?? [];
  if (commit.removeEvents || rewrites.length > 0) {
    // The shape is checked here against the log's end the header implies; the function checks
    // that end against the stored one.
    const previousLastSeq = header.lastSeq - commit.events.length;
    assertCommitShape(commit, previousLastSeq);
    values.push(...removalParams(commit.removeEvents, previousLastSeq), ...rewriteParams(rewrites));
    await retryingConflicts(() => query(ctx, ctx.sql.commitRewriting, values));
  } else {
    await retryingConflicts(() => query(ctx, ctx.sql.commit, values));
  }
  hint(ctx, key, header.lastSeq);
  return { version: header.version, lastSeq: header.lastSeq };
}

/** The removed range, clamped to the stored log so both bounds fit a bigint; nulls when none. */
const removalParams = (removed: Commit["removeEvents"], previousLastSeq: number): [number | null, number | null] =>
  removed ? [Math.min(removed.after, previousLastSeq), Math.min(removed.before, previousLastSeq + 1)] : [null, null];

/** Rewrites as three arrays; of two for one seq the later wins, as in the reference store. */
const rewriteParams = (rewrites: readonly SessionEvent[]): [number[], string[], string[]] => {
  const bySeq = new Map(rewrites.map((event) => [event.seq, event]));
  const events = [...bySeq.values()];
  return [events.map((event) => event.seq), events.map((event) => event.type), events.map((e) => JSON.stringify(e))];
};

/** Removes one owner's `user:` state; their next scoped write starts again at version 0. */
export async function eraseScope(ctx: PostgresContext, namespace: string, userId: string | null): Promise<boolean> {
  const result = await query(ctx, ctx.sql.eraseScope, [namespace, ownerOf(userId)]);
  return (result.rowCount ?? 0) > 0;
}

export async function touch(
  ctx: PostgresContext,
  key: SessionKey,
  times: { expiresAt: number | null; lastAccessedAt: number },
  now: number,
): Promise<boolean> {
  const result = await query(ctx, ctx.sql.touch, [
    key.namespace,
    ownerOf(key.userId),
    key.id,
    times.expiresAt,
    times.lastAccessedAt,
    now,
  ]);
  return (result.rowCount ?? 0) > 0;
}

export async function deleteSession(
  ctx: PostgresContext,
  key: SessionKey,
  condition?: DeleteCondition,
): Promise<boolean> {
  const owner = ownerOf(key.userId);
  // The conditional form checks expiry and version under the row lock, in the same transaction.
  const { rows } = condition
    ? await query<{ deleted: boolean }>(ctx, ctx.sql.deleteAtVersion, [
        key.namespace,
        owner,
        key.id,
        condition.expectedVersion,
        condition.now,
      ])
    : await query<{ deleted: boolean }>(ctx, ctx.sql.delete, [key.namespace, owner, key.id]);
  const deleted = rows[0]?.deleted === true;
  if (deleted) hint(ctx, key, 0);
  return deleted;
}

export async function sweep(ctx: PostgresContext, now: number, limit: number): Promise<number> {
  if (limit <= 0) return 0;
  const { rows } = await query<{ n: number }>(ctx, ctx.sql.sweep, [now, limit]);
  return rows[0]?.n ?? 0;
}

export async function putApiKey(ctx: PostgresContext, record: ApiKeyRecord): Promise<void> {
  await query(ctx, ctx.sql.putApiKey, [
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
}

export async function revokeApiKey(ctx: PostgresContext, id: string, at: number): Promise<boolean> {
  const result = await query(ctx, ctx.sql.revokeApiKey, [id, at]);
  return (result.rowCount ?? 0) > 0;
}

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
