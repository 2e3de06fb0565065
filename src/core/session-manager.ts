import { createHash } from "node:crypto";
import type { z } from "zod";
import { AppendGroups, type MemberOutcome } from "./append-groups.ts";
import { type Clock, SYSTEM_CLOCK } from "./clock.ts";
import { FrontdeskError, isFrontdeskError } from "./errors.ts";
import {
  assertIdempotencyKey,
  assertNamespace,
  assertSessionId,
  assertUserId,
  newEventId,
  newSessionId,
} from "./ids.ts";
import { describeIssues } from "./issues.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import { assertWithin, DEFAULT_LIMITS, jsonBytes, type Limits } from "./limits.ts";
import { acquireTail, releaseTail } from "./live-tail.ts";
import {
  EventEnvelopeSchema,
  type EventInput,
  EventInputSchema,
  type EventType,
  emptyStats,
  type InvocationStatus,
  type Json,
  type JsonObject,
  JsonObjectSchema,
  type MessagePayload,
  type MessageRole,
  type SessionEvent,
  type SessionHeader,
  SessionHeaderSchema,
  type SessionKey,
  type SessionStats,
  type SessionStatus,
  SessionStatusSchema,
  type StateDelta,
  sessionKeyId,
  TagsSchema,
} from "./model.ts";
import {
  accumulateStats,
  applyDelta,
  cloneJson,
  deepFreeze,
  diffState,
  isEmpty,
  mergePatch,
  scopeOfKey,
  splitDelta,
  statsDeltaOf,
  withoutProcessKeys,
} from "./state.ts";
import type {
  Commit,
  EventRange,
  IdempotencyRecord,
  ListCursor,
  ScopedState,
  ScopedWrite,
  SessionStore,
} from "./store-contract.ts";

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
  clock?: Clock;
  limits?: Partial<Limits>;
  /** Binds the manager to one owner: every call is scoped to it (see {@link SessionManager.forUser}). */
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
  limit?: number;
  types?: readonly EventType[];
  /** The newest `last` events (after any filter), oldest first; costs O(last). */
  last?: number;
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

const READ_BATCH = 500;
/** Fork and import write in chunks so no backend gets one unbounded commit. */
const COPY_CHUNK = 500;

const shared = new WeakMap<SessionStore, KeyedMutex>();
const mutexFor = (store: SessionStore): KeyedMutex => {
  let mutex = shared.get(store);
  if (!mutex) shared.set(store, (mutex = new KeyedMutex()));
  return mutex;
};

/**
 * The session built from a store's shared frozen header, for as long as the store keeps that header:
 * weak, so a replaced header takes its session with it, and no version outlives the store's own copy.
 */
const presented = new WeakMap<SessionHeader, Session<JsonObject>>();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const invalid = (message: string): FrontdeskError => new FrontdeskError("invalid_request", message);

const parseWith = <T>(schema: z.ZodType<T>, value: unknown, what: string): T => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // A failure of the whole value reads `status: must be one of …`; one inside it names the value first.
    const described = describeIssues(parsed.error.issues, { root: what });
    throw invalid(described.startsWith(`${what}: `) ? described : `Invalid ${what}: ${described}`);
  }
  return parsed.data;
};

const fingerprint = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex");

const encodeCursor = (cursor: ListCursor): string => Buffer.from(JSON.stringify(cursor)).toString("base64url");
const decodeCursor = (text: string): ListCursor => {
  try {
    const value = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as ListCursor;
    if (
      typeof value.value === "number" &&
      typeof value.id === "string" &&
      (value.userId === null || typeof value.userId === "string")
    ) {
      return { value: value.value, userId: value.userId, id: value.id };
    }
  } catch {
    // fall through to the error below
  }
  throw invalid("Invalid cursor: pass the nextCursor of a previous page unchanged");
};

const toResultError = (error: unknown): { code: FrontdeskError["code"]; message: string } =>
  isFrontdeskError(error)
    ? { code: error.code, message: error.message }
    : { code: "internal", message: "Internal error" };

/**
 * The front desk: hands every conversation its own session and keeps its state, history and
 * statistics. Every derived behaviour (retries, TTL, stats, forks, exports) lives here once, above
 * the {@link SessionStore} contract.
 *
 * @example
 * const store = await openStore("sqlite:./sessions.db");
 * const sessions = new SessionManager(() => ({ count: 0 }), store);
 * const created = await sessions.createSession();
 * await sessions.updateSession(created.sessionId, (s) => ({ ...s, count: s.count + 1 }));
 */
export class SessionManager<S extends object = JsonObject> {
  readonly namespace: string;
  /** The owner every call is scoped to; `null` for library use without users. */
  readonly userId: string | null;
  private readonly bound: boolean;
  private readonly clock: Clock;
  private readonly limits: Limits;
  private readonly mutex: KeyedMutex;
  /** Shared with this manager's {@link forUser} views, which keep its settings. */
  private appendGroups: AppendGroups<readonly EventInput[], AppendResult>;
  private readonly defaultTtlMs: number | null;
  private readonly absoluteTtlMs: number | null;
  private readonly touchFraction: number;
  private readonly maxRetries: number;
  private readonly countTokens: (text: string) => number;

  constructor(
    private readonly defaultStateGenerator: (sessionId: string) => S,
    readonly store: SessionStore,
    namespace = "default",
    private readonly options: SessionManagerOptions = {},
  ) {
    this.namespace = assertNamespace(namespace);
    this.bound = options.userId !== undefined;
    this.userId = options.userId === undefined || options.userId === null ? null : assertUserId(options.userId);
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.mutex = mutexFor(store);
    this.appendGroups = new AppendGroups(store.capabilities?.blocking === true);
    this.defaultTtlMs = validTtl(options.defaultTtlMs === undefined ? 30 * 60 * 1000 : options.defaultTtlMs);
    this.absoluteTtlMs = validTtl(options.absoluteTtlMs ?? null);
    this.touchFraction = options.touchFraction ?? 0.1;
    this.maxRetries = options.maxRetries ?? 100;
    this.countTokens = options.countTokens ?? ((text) => Math.ceil(text.length / 4));
  }

  /** A view of this manager bound to one owner: it can never read or write another's sessions. */
  forUser(userId: string | null): SessionManager<S> {
    const view = new SessionManager(this.defaultStateGenerator, this.store, this.namespace, {
      ...this.options,
      userId,
    });
    view.appendGroups = this.appendGroups;
    return view;
  }

  // ── AgentDock API: results, never throws for session-level failures ─────────────────────────

  /** Creates a session, or returns the existing one when the id is taken (AgentDock). */
  async createSession(options: CreateSessionOptions<S> = {}): Promise<SessionResult<S, S>> {
    return this.asResult(options.sessionId ?? "", async () => {
      const session = await this.create(options);
      return { sessionId: session.id, data: session.state as S, session };
    });
  }

