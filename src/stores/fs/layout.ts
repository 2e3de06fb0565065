/**
 * Where everything lives under the store's root, and the only place that turns ids into paths.
 *
 * ```
 * root/
 *   _layout.json                      format marker
 *   _keys.json                        API keys
 *   <namespace>/
 *     _scopes/app.json                `app:` state
 *     _scopes/user/<owner>.json       `user:` state
 *     <owner>/                        the user id, or "_" for a null owner
 *       <sessionId>/
 *         metadata.json               header + commit bookkeeping: the commit point
 *         events.jsonl                one event per line (log generation 0)
 *         events.idx                  per INDEX_STRIDE seqs, the byte offset where they start
 *         events.<n>.jsonl, .idx      the same for generation n: a commit that rewrites or
 *                                     removes events writes the log anew under the next name
 *         idempotency.jsonl           idempotency records
 *       .<sessionId>.lock/            cross-process lock (transient)
 *       .<sessionId>.del-<random>/    tombstone of a delete in progress
 * ```
 *
 * Every name the store invents starts with `_` or `.`, which no namespace, user id or session id
 * can, so a hostile id can never collide with bookkeeping.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { FrontdeskError } from "../../core/errors.ts";
import { NAMESPACE_PATTERN, SESSION_ID_PATTERN, USER_ID_PATTERN } from "../../core/ids.ts";
import type { SessionKey } from "../../core/model.ts";

/** The owner folder of sessions without a user: no valid user id can be `_`. */
export const NULL_OWNER = "_";
export const LAYOUT_FILE = "_layout.json";
export const LAYOUT_FORMAT = 1;
export const KEYS_FILE = "_keys.json";
export const SCOPES_DIR = "_scopes";
export const METADATA_FILE = "metadata.json";
const LOG_FILE = /^events(?:\.([1-9][0-9]*))?\.(?:jsonl|idx)$/;
export const IDEMPOTENCY_FILE = "idempotency.jsonl";
/** One index entry per this many events: forward reads scan at most this many lines to their start. */
export const INDEX_STRIDE = 128;
/** Fixed-width index entries (15 digits + newline) so entry `b` sits at byte `b * INDEX_ENTRY_BYTES`. */
export const INDEX_ENTRY_BYTES = 16;

const TOMBSTONE_MARK = ".del-";

export const ownerSegment = (userId: string | null): string => (userId === null ? NULL_OWNER : userId);

/** The owner a folder name stands for, or undefined when the name is not an owner folder. */
export const ownerOfSegment = (segment: string): string | null | undefined =>
  segment === NULL_OWNER ? null : USER_ID_PATTERN.test(segment) ? segment : undefined;

export const isNamespaceSegment = (segment: string): boolean => NAMESPACE_PATTERN.test(segment);
export const isSessionSegment = (segment: string): boolean => SESSION_ID_PATTERN.test(segment);
export const isTombstone = (segment: string): boolean => segment.startsWith(".") && segment.includes(TOMBSTONE_MARK);

/** The generation whose log file or index `name` is, or undefined when it is neither. */
export const logGenerationOf = (name: string): number | undefined => {
  const match = LOG_FILE.exec(name);
  return match ? Number(match[1] ?? 0) : undefined;
};

/** Generation 0 keeps the names the store had before logs were ever rewritten. */
const logFileNames = (generation: number): { events: string; index: string } =>
  generation === 0
    ? { events: "events.jsonl", index: "events.idx" }
    : { events: `events.${generation}.jsonl`, index: `events.${generation}.idx` };

const invalid = (kind: string): FrontdeskError =>
  new FrontdeskError("invalid_request", `Invalid ${kind} for the filesystem store`);

const checkSegment = (kind: string, pattern: RegExp, value: unknown): string => {
  if (typeof value !== "string" || !pattern.test(value)) throw invalid(kind);
  return value;
};

/** One generation of a session's event log: the lines and their index. */
export interface LogPaths {
  readonly events: string;
  readonly index: string;
}

export interface SessionPaths {
  /** `root/<namespace>/<owner>`: holds the session folder, its lock and its tombstones. */
  readonly ownerDir: string;
  readonly dir: string;
  readonly lock: string;
  readonly metadata: string;
  readonly idempotency: string;
  /** The files of log generation `generation` (`metadata.json` names the current one). */
  log(generation: number): LogPaths;
  /** A fresh tombstone name next to the session folder. */
  tombstone(): string;
}

export interface ScopePaths {
  readonly dir: string;
  readonly file: string;
  readonly lock: string;
}

/**
 * Maps keys to paths under one root. Each segment passes its allowlist, then the joined path is
 * checked to resolve inside the root, so no input can name a file elsewhere.
 */
export class Layout {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** Joins checked segments and proves the result stays under the root. */
  private inside(...segments: string[]): string {
    const resolved = path.resolve(this.root, ...segments);
    if (resolved !== this.root && !resolved.startsWith(this.root + path.sep)) throw invalid("path");
    return resolved;
  }

  get layoutFile(): string {
    return this.inside(LAYOUT_FILE);
  }

  get keysFile(): string {
    return this.inside(KEYS_FILE);
  }

  get keysLock(): string {
    return this.inside(`.${KEYS_FILE}.lock`);
  }

  namespaceDir(namespace: unknown): string {
    return this.inside(checkSegment("namespace", NAMESPACE_PATTERN, namespace));
  }

  ownerDir(namespace: unknown, userId: unknown): string {
    return this.inside(...this.ownerSegments(namespace, userId));
  }

  private ownerSegments(namespace: unknown, userId: unknown): [string, string] {
    const ns = checkSegment("namespace", NAMESPACE_PATTERN, namespace);
    const owner = userId === null ? NULL_OWNER : checkSegment("user id", USER_ID_PATTERN, userId);
    return [ns, owner];
  }

  session(key: SessionKey): SessionPaths {
    const [ns, owner] = this.ownerSegments(key.namespace, key.userId);
    const id = checkSegment("session id", SESSION_ID_PATTERN, key.id);
    const ownerDir = this.inside(ns, owner);
    const dir = this.inside(ns, owner, id);
    return {
      ownerDir,
      dir,
      lock: this.inside(ns, owner, `.${id}.lock`),
      metadata: this.inside(ns, owner, id, METADATA_FILE),
      idempotency: this.inside(ns, owner, id, IDEMPOTENCY_FILE),
      log: (generation) => {
        if (!Number.isSafeInteger(generation) || generation < 0) throw invalid("log generation");
        const names = logFileNames(generation);
        return { events: this.inside(ns, owner, id, names.events), index: this.inside(ns, owner, id, names.index) };
      },
      tombstone: () => this.inside(ns, owner, `.${id}${TOMBSTONE_MARK}${randomBytes(6).toString("hex")}`),
    };
  }

  scope(namespace: unknown, scope: "user" | "app", userId: unknown): ScopePaths {
    if (scope === "app") {
      const ns = checkSegment("namespace", NAMESPACE_PATTERN, namespace);
      return {
        dir: this.inside(ns, SCOPES_DIR),
        file: this.inside(ns, SCOPES_DIR, "app.json"),
        lock: this.inside(ns, SCOPES_DIR, ".app.lock"),
      };
    }
    const [ns, owner] = this.ownerSegments(namespace, userId);
    return {
      dir: this.inside(ns, SCOPES_DIR, "user"),
      file: this.inside(ns, SCOPES_DIR, "user", `${owner}.json`),
      lock: this.inside(ns, SCOPES_DIR, "user", `.${owner}.lock`),
    };
  }
}
