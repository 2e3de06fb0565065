/**
 * The filesystem store: one folder per session (`metadata.json` + `events.jsonl`, the MCP layout),
 * safe across processes that share the root. See `docs/stores/fs.md` and `layout.ts`.
 *
 * How a commit stays atomic with several files: `events.jsonl` and `idempotency.jsonl` are only
 * appended, and `metadata.json` records how many of their bytes are committed; it is replaced by
 * rename, which is the commit point. A crash before the rename leaves an uncommitted tail that
 * readers ignore and the next commit cuts off. Scoped state (`user:`/`app:`) lives in files shared
 * by many sessions, so a commit first writes its new scope state as `pending` (tagged with the
 * commit's id), then renames `metadata.json`, then folds `pending` in. Whoever next holds the
 * scope's lock and finds a `pending` settles it by asking the session's `metadata.json` whether that
 * commit id made it.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FrontdeskError } from "../../core/errors.ts";
import type { JsonObject, SessionHeader, SessionKey } from "../../core/model.ts";
import { applyDelta } from "../../core/state.ts";
import { assertCommitShape } from "../shared/commit-shape.ts";
import { compareListPosition, isExpired, listPositionOf, matchesListQuery } from "../shared/list-filter.ts";
import type {
  ApiKeyRecord,
  Commit,
  CommitResult,
  IdempotencyRecord,
  ListPage,
  ScopedState,
  SessionStore,
  StoreCapabilities,
  StoreContext,
  Unsubscribe,
} from "../types.ts";
import { appendEvents, readEventRange } from "./event-log.ts";
import {
  appendAll,
  type Durability,
  ensureDir,
  fsyncDir,
  isMissing,
  openForAppend,
  readJsonFile,
  storeFailure,
  writeFileAtomic,
  writeFileAtomicUnlocked,
} from "./files.ts";
import {
  isNamespaceSegment,
  isSessionSegment,
  isTombstone,
  LAYOUT_FORMAT,
  Layout,
  ownerOfSegment,
  type ScopePaths,
  type SessionPaths,
} from "./layout.ts";
import { type LockGuard, type LockSettings, withLock } from "./lock.ts";

export type { Durability } from "./files.ts";

/**
 * Options of {@link createFsStore}. Read once; the object is never mutated.
 * @example createFsStore({ root: "./.frontdesk/sessions" })
 */
export interface FsStoreOptions {
  /** The folder holding every session; created when missing. A relative path is resolved against the working directory once, when the store is created. */
  readonly root: string;
  /**
   * A lock whose holder stopped refreshing it for this long (it crashed, or its event loop stalled)
   * is taken over by the next waiter. proper-lockfile refreshes held locks every `lockStaleMs / 2`
   * and enforces at least 2,000 ms.
   * @default 10_000
   */
  readonly lockStaleMs?: number;
  /**
   * How long one operation waits for a lock before failing with `unavailable`. Keep it above
   * `lockStaleMs`, or a lock left by a crashed process makes writes fail instead of wait.
   * @default 30_000
   */
  readonly lockTimeoutMs?: number;
  /** While anyone subscribes, how often to look for commits made by other processes, in ms. @default 50 */
  readonly pollIntervalMs?: number;
  /**
   * `full`: every commit fsyncs its files and folders before it returns, so an acknowledged commit
   * survives power loss. `none`: survives a process crash (renames stay atomic) but a power loss
   * may lose recent commits or, rarely, leave a session unreadable.
   * @default "full"
   */
  readonly durability?: Durability;
}

export const STORE_NAME = "fs";

/** What `metadata.json` holds: the header plus the commit's bookkeeping. */
interface MetadataFile {
  format: number;
  header: SessionHeader;
  /** Random per commit; a scope's `pending` write counts only if it names this id. */
  commitId: string;
  /** Committed byte lengths; anything past them is a crashed commit's tail. */
  eventsBytes: number;
  idempotencyBytes: number;
  /** Scopes this commit wrote, whose `pending` the next writer of the session settles first. */
  scopeWrites: Scope[];
}

type Scope = "user" | "app";

interface ScopeFile {
  state: JsonObject;
  version: number;
  pending?: {
    state: JsonObject;
    version: number;
    userId: string | null;
    id: string;
    commitId: string;
  };
}

interface KeysFile {
  keys: ApiKeyRecord[];
}

