/**
 * The filesystem store's write path. Every read-check-write holds the session's lock (and, for
 * scoped state, the scopes' locks, always app before user), so processes sharing the root take
 * turns. A commit's point of no return is the rename of `metadata.json`: everything written before
 * it is invisible until then, and a crash before it leaves only a tail that readers ignore. Scoped
 * state is written as `pending` first and folded in after the rename; `settleScope` (context.ts)
 * finishes or drops a `pending` that a crashed commit left (see index.ts for the whole protocol).
 */
import { randomBytes } from "node:crypto";
import { rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionKey } from "../../core/model.ts";
import { applyDelta } from "../../core/state.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import { isExpired } from "../shared/list-filter.ts";
import type { ApiKeyRecord, Commit, CommitResult, DeleteCondition, ScopedState, SessionStore } from "../types.ts";
import {
  type FsContext,
  type KeysFile,
  listDir,
  logOf,
  type MetadataFile,
  ownersOf,
  readMeta,
  type Scope,
  type ScopeFile,
  scanOwner,
  settleScope,
} from "./context.ts";
import { appendEvents, rewriteLog } from "./event-log.ts";
import { appendAt, ensureDir, fsyncDir, isMissing, readJsonFile, tempFileOf, writeFileAtomic } from "./files.ts";
import { isNamespaceSegment, isTombstone, type SessionPaths } from "./layout.ts";
import { hint } from "./live.ts";
import { type LockGuard, withLock } from "./lock.ts";

const SCOPE_ORDER: readonly Scope[] = ["app", "user"];

export async function commit(ctx: FsContext, commit: Commit): Promise<CommitResult> {
  const paths = ctx.layout.session(commit.key);
  if (commit.expectedVersion === 0) await ensureDir(paths.ownerDir, ctx.durability);
  try {
    return await withLock(paths.lock, ctx.lockSettings, (guard) => commitLocked(ctx, commit, paths, guard));
  } catch (error) {
    // Existence is checked under the lock (commitLocked). The lock folder sits in the owner's
    // folder and is made without its parents, so an owner with no folder fails it with ENOENT:
    // the session is absent, and no folder is created for it.
    if (commit.expectedVersion > 0 && isMissing(error) && !(await exists(paths.dir))) {
      throw new FrontdeskError("not_found", "Session not found");
    }
    throw error;
  }
}

