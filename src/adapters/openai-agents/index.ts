/**
 * Frontdesk under the OpenAI Agents SDK: the entry point `frontdesk/adapters/openai-agents`.
 * `FrontdeskSession` is the SDK's `Session` (with its history transactions and edits) on any
 * Frontdesk store. Needs `@openai/agents-core` (an optional peer dependency) and Node ≥ 22.
 */
export type { AdapterOptions } from "../shared/backend.ts";
export { HISTORY_STATE_KEY, MARKER_EVENT } from "./history.ts";
export { ITEM_EVENT } from "./items.ts";
export { FrontdeskSession, type FrontdeskSessionOptions } from "./session.ts";
