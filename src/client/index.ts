/** The typed HTTP client of Frontdesk's API v1. */
export {
  createMergePatch,
  type DetachedTurn,
  FrontdeskClient,
  type FrontdeskClientOptions,
  type PendingApprovalView,
} from "./http-client.ts";
export { type SseMessage, SseParser } from "./sse-parser.ts";