async function commitLocked(
  ctx: FsContext,
  commit: Commit,
  paths: SessionPaths,
  guard: LockGuard,
): Promise<CommitResult> {
  const { key, header } = commit;
  const { layout, durability } = ctx;
  const meta = await readMeta(paths);
  const current = meta && !isExpired(meta.header, commit.now) ? meta : undefined;
  if (commit.expectedVersion === 0) {
    if (current) {
      throw new FrontdeskError("conflict", "A session with this id already exists", {
        details: { currentVersion: current.header.version },
      });
    }
  } else {
    if (!current) throw new FrontdeskError("not_found", "Session not found");
    if (current.header.version !== commit.expectedVersion) {
      throw new FrontdeskError("conflict", "The session changed since it was read", {
        details: { currentVersion: current.header.version },
      });
    }
  }
  const previousLastSeq = current?.header.lastSeq ?? 0;
  assertCommitShape(commit, previousLastSeq);

  const writes = commit.scoped ?? [];
  const toLock = [...new Set<Scope>([...writes.map((write) => write.scope), ...(meta?.scopeWrites ?? [])])];
  return withScopeLocks(ctx, key.namespace, key.userId, toLock, async (scopeGuard) => {
    const scopes = new Map<Scope, ScopedState>();
    for (const scope of toLock) {
      scopes.set(scope, await settleScope(ctx, key.namespace, layout.scope(key.namespace, scope, key.userId)));
    }
    const nextScopes = new Map<Scope, ScopedState>();
    for (const write of writes) {
      const scope = scopes.get(write.scope) ?? { state: {}, version: 0 };
      if (scope.version !== write.expectedVersion) {
        throw new FrontdeskError("conflict", `The ${write.scope}: state changed since it was read`, {
          details: { scope: write.scope, currentVersion: scope.version },
        });
      }
      nextScopes.set(write.scope, { state: applyDelta(scope.state, write.delta), version: scope.version + 1 });
    }

    // Everything is checked. Until metadata.json is renamed, nothing written below is visible.
    if (meta && !current) await removeFolder(ctx, paths);
    if (!current) await ensureDir(paths.dir, durability);
    // A crash right after the last rewrite's commit point left its old log behind: it goes now.
    if (current?.retiredLog !== undefined) await removeLog(ctx, paths, current.retiredLog);
    const extent = { bytes: current?.eventsBytes ?? 0, lastSeq: previousLastSeq };
    let log = current ? logOf(current) : 0;
    let retiredLog: number | undefined;
    let eventsBytes: number;
    if (current && rewritesLog(commit, previousLastSeq)) {
      retiredLog = log;
      log += 1;
      const change = { removeEvents: commit.removeEvents, rewrites: commit.rewrites ?? [], events: commit.events };
      eventsBytes = await rewriteLog(paths.log(retiredLog), extent, paths.log(log), change, durability);
      // The new files' names must be durable before metadata.json names them.
      await fsyncDir(paths.dir, durability);
    } else {
      eventsBytes = await appendEvents(paths.log(log), extent, commit.events, durability);
    }
    let idempotencyBytes = current?.idempotencyBytes ?? 0;
    if (commit.idempotency) {
      const line = Buffer.from(`${JSON.stringify(commit.idempotency)}\n`, "utf8");
      await appendAt(paths.idempotency, idempotencyBytes, line, durability);
      idempotencyBytes += line.length;
    }
    const commitId = randomBytes(12).toString("hex");
    for (const [scope, next] of nextScopes) {
      const previous = scopes.get(scope) ?? { state: {}, version: 0 };
      const file: ScopeFile = {
        ...previous,
        pending: { ...next, userId: key.userId, id: key.id, commitId },
      };
      await writeFileAtomic(
        layout.scope(key.namespace, scope, key.userId).file,
        `${JSON.stringify(file)}\n`,
        durability,
      );
    }
    const nextMeta: MetadataFile = {
      format: log === 0 ? 1 : 2,
      header,
      commitId,
      ...(log !== 0 && { log }),
      ...(retiredLog !== undefined && { retiredLog }),
      eventsBytes,
      idempotencyBytes,
      scopeWrites: [...nextScopes.keys()],
    };
    await writeMeta(ctx, paths, nextMeta, () => {
      guard.assertHeld();
      scopeGuard.assertHeld();
    });
    // Committed: the replaced log holds what the commit removed, so it goes before we return. Should
    // this fail, `retiredLog` has the next commit (or scrub) try again.
    if (retiredLog !== undefined) await removeLog(ctx, paths, retiredLog).catch(() => undefined);
    // Committed. Folding `pending` in is tidying: if it fails, the next reader settles it the same way.
    for (const [scope, next] of nextScopes) {
      await writeFileAtomic(
        layout.scope(key.namespace, scope, key.userId).file,
        `${JSON.stringify(next)}\n`,
        durability,
      ).catch(() => undefined);
    }
    hint(ctx, key, commitId, header.lastSeq);
    return { version: header.version, lastSeq: header.lastSeq };
  });
}

export async function touch(
  ctx: FsContext,
  key: SessionKey,
  times: Parameters<SessionStore["touch"]>[1],
  now: number,
): Promise<boolean> {
  const paths = ctx.layout.session(key);
  const before = await readMeta(paths);
  if (!before || isExpired(before.header, now)) return false;
  return withLock(paths.lock, ctx.lockSettings, async (guard) => {
    const meta = await readMeta(paths);
    if (!meta || isExpired(meta.header, now)) return false;
    meta.header.expiresAt = times.expiresAt;
    meta.header.lastAccessedAt = times.lastAccessedAt;
    await writeMeta(ctx, paths, meta, () => guard.assertHeld());
    return true;
  });
}

