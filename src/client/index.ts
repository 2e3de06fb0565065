/** The typed HTTP client of Frontdesk's API v1. */

export { ERROR_STATUS, type ErrorCode, FrontdeskError, isFrontdeskError } from "../core/errors.ts";
/** The markers Frontdesk writes when a log's past changes (redaction, pruning), for readers of the stream. */
export { HISTORY_CHANGED, isHistoryChanged, isPrunedMarker, PRUNED_MARKER } from "../core/log-markers.ts";
/** The fold of a streamed reply, for readers of the events stream (browser-safe, like the client). */
export { LiveReply, type OpenReply, TURN_DELTA_EVENT, type TurnDeltaData, turnDeltaOf } from "../core/turn-deltas.ts";
export {
  createMergePatch,
  type DetachedTurn,
  FrontdeskClient,
  type FrontdeskClientOptions,
  type PendingApprovalView,
} from "./http-client.ts";
export { type SseMessage, SseParser } from "./sse-parser.ts";