  async getSession(ref: SessionRef): Promise<SessionResult<S, S>> {
    return this.asResult(refId(ref), async () => {
      const session = await this.get(ref);
      return { sessionId: session.id, data: session.state as S, session };
    });
  }

  /** Applies `fn` to a frozen copy of the state and commits; retries on conflict (no lost updates). */
  async updateSession(ref: SessionRef, fn: (state: Readonly<S>) => S): Promise<SessionResult<S, S>> {
    return this.asResult(refId(ref), async () => {
      const session = await this.update(ref, fn);
      return { sessionId: session.id, data: session.state as S, session };
    });
  }

  async deleteSession(ref: SessionRef): Promise<SessionResult<boolean, S>> {
    return this.asResult(refId(ref), async () => ({ sessionId: refId(ref), data: await this.delete(ref) }));
  }

  // ── Throwing API ────────────────────────────────────────────────────────────────────────────

  /** Creates a session. Throws `conflict` when the id is taken and `ifExists` is "error". */
  async create(options: CreateSessionOptions<S> = {}): Promise<Session<S>> {
    const id = options.sessionId === undefined ? newSessionId() : assertSessionId(options.sessionId);
    const userId = this.ownerFor(options.userId);
    const key: SessionKey = { namespace: this.namespace, userId, id };
    const title = optionalText(options.title, "title", 512);
    const purpose = optionalText(options.purpose, "purpose", 4096);
    const tags = options.tags === undefined ? [] : parseWith(TagsSchema, options.tags, "tags");
    const metadata = options.metadata === undefined ? {} : parseWith(JsonObjectSchema, options.metadata, "metadata");
    assertWithin("metadata", jsonBytes(metadata), this.limits.maxMetadataBytes);
    const ttlMs = options.ttlMs === undefined ? this.defaultTtlMs : validTtl(options.ttlMs);
    const absoluteTtlMs = options.absoluteTtlMs === undefined ? this.absoluteTtlMs : validTtl(options.absoluteTtlMs);
    const initial = options.state ?? this.defaultStateGenerator(id);
    const state = parseWith(JsonObjectSchema, initial, "state");

    return this.mutex.run(sessionKeyId(key), async () => {
      const now = this.clock.now();
      const existing = await this.store.get(key, now);
      if (existing) {
        if (options.ifExists === "error") {
          throw new FrontdeskError("conflict", "A session with this id already exists", {
            details: { currentVersion: existing.version },
          });
        }
        return this.serve(existing, now);
      }
      if (this.limits.maxSessionsPerUser !== null && userId !== null) {
        const owned = await this.store.count(this.namespace, userId, now);
        if (owned >= this.limits.maxSessionsPerUser) {
          throw new FrontdeskError("payload_too_large", `This user already has ${owned} sessions`, {
            details: { limit: this.limits.maxSessionsPerUser },
          });
        }
      }
      const scopes = await this.readScopes(key);
      const { sessionState, delta, scopedWrites } = this.splitStateChange({}, state, scopes);
      assertWithin("session state", jsonBytes(sessionState), this.limits.maxStateBytes);
      const absoluteExpiresAt = absoluteTtlMs === null ? null : now + absoluteTtlMs;
      const events: SessionEvent[] = isEmpty(delta)
        ? []
        : [{ seq: 1, id: newEventId(), at: now, type: "state", stateDelta: delta }];
      const header: SessionHeader = {
        namespace: this.namespace,
        userId,
        id,
        status: "active",
        title,
        purpose,
        tags,
        metadata,
        state: sessionState,
        version: 1,
        lastSeq: events.length,
        stats: emptyStats(),
        createdAt: now,
        updatedAt: now,
        lastAccessedAt: now,
        ttlMs,
        expiresAt: expiryOf(now, ttlMs, absoluteExpiresAt),
        absoluteExpiresAt,
        parent: null,
      };
      try {
        await this.store.commit({ key, expectedVersion: 0, header, events, scoped: scopedWrites, now });
      } catch (error) {
        // Another writer created it between our read and our commit: AgentDock returns that one.
        if (isFrontdeskError(error, "conflict") && options.ifExists !== "error") {
          const raced = await this.store.get(key, now);
          if (raced) return this.serve(raced, now);
        }
        throw error;
      }
      return this.present(header, applyScopes(sessionState, scopes));
    });
  }

  /** The session's header with state and stats. Never reads events. Throws `not_found`. */
  async get(ref: SessionRef): Promise<Session<S>> {
    const key = this.keyOf(ref);
    const now = this.clock.now();
    // Issued together: one round trip on a networked store, one freshness check on an embedded one.
    // The hottest read there is, so the three calls share one Promise.all and an untouched TTL no await.
    const [header, user, app] = await Promise.all([this.store.get(key, now), ...this.scopeReads(key)]);
    if (!header) throw notFound();
    const served = this.needsTouch(header, now) ? await this.slide(header, now) : header;
    return this.present(served, applyScopes(served.state, { user, app }));
  }

  /** Applies `fn` to a frozen copy of the state and commits with the version read; retries on conflict. */
  async update(ref: SessionRef, fn: (state: Readonly<S>) => S, options: WriteOptions = {}): Promise<Session<S>> {
    return this.write(ref, options, async (current, loadScopes) => {
      // `current` is this call's own copy from the store, so freezing it in place aliases nothing.
      const merged = deepFreeze(applyScopes(current.state, await loadScopes())) as Readonly<S>;
      const next = fn(merged);
      const state = parseWith(JsonObjectSchema, next, "state returned by the update function");
      return { state };
    });
  }

  /** Changes header fields and merge-patches state in one commit (the HTTP `PATCH`). */
  async patch(ref: SessionRef, input: PatchSessionInput, options: WriteOptions = {}): Promise<Session<S>> {
    const statePatch = input.state === undefined ? undefined : parseWith(JsonObjectSchema, input.state, "state");
    const changes: HeaderChanges = {};
    if (input.title !== undefined) changes.title = optionalText(input.title, "title", 512);
    if (input.purpose !== undefined) changes.purpose = optionalText(input.purpose, "purpose", 4096);
    if (input.tags !== undefined) changes.tags = parseWith(TagsSchema, input.tags, "tags");
    if (input.metadata !== undefined) {
      changes.metadata = parseWith(JsonObjectSchema, input.metadata, "metadata");
      assertWithin("metadata", jsonBytes(changes.metadata), this.limits.maxMetadataBytes);
    }
    if (input.status !== undefined) changes.status = parseWith(SessionStatusSchema, input.status, "status");
    if (input.ttlMs !== undefined) changes.ttlMs = validTtl(input.ttlMs);
    return this.write(ref, options, async (current, loadScopes) => {
      const state =
        statePatch === undefined
          ? undefined
          : (mergePatch(applyScopes(current.state, await loadScopes()), statePatch) as JsonObject);
      return { state, changes };
    });
  }

