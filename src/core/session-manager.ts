/**
 * The facade of the session manager: the public `SessionManager` class, its method signatures and
 * documentation. Each method hands over to the module under `manager/` that owns its concern:
 *
 * - `manager/types.ts`: the public types (sessions, options, results);
 * - `manager/context.ts`: what the parts share, session keys within an owner's bounds, presenting;
 * - `manager/validation.ts`: checks of caller input, cursors;
 * - `manager/write-path.ts`: the read-plan-commit-retry loop behind every write;
 * - `manager/lifecycle.ts`: create, update, patch, delete;
 * - `manager/appends.ts`: appends, group commit, idempotency, messages and tool invocations;
 * - `manager/reads.ts`: the session, its events, the conversation window;
 * - `manager/listing.ts`: paged lists, retention, the sweep of expired sessions;
 * - `manager/scopes.ts`: `user:` and `app:` state; `manager/expiry.ts`: the TTL;
 * - `manager/subscription.ts`: live follow; `manager/transfer.ts`: fork, export, import;
 * - `manager/results.ts`: the AgentDock results API.
 */
import { AppendGroups } from "./append-groups.ts";
import { addMessage, appendEvents, linkInvocation } from "./manager/appends.ts";
import { createContext, type ManagerContext } from "./manager/context.ts";
import { type EraseUserOptions, type ErasureResult, eraseUser, resumeErasures } from "./manager/erasure.ts";

export { ERASURE_LOG_ID } from "./manager/erasure.ts";

import {
  type HideLastResult,
  hideLastEvents,
  type PruneAllOptions,
  type PruneResult,
  prune,
  pruneAll,
  type RedactInput,
  type RedactResult,
  redactEvent,
} from "./manager/history-edits.ts";
import { create, patch, remove, update, updateMetadata } from "./manager/lifecycle.ts";
import { cleanupOldSessions, listSessions, sweepExpired } from "./manager/listing.ts";
import { get, getMessages, readEventPage, readEvents } from "./manager/reads.ts";
import { asResult, stateResult } from "./manager/results.ts";
import type { RetentionPolicy } from "./manager/retention.ts";
import { subscribe } from "./manager/subscription.ts";
import { exportSession, fork, importSession } from "./manager/transfer.ts";
import type {
  AppendOptions,
  AppendResult,
  CreateSessionOptions,
  EventPage,
  EventPageOptions,
  EventSubscription,
  ForkOptions,
  ImportOptions,
  InvocationInput,
  ListSessionsOptions,
  MessageInput,
  MessagesOptions,
  PatchSessionInput,
  ReadEventsOptions,
  Session,
  SessionManagerOptions,
  SessionPage,
  SessionRef,
  SessionResult,
  WriteOptions,
} from "./manager/types.ts";
import { parseWith, refId } from "./manager/validation.ts";
import type { EventInput, JsonObject, SessionEvent, SessionStats, SessionStatus } from "./model.ts";
import { SessionStatusSchema } from "./model.ts";
import type { SessionStore } from "./store-contract.ts";