export async function deleteSession(
  ctx: FsContext,
  key: SessionKey,
  condition: DeleteCondition | undefined,
): Promise<boolean> {
  const paths = ctx.layout.session(key);
  if (!(await exists(paths.dir))) return false;
  // The same lock commits take: the check below and the rename in deleteLocked are one step.
  return withLock(paths.lock, ctx.lockSettings, async (guard) => {
    const meta = await readMeta(paths);
    if (!meta) {
      // A create that crashed before its commit point: not a session, but clear it away.
      await removeFolder(ctx, paths);
      return false;
    }
    if (condition) {
      // Expired counts as absent: left untouched for sweep.
      if (isExpired(meta.header, condition.now)) return false;
      if (meta.header.version !== condition.expectedVersion) {
        throw new FrontdeskError("conflict", "The session changed since it was read", {
          details: { currentVersion: meta.header.version },
        });
      }
    }
    await deleteLocked(ctx, key, paths, meta, () => guard.assertHeld());
    hint(ctx, key, null, 0);
    return true;
  });
}

export async function sweep(ctx: FsContext, now: number, limit: number): Promise<number> {
  const { layout } = ctx;
  let removed = 0;
  for (const namespace of (await listDir(layout.root)).filter(isNamespaceSegment)) {
    for (const userId of await ownersOf(layout, namespace)) {
      if (removed >= limit) return removed;
      const ownerDir = layout.ownerDir(namespace, userId);
      for (const name of await listDir(ownerDir)) {
        // Left by a delete that crashed after its rename: already gone as far as readers know.
        if (isTombstone(name))
          await rm(path.join(ownerDir, name), { recursive: true, force: true }).catch(() => undefined);
      }
      for (const candidate of await scanOwner(layout, namespace, userId)) {
        if (removed >= limit) return removed;
        if (!isExpired(candidate.header, now)) continue;
        const key: SessionKey = { namespace, userId, id: candidate.header.id };
        const paths = layout.session(key);
        const done = await withLock(paths.lock, ctx.lockSettings, async () => {
          const meta = await readMeta(paths);
          if (!meta || !isExpired(meta.header, now)) return false;
          await deleteLocked(ctx, key, paths, meta);
          return true;
        });
        if (done) {
          removed++;
          hint(ctx, key, null, 0);
        }
      }
    }
  }
  return removed;
}

/**
 * Removes one owner's `user:` state file under the scope's lock, with any temp copy a crashed write
 * left next to it. A `pending` write is settled first only to answer whether there was any state.
 */
export async function eraseScope(ctx: FsContext, namespace: string, userId: string | null): Promise<boolean> {
  const paths = ctx.layout.scope(namespace, "user", userId);
  if (!(await exists(paths.dir))) return false;
  return withLock(paths.lock, ctx.lockSettings, async (guard) => {
    const settled = await settleScope(ctx, namespace, paths);
    guard.assertHeld();
    await rm(paths.file, { force: true });
    await rm(tempFileOf(paths.file), { force: true });
    await fsyncDir(paths.dir, ctx.durability);
    return settled.version > 0;
  });
}

export function putApiKey(ctx: FsContext, record: ApiKeyRecord): Promise<void> {
  const { layout } = ctx;
  return withLock(layout.keysLock, ctx.lockSettings, async (guard) => {
    const file = (await readJsonFile<KeysFile>(layout.keysFile)) ?? { keys: [] };
    if (file.keys.some((key) => key.id === record.id || key.hash === record.hash)) {
      throw new FrontdeskError("conflict", "An API key with this id or hash exists");
    }
    file.keys.push({ ...record });
    await writeFileAtomic(layout.keysFile, `${JSON.stringify(file)}\n`, ctx.durability, () => guard.assertHeld());
  });
}