  /** Sets purpose, title, tags, and merges `metadata` keys into the existing metadata. */
  async updateMetadata(
    ref: SessionRef,
    input: { purpose?: string | null; title?: string | null; tags?: string[]; metadata?: JsonObject },
    options: WriteOptions = {},
  ): Promise<Session<S>> {
    const metadataPatch =
      input.metadata === undefined ? undefined : parseWith(JsonObjectSchema, input.metadata, "metadata");
    const changes: HeaderChanges = {};
    if (input.title !== undefined) changes.title = optionalText(input.title, "title", 512);
    if (input.purpose !== undefined) changes.purpose = optionalText(input.purpose, "purpose", 4096);
    if (input.tags !== undefined) changes.tags = parseWith(TagsSchema, input.tags, "tags");
    return this.write(ref, options, async (current) => {
      const metadata = metadataPatch === undefined ? undefined : { ...current.metadata, ...metadataPatch };
      if (metadata) assertWithin("metadata", jsonBytes(metadata), this.limits.maxMetadataBytes);
      return { changes: metadata ? { ...changes, metadata } : changes };
    });
  }

  /** Marks the session completed, failed or abandoned, with a `status` event. */
  async completeSession(ref: SessionRef, status: SessionStatus = "completed"): Promise<Session<S>> {
    return this.patch(ref, { status: parseWith(SessionStatusSchema, status, "status") });
  }

