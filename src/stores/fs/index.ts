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
 *
 * A commit that rewrites or removes stored events (redaction, pruning) cannot append: it writes
 * the kept log whole into the files of the next log generation, and its `metadata.json` names that
 * generation, so the same rename is still the one commit point. The replaced generation is
 * unlinked right after it; `metadata.json` keeps its number as `retiredLog` so that, after a crash
 * between the two, the next commit (or `scrub`) unlinks it. Reads that meet a log file already
 * unlinked read `metadata.json` again. `delete` renames the session folder away and removes it;
 * `eraseScope` unlinks the owner's scope file. Nothing is journaled: once one of them returns, no
 * file of the store holds what it removed (see scrub.ts for what a crash can leave).
 *
 * This module is the store's face (its options, its factory and its URL form) and wires the parts
 * together: context.ts holds what they share, commands.ts writes, reads.ts reads, live.ts hints
 * subscribers, scrub.ts clears crash leftovers; layout.ts names the paths, lock.ts, files.ts and
 * event-log.ts do the file work.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FrontdeskError } from "../../core/errors.ts";
import type { SessionStore, StoreContext } from "../types.ts";
import * as commands from "./commands.ts";
import { createContext, run } from "./context.ts";
import type { Durability } from "./files.ts";
import { Layout } from "./layout.ts";
import { stopPolling, subscribe } from "./live.ts";
import * as reads from "./reads.ts";
import { scrub } from "./scrub.ts";

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
  const ctx = createContext({
    layout,
    durability,
    lockSettings: { staleMs: lockStaleMs, timeoutMs: positive("lockTimeoutMs", options.lockTimeoutMs ?? 30_000) },
    pollIntervalMs: positive("pollIntervalMs", options.pollIntervalMs ?? 50),
  });

  return {
    name: STORE_NAME,
    capabilities: ctx.capabilities,

    commit: (commit) => run(ctx, "commit the session", () => commands.commit(ctx, commit)),
    touch: (key, times, now) => run(ctx, "touch the session", () => commands.touch(ctx, key, times, now)),
    delete: (key, condition) => run(ctx, "delete the session", () => commands.deleteSession(ctx, key, condition)),
    sweep: (now, limit) => run(ctx, "sweep expired sessions", () => commands.sweep(ctx, now, limit)),
    eraseScope: (namespace, userId) =>
      run(ctx, "erase scoped state", () => commands.eraseScope(ctx, namespace, userId)),
    scrub: () => run(ctx, "scrub removed content", () => scrub(ctx)),
    putApiKey: (record) => run(ctx, "store the API key", () => commands.putApiKey(ctx, record)),
    revokeApiKey: (id, at) => run(ctx, "revoke the API key", () => commands.revokeApiKey(ctx, id, at)),

    get: (key, now) => run(ctx, "read the session", () => reads.get(ctx, key, now)),
    readEvents: (key, range) => run(ctx, "read events", () => reads.readEvents(ctx, key, range)),
    list: (query) => run(ctx, "list sessions", () => reads.list(ctx, query)),
    count: (namespace, userId, now) => run(ctx, "count sessions", () => reads.count(ctx, namespace, userId, now)),
    readScope: (namespace, scope, userId) =>
      run(ctx, "read scoped state", () => reads.readScope(ctx, namespace, scope, userId)),
    findIdempotency: (key, idempotencyKey) =>
      run(ctx, "read idempotency records", () => reads.findIdempotency(ctx, key, idempotencyKey)),
    findApiKey: (hash) => run(ctx, "read API keys", () => reads.findApiKey(ctx, hash)),
    listApiKeys: () => run(ctx, "read API keys", () => reads.listApiKeys(ctx)),

    subscribe: (key, onHint) => run(ctx, "subscribe", () => subscribe(ctx, key, onHint)),

    async close() {
      ctx.closed = true;
      stopPolling(ctx);
      ctx.watches.clear();
      await Promise.allSettled([...ctx.inflight]);
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
