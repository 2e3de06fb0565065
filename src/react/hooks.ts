/**
 * The React side: each hook owns one feed (session-feed.ts, session-list.ts) for as long as its
 * arguments stay the same, and reads it with `useSyncExternalStore`, so a render never sees a
 * half-applied batch and StrictMode's double mount reopens the stream where it stopped.
 */
import { useCallback, useEffect, useMemo, useSyncExternalStore } from "react";
import { connectionKey, type FrontdeskConnection } from "./connection.ts";
import {
  EMPTY_SESSION_SNAPSHOT,
  type SendOptions,
  SessionFeed,
  type SessionFeedOptions,
  type SessionSnapshot,
  type StartedTurn,
} from "./session-feed.ts";
import {
  EMPTY_LIST_SNAPSHOT,
  type SessionFilter,
  SessionListFeed,
  type SessionListOptions,
  type SessionListSnapshot,
} from "./session-list.ts";

export interface UseSessionOptions extends FrontdeskConnection, SessionFeedOptions {}

export interface UseSessionResult extends SessionSnapshot {
  /** Starts a detached turn with `message` (`POST …/turns` with `detach: true`); its reply arrives in `reply`. */
  send(message: string, options?: SendOptions): Promise<StartedTurn>;
  /** Stops the running turn (`POST …/cancel`); it keeps its partial reply, marked cancelled. */
  cancel(reason?: string): Promise<void>;
}

const noSubscription = () => () => undefined;
const emptySession = () => EMPTY_SESSION_SNAPSHOT;
const emptyList = () => EMPTY_LIST_SNAPSHOT;

/**
 * One session, live: its header and state, its events, the reply being written and whether a turn
 * runs; a cut connection resumes from the last seq received, with no gap and no duplicate. Events
 * redacted or pruned meanwhile (anywhere) are replaced by what the server now stores, the
 * tombstones or the pruned marker, as soon as the `frontdesk.history_changed` notice arrives.
 * Pass `id` undefined to follow nothing (yet).
 *
 * @example
 * const { reply, events, running, send, cancel } = useSession(id, { baseUrl, apiKey });
 */
export function useSession(id: string | undefined, options: UseSessionOptions): UseSessionResult {
  const key = connectionKey(options);
  const { after, keepEvents, refreshSession } = options;
  // biome-ignore lint/correctness/useExhaustiveDependencies: key stands for the connection's fields
  const feed = useMemo(
    () => (id === undefined ? undefined : new SessionFeed(id, options, { after, keepEvents, refreshSession })),
    [id, key, after, keepEvents, refreshSession],
  );
  if (feed) {
    feed.onEvents = options.onEvents;
    feed.onRewrite = options.onRewrite;
  }
  useEffect(() => {
    feed?.start();
    return () => feed?.stop();
  }, [feed]);
  const snapshot = useSyncExternalStore(
    feed?.subscribe ?? noSubscription,
    feed?.getSnapshot ?? emptySession,
    feed?.getSnapshot ?? emptySession,
  );
  const send = useCallback(
    (message: string, sendOptions?: SendOptions) =>
      feed ? feed.send(message, sendOptions) : Promise.reject(new Error("useSession has no session id")),
    [feed],
  );
  const cancel = useCallback(
    (reason?: string) => (feed ? feed.cancel(reason) : Promise.reject(new Error("useSession has no session id"))),
    [feed],
  );
  return { ...snapshot, send, cancel };
}

export interface UseSessionsResult extends SessionListSnapshot {
  /** Loads the next page (when `hasMore`). */
  loadMore(): Promise<void>;
  /** Reads the list again from its first page. */
  refresh(): void;
}

/**
 * A live list of sessions matching `filter`, most recently active first: changes made anywhere
 * (new sessions, new events, edits) show within `pollMs`.
 *
 * @example
 * const { sessions, loadMore, hasMore } = useSessions({ status: "active" }, { baseUrl, apiKey });
 */
export function useSessions(
  filter: SessionFilter,
  options: FrontdeskConnection & SessionListOptions,
): UseSessionsResult {
  const key = `${connectionKey(options)}\u0000${JSON.stringify(filter)}\u0000${options.pageSize}\u0000${options.pollMs}`;
  // biome-ignore lint/correctness/useExhaustiveDependencies: key stands for the filter and the connection
  const feed = useMemo(() => new SessionListFeed(options, filter, options), [key]);
  useEffect(() => {
    feed.start();
    return () => feed.stop();
  }, [feed]);
  const snapshot = useSyncExternalStore(feed.subscribe, feed.getSnapshot, emptyList);
  const loadMore = useCallback(() => feed.loadMore(), [feed]);
  const refresh = useCallback(() => feed.refresh(), [feed]);
  return { ...snapshot, loadMore, refresh };
}
