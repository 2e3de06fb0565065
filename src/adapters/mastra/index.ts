/**
 * Frontdesk under Mastra (`@mastra/core` 1.x, Node ≥ 22.13 as Mastra declares): the entry point
 * `frontdesk/adapters/mastra`. Mastra's memory domain (threads, messages, working memory) stored as
 * first-class Frontdesk sessions.
 */
export type { AdapterOptions } from "../shared/backend.ts";
export { FrontdeskMemoryStorage } from "./memory-storage.ts";
export { FrontdeskStore, type FrontdeskStoreOptions } from "./store.ts";
