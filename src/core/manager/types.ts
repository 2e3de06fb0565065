/**
 * The manager's public vocabulary: what a served session looks like, how one is named, and the
 * options and results of every method. Types only (and the export format's name), so every part
 * of the manager and every caller can import them without pulling in behaviour.
 */
import type { Clock } from "../clock.ts";
import type { FrontdeskError } from "../errors.ts";
import type { Limits } from "../limits.ts";
import type {
  EventType,
  InvocationStatus,
  Json,
  JsonObject,
  MessageRole,
  SessionEvent,
  SessionHeader,
  SessionStatus,
  StateDelta,
} from "../model.ts";

/** A session as the manager serves it: deep-frozen, with `user:`/`app:` keys merged into `state`. */
export type Session<S extends object = JsonObject> = Readonly<Omit<SessionHeader, "state">> & {
  readonly state: Readonly<S>;
};

/** Names a session: its id, or its id and owner when the manager is not bound to one user. */
export type SessionRef = string | { readonly id: string; readonly userId?: string | null };

/** AgentDock's result shape: never throws for a missing, expired or conflicting session. */
export type SessionResult<D, S extends object = JsonObject> =
  | {
      readonly success: true;
      readonly sessionId: string;
      readonly data: D;
      /** The whole session (header, stats, version) when `data` is its state. */
      readonly session?: Session<S>;
    }
  | {
      readonly success: false;
      readonly sessionId: string;
      readonly data?: undefined;
      readonly error: { readonly code: FrontdeskError["code"]; readonly message: string };
    };

export interface SessionManagerOptions {
  /**
   * Sliding time to live of new sessions in ms; every read or write moves `expiresAt` to now + ttl.
   * `null`: sessions never expire. @default 1_800_000 (30 minutes, as AgentDock)
   */
  defaultTtlMs?: number | null;
  /** Hard cap on a session's life however often it is touched; `null` none. @default null */
  absoluteTtlMs?: number | null;
  /**
   * A read refreshes the TTL at most once per this fraction of the ttl, so reads stay cheap.
   * @default 0.1
   */
  touchFraction?: number;
  /** Attempts of an `updateSession` before it gives up with `conflict`. @default 100 */
  maxRetries?: number;
  /**
   * Prune every session of the namespace to this policy as it grows (docs/privacy.md, "Pruning").
   * A session's `metadata["frontdesk.retention"]` overrides it. @default keep everything
   */
  retention?: { keepLastEvents: number; onlySummarized?: boolean };
  /**
   * Mask known secret formats (API keys, tokens, private keys, passwords in URLs) in events before
   * they are stored, recording the masked spans by kind (docs/privacy.md, "Secret masking").
   * @default false
   */
  maskSecrets?: boolean;
  clock?: Clock;
  limits?: Partial<Limits>;
  /** Binds the manager to one owner: every call is scoped to it (see `SessionManager.forUser`). */
  userId?: string | null;
  /** Counts tokens for `getMessages({ tokenBudget })`. @default about 4 characters a token */
  countTokens?: (text: string) => number;
}

export interface CreateSessionOptions<S extends object> {
  /** Client-chosen id (`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`); else 128 random bits. */
  sessionId?: string;
  /** Owner; only on a manager not bound to a user, or equal to the bound one. */
  userId?: string | null;
  /** Initial state; else `defaultStateGenerator(sessionId)`. */
  state?: S;
  title?: string | null;
  purpose?: string | null;
  tags?: string[];
  metadata?: JsonObject;
  /** Overrides the manager's `defaultTtlMs` for this session. */
  ttlMs?: number | null;
  absoluteTtlMs?: number | null;
  /** What to do when the id is taken: return that session (AgentDock) or fail with `conflict`. @default "return" */
  ifExists?: "return" | "error";
}

export interface PatchSessionInput {
  /** RFC 7396 merge patch of the session state (nested objects merge, `null` deletes). */
  state?: JsonObject;
  title?: string | null;
  purpose?: string | null;
  tags?: string[];
  /** Replaces the metadata object. */
  metadata?: JsonObject;
  status?: SessionStatus;
  ttlMs?: number | null;
}