export function revokeApiKey(ctx: FsContext, id: string, at: number): Promise<boolean> {
  const { layout } = ctx;
  return withLock(layout.keysLock, ctx.lockSettings, async (guard) => {
    const file = await readJsonFile<KeysFile>(layout.keysFile);
    const index = file?.keys.findIndex((key) => key.id === id) ?? -1;
    const record = file?.keys[index];
    if (!file || !record || record.revokedAt !== null) return false;
    file.keys[index] = { ...record, revokedAt: at };
    await writeFileAtomic(layout.keysFile, `${JSON.stringify(file)}\n`, ctx.durability, () => guard.assertHeld());
    return true;
  });
}

/**
 * Whether `commit` changes stored events, so the log is written anew rather than appended to. A
 * removal that cannot reach a stored seq changes nothing.
 */
const rewritesLog = (commit: Commit, previousLastSeq: number): boolean => {
  const removed = commit.removeEvents;
  const removes = removed !== undefined && removed.before > removed.after + 1 && removed.after < previousLastSeq;
  return removes || (commit.rewrites?.length ?? 0) > 0;
};

/** Unlinks one generation of the session's log (durably: a resurrected file would hold removed content). */
export async function removeLog(ctx: FsContext, paths: SessionPaths, generation: number): Promise<void> {
  const files = paths.log(generation);
  await rm(files.events, { force: true });
  await rm(files.index, { force: true });
  await fsyncDir(paths.dir, ctx.durability);
}

const writeMeta = (ctx: FsContext, paths: SessionPaths, meta: MetadataFile, beforeRename?: () => void): Promise<void> =>
  writeFileAtomic(paths.metadata, `${JSON.stringify(meta)}\n`, ctx.durability, beforeRename);

/**
 * Renames the folder away first, so a crash mid-delete never leaves a half-deleted live session.
 * The rename is the delete's commit point: `beforeRename` runs right before it (a lock check).
 */
export async function removeFolder(ctx: FsContext, paths: SessionPaths, beforeRename?: () => void): Promise<void> {
  const tombstone = paths.tombstone();
  beforeRename?.();
  try {
    await rename(paths.dir, tombstone);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  await fsyncDir(paths.ownerDir, ctx.durability);
  await rm(tombstone, { recursive: true, force: true });
}

/** Settles the scopes a session's last commit wrote, then removes the session. Holds the session lock. */
async function deleteLocked(
  ctx: FsContext,
  key: SessionKey,
  paths: SessionPaths,
  meta: MetadataFile,
  beforeRename?: () => void,
): Promise<void> {
  if (meta.scopeWrites.length > 0) {
    await withScopeLocks(ctx, key.namespace, key.userId, meta.scopeWrites, async () => {
      for (const scope of meta.scopeWrites) {
        await settleScope(ctx, key.namespace, ctx.layout.scope(key.namespace, scope, key.userId));
      }
    });
  }
  await removeFolder(ctx, paths, beforeRename);
}

/** Holds the locks of `scopes` (always app before user, so lockers never deadlock). */
async function withScopeLocks<R>(
  ctx: FsContext,
  namespace: string,
  userId: string | null,
  scopes: readonly Scope[],
  work: (guard: LockGuard) => Promise<R>,
): Promise<R> {
  const ordered = SCOPE_ORDER.filter((scope) => scopes.includes(scope));
  const guards: LockGuard[] = [];
  const step = async (i: number): Promise<R> => {
    const scope = ordered[i];
    if (scope === undefined) {
      return work({
        assertHeld: () => {
          for (const guard of guards) guard.assertHeld();
        },
      });
    }
    const paths = ctx.layout.scope(namespace, scope, userId);
    await ensureDir(paths.dir, ctx.durability);
    return withLock(paths.lock, ctx.lockSettings, (guard) => {
      guards.push(guard);
      return step(i + 1);
    });
  };
  return step(0);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}