  /**
   * Deletes the header and every event together. False when there was no such session (or it had
   * expired). With `expectedVersion` the check and the delete are one atomic store operation: a
   * session at another version is `precondition_failed` with `details.currentVersion`, and nothing
   * is deleted.
   */
  async delete(ref: SessionRef, options: WriteOptions = {}): Promise<boolean> {
    const key = this.keyOf(ref);
    const expected =
      options.expectedVersion === undefined ? undefined : nonNegativeInt(options.expectedVersion, "expectedVersion");
    return this.mutex.run(sessionKeyId(key), async () => {
      if (expected !== undefined) {
        try {
          return await this.store.delete(key, { expectedVersion: expected, now: this.clock.now() });
        } catch (error) {
          if (!isFrontdeskError(error, "conflict")) throw error;
          throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
            details: { currentVersion: error.details?.currentVersion },
          });
        }
      }
      const live = await this.store.get(key, this.clock.now());
      const deleted = await this.store.delete(key);
      return deleted && live !== undefined;
    });
  }

  /**
   * Appends events atomically with the next seqs, applying their `stateDelta`s in the same commit.
   * Without `expectedVersion` a concurrent write is retried; with it, a mismatch is
   * `precondition_failed`.
   */
  async appendEvents(ref: SessionRef, inputs: readonly unknown[], options: AppendOptions = {}): Promise<AppendResult> {
    if (!Array.isArray(inputs) || inputs.length === 0) throw invalid("Append at least one event");
    if (inputs.length > this.limits.maxEventsPerAppend) {
      throw new FrontdeskError("payload_too_large", `At most ${this.limits.maxEventsPerAppend} events per append`, {
        details: { limit: this.limits.maxEventsPerAppend },
      });
    }
    const parsed = inputs.map((input, i) => {
      const event = parseWith(EventInputSchema, input, `event ${i}`);
      assertWithin(`event ${i}`, jsonBytes(event), this.limits.maxEventBytes);
      return event;
    });
    const idempotencyKey =
      options.idempotencyKey === undefined ? undefined : assertIdempotencyKey(options.idempotencyKey);
    const print = idempotencyKey === undefined ? undefined : fingerprint(parsed);
    const key = this.keyOf(ref);
    if (idempotencyKey === undefined && options.expectedVersion === undefined) {
      // Unconditional appends to one session that arrive together share one commit.
      const lock = sessionKeyId(key);
      return this.appendGroups.submit(
        lock,
        parsed,
        parsed.length,
        this.limits.maxEventsPerAppend,
        (members) => this.appendGroup(key, members),
        (work) => this.mutex.run(lock, work),
      );
    }
    return this.mutex.run(sessionKeyId(key), () => this.appendLocked(key, parsed, options, idempotencyKey, print));
  }

  /**
   * One commit for a group of unconditional appends, run holding the session's lock. Each member
   * gets its own events; a group that would pass the session's event limit is written member by
   * member instead, so only the members that do not fit are refused.
   */
  private async appendGroup(
    key: SessionKey,
    members: readonly (readonly EventInput[])[],
  ): Promise<MemberOutcome<AppendResult>[]> {
    if (members.length === 1) {
      // A group of one fails as that member fails.
      return [
        {
          ok: true,
          value: await this.appendLocked(key, members[0] as readonly EventInput[], {}, undefined, undefined),
        },
      ];
    }
    const one = async (events: readonly EventInput[]): Promise<MemberOutcome<AppendResult>> => {
      try {
        return { ok: true, value: await this.appendLocked(key, events, {}, undefined, undefined) };
      } catch (error) {
        return { ok: false, error };
      }
    };
    let written: AppendResult;
    try {
      written = await this.appendLocked(key, members.flat(), {}, undefined, undefined);
    } catch (error) {
      if (!isFrontdeskError(error, "payload_too_large")) throw error;
      const outcomes: MemberOutcome<AppendResult>[] = [];
      for (const member of members) outcomes.push(await one(member));
      return outcomes;
    }
    let offset = 0;
    return members.map((member) => {
      const events = written.events.slice(offset, offset + member.length);
      offset += member.length;
      return { ok: true, value: { ...written, events: Object.freeze(events) } };
    });
  }

  /** {@link appendEvents} after validation, holding the session's lock. */
  private async appendLocked(
    key: SessionKey,
    parsed: readonly EventInput[],
    options: AppendOptions,
    idempotencyKey: string | undefined,
    print: string | undefined,
  ): Promise<AppendResult> {
    if (this.store.append && parsed.every(isPlainAppend)) {
      const fast = await this.appendInOneStep(key, parsed, options, idempotencyKey, print);
      if (fast) return fast;
    }
    let appended: SessionEvent[] = [];
    let replayed: IdempotencyRecord | undefined;

    // Only the committed version and seq are returned, so the session is never built and frozen.
    const { header: session } = await this.writeUnpresented(
      key,
      options,
      async (current, _loadScopes, now) => {
        replayed = undefined;
        if (idempotencyKey !== undefined) {
          const record = await this.store.findIdempotency(key, idempotencyKey);
          if (record) {
            if (record.fingerprint !== print) throw idempotencyKeyReused();
            replayed = record;
            return "skip";
          }
        }
        if (current.lastSeq + parsed.length > this.limits.maxEventsPerSession) {
          throw eventLimitReached(this.limits.maxEventsPerSession);
        }
        appended = parsed.map((event, i) => ({ seq: current.lastSeq + i + 1, id: newEventId(), at: now, ...event }));
        let delta: StateDelta = {};
        for (const event of appended) if (event.stateDelta) delta = { ...delta, ...event.stateDelta };
        return {
          events: appended,
          delta: isEmpty(delta) ? undefined : delta,
          idempotency:
            idempotencyKey === undefined
              ? undefined
              : (version: number) => ({
                  key: idempotencyKey,
                  fingerprint: print as string,
                  firstSeq: current.lastSeq + 1,
                  lastSeq: current.lastSeq + appended.length,
                  version,
                  at: now,
                }),
        };
      },
      true,
    );
    if (replayed) return this.replay(key, replayed);
    return {
      version: session.version,
      lastSeq: session.lastSeq,
      events: deepFreeze(appended),
      replayed: false,
    };
  }

  /**
   * {@link appendEvents} through the store's optional one-step `append`, for events that change
   * neither state nor status: the same checks in the same order, the same result and errors.
   * Undefined when the store declines; nothing changed then.
   */
  private async appendInOneStep(
    key: SessionKey,
    parsed: readonly EventInput[],
    options: AppendOptions,
    idempotencyKey: string | undefined,
    print: string | undefined,
  ): Promise<AppendResult | undefined> {
    const store = this.store;
    if (!store.append) return undefined;
    const expected =
      options.expectedVersion === undefined ? undefined : nonNegativeInt(options.expectedVersion, "expectedVersion");
    const now = this.clock.now();
    const events: (EventInput & { id: string; at: number })[] = [];
    for (const event of parsed) events.push({ id: newEventId(), at: now, ...event });
    const result = await store.append({
      key,
      events,
      stats: statsDeltaOf(parsed),
      expectedVersion: expected,
      maxEventsPerSession: this.limits.maxEventsPerSession,
      idempotency: idempotencyKey === undefined ? undefined : { key: idempotencyKey, fingerprint: print as string },
      now,
    });
    if (!result) return undefined;
    switch (result.outcome) {
      case "not_found":
        throw notFound();
      case "full":
        throw eventLimitReached(this.limits.maxEventsPerSession);
      case "version_mismatch":
        throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
          details: { currentVersion: result.currentVersion },
        });
      case "replayed":
        if (result.record.fingerprint !== print) throw idempotencyKeyReused();
        return this.replay(key, result.record);
      case "appended": {
        const firstSeq = result.lastSeq - events.length + 1;
        const appended: SessionEvent[] = [];
        for (let i = 0; i < events.length; i++) appended.push({ seq: firstSeq + i, ...events[i] } as SessionEvent);
        return { version: result.version, lastSeq: result.lastSeq, events: deepFreeze(appended), replayed: false };
      }
    }
  }

  /** What the append that first used an idempotency key wrote, answered again. */
  private async replay(key: SessionKey, record: IdempotencyRecord): Promise<AppendResult> {
    const events = await this.store.readEvents(key, { after: record.firstSeq - 1, before: record.lastSeq + 1 });
    return { version: record.version, lastSeq: record.lastSeq, events: deepFreeze(events), replayed: true };
  }

  /** Appends one message (AI SDK / OpenAI shaped content round-trips unchanged). */
  async addMessage(ref: SessionRef, message: MessageInput, options: AppendOptions = {}): Promise<SessionEvent> {
    const { events } = await this.appendEvents(ref, [{ ...message, type: "message" }], options);
    return events[0] as SessionEvent;
  }

  /** Records one finished tool invocation as a `tool_call` and a `tool_result`, atomically. */
  async linkInvocation(
    ref: SessionRef,
    invocation: InvocationInput,
    options: AppendOptions = {},
  ): Promise<readonly SessionEvent[]> {
    if (invocation === null || typeof invocation !== "object") throw invalid("An invocation is an object");
    const invocationId = invocation.invocationId ?? `inv_${newEventId().slice(3)}`;
    const error =
      invocation.error === undefined
        ? undefined
        : typeof invocation.error === "string"
          ? { message: invocation.error }
          : invocation.error;
    const status = invocation.status ?? (error ? "error" : "success");
    const call: Record<string, unknown> = { type: "tool_call", invocationId, tool: invocation.tool };
    if (invocation.input !== undefined) call.input = invocation.input;
    const result: Record<string, unknown> = { type: "tool_result", invocationId, tool: invocation.tool, status };
    if (invocation.input !== undefined) result.input = invocation.input;
    if (invocation.output !== undefined) result.output = invocation.output;
    if (error !== undefined) result.error = error;
    if (invocation.durationMs !== undefined) result.durationMs = invocation.durationMs;
    if (invocation.stateDelta !== undefined) result.stateDelta = invocation.stateDelta;
    const { events } = await this.appendEvents(ref, [call, result], options);
    return events;
  }

  /** Events in seq order. `last` reads only the newest ones, whatever the history's length. */
  async readEvents(ref: SessionRef, options: ReadEventsOptions = {}): Promise<readonly SessionEvent[]> {
    const key = this.keyOf(ref);
    await this.live(key);
    const after = nonNegativeInt(options.after ?? 0, "after");
    const types = options.types === undefined ? undefined : [...options.types];
    if (options.last !== undefined) {
      const last = positiveInt(options.last, "last");
      const newest = await this.store.readEvents(key, { after, limit: last, types, order: "desc" });
      return deepFreeze(newest.reverse());
    }
    const range: EventRange = { after, types };
    const limit = options.limit === undefined ? undefined : positiveInt(options.limit, "limit");
    const events = await this.store.readEvents(key, limit === undefined ? range : { ...range, limit });
    return deepFreeze(events);
  }

  /** Statistics kept current in the header: reading them never scans events. */
  async getStatistics(ref: SessionRef): Promise<Readonly<SessionStats>> {
    return (await this.get(ref)).stats;
  }

  /** Sessions of this manager's owner (or any owner on an unbound manager), with a stable cursor. */
  async listSessions(options: ListSessionsOptions = {}): Promise<SessionPage<S>> {
    const orderBy = options.orderBy ?? "createdAt";
    const order = options.order ?? "desc";
    if (orderBy !== "createdAt" && orderBy !== "updatedAt") throw invalid("orderBy is createdAt or updatedAt");
    if (order !== "asc" && order !== "desc") throw invalid("order is asc or desc");
    const limit = Math.min(positiveInt(options.limit ?? 50, "limit"), 1000);
    let userId: string | null | undefined;
    if (this.bound) {
      if (options.userId !== undefined && options.userId !== this.userId) {
        return { items: [], nextCursor: null };
      }
      userId = this.userId;
    } else {
      userId = options.userId === undefined || options.userId === null ? options.userId : assertUserId(options.userId);
    }
    const statuses =
      options.status === undefined
        ? undefined
        : (Array.isArray(options.status) ? options.status : [options.status]).map((s) =>
            parseWith(SessionStatusSchema, s, "status"),
          );
    const tags = options.tags === undefined ? undefined : parseWith(TagsSchema, options.tags, "tags");
    const now = this.clock.now();
    const page = await this.store.list({
      namespace: this.namespace,
      userId,
      status: statuses,
      tags,
      text: options.text === undefined || options.text === "" ? undefined : String(options.text).slice(0, 256),
      createdAfter: optionalTime(options.createdAfter, "createdAfter"),
      createdBefore: optionalTime(options.createdBefore, "createdBefore"),
      updatedAfter: optionalTime(options.updatedAfter, "updatedAfter"),
      updatedBefore: optionalTime(options.updatedBefore, "updatedBefore"),
      orderBy,
      order,
      limit,
      after: options.cursor === undefined ? undefined : decodeCursor(options.cursor),
      now,
    });
    const last = page.items.at(-1);
    const items = await Promise.all(page.items.map((header) => this.present(header, header.state)));
    return {
      items,
      nextCursor:
        page.hasMore && last ? encodeCursor({ value: last[orderBy], userId: last.userId, id: last.id }) : null,
    };
  }

  /** Deletes sessions not updated for `maxAgeMs` (retention; separate from TTL). Returns how many. */
  async cleanupOldSessions(maxAgeMs: number): Promise<number> {
    const age = nonNegativeInt(maxAgeMs, "maxAgeMs");
    const cutoff = this.clock.now() - age;
    let removed = 0;
    for (;;) {
      const page = await this.listSessions({ updatedBefore: cutoff, orderBy: "updatedAt", order: "asc", limit: 200 });
      for (const session of page.items) {
        if (await this.delete({ id: session.id, userId: session.userId })) removed++;
      }
      if (!page.nextCursor || page.items.length === 0) return removed;
    }
  }

  /** Deletes sessions whose TTL has passed, with their events (they are never served meanwhile). */
  async sweepExpired(limit = 1000): Promise<number> {
    return this.store.sweep(this.clock.now(), positiveInt(limit, "limit"));
  }

  /**
   * Replays events after `after`, then follows live ones. The store's notifications are only
   * hints: every delivery re-reads the log by seq, so nothing is missed or duplicated at the
   * hand-over or after a lost hint. Every subscriber of a session in this process shares one
   * follower of its log, so an append costs one read however many subscribers there are. Ends when
   * the session is deleted or expires.
   */
  subscribe(ref: SessionRef, options: { after?: number } = {}): EventSubscription {
    const key = this.keyOf(ref);
    const after = nonNegativeInt(options.after ?? 0, "after");
    const store = this.store;
    const clock = this.clock;
    let closed = false;
    let stopWaiting: (() => void) | undefined;

    async function* follow(): AsyncGenerator<SessionEvent> {
      const id = sessionKeyId(key);
      const tail = acquireTail(store, key, id);
      try {
        await tail.open();
        if (!(await store.get(key, clock.now()))) throw notFound();
        let cursor = after;
        let woken = false;
        while (!closed) {
          const batch = await tail.eventsAfter(cursor);
          for (const event of batch) {
            if (closed) return;
            cursor = event.seq;
            yield event;
          }
          if (batch.length > 0) continue;
          // A hint that brought no event may mean the session is gone: then the stream ends.
          if (woken && !(await store.get(key, clock.now()))) return;
          // close() may have run while this generator was suspended in a read: check before waiting.
          if (closed) return;
          const wait = tail.waitForChange();
          stopWaiting = wait.cancel;
          await wait.promise;
          stopWaiting = undefined;
          woken = true;
        }
      } finally {
        await releaseTail(store, id, tail);
      }
    }

    const iterator = follow();
    return {
      [Symbol.asyncIterator]: () => iterator,
      async close() {
        closed = true;
        stopWaiting?.();
        await iterator.return(undefined);
      },
    };
  }

  /** A new session with the events up to `atSeq`, its state as it stood then, and its lineage. */
  async fork(ref: SessionRef, options: ForkOptions = {}): Promise<Session<S>> {
    const source = await this.get(ref);
    const atSeq = options.atSeq === undefined ? source.lastSeq : nonNegativeInt(options.atSeq, "atSeq");
    if (atSeq > source.lastSeq) throw invalid(`atSeq ${atSeq} is beyond the last event (${source.lastSeq})`);
    const events = await this.collectEvents(this.keyOf(ref), atSeq);
    let state: JsonObject = {};
    for (const event of events) if (event.stateDelta) state = applyDelta(state, splitDelta(event.stateDelta).session);
    state = withoutProcessKeys(state);
    const now = this.clock.now();
    const header: SessionHeader = {
      ...cloneJson(source as SessionHeader),
      id: options.sessionId === undefined ? newSessionId() : assertSessionId(options.sessionId),
      title: options.title === undefined ? source.title : optionalText(options.title, "title", 512),
      status: "active",
      state,
      lastSeq: atSeq,
      stats: accumulateStats(emptyStats(), events),
      createdAt: now,
      updatedAt: now,
      lastAccessedAt: now,
      expiresAt: expiryOf(
        now,
        source.ttlMs,
        source.absoluteExpiresAt === null ? null : now + (source.absoluteExpiresAt - source.createdAt),
      ),
      absoluteExpiresAt: source.absoluteExpiresAt === null ? null : now + (source.absoluteExpiresAt - source.createdAt),
      parent: { sessionId: source.id, seq: atSeq },
      version: 0,
    };
    return this.writeCopy(header, events);
  }

  /** The session as NDJSON lines: one header line, then one line per event. Lossless. */
  async *exportSession(ref: SessionRef): AsyncGenerator<string> {
    const key = this.keyOf(ref);
    const now = this.clock.now();
    const header = await this.store.get(key, now);
    if (!header) throw notFound();
    const exported = { ...header, state: withoutProcessKeys(header.state) };
    yield JSON.stringify({ kind: "session", format: EXPORT_FORMAT, session: exported });
    let after = 0;
    while (after < header.lastSeq) {
      const batch = await this.store.readEvents(key, { after, before: header.lastSeq + 1, limit: READ_BATCH });
      if (batch.length === 0) break;
      for (const event of batch) yield JSON.stringify({ kind: "event", event });
      after = (batch.at(-1) as SessionEvent).seq;
    }
  }

  /** Imports an export (lines or one NDJSON text). Fails with `conflict` when the id is taken. */
  async importSession(
    source: string | Iterable<string> | AsyncIterable<string>,
    options: ImportOptions = {},
  ): Promise<Session<S>> {
    let header: SessionHeader | undefined;
    const events: SessionEvent[] = [];
    let lineNo = 0;
    for await (const line of splitLines(source)) {
      lineNo++;
      if (line.trim() === "") continue;
      let record: { kind?: unknown; format?: unknown; session?: unknown; event?: unknown };
      try {
        record = JSON.parse(line);
      } catch {
        throw invalid(`Line ${lineNo} is not JSON`);
      }
      if (header === undefined) {
        if (record?.kind !== "session" || record.format !== EXPORT_FORMAT) {
          throw invalid(`Line ${lineNo} must be the "${EXPORT_FORMAT}" session header`);
        }
        header = parseWith(SessionHeaderSchema, record.session, `session header (line ${lineNo})`) as SessionHeader;
        continue;
      }
      if (record?.kind !== "event") throw invalid(`Line ${lineNo}: expected an event`);
      const raw = record.event as Record<string, unknown> | null;
      if (raw === null || typeof raw !== "object") throw invalid(`Line ${lineNo}: expected an event object`);
      const { seq, id, at, ...payload } = raw;
      const envelope = parseWith(EventEnvelopeSchema, { seq, id, at }, `event (line ${lineNo})`);
      const body = parseWith(EventInputSchema, payload, `event (line ${lineNo})`);
      assertWithin(`event (line ${lineNo})`, jsonBytes(body), this.limits.maxEventBytes);
      if (envelope.seq !== events.length + 1) throw invalid(`Line ${lineNo}: expected seq ${events.length + 1}`);
      events.push({ ...envelope, ...body } as SessionEvent);
      if (events.length > this.limits.maxEventsPerSession) {
        throw new FrontdeskError("payload_too_large", "Too many events for one session");
      }
    }
    if (!header) throw invalid("The export is empty");
    if (header.lastSeq !== events.length) {
      throw invalid(`The header says ${header.lastSeq} events but ${events.length} were given`);
    }
    const now = this.clock.now();
    const id = options.sessionId === undefined ? assertSessionId(header.id) : assertSessionId(options.sessionId);
    const imported: SessionHeader = {
      ...header,
      namespace: this.namespace,
      userId: this.bound ? this.userId : header.userId === null ? null : assertUserId(header.userId),
      id,
      state: withoutProcessKeys(header.state),
      version: 0,
      lastAccessedAt: now,
      expiresAt: expiryOf(now, header.ttlMs, header.absoluteExpiresAt),
    };
    if (imported.expiresAt !== null && imported.expiresAt <= now) throw invalid("The exported session has expired");
    return this.writeCopy(imported, events);
  }

  /** The conversation view: message events, with the latest summary standing in for what it covers. */
  async getMessages(ref: SessionRef, options: MessagesOptions = {}): Promise<readonly SessionEvent[]> {
    const key = this.keyOf(ref);
    await this.live(key);
    const budget = options.tokenBudget === undefined ? undefined : positiveInt(options.tokenBudget, "tokenBudget");
    const max = options.last === undefined ? Number.POSITIVE_INFINITY : positiveInt(options.last, "last");
    const picked: SessionEvent[] = [];
    const costs: number[] = [];
    let used = 0;
    let floor = 0;
    let before: number | undefined;
    let summary: (SessionEvent & { type: "summary" }) | undefined;
    // Newest first, in pages, so a long history is read only as far as the window reaches.
    scan: for (;;) {
      const page = await this.store.readEvents(key, {
        before,
        limit: READ_BATCH,
        types: ["message", "summary"],
        order: "desc",
      });
      for (const event of page) {
        if (event.seq <= floor) break scan;
        if (event.type === "summary") {
          if (!summary) {
            summary = event;
            floor = Math.max(floor, event.throughSeq);
          }
          continue;
        }
        if (picked.length >= max) break scan;
        const cost = budget === undefined ? 0 : this.countTokens(messageText(event));
        if (budget !== undefined && used + cost > budget) break scan;
        used += cost;
        picked.push(event);
        costs.push(cost);
      }
      if (page.length < READ_BATCH) break;
      before = (page.at(-1) as SessionEvent).seq;
    }
    if (summary) {
      // The summary stands in for everything before it, so it is kept first; the oldest messages make room.
      const summaryCost = budget === undefined ? 0 : this.countTokens(summary.text);
      while (budget !== undefined && picked.length > 0 && used + summaryCost > budget) {
        used -= costs.pop() ?? 0;
        picked.pop();
      }
      if (budget === undefined || used + summaryCost <= budget) picked.push(summary);
    }
    return deepFreeze(picked.reverse());
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────

  private async asResult<D>(
    fallbackId: string,
    work: () => Promise<{ sessionId: string; data: D; session?: Session<S> }>,
  ): Promise<SessionResult<D, S>> {
    try {
      const { sessionId, data, session } = await work();
      return session ? { success: true, sessionId, data, session } : { success: true, sessionId, data };
    } catch (error) {
      return { success: false, sessionId: fallbackId, error: toResultError(error) };
    }
  }

  private ownerFor(requested: string | null | undefined): string | null {
    if (this.bound) {
      if (requested !== undefined && requested !== this.userId) {
        throw new FrontdeskError("forbidden", "This manager is bound to another user");
      }
      return this.userId;
    }
    return requested === undefined || requested === null ? null : assertUserId(requested);
  }

  private keyOf(ref: SessionRef): SessionKey {
    if (typeof ref === "string") return { namespace: this.namespace, userId: this.userId, id: assertSessionId(ref) };
    if (ref === null || typeof ref !== "object") throw invalid("A session is named by its id");
    const id = assertSessionId(ref.id);
    if (this.bound) {
      // Another owner's session must look exactly like an absent one.
      if (ref.userId !== undefined && ref.userId !== this.userId) throw notFound();
      return { namespace: this.namespace, userId: this.userId, id };
    }
    const userId = ref.userId === undefined || ref.userId === null ? null : assertUserId(ref.userId);
    return { namespace: this.namespace, userId, id };
  }

  /** Reads of the `user:` and `app:` states merged into a session's own, issued at once. */
  private scopeReads(key: SessionKey): [Promise<ScopedState>, Promise<ScopedState>] {
    return [this.store.readScope(key.namespace, "user", key.userId), this.store.readScope(key.namespace, "app", null)];
  }

  private async readScopes(key: SessionKey): Promise<Scopes> {
    const [user, app] = await Promise.all(this.scopeReads(key));
    return { user, app };
  }

  /** Splits a whole-state change into the session's own state, the delta, and scoped writes. */
  private splitStateChange(
    before: JsonObject,
    after: JsonObject,
    scopes: Scopes,
  ): { sessionState: JsonObject; delta: StateDelta; scopedWrites: ScopedWrite[] } {
    const delta = diffState(applyScopes(before, scopes), after);
    const parts = splitDelta(delta);
    return {
      sessionState: applyDelta(before, parts.session),
      delta: { ...parts.session, ...parts.user, ...parts.app },
      scopedWrites: scopedWritesOf(parts, scopes),
    };
  }

  /** The live header (never an expired one), sliding its TTL at most once per touchFraction. */
  private async live(key: SessionKey): Promise<SessionHeader> {
    const now = this.clock.now();
    const header = await this.store.get(key, now);
    if (!header) throw notFound();
    return this.slide(header, now);
  }

  private needsTouch(header: SessionHeader, now: number): boolean {
    return header.ttlMs !== null && now - header.lastAccessedAt >= header.ttlMs * this.touchFraction;
  }

  private async slide(header: SessionHeader, now: number): Promise<SessionHeader> {
    if (!this.needsTouch(header, now)) return header;
    const expiresAt = expiryOf(now, header.ttlMs, header.absoluteExpiresAt);
    const touched = await this.store.touch(this.keyOfHeader(header), { expiresAt, lastAccessedAt: now }, now);
    if (!touched) throw notFound();
    return { ...header, expiresAt, lastAccessedAt: now };
  }

  private async serve(header: SessionHeader, now: number): Promise<Session<S>> {
    const served = await this.slide(header, now);
    return this.present(served, applyScopes(served.state, await this.readScopes(this.keyOfHeader(header))));
  }

  /**
   * Every header and state reaching here is this call's own (a fresh copy from the store, or
   * objects built and parsed by this call) or already frozen, so freezing in place shares nothing
   * with a caller. A frozen header is a store's shared copy (memory, SQLite's read cache), handed
   * out again until the session changes: it gets the same frozen session back, so a repeated read
   * builds nothing and a server can keep the session's encoded body beside it.
   */
  private present(header: SessionHeader, state: JsonObject): Session<S> {
    const shared = Object.isFrozen(header);
    if (shared) {
      const known = presented.get(header);
      if (known !== undefined && known.state === state) return known as unknown as Session<S>;
    }
    const session = deepFreeze({ ...header, state });
    if (shared) presented.set(header, session);
    return session as unknown as Session<S>;
  }

  private keyOfHeader(header: SessionHeader): SessionKey {
    return { namespace: header.namespace, userId: header.userId, id: header.id };
  }

  /**
   * The one read-modify-commit loop behind every write: read the header, compute the change,
   * commit against the version read; on conflict re-read and re-apply (bounded, with jittered
   * backoff). A caller-given `expectedVersion` is checked instead of retried.
   */
  private async write(
    ref: SessionRef,
    options: WriteOptions,
    plan: (current: SessionHeader, loadScopes: () => Promise<Scopes>, now: number) => Promise<WritePlan | "skip">,
  ): Promise<Session<S>> {
    const { header, state } = await this.writeUnpresented(this.keyOf(ref), options, plan);
    return this.present(header, state);
  }

  /**
   * {@link write} without building (and deep-freezing) the resulting session: for callers that only
   * need the committed header's version and seq, never handed out.
   */
  private async writeUnpresented(
    key: SessionKey,
    options: WriteOptions,
    plan: (current: SessionHeader, loadScopes: () => Promise<Scopes>, now: number) => Promise<WritePlan | "skip">,
    lockHeld = false,
  ): Promise<{ header: SessionHeader; state: JsonObject }> {
    const expected =
      options.expectedVersion === undefined ? undefined : nonNegativeInt(options.expectedVersion, "expectedVersion");
    const locked = async (): Promise<{ header: SessionHeader; state: JsonObject }> => {
      for (let attempt = 0; ; attempt++) {
        const now = this.clock.now();
        const current = await this.store.get(key, now);
        if (!current) throw notFound();
        // Shared scopes are read only when the change involves them: appends stay two round trips.
        let scopes: Scopes | undefined;
        const loadScopes = async (): Promise<Scopes> => {
          scopes ??= await this.readScopes(key);
          return scopes;
        };
        // The plan runs before the version check so a retried idempotent append replays its first
        // result even though that first append moved the version past the retry's If-Match.
        const step = await plan(current, loadScopes, now);
        if (step === "skip") return { header: current, state: current.state };
        if (expected !== undefined && current.version !== expected) {
          throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
            details: { currentVersion: current.version },
          });
        }
        if (step.state !== undefined || (step.delta !== undefined && hasScopedKeys(step.delta))) await loadScopes();
        const commit = this.buildCommit(key, current, scopes ?? NO_SCOPES, step, now);
        try {
          await this.store.commit(commit);
          const state = scopes
            ? applyScopes(commit.header.state, scopesAfter(scopes, commit.scoped))
            : commit.header.state;
          return { header: commit.header, state };
        } catch (error) {
          const retryable = isFrontdeskError(error, "conflict") && error.details?.currentVersion !== undefined;
          const scopeRace = isFrontdeskError(error, "conflict") && error.details?.scope !== undefined;
          if (!(retryable || scopeRace)) throw error;
          if (expected !== undefined && !scopeRace) {
            throw new FrontdeskError("precondition_failed", "The session changed while writing", {
              details: error.details,
            });
          }
          if (attempt + 1 >= this.maxRetries) {
            throw new FrontdeskError("conflict", `Gave up after ${this.maxRetries} conflicting attempts`, {
              details: error.details,
            });
          }
          await sleep(Math.random() * Math.min(2 ** attempt, 50));
        }
      }
    };
    return lockHeld ? locked() : this.mutex.run(sessionKeyId(key), locked);
  }

  private buildCommit(key: SessionKey, current: SessionHeader, scopes: Scopes, step: WritePlan, now: number): Commit {
    const events: SessionEvent[] = step.events ? [...step.events] : [];
    let sessionState = current.state;
    let scopedWrites: ScopedWrite[] = [];
    if (step.state !== undefined) {
      const change = this.splitStateChange(current.state, step.state, scopes);
      sessionState = change.sessionState;
      scopedWrites = change.scopedWrites;
      if (!isEmpty(change.delta)) {
        events.push({
          seq: current.lastSeq + events.length + 1,
          id: newEventId(),
          at: now,
          type: "state",
          stateDelta: change.delta,
        });
      }
    } else if (step.delta !== undefined) {
      const parts = splitDelta(step.delta);
      sessionState = applyDelta(current.state, parts.session);
      scopedWrites = scopedWritesOf(parts, scopes);
    }
    const changes = step.changes ?? {};
    if (changes.status !== undefined && changes.status !== current.status) {
      events.push({
        seq: current.lastSeq + events.length + 1,
        id: newEventId(),
        at: now,
        type: "status",
        scope: "session",
        status: changes.status,
        previous: current.status,
      });
    }
    if (sessionState !== current.state)
      assertWithin("session state", jsonBytes(sessionState), this.limits.maxStateBytes);
    const ttlMs = changes.ttlMs === undefined ? current.ttlMs : changes.ttlMs;
    const version = current.version + 1;
    const header: SessionHeader = {
      ...current,
      ...changes,
      ttlMs,
      state: sessionState,
      version,
      lastSeq: current.lastSeq + events.length,
      stats: accumulateStats(current.stats, events),
      updatedAt: now,
      lastAccessedAt: now,
      expiresAt: expiryOf(now, ttlMs, current.absoluteExpiresAt),
    };
    return {
      key,
      expectedVersion: current.version,
      header,
      events,
      scoped: scopedWrites.length > 0 ? scopedWrites : undefined,
      idempotency: step.idempotency?.(version),
      now,
    };
  }

  private async collectEvents(key: SessionKey, throughSeq: number): Promise<SessionEvent[]> {
    const events: SessionEvent[] = [];
    let after = 0;
    while (after < throughSeq) {
      const batch = await this.store.readEvents(key, { after, before: throughSeq + 1, limit: READ_BATCH });
      if (batch.length === 0) break;
      events.push(...batch);
      after = (batch.at(-1) as SessionEvent).seq;
    }
    return events;
  }

  /** Writes a copied session (fork, import): created with the first chunk, then appended in chunks. */
  private async writeCopy(template: SessionHeader, events: readonly SessionEvent[]): Promise<Session<S>> {
    const key = this.keyOfHeader(template);
    return this.mutex.run(sessionKeyId(key), async () => {
      const now = this.clock.now();
      let version = 0;
      let written = 0;
      try {
        do {
          const chunk = events.slice(written, written + COPY_CHUNK);
          const upTo = events.slice(0, written + chunk.length);
          const done = written + chunk.length === events.length;
          const header: SessionHeader = {
            ...template,
            version: version + 1,
            lastSeq: written + chunk.length,
            // Stats and state are final only with the last chunk; until then the copy is not served.
            stats: done ? template.stats : accumulateStats(emptyStats(), upTo),
          };
          await this.store.commit({ key, expectedVersion: version, header, events: chunk, now });
          version += 1;
          written += chunk.length;
        } while (written < events.length);
      } catch (error) {
        if (version > 0) await this.store.delete(key).catch(() => undefined);
        throw error;
      }
      const final = await this.store.get(key, now);
      if (!final) throw notFound();
      return this.present(final, applyScopes(final.state, await this.readScopes(key)));
    });
  }
}