export interface WriteOptions {
  /** Fails with `precondition_failed` (and writes nothing) unless the session is at this version. */
  expectedVersion?: number;
}

export interface AppendOptions extends WriteOptions {
  /** A retry with the same key returns the first result and appends nothing. */
  idempotencyKey?: string;
}

export interface AppendResult {
  /**
   * The session's version and last seq right after the commit that wrote these events (its ETag).
   * Appends to one session that arrive together may share one commit, and then these.
   */
  readonly version: number;
  readonly lastSeq: number;
  readonly events: readonly SessionEvent[];
  /** True when an earlier request with the same idempotency key already appended these. */
  readonly replayed: boolean;
}

export interface ReadEventsOptions {
  /** Only events after this seq. @default 0 */
  after?: number;
  /** Only events before this seq: with `last`, pages back through the history. */
  before?: number;
  limit?: number;
  types?: readonly EventType[];
  /** The newest `last` events (after any filter), oldest first; costs O(last). */
  last?: number;
}

export interface EventPageOptions extends ReadEventsOptions {
  /** @default 100 */
  limit?: number;
  /**
   * The page's events, as UTF-8 JSON, stay within this many bytes (a page always holds at least
   * one event). A page of big events ends early, and its cursor says where to go on.
   * @default 4_194_304 (4 MiB)
   */
  maxBytes?: number;
}

/** One page of events in seq order, with the cursors to the events next to it. */
export interface EventPage {
  readonly items: readonly SessionEvent[];
  /** Pass as `after` for the events after this page; null at the end (and for `last` pages). */
  readonly nextAfter: number | null;
  /** For a `last` page: pass as `before` (with `last`) for the events older than it; null when none are left. */
  readonly nextBefore: number | null;
}

export interface ListSessionsOptions {
  /** Only on an unbound manager: one owner's sessions (`null`: sessions without an owner). */
  userId?: string | null;
  status?: SessionStatus | SessionStatus[];
  /** Every tag must be present. */
  tags?: string[];
  /** Case-insensitive substring of the title or purpose. */
  text?: string;
  createdAfter?: number;
  createdBefore?: number;
  updatedAfter?: number;
  updatedBefore?: number;
  /** @default "createdAt" */
  orderBy?: "createdAt" | "updatedAt";
  /** @default "desc" */
  order?: "asc" | "desc";
  /** @default 50, at most 1000 */
  limit?: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
}

export interface SessionPage<S extends object = JsonObject> {
  readonly items: readonly Session<S>[];
  readonly nextCursor: string | null;
}

export interface MessageInput {
  role: MessageRole;
  /** Text, or AI SDK / OpenAI content parts (each with a `type`). */
  content: string | readonly Record<string, unknown>[];
  name?: string;
  toolCallId?: string;
  usage?: { inputTokens?: number; outputTokens?: number; totalTokens?: number; costUsd?: number };
  model?: string;
  finish?: "complete" | "cancelled" | "error";
  stateDelta?: StateDelta;
  [extra: string]: unknown;
}

export interface InvocationInput {
  tool: string;
  /** @default a fresh id */
  invocationId?: string;
  input?: Json;
  output?: Json;
  error?: string | { message: string; code?: string };
  /** @default "error" when `error` is given, else "success" */
  status?: InvocationStatus;
  durationMs?: number;
  stateDelta?: StateDelta;
}

export interface ForkOptions {
  /** Copy events 1..atSeq. @default the source's lastSeq */
  atSeq?: number;
  sessionId?: string;
  title?: string | null;
}

export interface ImportOptions {
  /** Import under this id instead of the exported one. */
  sessionId?: string;
}

export interface MessagesOptions {
  /** At most this many messages, the newest. */
  last?: number;
  /** The newest messages whose tokens fit this budget (a summary, when present, is counted first). */
  tokenBudget?: number;
}

export interface EventSubscription extends AsyncIterable<SessionEvent> {
  /** Ends the iteration; pending `next()` calls resolve as done. */
  close(): Promise<void>;
}

/** The NDJSON export format's first line names it so imports can refuse what they don't know. */
export const EXPORT_FORMAT = "frontdesk.session.v1";
