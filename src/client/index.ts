/** The typed HTTP client of Frontdesk's API v1. */
export { createMergePatch, FrontdeskClient, type FrontdeskClientOptions } from "./http-client.ts";
export { type SseMessage, SseParser } from "./sse-parser.ts";