interface HeaderChanges {
  title?: string | null;
  purpose?: string | null;
  tags?: string[];
  metadata?: JsonObject;
  status?: SessionStatus;
  ttlMs?: number | null;
}

interface WritePlan {
  /** The whole new state (session + scoped keys), diffed against the current one. */
  state?: JsonObject;
  /** Or: a delta to apply (from events' stateDelta). */
  delta?: StateDelta;
  events?: SessionEvent[];
  changes?: HeaderChanges;
  idempotency?: (version: number) => IdempotencyRecord;
}

interface Scopes {
  user: ScopedState;
  app: ScopedState;
}

const EMPTY_SCOPE: ScopedState = Object.freeze({ state: Object.freeze({}) as JsonObject, version: 0 });
const NO_SCOPES: Scopes = Object.freeze({ user: EMPTY_SCOPE, app: EMPTY_SCOPE });

const hasScopedKeys = (delta: StateDelta): boolean =>
  Object.keys(delta).some((key) => {
    const scope = scopeOfKey(key);
    return scope === "user" || scope === "app";
  });

const applyScopes = (state: JsonObject, scopes: Scopes): JsonObject => {
  if (isEmpty(scopes.user.state) && isEmpty(scopes.app.state)) return state;
  return { ...state, ...scopes.app.state, ...scopes.user.state };
};

