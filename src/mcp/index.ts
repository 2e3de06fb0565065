/**
 * Frontdesk and the Model Context Protocol (package export `frontdesk/mcp`):
 * - {@link trackSessions}: record every tool call of your MCP server in a Frontdesk session;
 * - {@link createFrontdeskMcpServer}: the session operations as MCP tools and resources;
 * - {@link runStdioServer}: that server over stdio (`frontdesk mcp`);
 * - {@link registerMcpRoutes}: that server over streamable HTTP at `/mcp`, behind API keys.
 */
export { type McpCaller, type McpRoutes, type McpRoutesOptions, registerMcpRoutes } from "./http.ts";
export {
  createFrontdeskMcpServer,
  EVENTS_RESOURCE_LIMIT,
  EVENTS_URI_TEMPLATE,
  eventsUri,
  type FrontdeskMcpServerOptions,
  MCP_PAGE_BYTES,
  RESOURCE_NOT_FOUND,
  SESSION_URI_TEMPLATE,
  type SearchBounds,
  sessionIdOfUri,
  sessionUri,
} from "./server.ts";
export {
  DEFAULT_MCP_STORE_URL,
  DEFAULT_MCP_USER,
  type RunStdioServerOptions,
  runStdioServer,
  type StdioServerIo,
} from "./stdio.ts";
export {
  MCP_SESSION_PURPOSE,
  MCP_SESSION_TAG,
  type McpLogger,
  SESSION_ARGUMENT,
  type SessionTracking,
  type ToolCallExtra,
  type TrackSessionsOptions,
  trackSessions,
  withSessionArgument,
} from "./track.ts";
