/**
 * Frontdesk: session management for AI agents. Every conversation gets its own key and its own
 * room (typed state, an append-only event log, statistics, a time to live), on memory, SQLite,
 * the filesystem, Redis or PostgreSQL.
 */
export { type Clock, FakeClock, SYSTEM_CLOCK } from "./core/clock.ts";
export { ERROR_STATUS, type ErrorCode, FrontdeskError, isFrontdeskError } from "./core/errors.ts";
export { NAMESPACE_PATTERN, newSessionId, SESSION_ID_PATTERN, USER_ID_PATTERN } from "./core/ids.ts";
export { DEFAULT_LIMITS, type Limits } from "./core/limits.ts";
export { HISTORY_CHANGED, isHistoryChanged, isPrunedMarker, PRUNED_MARKER } from "./core/log-markers.ts";
export * from "./core/model.ts";
export {
  createDefaultOrchestrationState,
  type OrchestrationState,
  OrchestrationStateManager,
  type OrchestrationStateManagerOptions,
  RECENT_TOOLS_LIMIT,
} from "./core/orchestration-state.ts";
export {
  type MaskedEvent,
  type MaskedText,
  maskPlaceholder,
  maskSecretsInEvent,
  maskSecretsInText,
  SECRET_KINDS,
  type SecretKind,
  type TextSpan,
} from "./core/privacy/secret-masking.ts";
export {
  type AppendOptions,
  type AppendResult,
  type CreateSessionOptions,
  type EraseUserOptions,
  type ErasureCounts,
  type ErasureResult,
  type EventPage,
  type EventPageOptions,
  type EventSubscription,
  EXPORT_FORMAT,
  type ForkOptions,
  type HideLastResult,
  type ImportOptions,
  type InvocationInput,
  type ListSessionsOptions,
  type MessageInput,
  type MessagesOptions,
  type PatchSessionInput,
  type PruneAllOptions,
  type PruneResult,
  type ReadEventsOptions,
  type RedactInput,
  type RedactResult,
  type RetentionPolicy,
  type Session,
  SessionManager,
  type SessionManagerOptions,
  type SessionPage,
  type SessionRef,
  type SessionResult,
  type WriteOptions,
} from "./core/session-manager.ts";
export { applyDelta, deepFreeze, mergePatch, PROCESS_PREFIX } from "./core/state.ts";
export { LiveReply, type OpenReply, TURN_DELTA_EVENT, type TurnDeltaData, turnDeltaOf } from "./core/turn-deltas.ts";
export * from "./encryption/index.ts";
export { createMemoryStore, type MemoryStoreOptions } from "./stores/memory/index.ts";
export { openStore, STORE_SCHEMES, type StoreScheme } from "./stores/registry.ts";
export type * from "./stores/types.ts";

import type { JsonObject } from "./core/model.ts";
import { SessionManager, type SessionManagerOptions } from "./core/session-manager.ts";
import { openStore } from "./stores/registry.ts";
import type { SessionStore } from "./stores/types.ts";

export interface CreateSessionManagerOptions<S extends object> extends SessionManagerOptions {
  /** A store, or a store URL for `openStore`. @default "memory:" */
  store?: SessionStore | string;
  /** @default "default" */
  namespace?: string;
  /** The state of a new session. @default an empty object */
  defaultState?: (sessionId: string) => S;
}

/**
 * Opens the store (when given a URL) and returns a manager on it.
 * @example const sessions = await createSessionManager({ store: "sqlite:./sessions.db" });
 */
export async function createSessionManager<S extends object = JsonObject>(
  options: CreateSessionManagerOptions<S> = {},
): Promise<SessionManager<S>> {
  const { store = "memory:", namespace, defaultState, ...rest } = options;
  const opened = typeof store === "string" ? await openStore(store, { clock: rest.clock }) : store;
  return new SessionManager<S>(defaultState ?? (() => ({}) as S), opened, namespace, rest);
}