export type { EraseUserOptions, ErasureCounts, ErasureResult } from "./manager/erasure.ts";
export type {
  HideLastResult,
  PruneAllOptions,
  PruneResult,
  RedactInput,
  RedactResult,
} from "./manager/history-edits.ts";
export type { RetentionPolicy } from "./manager/retention.ts";
export * from "./manager/types.ts";
export type { EventInput };

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
  private readonly context: ManagerContext;

  constructor(
    private readonly defaultStateGenerator: (sessionId: string) => S,
    readonly store: SessionStore,
    namespace = "default",
    private readonly options: SessionManagerOptions = {},
  ) {
    this.context = createContext(
      defaultStateGenerator,
      store,
      namespace,
      options,
      (blocking) => new AppendGroups(blocking),
    );
    this.namespace = this.context.namespace;
    this.userId = this.context.userId;
  }

  /** A view of this manager bound to one owner: it can never read or write another's sessions. */
  forUser(userId: string | null): SessionManager<S> {
    const view = new SessionManager(this.defaultStateGenerator, this.store, this.namespace, {
      ...this.options,
      userId,
    });
    // Appends through the view and through this manager still share group commits.
    view.context.appendGroups = this.context.appendGroups;
    return view;
  }

  /**
   * A view of this manager on another namespace of the same store, with the same options and owner.
   * Adapters use it where a framework names the app on each call (ADK's `appName`).
   */
  forNamespace(namespace: string): SessionManager<S> {
    if (namespace === this.namespace) return this;
    const view = new SessionManager(this.defaultStateGenerator, this.store, namespace, this.options);
    view.context.appendGroups = this.context.appendGroups;
    return view;
  }

  // ── AgentDock API: results, never throws for session-level failures ─────────────────────────

  /** Creates a session, or returns the existing one when the id is taken (AgentDock). */
  createSession(options: CreateSessionOptions<S> = {}): Promise<SessionResult<S, S>> {
    return stateResult(options.sessionId ?? "", () => create<S>(this.context, options));
  }

  getSession(ref: SessionRef): Promise<SessionResult<S, S>> {
    return stateResult(refId(ref), () => get<S>(this.context, ref));
  }

  /** Applies `fn` to a frozen copy of the state and commits; retries on conflict (no lost updates). */
  updateSession(ref: SessionRef, fn: (state: Readonly<S>) => S): Promise<SessionResult<S, S>> {
    return stateResult(refId(ref), () => update<S>(this.context, ref, fn, {}));
  }

  deleteSession(ref: SessionRef): Promise<SessionResult<boolean, S>> {
    return asResult<boolean, S>(refId(ref), async () => ({
      sessionId: refId(ref),
      data: await remove(this.context, ref, {}),
    }));
  }

  // ── Throwing API ────────────────────────────────────────────────────────────────────────────

  /** Creates a session. Throws `conflict` when the id is taken and `ifExists` is "error". */
  create(options: CreateSessionOptions<S> = {}): Promise<Session<S>> {
    return create<S>(this.context, options);
  }

  /** The session's header with state and stats. Never reads events. Throws `not_found`. */
  get(ref: SessionRef): Promise<Session<S>> {
    return get<S>(this.context, ref);
  }

  /** Applies `fn` to a frozen copy of the state and commits with the version read; retries on conflict. */
  update(ref: SessionRef, fn: (state: Readonly<S>) => S, options: WriteOptions = {}): Promise<Session<S>> {
    return update<S>(this.context, ref, fn, options);
  }

  /** Changes header fields and merge-patches state in one commit (the HTTP `PATCH`). */
  patch(ref: SessionRef, input: PatchSessionInput, options: WriteOptions = {}): Promise<Session<S>> {
    return patch<S>(this.context, ref, input, options);
  }

  /** Sets purpose, title, tags, and merges `metadata` keys into the existing metadata. */
  updateMetadata(
    ref: SessionRef,
    input: { purpose?: string | null; title?: string | null; tags?: string[]; metadata?: JsonObject },
    options: WriteOptions = {},
  ): Promise<Session<S>> {
    return updateMetadata<S>(this.context, ref, input, options);
  }

  /** Marks the session completed, failed or abandoned, with a `status` event. */
  async completeSession(ref: SessionRef, status: SessionStatus = "completed"): Promise<Session<S>> {
    return patch<S>(this.context, ref, { status: parseWith(SessionStatusSchema, status, "status") }, {});
  }

  /**
   * Deletes the header and every event together. False when there was no such session (or it had
   * expired). With `expectedVersion` the check and the delete are one atomic store operation: a
   * session at another version is `precondition_failed` with `details.currentVersion`, and nothing
   * is deleted.
   */
  delete(ref: SessionRef, options: WriteOptions = {}): Promise<boolean> {
    return remove(this.context, ref, options);
  }

  /**
   * Appends events atomically with the next seqs, applying their `stateDelta`s in the same commit.
   * Without `expectedVersion` a concurrent write is retried; with it, a mismatch is
   * `precondition_failed`.
   */
  appendEvents(ref: SessionRef, inputs: readonly unknown[], options: AppendOptions = {}): Promise<AppendResult> {
    return appendEvents(this.context, ref, inputs, options);
  }

  /** Appends one message (AI SDK / OpenAI shaped content round-trips unchanged). */
  addMessage(ref: SessionRef, message: MessageInput, options: AppendOptions = {}): Promise<SessionEvent> {
    return addMessage(this.context, ref, message, options);
  }

  /** Records one finished tool invocation as a `tool_call` and a `tool_result`, atomically. */
  linkInvocation(
    ref: SessionRef,
    invocation: InvocationInput,
    options: AppendOptions = {},
  ): Promise<readonly SessionEvent[]> {
    return linkInvocation(this.context, ref, invocation, options);
  }

  /** Events in seq order. `last` reads only the newest ones, whatever the history's length. */
  readEvents(ref: SessionRef, options: ReadEventsOptions = {}): Promise<readonly SessionEvent[]> {
    return readEvents(this.context, ref, options);
  }

  /**
   * One page of events for a reader on the other side of a wire: at most `limit` (default 100)
   * or the newest `last`, and at most `maxBytes` of JSON (default 4 MiB), with the cursors to
   * the next page either way.
   */
  readEventPage(ref: SessionRef, options: EventPageOptions = {}): Promise<EventPage> {
    return readEventPage(this.context, ref, options);
  }

  /** Statistics kept current in the header: reading them never scans events. */
  async getStatistics(ref: SessionRef): Promise<Readonly<SessionStats>> {
    return (await get<S>(this.context, ref)).stats;
  }

  /** Sessions of this manager's owner (or any owner on an unbound manager), with a stable cursor. */
  listSessions(options: ListSessionsOptions = {}): Promise<SessionPage<S>> {
    return listSessions<S>(this.context, options);
  }

  /** Deletes sessions not updated for `maxAgeMs` (retention; separate from TTL). Returns how many. */
  cleanupOldSessions(maxAgeMs: number): Promise<number> {
    return cleanupOldSessions(this.context, maxAgeMs);
  }

  /** Deletes sessions whose TTL has passed, with their events (they are never served meanwhile). */
  sweepExpired(limit = 1000): Promise<number> {
    return sweepExpired(this.context, limit);
  }

  /**
   * Replays events after `after`, then follows live ones. The store's notifications are only
   * hints: every delivery re-reads the log by seq, so nothing is missed or duplicated at the
   * hand-over or after a lost hint. Every subscriber of a session in this process shares one
   * follower of its log, so an append costs one read however many subscribers there are. Ends when
   * the session is deleted or expires.
   */
  subscribe(ref: SessionRef, options: { after?: number } = {}): EventSubscription {
    return subscribe(this.context, ref, options);
  }

  /** A new session with the events up to `atSeq`, its state as it stood then, and its lineage. */
  fork(ref: SessionRef, options: ForkOptions = {}): Promise<Session<S>> {
    return fork<S>(this.context, ref, options);
  }

  /** The session as NDJSON lines: one header line, then one line per event. Lossless. */
  exportSession(ref: SessionRef): AsyncGenerator<string> {
    return exportSession(this.context, ref);
  }

  /** Imports an export (lines or one NDJSON text). Fails with `conflict` when the id is taken. */
  importSession(
    source: string | Iterable<string> | AsyncIterable<string>,
    options: ImportOptions = {},
  ): Promise<Session<S>> {
    return importSession<S>(this.context, source, options);
  }

  /** The conversation view: message events, with the latest summary standing in for what it covers. */
  getMessages(ref: SessionRef, options: MessagesOptions = {}): Promise<readonly SessionEvent[]> {
    return getMessages(this.context, ref, options);
  }

  // ── Privacy: redaction, pruning, erasure (docs/privacy.md) ─────────────────────────────────────

  /**
   * Replaces event `seq`'s content with a tombstone that keeps its seq, type, time, and who redacted
   * it and why; one commit with a new version (`expectedVersion` applies), and a
   * `frontdesk.history_changed` notice for subscribers. Redacting a tombstone again changes nothing.
   */
  redactEvent(ref: SessionRef, seq: number, input: RedactInput, options: WriteOptions = {}): Promise<RedactResult<S>> {
    return redactEvent<S>(this.context, ref, seq, input, options);
  }

  /**
   * Redacts the newest `count` items in one commit and hands them back as they were: OpenAI Agents'
   * `popItem`, or a rewind. The log stays gapless; the items read as tombstones from then on.
   */
  hideLastEvents(
    ref: SessionRef,
    count: number,
    input: RedactInput,
    options: WriteOptions = {},
  ): Promise<HideLastResult<S>> {
    return hideLastEvents<S>(this.context, ref, count, input, options);
  }

  /**
   * Removes the events the retention policy (`policy`, else the session's, else the manager's) no
   * longer keeps; one `frontdesk.pruned` marker stands in their place at its own seq.
   */
  prune(ref: SessionRef, policy?: RetentionPolicy): Promise<PruneResult> {
    return prune(this.context, ref, policy);
  }

  /** Prunes every session of the namespace (or of one owner) to `policy`: `frontdesk sessions prune`. */
  pruneAll(policy: RetentionPolicy, options: PruneAllOptions = {}): Promise<{ sessions: number; removed: number }> {
    return pruneAll(this.context, policy, options);
  }

  /**
   * Erases one user from this namespace: their data key where the store encrypts, API keys, every
   * session with its events, idempotency records and index entries, and their `user:` state; then
   * scrubs the store's files. Resumable, harmless to repeat, audited in the `frontdesk.erasures` log.
   */
  eraseUser(userId: string, options: EraseUserOptions = {}): Promise<ErasureResult> {
    return eraseUser(this.context, userId, options);
  }

  /** Finishes erasures that a crash interrupted (a server calls it at start-up). */
  resumeErasures(): Promise<ErasureResult[]> {
    return resumeErasures(this.context);
  }
}
