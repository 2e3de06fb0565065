/**
 * The PostgreSQL store's write path. A commit is one call of the `frontdesk_commit` function
 * (migrations.ts), so its checks, its events, its scoped writes and its idempotency record land in
 * one statement's transaction; a plain append (`frontdesk_append`), deletes and sweeps are
 * functions too. This module only binds the parameters in the order each function takes them and
 * hints subscribers after a write (live.ts).
 */
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../../core/model.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import type {
  ApiKeyRecord,
  AppendOutcome,
  AppendRequest,
  Commit,
  CommitResult,
  DeleteCondition,
  IdempotencyRecord,
  ScopedWrite,
} from "../types.ts";
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
    headerText(header),
    commit.events.map((event) => event.seq),
    commit.events.map((event) => event.type),
    JSON.stringify(commit.events.map((event) => JSON.stringify(event))),
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

/**
 * The header's JSON text with the fields a plain append moves in front, in a fixed order, then the
 * rest from `namespace` on: `frontdesk_append` replaces that head and keeps the rest as it is.
 * Readers parse it whole and put the fields back in their usual order (reads.ts).
 */
export function headerText(header: SessionHeader): string {
  const head: Record<string, unknown> = {};
  for (const name of APPEND_MOVES) head[name] = header[name];
  const rest: Record<string, unknown> = { namespace: header.namespace };
  for (const [name, value] of Object.entries(header)) if (!(name in head || name in rest)) rest[name] = value;
  return `${JSON.stringify(head).slice(0, -1)},${JSON.stringify(rest).slice(1)}`;
}

/** The header fields a plain append moves, in the order `frontdesk_append` writes them. */
const APPEND_MOVES = [
  "version",
  "lastSeq",
  "updatedAt",
  "lastAccessedAt",
  "expiresAt",
  "ttlMs",
  "absoluteExpiresAt",
  "stats",
] as const;

/**
 * A plain append in one statement (`frontdesk_append`): one round trip instead of the core's
 * header read and commit. Declines (the core then commits) when a usage or duration addend is not
 * a finite number below 2^53 in size, so the database's float8 sums never meet a value the
 * JavaScript path would treat differently.
 */
export async function append(ctx: PostgresContext, request: AppendRequest): Promise<AppendOutcome | undefined> {
  const { key, events, stats, idempotency } = request;
  for (const addends of [stats.inputTokens, stats.outputTokens, stats.costUsd, stats.durationMs]) {
    for (const addend of addends) if (!(Math.abs(addend) < 2 ** 53)) return undefined;
  }
  const types: string[] = [];
  const bodies: string[] = [];
  for (const event of events) {
    types.push(event.type);
    // The function puts `{"seq":<n>,` in front: every event starts with its id, so never with `}`.
    bodies.push(JSON.stringify(event).slice(1));
  }
  const { rows } = await retryingConflicts(() =>
    query<AppendRow>(ctx, ctx.sql.append, [
      key.namespace,
      ownerOf(key.userId),
      key.id,
      request.now,
      request.expectedVersion ?? null,
      request.maxEventsPerSession,
      types,
      JSON.stringify(bodies),
      stats.messages,
      stats.toolCalls,
      stats.toolErrors,
      stats.tools,
      stats.inputTokens,
      stats.outputTokens,
      stats.costUsd,
      stats.durationMs,
      idempotency?.key ?? null,
      idempotency ? `${JSON.stringify(idempotency).slice(0, -1)},"firstSeq":` : null,
    ]),
  );
  const row = rows[0];
  switch (row?.o_outcome) {
    case "appended": {
      const lastSeq = Number(row.o_last_seq);
      hint(ctx, key, lastSeq);
      return { outcome: "appended", version: row.o_version as number, lastSeq };
    }
    case "replayed":
      return { outcome: "replayed", record: JSON.parse(row.o_record as string) as IdempotencyRecord };
    case "not_found":
      return { outcome: "not_found" };
    case "full":
      return { outcome: "full" };
    case "version_mismatch":
      return { outcome: "version_mismatch", currentVersion: row.o_version as number };
    case "declined":
      return undefined;
    default:
      throw new FrontdeskError("internal", `frontdesk_append answered ${String(row?.o_outcome)}`);
  }
}

interface AppendRow {
  o_outcome: string;
  o_version: number | null;
  o_last_seq: string | null;
  o_record: string | null;
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
