/**
 * The filesystem store's shared context, and what both its read and its write path need from the
 * root: the one-time setup, the wrapper every call passes through, reading a session's
 * `metadata.json`, scanning an owner's folders, and settling a scope's `pending` write (a reader
 * that meets one must settle it as a writer would). There is no connection to open, so this file
 * plays the role `connection.ts` plays for the other stores: the closed check, the lazy setup and
 * the error translation live in {@link run}.
 */
import { readdir } from "node:fs/promises";
import { FrontdeskError } from "../../core/errors.ts";
import type { JsonObject, SessionHeader } from "../../core/model.ts";
import type { ApiKeyRecord, ScopedState, StoreCapabilities } from "../types.ts";
import {
  type Durability,
  ensureDir,
  isMissing,
  readJsonFile,
  readJsonFileNow,
  storeFailure,
  writeFileAtomic,
  writeFileAtomicUnlocked,
} from "./files.ts";
import {
  isSessionSegment,
  LAYOUT_FORMAT,
  type Layout,
  ownerOfSegment,
  type ScopePaths,
  type SessionPaths,
} from "./layout.ts";
import type { LockSettings } from "./lock.ts";

export type Scope = "user" | "app";

/**
 * What `metadata.json` holds: the header plus the commit's bookkeeping. Format 1 keeps its events
 * in log generation 0 (`log` absent); format 2 names another generation, so that a version of the
 * store that knows only `events.jsonl` refuses the session instead of reading it as empty.
 */
export interface MetadataFile {
  format: number;
  header: SessionHeader;
  /** Random per commit; a scope's `pending` write counts only if it names this id. */
  commitId: string;
  /** The current generation of the event log (layout.ts names its files); absent: 0. */
  log?: number;
  /**
   * The generation a rewriting commit replaced. Its files are unlinked right after the commit
   * point; should a crash come between, the next commit of the session unlinks them (and `scrub`).
   */
  retiredLog?: number;
  /** Committed byte lengths (of the current log); anything past them is a crashed commit's tail. */
  eventsBytes: number;
  idempotencyBytes: number;
  /** Scopes this commit wrote, whose `pending` the next writer of the session settles first. */
  scopeWrites: Scope[];
}

export interface ScopeFile {
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

export interface KeysFile {
  keys: ApiKeyRecord[];
}

/** The local subscribers of one session, and what the poll last saw of it (live.ts keeps them). */
export interface Watch {
  readonly paths: SessionPaths;
  readonly listeners: Set<(lastSeq: number) => void>;
  /** What `metadata.json` looked like at the last poll: inode, size and mtime. */
  stamp: string | undefined;
  /** The last commit a hint was given for; null when the session was absent. */
  commitId: string | null;
}

/** The generation of the event log `meta` commits to. */
export const logOf = (meta: MetadataFile): number => (meta.format === 2 ? (meta.log ?? 0) : 0);

/** The store's options, checked and with their defaults filled in. */
export interface FsSettings {
  readonly layout: Layout;
  readonly durability: Durability;
  readonly lockSettings: LockSettings;
  readonly pollIntervalMs: number;
}

/** What the store's parts share: its settings, the calls in flight and the watches. One per store. */
export interface FsContext extends FsSettings {
  readonly capabilities: StoreCapabilities;
  /** By session key id (see live.ts). */
  readonly watches: Map<string, Watch>;
  /** Calls still running, which `close()` waits for. */
  readonly inflight: Set<Promise<unknown>>;
  timer: NodeJS.Timeout | undefined;
  polling: boolean;
  closed: boolean;
  readyPromise: Promise<void> | undefined;
}

export function createContext(settings: FsSettings): FsContext {
  return {
    ...settings,
    capabilities: { shared: true },
    watches: new Map(),
    inflight: new Set(),
    timer: undefined,
    polling: false,
    closed: false,
    readyPromise: undefined,
  };
}

async function setup({ layout, durability }: FsContext): Promise<void> {
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
}

function ready(ctx: FsContext): Promise<void> {
  ctx.readyPromise ??= setup(ctx).catch((error: unknown) => {
    ctx.readyPromise = undefined;
    throw error;
  });
  return ctx.readyPromise;
}

/** The single wrapper every public method goes through: closed check, setup, error translation. */
export function run<R>(ctx: FsContext, action: string, operation: () => Promise<R>): Promise<R> {
  if (ctx.closed) return Promise.reject(new FrontdeskError("unavailable", "The filesystem store is closed"));
  const promise = (async () => {
    try {
      await ready(ctx);
      return await operation();
    } catch (error) {
      throw storeFailure(action, error);
    }
  })();
  const { inflight } = ctx;
  inflight.add(promise);
  const forget = (): void => {
    inflight.delete(promise);
  };
  promise.then(forget, forget);
  return promise;
}

export async function readMeta(paths: SessionPaths): Promise<MetadataFile | undefined> {
  return checkedMeta(readJsonFileNow<MetadataFile>(paths.metadata));
}

function checkedMeta(meta: MetadataFile | undefined): MetadataFile | undefined {
  const knownLog = meta?.format === 2 && Number.isSafeInteger(meta.log) && (meta.log as number) >= 1;
  if (meta !== undefined && meta.format !== 1 && !knownLog) {
    throw new FrontdeskError("unavailable", "The filesystem store found metadata.json in an unknown format");
  }
  return meta;
}

/**
 * The scope's state with any `pending` write resolved for good: kept when its commit reached
 * `metadata.json`, dropped otherwise. Call while holding the scope's lock.
 */
export async function settleScope(ctx: FsContext, namespace: string, paths: ScopePaths): Promise<ScopedState> {
  const file = readJsonFileNow<ScopeFile>(paths.file);
  if (file === undefined) return { state: {}, version: 0 };
  if (file.pending === undefined) return { state: file.state, version: file.version };
  const { pending } = file;
  const owner = await readMeta(ctx.layout.session({ namespace, userId: pending.userId, id: pending.id }));
  const settled: ScopedState =
    owner?.commitId === pending.commitId
      ? { state: pending.state, version: pending.version }
      : { state: file.state, version: file.version };
  await writeFileAtomic(paths.file, `${JSON.stringify(settled)}\n`, ctx.durability);
  return settled;
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

/** The owners that have a folder in `namespace`: what `list` without a user and `sweep` walk. */
export async function ownersOf(layout: Layout, namespace: string): Promise<(string | null)[]> {
  const owners: (string | null)[] = [];
  for (const name of await listDir(layout.namespaceDir(namespace))) {
    const owner = ownerOfSegment(name);
    if (owner !== undefined) owners.push(owner);
  }
  return owners;
}

/** Session folders read at once by a scan. */
const READ_CONCURRENCY = 32;

/** Every session folder of one owner, with its metadata (absent ones skipped): what list, count and sweep walk. */
export async function scanOwner(layout: Layout, namespace: string, userId: string | null): Promise<MetadataFile[]> {
  const ids = (await listDir(layout.ownerDir(namespace, userId))).filter(isSessionSegment);
  // Asynchronous reads, many at once: a scan of thousands of files must not hold the event loop.
  const metas = await mapLimited(ids, async (id) =>
    checkedMeta(await readJsonFile<MetadataFile>(layout.session({ namespace, userId, id }).metadata)),
  );
  return metas.filter(
    (meta): meta is MetadataFile =>
      meta !== undefined && meta.header.namespace === namespace && meta.header.userId === userId,
  );
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
