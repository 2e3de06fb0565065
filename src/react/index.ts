/**
 * `frontdesk/react`: React hooks over a running `frontdesk serve` (a base URL and a key). React is
 * an optional peer dependency of the package; nothing here imports Node, so it bundles for browsers.
 *
 * @example
 * import { useSession, useSessions } from "frontdesk/react";
 * const { sessions } = useSessions({ status: "active" }, { baseUrl, apiKey });
 * const { reply, events, running, send, cancel } = useSession(id, { baseUrl, apiKey });
 */
export type { FrontdeskConnection } from "./connection.ts";
export { applyRewrite, type HistoryNotice, type HistoryRewrite, noticeOf } from "./history-rewrite.ts";
export {
  type UseSessionOptions,
  type UseSessionResult,
  type UseSessionsResult,
  useSession,
  useSessions,
} from "./hooks.ts";
export {
  type SendOptions,
  SessionFeed,
  type SessionFeedOptions,
  type SessionSnapshot,
  type SessionStreamStatus,
  type StartedTurn,
} from "./session-feed.ts";
export {
  type SessionFilter,
  SessionListFeed,
  type SessionListOptions,
  type SessionListSnapshot,
  sessionKey,
} from "./session-list.ts";
