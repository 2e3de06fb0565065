/**
 * What every part of the manager shares, in one object per manager and per `forUser` view: the
 * store, clock and limits, the owner a view is bound to, the per-store lock and the TTL settings.
 * Also the few steps every part takes: naming a session's key within the owner's bounds, and
 * presenting a stored header as the deep-frozen session callers get.
 */
import type { AppendGroups } from "../append-groups.ts";
import { type Clock, SYSTEM_CLOCK } from "../clock.ts";
import { FrontdeskError } from "../errors.ts";
import { assertNamespace, assertSessionId, assertUserId } from "../ids.ts";
import { KeyedMutex } from "../keyed-mutex.ts";
import { DEFAULT_LIMITS, type Limits } from "../limits.ts";
import type { EventInput, JsonObject, SessionHeader, SessionKey } from "../model.ts";
import { deepFreeze } from "../state.ts";
import type { SessionStore } from "../store-contract.ts";
import { parseRetentionPolicy, type RetentionPolicy } from "./retention.ts";
import type { AppendResult, Session, SessionManagerOptions, SessionRef } from "./types.ts";
import { invalid, validTtl } from "./validation.ts";

export interface ManagerContext {
  readonly namespace: string;
  /** The owner every call is scoped to; `null` for library use without users. */
  readonly userId: string | null;
  /** True on a `forUser` view: another owner's session then looks exactly like an absent one. */
  readonly bound: boolean;
  readonly store: SessionStore;
  readonly clock: Clock;
  readonly limits: Limits;
  /** One per store, shared by every manager on it, so writes to one session in this process queue. */
  readonly mutex: KeyedMutex;
  /** Unconditional appends that arrive together share one commit; a view shares its parent's. */
  appendGroups: AppendGroups<readonly EventInput[], AppendResult>;
  readonly defaultState: (sessionId: string) => object;
  readonly defaultTtlMs: number | null;
  readonly absoluteTtlMs: number | null;
  readonly touchFraction: number;
  readonly maxRetries: number;
  readonly countTokens: (text: string) => number;
  /** The namespace's retention policy; a session's own (metadata) overrides it. */
  readonly retention: RetentionPolicy | undefined;
  /** Secret masking on write, for this namespace. */
  readonly maskSecrets: boolean;
}

/** Events read per store call when a whole range is walked (fork, export, the message window). */
export const READ_BATCH = 500;

const mutexes = new WeakMap<SessionStore, KeyedMutex>();
const mutexFor = (store: SessionStore): KeyedMutex => {
  let mutex = mutexes.get(store);
  if (!mutex) mutexes.set(store, (mutex = new KeyedMutex()));
  return mutex;
};

export function createContext(
  defaultState: (sessionId: string) => object,
  store: SessionStore,
  namespace: string,
  options: SessionManagerOptions,
  appendGroups: (blocking: boolean) => AppendGroups<readonly EventInput[], AppendResult>,
): ManagerContext {
  return {
    namespace: assertNamespace(namespace),
    bound: options.userId !== undefined,
    userId: options.userId === undefined || options.userId === null ? null : assertUserId(options.userId),
    store,
    clock: options.clock ?? SYSTEM_CLOCK,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    mutex: mutexFor(store),
    appendGroups: appendGroups(store.capabilities?.blocking === true),
    defaultState,
    defaultTtlMs: validTtl(options.defaultTtlMs === undefined ? 30 * 60 * 1000 : options.defaultTtlMs),
    absoluteTtlMs: validTtl(options.absoluteTtlMs ?? null),
    touchFraction: options.touchFraction ?? 0.1,
    maxRetries: options.maxRetries ?? 100,
    countTokens: options.countTokens ?? ((text) => Math.ceil(text.length / 4)),
    retention: options.retention === undefined ? undefined : parseRetentionPolicy(options.retention),
    maskSecrets: options.maskSecrets ?? false,
  };
}

export const notFound = (): FrontdeskError => new FrontdeskError("not_found", "Session not found");

/** The owner a new session gets: the bound one, or the one asked for on an unbound manager. */
export function ownerFor(context: ManagerContext, requested: string | null | undefined): string | null {
  if (context.bound) {
    if (requested !== undefined && requested !== context.userId) {
      throw new FrontdeskError("forbidden", "This manager is bound to another user");
    }
    return context.userId;
  }
  return requested === undefined || requested === null ? null : assertUserId(requested);
}

/** The store key a reference names, within the owner's bounds. Nothing is ever looked up by id alone. */
export function keyOf(context: ManagerContext, ref: SessionRef): SessionKey {
  if (typeof ref === "string")
    return { namespace: context.namespace, userId: context.userId, id: assertSessionId(ref) };
  if (ref === null || typeof ref !== "object") throw invalid("A session is named by its id");
  const id = assertSessionId(ref.id);
  if (context.bound) {
    // Another owner's session must look exactly like an absent one.
    if (ref.userId !== undefined && ref.userId !== context.userId) throw notFound();
    return { namespace: context.namespace, userId: context.userId, id };
  }
  const userId = ref.userId === undefined || ref.userId === null ? null : assertUserId(ref.userId);
  return { namespace: context.namespace, userId, id };
}

export const keyOfHeader = (header: SessionHeader): SessionKey => ({
  namespace: header.namespace,
  userId: header.userId,
  id: header.id,
});

/**
 * The session built from a store's shared frozen header, for as long as the store keeps that header:
 * weak, so a replaced header takes its session with it, and no version outlives the store's own copy.
 */
const presented = new WeakMap<SessionHeader, Session<JsonObject>>();

/**
 * Every header and state reaching here is this call's own (a fresh copy from the store, or
 * objects built and parsed by this call) or already frozen, so freezing in place shares nothing
 * with a caller. A frozen header is a store's shared copy (memory, SQLite's read cache), handed
 * out again until the session changes: it gets the same frozen session back, so a repeated read
 * builds nothing and a server can keep the session's encoded body beside it.
 */
export function present<S extends object>(header: SessionHeader, state: JsonObject): Session<S> {
  const shared = Object.isFrozen(header);
  if (shared) {
    const known = presented.get(header);
    if (known !== undefined && known.state === state) return known as unknown as Session<S>;
  }
  const session = deepFreeze({ ...header, state });
  if (shared) presented.set(header, session);
  return session as unknown as Session<S>;
}
