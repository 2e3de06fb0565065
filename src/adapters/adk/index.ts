/**
 * Frontdesk under Google ADK: the entry point `frontdesk/adapters/adk`.
 *
 * `FrontdeskSessionService` is an ADK `BaseSessionService`: pass it to a `Runner` as its
 * `sessionService`, and every ADK session is a Frontdesk session on the store you name.
 */
export type { AdapterOptions } from "../shared/backend.ts";
export { ADK_CUSTOM_NAME, ADK_EVENT_FIELD } from "./events.ts";
export { FrontdeskSessionService, type FrontdeskSessionServiceOptions } from "./service.ts";
export { isStaleSessionError, StaleSessionError } from "./stale.ts";