const scopedWritesOf = (parts: { user: StateDelta; app: StateDelta }, scopes: Scopes): ScopedWrite[] => {
  const writes: ScopedWrite[] = [];
  if (!isEmpty(parts.user)) writes.push({ scope: "user", expectedVersion: scopes.user.version, delta: parts.user });
  if (!isEmpty(parts.app)) writes.push({ scope: "app", expectedVersion: scopes.app.version, delta: parts.app });
  return writes;
};

const scopesAfter = (scopes: Scopes, writes: readonly ScopedWrite[] | undefined): Scopes => {
  if (!writes) return scopes;
  const next = { ...scopes };
  for (const write of writes) {
    next[write.scope] = {
      state: applyDelta(scopes[write.scope].state, write.delta),
      version: write.expectedVersion + 1,
    };
  }
  return next;
};

/**
 * An event a store may append on its own: it carries no state change, and no `seq` of its own that
 * would override the one assigned (the commit path refuses such an event as malformed).
 */
const isPlainAppend = (event: EventInput): boolean => event.stateDelta === undefined && !Object.hasOwn(event, "seq");

const eventLimitReached = (limit: number): FrontdeskError =>
  new FrontdeskError("payload_too_large", "The session has reached its event limit", { details: { limit } });

const idempotencyKeyReused = (): FrontdeskError =>
  new FrontdeskError("conflict", "This Idempotency-Key was used with a different request body");