interface Watch {
  readonly paths: SessionPaths;
  readonly listeners: Set<(lastSeq: number) => void>;
  /** What `metadata.json` looked like at the last poll: inode, size and mtime. */
  stamp: string | undefined;
  /** The last commit a hint was given for; null when the session was absent. */
  commitId: string | null;
}

const SCOPE_ORDER: readonly Scope[] = ["app", "user"];
const READ_CONCURRENCY = 32;

/**
 * Creates a filesystem store rooted at `options.root`. Several processes may open the same root:
 * every read-check-write holds a per-session lock that works across processes.
 * @example
 * const store = createFsStore({ root: "./.frontdesk/sessions", durability: "full" });
 */
export function createFsStore(options: FsStoreOptions, _context: StoreContext = {}): SessionStore {
  if (typeof options.root !== "string" || options.root.length === 0 || options.root.includes("\0")) {
    throw new FrontdeskError("invalid_request", "The filesystem store needs a root folder");
  }
  const layout = new Layout(options.root);
  const durability: Durability = options.durability ?? "full";
  if (durability !== "full" && durability !== "none") {
    throw new FrontdeskError("invalid_request", 'durability must be "full" or "none"');
  }
  const lockStaleMs = positive("lockStaleMs", options.lockStaleMs ?? 10_000);
  const lockSettings: LockSettings = {
    staleMs: lockStaleMs,
    timeoutMs: positive("lockTimeoutMs", options.lockTimeoutMs ?? 30_000),
  };
  const pollIntervalMs = positive("pollIntervalMs", options.pollIntervalMs ?? 50);

  const capabilities: StoreCapabilities = { shared: true };
  const watches = new Map<string, Watch>();
  const inflight = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let closed = false;
  let readyPromise: Promise<void> | undefined;

  // ---- setup -------------------------------------------------------------------------------

  const setup = async (): Promise<void> => {
    await ensureDir(layout.root, durability);
    const marker = await readJsonFile<{ format?: unknown }>(layout.layoutFile).catch(() => undefined);
    if (marker === undefined) {
      await writeFileAtomicUnlocked(layout.layoutFile, `${JSON.stringify({ format: LAYOUT_FORMAT })}\n`, durability);
    } else if (marker.format !== LAYOUT_FORMAT) {
      throw new FrontdeskError(
        "unavailable",
        `The filesystem store's root has an unknown layout (${String(marker.format)})`,
      );
    }
  };
  const ready = (): Promise<void> => {
    readyPromise ??= setup().catch((error: unknown) => {
      readyPromise = undefined;
      throw error;
    });
    return readyPromise;
  };

  /** The single wrapper every public method goes through: closed check, setup, error translation. */
  const run = <R>(action: string, operation: () => Promise<R>): Promise<R> => {
    if (closed) return Promise.reject(new FrontdeskError("unavailable", "The filesystem store is closed"));
    const promise = (async () => {
      try {
        await ready();
        return await operation();
      } catch (error) {
        throw storeFailure(action, error);
      }
    })();
    inflight.add(promise);
    const forget = (): void => {
      inflight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  };

  // ---- sessions ----------------------------------------------------------------------------

  const readMeta = async (paths: SessionPaths): Promise<MetadataFile | undefined> => {
    const meta = await readJsonFile<MetadataFile>(paths.metadata);
    if (meta !== undefined && meta.format !== 1) {
      throw new FrontdeskError("unavailable", "The filesystem store found metadata.json in an unknown format");
    }
    return meta;
  };

  const writeMeta = (paths: SessionPaths, meta: MetadataFile, beforeRename?: () => void): Promise<void> =>
    writeFileAtomic(paths.metadata, `${JSON.stringify(meta)}\n`, durability, beforeRename);

  /**
   * Renames the folder away first, so a crash mid-delete never leaves a half-deleted live session.
   * The rename is the delete's commit point: `beforeRename` runs right before it (a lock check).
   */
  const removeFolder = async (paths: SessionPaths, beforeRename?: () => void): Promise<void> => {
    const tombstone = paths.tombstone();
    beforeRename?.();
    try {
      await rename(paths.dir, tombstone);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    await fsyncDir(paths.ownerDir, durability);
    await rm(tombstone, { recursive: true, force: true });
  };

  const scopePaths = (namespace: string, scope: Scope, userId: string | null): ScopePaths =>
    layout.scope(namespace, scope, userId);

  /** Holds the locks of `scopes` (always app before user, so lockers never deadlock). */
  const withScopeLocks = async <R>(
    namespace: string,
    userId: string | null,
    scopes: readonly Scope[],
    work: (guard: LockGuard) => Promise<R>,
  ): Promise<R> => {
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
      const paths = scopePaths(namespace, scope, userId);
      await ensureDir(paths.dir, durability);
      return withLock(paths.lock, lockSettings, (guard) => {
        guards.push(guard);
        return step(i + 1);
      });
    };
    return step(0);
  };

  /**
   * The scope's state with any `pending` write resolved for good: kept when its commit reached
   * `metadata.json`, dropped otherwise. Call while holding the scope's lock.
   */
  const settleScope = async (namespace: string, paths: ScopePaths): Promise<ScopedState> => {
    const file = await readJsonFile<ScopeFile>(paths.file);
    if (file === undefined) return { state: {}, version: 0 };
    if (file.pending === undefined) return { state: file.state, version: file.version };
    const { pending } = file;
    const owner = await readMeta(layout.session({ namespace, userId: pending.userId, id: pending.id }));
    const settled: ScopedState =
      owner?.commitId === pending.commitId
        ? { state: pending.state, version: pending.version }
        : { state: file.state, version: file.version };
    await writeFileAtomic(paths.file, `${JSON.stringify(settled)}\n`, durability);
    return settled;
  };

  /** Settles the scopes a session's last commit wrote, then removes the session. Holds the session lock. */
  const deleteLocked = async (
    key: SessionKey,
    paths: SessionPaths,
    meta: MetadataFile,
    beforeRename?: () => void,
  ): Promise<void> => {
    if (meta.scopeWrites.length > 0) {
      await withScopeLocks(key.namespace, key.userId, meta.scopeWrites, async () => {
        for (const scope of meta.scopeWrites)
          await settleScope(key.namespace, scopePaths(key.namespace, scope, key.userId));
      });
    }
    await removeFolder(paths, beforeRename);
  };

  const keyId = (key: SessionKey): string => `${key.namespace}\0${key.userId ?? ""}\0${key.id}`;

  const emit = (key: SessionKey, commitId: string | null, lastSeq: number): void => {
    const watch = watches.get(keyId(key));
    if (!watch) return;
    watch.commitId = commitId;
    for (const listener of watch.listeners) {
      queueMicrotask(() => {
        // A hint is advisory: a listener's bug must not become an uncaught exception in the store.
        try {
          listener(lastSeq);
        } catch {}
      });
    }
  };

  const commitLocked = async (commit: Commit, paths: SessionPaths, guard: LockGuard): Promise<CommitResult> => {
    const { key, header } = commit;
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
    return withScopeLocks(key.namespace, key.userId, toLock, async (scopeGuard) => {
      const scopes = new Map<Scope, ScopedState>();
      for (const scope of toLock)
        scopes.set(scope, await settleScope(key.namespace, scopePaths(key.namespace, scope, key.userId)));
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
      if (meta && !current) await removeFolder(paths);
      if (!current) await ensureDir(paths.dir, durability);
      const eventsBytes = await appendEvents(
        paths,
        { bytes: current?.eventsBytes ?? 0, lastSeq: previousLastSeq },
        commit.events,
        durability,
      );
      let idempotencyBytes = current?.idempotencyBytes ?? 0;
      if (commit.idempotency) {
        const line = Buffer.from(`${JSON.stringify(commit.idempotency)}\n`, "utf8");
        const handle = await openForAppend(paths.idempotency, idempotencyBytes);
        try {
          await appendAll(handle, line, durability);
        } finally {
          await handle.close();
        }
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
          scopePaths(key.namespace, scope, key.userId).file,
          `${JSON.stringify(file)}\n`,
          durability,
        );
      }
      const nextMeta: MetadataFile = {
        format: 1,
        header,
        commitId,
        eventsBytes,
        idempotencyBytes,
        scopeWrites: [...nextScopes.keys()],
      };
      await writeMeta(paths, nextMeta, () => {
        guard.assertHeld();
        scopeGuard.assertHeld();
      });
      // Committed. Folding `pending` in is tidying: if it fails, the next reader settles it the same way.
      for (const [scope, next] of nextScopes) {
        await writeFileAtomic(
          scopePaths(key.namespace, scope, key.userId).file,
          `${JSON.stringify(next)}\n`,
          durability,
        ).catch(() => undefined);
      }
      emit(key, commitId, header.lastSeq);
      return { version: header.version, lastSeq: header.lastSeq };
    });
  };

  /** Every session folder of one owner, with its metadata (absent ones skipped). */
  const scanOwner = async (namespace: string, userId: string | null): Promise<MetadataFile[]> => {
    const ids = (await listDir(layout.ownerDir(namespace, userId))).filter(isSessionSegment);
    const metas = await mapLimited(ids, (id) => readMeta(layout.session({ namespace, userId, id })));
    return metas.filter(
      (meta): meta is MetadataFile =>
        meta !== undefined && meta.header.namespace === namespace && meta.header.userId === userId,
    );
  };

  const ownersOf = async (namespace: string): Promise<(string | null)[]> => {
    const owners: (string | null)[] = [];
    for (const name of await listDir(layout.namespaceDir(namespace))) {
      const owner = ownerOfSegment(name);
      if (owner !== undefined) owners.push(owner);
    }
    return owners;
  };

  // ---- polling for other processes' commits -------------------------------------------------

  const pollWatch = async (watch: Watch): Promise<void> => {
    let stamp: string;
    try {
      const info = await stat(watch.paths.metadata);
      stamp = `${info.ino}:${info.size}:${info.mtimeMs}`;
    } catch (error) {
      if (!isMissing(error)) return;
      stamp = "absent";
    }
    if (stamp === watch.stamp) return;
    watch.stamp = stamp;
    const meta = stamp === "absent" ? undefined : await readMeta(watch.paths).catch(() => undefined);
    const commitId = meta?.commitId ?? null;
    if (commitId === watch.commitId) return;
    const hadSession = watch.commitId !== null;
    watch.commitId = commitId;
    if (meta || hadSession) {
      const lastSeq = meta?.header.lastSeq ?? 0;
      for (const listener of watch.listeners) {
        try {
          listener(lastSeq);
        } catch {}
      }
    }
  };

  const poll = async (): Promise<void> => {
    if (polling || closed) return;
    polling = true;
    try {
      for (const watch of [...watches.values()]) await pollWatch(watch);
    } finally {
      polling = false;
    }
  };

  const stopPolling = (): void => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  // ---- the store -----------------------------------------------------------------------------

  return {
    name: STORE_NAME,
    capabilities,

    commit(commit) {
      return run("commit the session", async () => {
        const paths = layout.session(commit.key);
        if (commit.expectedVersion === 0) await ensureDir(paths.ownerDir, durability);
        // Absent now means absent at some instant of this call: fail without creating folders.
        else if ((await readMeta(paths)) === undefined) throw new FrontdeskError("not_found", "Session not found");
        return withLock(paths.lock, lockSettings, (guard) => commitLocked(commit, paths, guard));
      });
    },

    get(key, now) {
      return run("read the session", async () => {
        const meta = await readMeta(layout.session(key));
        return meta && !isExpired(meta.header, now) ? meta.header : undefined;
      });
    },

    touch(key, times, now) {
      return run("touch the session", async () => {
        const paths = layout.session(key);
        const before = await readMeta(paths);
        if (!before || isExpired(before.header, now)) return false;
        return withLock(paths.lock, lockSettings, async (guard) => {
          const meta = await readMeta(paths);
          if (!meta || isExpired(meta.header, now)) return false;
          meta.header.expiresAt = times.expiresAt;
          meta.header.lastAccessedAt = times.lastAccessedAt;
          await writeMeta(paths, meta, () => guard.assertHeld());
          return true;
        });
      });
    },

    readEvents(key, range) {
      return run("read events", async () => {
        const paths = layout.session(key);
        const meta = await readMeta(paths);
        if (!meta) return [];
        return readEventRange(paths, { bytes: meta.eventsBytes, lastSeq: meta.header.lastSeq }, range);
      });
    },

    list(query) {
      return run("list sessions", async () => {
        const owners = query.userId !== undefined ? [query.userId] : await ownersOf(query.namespace);
        const headers: SessionHeader[] = [];
        for (const owner of owners) {
          for (const meta of await scanOwner(query.namespace, owner)) {
            if (matchesListQuery(meta.header, query)) headers.push(meta.header);
          }
        }
        headers.sort((a, b) => compareListPosition(listPositionOf(a, query.orderBy), listPositionOf(b, query.orderBy)));
        if (query.order === "desc") headers.reverse();
        const page = headers.slice(0, query.limit + 1);
        return { items: page.slice(0, query.limit), hasMore: page.length > query.limit } satisfies ListPage;
      });
    },

    count(namespace, userId, now) {
      return run("count sessions", async () => {
        const metas = await scanOwner(namespace, userId);
        return metas.filter((meta) => !isExpired(meta.header, now)).length;
      });
    },

    delete(key, condition) {
      return run("delete the session", async () => {
        const paths = layout.session(key);
        if (!(await exists(paths.dir))) return false;
        // The same lock commits take: the check below and the rename in deleteLocked are one step.
        return withLock(paths.lock, lockSettings, async (guard) => {
          const meta = await readMeta(paths);
          if (!meta) {
            // A create that crashed before its commit point: not a session, but clear it away.
            await removeFolder(paths);
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
          await deleteLocked(key, paths, meta, () => guard.assertHeld());
          emit(key, null, 0);
          return true;
        });
      });
    },

    sweep(now, limit) {
      return run("sweep expired sessions", async () => {
        let removed = 0;
        for (const namespace of (await listDir(layout.root)).filter(isNamespaceSegment)) {
          for (const userId of await ownersOf(namespace)) {
            if (removed >= limit) return removed;
            const ownerDir = layout.ownerDir(namespace, userId);
            for (const name of await listDir(ownerDir)) {
              // Left by a delete that crashed after its rename: already gone as far as readers know.
              if (isTombstone(name))
                await rm(path.join(ownerDir, name), { recursive: true, force: true }).catch(() => undefined);
            }
            for (const candidate of await scanOwner(namespace, userId)) {
              if (removed >= limit) return removed;
              if (!isExpired(candidate.header, now)) continue;
              const key: SessionKey = { namespace, userId, id: candidate.header.id };
              const paths = layout.session(key);
              const done = await withLock(paths.lock, lockSettings, async () => {
                const meta = await readMeta(paths);
                if (!meta || !isExpired(meta.header, now)) return false;
                await deleteLocked(key, paths, meta);
                return true;
              });
              if (done) {
                removed++;
                emit(key, null, 0);
              }
            }
          }
        }
        return removed;
      });
    },

    readScope(namespace, scope, userId) {
      return run("read scoped state", async () => {
        const paths = scopePaths(namespace, scope, userId);
        const file = await readJsonFile<ScopeFile>(paths.file);
        if (file === undefined) return { state: {}, version: 0 };
        if (file.pending === undefined) return { state: file.state, version: file.version };
        // A commit is writing this scope right now, or crashed while doing so: wait for its lock.
        return withLock(paths.lock, lockSettings, () => settleScope(namespace, paths));
      });
    },

    findIdempotency(key, idempotencyKey) {
      return run("read idempotency records", async () => {
        const paths = layout.session(key);
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
      });
    },

    subscribe(key, onHint) {
      return run("subscribe", async (): Promise<Unsubscribe> => {
        const paths = layout.session(key);
        const id = keyId(key);
        let watch = watches.get(id);
        if (!watch) {
          const meta = await readMeta(paths).catch(() => undefined);
          // Another subscribe may have created it while we read.
          watch = watches.get(id) ?? {
            paths,
            listeners: new Set(),
            stamp: undefined,
            commitId: meta?.commitId ?? null,
          };
          watches.set(id, watch);
        }
        watch.listeners.add(onHint);
        if (!timer && !closed) {
          timer = setInterval(() => void poll().catch(() => undefined), pollIntervalMs);
          timer.unref();
        }
        const current = watch;
        return async () => {
          current.listeners.delete(onHint);
          if (current.listeners.size === 0 && watches.get(id) === current) watches.delete(id);
          if (watches.size === 0) stopPolling();
        };
      });
    },

    putApiKey(record) {
      return run("store the API key", () =>
        withLock(layout.keysLock, lockSettings, async (guard) => {
          const file = (await readJsonFile<KeysFile>(layout.keysFile)) ?? { keys: [] };
          if (file.keys.some((key) => key.id === record.id || key.hash === record.hash)) {
            throw new FrontdeskError("conflict", "An API key with this id or hash exists");
          }
          file.keys.push({ ...record });
          await writeFileAtomic(layout.keysFile, `${JSON.stringify(file)}\n`, durability, () => guard.assertHeld());
        }),
      );
    },

    findApiKey(hash) {
      return run("read API keys", async () => {
        const file = await readJsonFile<KeysFile>(layout.keysFile);
        return file?.keys.find((key) => key.hash === hash);
      });
    },

    listApiKeys() {
      return run("read API keys", async () => {
        const file = await readJsonFile<KeysFile>(layout.keysFile);
        return (file?.keys ?? []).sort((a, b) => a.createdAt - b.createdAt);
      });
    },

    revokeApiKey(id, at) {
      return run("revoke the API key", () =>
        withLock(layout.keysLock, lockSettings, async (guard) => {
          const file = await readJsonFile<KeysFile>(layout.keysFile);
          const index = file?.keys.findIndex((key) => key.id === id) ?? -1;
          const record = file?.keys[index];
          if (!file || !record || record.revokedAt !== null) return false;
          file.keys[index] = { ...record, revokedAt: at };
          await writeFileAtomic(layout.keysFile, `${JSON.stringify(file)}\n`, durability, () => guard.assertHeld());
          return true;
        }),
      );
    },

    async close() {
      closed = true;
      stopPolling();
      watches.clear();
      await Promise.allSettled([...inflight]);
    },
  };
}

/**
 * Opens `file:./relative/dir`, `file:/abs/dir` or `file:///abs/dir`, with options as query
 * parameters: `?durability=none&lockStaleMs=10000&lockTimeoutMs=30000&pollIntervalMs=50`.
 *
 * WHATWG URL parsing turns `file:./dir` into `file:///dir`, so a relative path survives only in
 * the raw string: pass it as `url` or as `raw`. A `URL` object alone is taken as absolute.
 * @example openFromUrl("file:./.frontdesk/sessions", {})
 */
export function openFromUrl(url: URL | string, context: StoreContext, raw?: string): SessionStore {
  return createFsStore(parseFsUrl(raw?.startsWith("file:") ? raw : url), context);
}

/** The options a `file:` URL stands for (see {@link openFromUrl}). */
export function parseFsUrl(url: URL | string): FsStoreOptions {
  let root: string;
  let search: URLSearchParams;
  if (typeof url === "string") {
    if (!url.startsWith("file:"))
      throw new FrontdeskError("invalid_request", "A filesystem store URL starts with file:");
    const rest = url.slice("file:".length).replace(/#.*$/s, "");
    const queryAt = rest.indexOf("?");
    const location = queryAt === -1 ? rest : rest.slice(0, queryAt);
    search = new URLSearchParams(queryAt === -1 ? "" : rest.slice(queryAt + 1));
    if (location === "") throw new FrontdeskError("invalid_request", "A filesystem store URL needs a folder");
    if (location.startsWith("//")) root = fileUrlPath(new URL(`file:${location}`));
    else root = path.resolve(decodePath(location));
  } else {
    if (url.protocol !== "file:")
      throw new FrontdeskError("invalid_request", "A filesystem store URL starts with file:");
    root = fileUrlPath(url);
    search = url.searchParams;
  }
  if (root === "" || root === path.parse(root).root) {
    throw new FrontdeskError(
      "invalid_request",
      "A filesystem store URL needs a folder, e.g. file:./.frontdesk/sessions",
    );
  }
  const durability = search.get("durability") ?? undefined;
  if (durability !== undefined && durability !== "full" && durability !== "none") {
    throw new FrontdeskError("invalid_request", 'durability must be "full" or "none"');
  }
  const number = (name: string): number | undefined => {
    const raw = search.get(name);
    return raw === null ? undefined : positive(name, Number(raw));
  };
  return {
    root,
    ...(durability !== undefined && { durability }),
    ...optional("lockStaleMs", number("lockStaleMs")),
    ...optional("lockTimeoutMs", number("lockTimeoutMs")),
    ...optional("pollIntervalMs", number("pollIntervalMs")),
  };
}

// ---- private helpers ---------------------------------------------------------------------------

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new FrontdeskError("invalid_request", `${name} must be a positive number of milliseconds`);
  }
  return value;
}

function optional<K extends string>(name: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: number };
}

function decodePath(location: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(location);
  } catch (cause) {
    throw new FrontdeskError("invalid_request", "The filesystem store URL has a malformed %-escape", { cause });
  }
  if (decoded.includes("\0")) throw new FrontdeskError("invalid_request", "The filesystem store URL has a NUL byte");
  return decoded;
}

function fileUrlPath(url: URL): string {
  try {
    return fileURLToPath(url);
  } catch (cause) {
    throw new FrontdeskError("invalid_request", "Not a usable file: URL", { cause });
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
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

async function mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
  return out;
}
