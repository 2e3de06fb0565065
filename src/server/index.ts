/** The HTTP API v1 server (package export `frontdesk/server`). */

export { FrontdeskClient, type FrontdeskClientOptions } from "../client/http-client.ts";
export { type AgentServerOptions, DEFAULT_TURN_TIMEOUT_MS } from "./agents.ts";
export {
  API_KEY_PATTERN,
  type ApiKeyRecord,
  type CreateApiKeyInput,
  createApiKey,
  hashApiKey,
  listApiKeys,
  revokeApiKey,
} from "./api-keys.ts";
export { type AppOptions, type AppTimeouts, createApp, type ServerLimits } from "./app.ts";
export { WS_BEARER_PROTOCOL_PREFIX, WS_PROTOCOL } from "./auth.ts";
export { DEFAULT_SERVER_LIMITS } from "./limits.ts";
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  isLoopbackHost,
  type RunningServer,
  type StartServerOptions,
  startServer,
} from "./listen.ts";