const refId = (ref: SessionRef): string => (typeof ref === "string" ? ref : String(ref?.id ?? ""));

const notFound = (): FrontdeskError => new FrontdeskError("not_found", "Session not found");

const expiryOf = (now: number, ttlMs: number | null, absoluteExpiresAt: number | null): number | null => {
  const sliding = ttlMs === null ? null : now + ttlMs;
  if (absoluteExpiresAt === null) return sliding;
  return sliding === null ? absoluteExpiresAt : Math.min(sliding, absoluteExpiresAt);
};

const validTtl = (ttl: number | null): number | null => {
  if (ttl === null) return null;
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw invalid("A TTL is a positive whole number of milliseconds, or null for none");
  }
  return ttl;
};

const positiveInt = (value: number, name: string): number => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${name} must be a positive whole number`);
  }
  return value;
};

const nonNegativeInt = (value: number, name: string): number => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${name} must be a whole number ≥ 0`);
  }
  return value;
};

const optionalTime = (value: number | undefined, name: string): number | undefined =>
  value === undefined ? undefined : nonNegativeInt(value, name);

const optionalText = (value: string | null | undefined, name: string, max: number): string | null => {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw invalid(`${name} must be a string`);
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  return value;
};

const messageText = (event: SessionEvent): string => {
  if (event.type !== "message") return "";
  const content = (event as MessagePayload).content;
  return typeof content === "string" ? content : JSON.stringify(content);
};

/** Items of an iterable are whole lines (or several whole lines): never a line cut in two. */
async function* splitLines(source: string | Iterable<string> | AsyncIterable<string>): AsyncGenerator<string> {
  if (typeof source === "string") {
    yield* source.split("\n");
    return;
  }
  for await (const item of source as AsyncIterable<string>) yield* String(item).split("\n");
}

export type { EventInput };
