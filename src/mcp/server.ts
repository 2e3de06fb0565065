/**
 * Frontdesk as an MCP server: the session operations as tools, sessions and their event logs as
 * resources (with live `resources/updated` notifications). One server acts for one user: build it
 * with a manager bound to that user (`manager.forUser(id)`), as the HTTP API does per request.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type ReadResourceResult,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import { yieldToEventLoop } from "../core/event-loop.ts";
import { SESSION_ID_PATTERN } from "../core/ids.ts";
import {
  EVENT_TYPES,
  type EventType,
  type Json,
  type JsonObject,
  MESSAGE_ROLES,
  SESSION_STATUSES,
  type SessionEvent,
} from "../core/model.ts";
import type { Session, SessionManager } from "../core/session-manager.ts";
import type { Unsubscribe } from "../stores/types.ts";
import type { McpLogger } from "./track.ts";

export interface SearchBounds {
  /** Sessions, most recently updated first, whose messages a search reads. @default 50 */
  maxSessions?: number;
  /** Newest messages read per session. @default 200 */
  messagesPerSession?: number;
}

export interface FrontdeskMcpServerOptions {
  /** The caller's sessions: a manager bound to the caller's user (`manager.forUser(userId)`). */
  // biome-ignore lint/suspicious/noExplicitAny: the tools treat every state as plain JSON.
  sessions: SessionManager<any>;
  /** Unexpected failures (never sent to the client). @default console.warn on stderr */
  logger?: McpLogger;
  /** How far `session_search` reads message text. */
  search?: SearchBounds;
  /** Resource subscriptions one client may hold. @default 100 */
  maxSubscriptions?: number;
  /** Sessions listed by `resources/list` (most recently updated). @default 100 */
  maxListedResources?: number;
}

export const SESSION_URI_PREFIX = "frontdesk://sessions/";
export const SESSION_URI_TEMPLATE = "frontdesk://sessions/{id}";
export const EVENTS_URI_TEMPLATE = "frontdesk://sessions/{id}/events";
/** Events a `frontdesk://sessions/{id}/events` read returns: the newest ones. */
export const EVENTS_RESOURCE_LIMIT = 500;
/**
 * The JSON an events page may carry over MCP: a result lands in a model's context, and is written
 * twice (as text and as structured content), so a page of big events ends early with its cursor.
 */
export const MCP_PAGE_BYTES = 1024 * 1024;

/** The error a resource read or subscribe gives for an absent (or another user's) session. */
export const RESOURCE_NOT_FOUND = -32002;

const packageVersion = (): string => {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    return (JSON.parse(text) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
};

// ── input shapes ─────────────────────────────────────────────────────────────────────────────

const SessionId = z
  .string()
  .regex(SESSION_ID_PATTERN, "a session id: letters, digits and . _ : - (at most 128, starting with a letter or digit)")
  .describe("The session's id");
const Status = z.enum(SESSION_STATUSES);
const Tags = z.array(z.string().min(1).max(64)).max(64);
const JsonObjectInput = z.record(z.string(), z.unknown());
const Title = z.string().max(512);
const Purpose = z.string().max(4096);

const createShape = {
  session_id: SessionId.optional().describe("A client-chosen id; by default a random one"),
  title: Title.optional(),
  purpose: Purpose.optional().describe("What the session is for"),
  tags: Tags.optional(),
  metadata: JsonObjectInput.optional().describe("Free JSON about the session"),
  state: JsonObjectInput.optional().describe("The initial session state"),
  ttl_seconds: z
    .number()
    .int()
    .positive()
    .nullable()
    .optional()
    .describe("Sliding time to live; null never expires. Default: the server's (30 minutes)"),
};

const listShape = {
  status: z.union([Status, z.array(Status).min(1).max(4)]).optional(),
  tags: Tags.optional().describe("Every tag must be present"),
  text: z.string().max(256).optional().describe("Case-insensitive text in the title or purpose"),
  order_by: z.enum(["createdAt", "updatedAt"]).optional().describe("Default createdAt, newest first"),
  limit: z.number().int().min(1).max(100).optional().describe("Default 20"),
  cursor: z.string().max(1024).optional().describe("nextCursor of the previous page"),
};

const idShape = { session_id: SessionId };

const eventsShape = {
  session_id: SessionId,
  after: z.number().int().nonnegative().optional().describe("Only events after this seq (paging forward)"),
  before: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("Only events before this seq (with `last`, paging back from a nextBefore)"),
  last: z.number().int().min(1).max(500).optional().describe("Only the newest n events"),
  limit: z.number().int().min(1).max(500).optional().describe("Default 100"),
  types: z
    .array(z.enum(EVENT_TYPES as [EventType, ...EventType[]]))
    .max(16)
    .optional(),
};

const ContentPart = z.looseObject({ type: z.string().min(1) });
const messageShape = {
  session_id: SessionId,
  role: z.enum(MESSAGE_ROLES),
  content: z
    .union([z.string(), z.array(ContentPart).max(256)])
    .describe("Text, or AI SDK / OpenAI content parts (each with a type)"),
  name: z.string().max(256).optional(),
  tool_call_id: z.string().max(256).optional(),
};

const invocationShape = {
  session_id: SessionId,
  tool: z.string().min(1).max(256),
  invocation_id: z.string().min(1).max(256).optional().describe("Default: a fresh id"),
  input: z.unknown().optional().describe("The tool's input (JSON)"),
  output: z.unknown().optional().describe("The tool's output (JSON)"),
  error: z
    .union([z.string().max(4096), z.object({ message: z.string().max(4096), code: z.string().max(64).optional() })])
    .optional(),
  status: z.enum(["success", "error", "denied", "cancelled", "pending"]).optional(),
  duration_ms: z.number().nonnegative().optional(),
};

const metadataShape = {
  session_id: SessionId,
  title: Title.nullable().optional(),
  purpose: Purpose.nullable().optional(),
  tags: Tags.optional().describe("Replaces the tags"),
  metadata: JsonObjectInput.optional().describe("Keys merged into the metadata"),
};

const completeShape = {
  session_id: SessionId,
  status: z.enum(["completed", "failed", "abandoned"]).optional().describe("Default completed"),
};

const searchShape = {
  query: z.string().min(1).max(256).describe("Case-insensitive text"),
  status: z.union([Status, z.array(Status).min(1).max(4)]).optional(),
  in_messages: z.boolean().optional().describe("Also search message text (bounded). Default true"),
  limit: z.number().int().min(1).max(50).optional().describe("Default 10"),
};

// ── results ──────────────────────────────────────────────────────────────────────────────────

const ok = (value: Record<string, unknown>): CallToolResult => ({
  content: [{ type: "text", text: JSON.stringify(value) }],
  structuredContent: value,
});

/** A Frontdesk failure as a tool error result: `code: message` text and `{ error: { code, message } }`. */
function toolFailure(error: unknown, logger: McpLogger, tool: string): CallToolResult {
  let code: FrontdeskError["code"] = "internal";
  let message = "Internal error";
  if (isFrontdeskError(error) && error.code !== "internal") {
    code = error.code;
    message = code === "unavailable" ? "The session store is unavailable; retry shortly" : error.message;
  } else {
    logger.warn({ tool, error: error instanceof Error ? error.message : String(error) }, "MCP tool failed");
  }
  return {
    isError: true,
    content: [{ type: "text", text: `${code}: ${message}` }],
    structuredContent: { error: { code, message } },
  };
}

const summaryOf = (session: Session) => ({
  id: session.id,
  status: session.status,
  title: session.title,
  purpose: session.purpose,
  tags: session.tags,
  createdAt: session.createdAt,
  updatedAt: session.updatedAt,
  expiresAt: session.expiresAt,
  lastSeq: session.lastSeq,
  stats: session.stats,
});

const statusList = (status: string | string[] | undefined) =>
  (status === undefined ? undefined : Array.isArray(status) ? status : [status]) as
    | (typeof SESSION_STATUSES)[number][]
    | undefined;

const messageText = (event: SessionEvent): string => {
  if (event.type !== "message") return "";
  const content = event.content as unknown;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part: { type?: unknown; text?: unknown }) =>
      part?.type === "text" && typeof part.text === "string" ? part.text : "",
    )
    .join(" ");
};

const SEARCH_SLICE_MS = 4;

const snippetOf = (text: string, at: number, length: number): string => {
  const start = Math.max(0, at - 60);
  const end = Math.min(text.length, at + length + 60);
  return `${start > 0 ? "…" : ""}${text.slice(start, end).replace(/\s+/g, " ")}${end < text.length ? "…" : ""}`;
};

// ── resources ────────────────────────────────────────────────────────────────────────────────

export const sessionUri = (id: string): string => `${SESSION_URI_PREFIX}${id}`;
export const eventsUri = (id: string): string => `${SESSION_URI_PREFIX}${id}/events`;

/** The session id a Frontdesk resource URI names, or undefined when it is not one. */
export function sessionIdOfUri(uri: string): string | undefined {
  if (!uri.startsWith(SESSION_URI_PREFIX)) return undefined;
  const rest = uri.slice(SESSION_URI_PREFIX.length);
  const id = rest.endsWith("/events") ? rest.slice(0, -"/events".length) : rest;
  return SESSION_ID_PATTERN.test(id) ? id : undefined;
}

function resourceError(error: unknown, uri: string, logger: McpLogger): McpError {
  if (
    isFrontdeskError(error, "not_found") ||
    (isFrontdeskError(error, "invalid_request") && /session id/.test(error.message))
  ) {
    return new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`, { uri, code: "not_found" });
  }
  if (isFrontdeskError(error) && error.code !== "internal" && error.code !== "unavailable") {
    return new McpError(ErrorCode.InvalidParams, error.message, { code: error.code });
  }
  if (!isFrontdeskError(error, "unavailable")) {
    logger.warn(
      { uri: hashUri(uri), error: error instanceof Error ? error.message : String(error) },
      "MCP resource read failed",
    );
  }
  return new McpError(
    ErrorCode.InternalError,
    isFrontdeskError(error, "unavailable") ? "The session store is unavailable; retry shortly" : "Internal error",
    { code: isFrontdeskError(error, "unavailable") ? "unavailable" : "internal" },
  );
}

const hashUri = (uri: string): string => createHash("sha256").update(uri).digest("hex").slice(0, 12);

const variable = (value: string | string[] | undefined): string =>
  Array.isArray(value) ? (value[0] ?? "") : (value ?? "");

/**
 * An MCP server for one user's sessions. Tools: `session_create`, `session_get`, `session_list`,
 * `session_events`, `session_add_message`, `session_link_invocation`, `session_update_metadata`,
 * `session_complete`, `session_stats`, `session_search`. Resources: `frontdesk://sessions/{id}`
 * (the session) and `frontdesk://sessions/{id}/events` (its newest events), both subscribable.
 *
 * @example
 * const server = createFrontdeskMcpServer({ sessions: manager.forUser("alice") });
 * await server.connect(new StdioServerTransport());
 */
export function createFrontdeskMcpServer(options: FrontdeskMcpServerOptions): McpServer {
  if (!options || typeof options !== "object" || !options.sessions) {
    throw new FrontdeskError("invalid_request", "createFrontdeskMcpServer needs { sessions: SessionManager }");
  }
  const sessions = options.sessions;
  const logger: McpLogger = options.logger ?? {
    warn: (details, message) => console.warn(`[frontdesk:mcp] ${message}`, details),
  };
  const maxSearchSessions = options.search?.maxSessions ?? 50;
  const messagesPerSession = options.search?.messagesPerSession ?? 200;
  const maxSubscriptions = options.maxSubscriptions ?? 100;
  const maxListed = options.maxListedResources ?? 100;

  const server = new McpServer(
    { name: "frontdesk", title: "Frontdesk sessions", version: packageVersion() },
    {
      capabilities: { tools: {}, resources: { subscribe: true, listChanged: true } },
      instructions:
        "Frontdesk keeps your sessions: conversations with their messages, tool invocations, state and statistics. " +
        "Create one with session_create, record messages and tool invocations, and read them back with session_get, " +
        "session_events or the frontdesk://sessions/{id} resources.",
    },
  );

  // ── subscriptions: one store subscription per session, whatever URIs of it are watched ─────

  interface Watch {
    uris: Set<string>;
    unsubscribe?: Unsubscribe;
    pending: boolean;
    closed: boolean;
  }
  const watches = new Map<string, Watch>();
  const watchedUris = (): number => [...watches.values()].reduce((n, watch) => n + watch.uris.size, 0);

  const notify = (watch: Watch): void => {
    // Many commits in a burst give one notification per URI.
    if (watch.pending || watch.closed) return;
    watch.pending = true;
    setImmediate(() => {
      watch.pending = false;
      if (watch.closed || !server.isConnected()) return;
      for (const uri of watch.uris) {
        server.server.sendResourceUpdated({ uri }).catch(() => undefined);
      }
    });
  };

  const stopWatch = async (id: string, watch: Watch): Promise<void> => {
    watch.closed = true;
    if (watches.get(id) === watch) watches.delete(id);
    await watch.unsubscribe?.().catch(() => undefined);
  };

  const tool = <Shape extends z.ZodRawShape>(
    name: string,
    description: string,
    shape: Shape,
    annotations: { readOnlyHint?: boolean; idempotentHint?: boolean; destructiveHint?: boolean },
    run: (args: z.infer<z.ZodObject<Shape>>) => Promise<Record<string, unknown>>,
  ): void => {
    server.registerTool(
      name,
      {
        description,
        inputSchema: shape,
        annotations: { destructiveHint: false, openWorldHint: false, ...annotations },
      },
      (async (args: z.infer<z.ZodObject<Shape>>) => {
        try {
          return ok(await run(args));
        } catch (error) {
          return toolFailure(error, logger, name);
        }
      }) as never,
    );
  };

  tool(
    "session_create",
    "Create a session. Returns the session (id, status, state, stats…). A session_id already in use is a conflict.",
    createShape,
    {},
    async (args) => {
      const session = await sessions.create({
        sessionId: args.session_id,
        title: args.title,
        purpose: args.purpose,
        tags: args.tags,
        metadata: args.metadata as JsonObject | undefined,
        state: args.state as JsonObject | undefined,
        ttlMs: args.ttl_seconds === undefined ? undefined : args.ttl_seconds === null ? null : args.ttl_seconds * 1000,
        ifExists: "error",
      });
      return { session };
    },
  );

  tool(
    "session_get",
    "Read one session: header, state and statistics (not its events).",
    idShape,
    { readOnlyHint: true, idempotentHint: true },
    async (args) => ({ session: await sessions.get(args.session_id) }),
  );

  tool(
    "session_list",
    "List your sessions, newest first, with filters. Returns { items, nextCursor }; pass nextCursor as cursor for the next page.",
    listShape,
    { readOnlyHint: true, idempotentHint: true },
    async (args) => {
      const page = await sessions.listSessions({
        status: statusList(args.status),
        tags: args.tags,
        text: args.text,
        orderBy: args.order_by,
        limit: args.limit ?? 20,
        cursor: args.cursor,
      });
      return { items: page.items.map(summaryOf), nextCursor: page.nextCursor };
    },
  );

  tool(
    "session_events",
    "Read a session's events in seq order: after a seq (paging with nextAfter), or the newest `last` ones " +
      "(paging back with nextBefore). A page holds at most 1 MiB of JSON and ends early when its events are big.",
    eventsShape,
    { readOnlyHint: true, idempotentHint: true },
    async (args) => {
      const page = await sessions.readEventPage(args.session_id, {
        after: args.after,
        before: args.before,
        ...(args.last === undefined ? { limit: args.limit } : { last: args.last }),
        types: args.types,
        maxBytes: MCP_PAGE_BYTES,
      });
      return { items: page.items, nextAfter: page.nextAfter, nextBefore: page.nextBefore };
    },
  );

  tool(
    "session_add_message",
    "Append one message (system, user, assistant or tool) to a session's conversation.",
    messageShape,
    {},
    async (args) => {
      const event = await sessions.addMessage(args.session_id, {
        role: args.role,
        content: args.content as string | Record<string, unknown>[],
        ...(args.name === undefined ? {} : { name: args.name }),
        ...(args.tool_call_id === undefined ? {} : { toolCallId: args.tool_call_id }),
      });
      return { event };
    },
  );

  tool(
    "session_link_invocation",
    "Record one finished tool invocation in a session (a tool_call and a tool_result event, atomically).",
    invocationShape,
    {},
    async (args) => {
      const events = await sessions.linkInvocation(args.session_id, {
        tool: args.tool,
        ...(args.invocation_id === undefined ? {} : { invocationId: args.invocation_id }),
        ...(args.input === undefined ? {} : { input: args.input as Json }),
        ...(args.output === undefined ? {} : { output: args.output as Json }),
        ...(args.error === undefined ? {} : { error: args.error }),
        ...(args.status === undefined ? {} : { status: args.status }),
        ...(args.duration_ms === undefined ? {} : { durationMs: args.duration_ms }),
      });
      const first = events[0] as (SessionEvent & { invocationId?: string }) | undefined;
      return { invocationId: first?.invocationId ?? null, seqs: events.map((event) => event.seq) };
    },
  );

  tool(
    "session_update_metadata",
    "Change a session's title, purpose or tags, and merge keys into its metadata.",
    metadataShape,
    { idempotentHint: true },
    async (args) => {
      const session = await sessions.updateMetadata(args.session_id, {
        ...(args.title === undefined ? {} : { title: args.title }),
        ...(args.purpose === undefined ? {} : { purpose: args.purpose }),
        ...(args.tags === undefined ? {} : { tags: args.tags }),
        ...(args.metadata === undefined ? {} : { metadata: args.metadata as JsonObject }),
      });
      // A header-only commit appends no event, and some stores' hints skip such commits: tell
      // this client's subscribers directly (a duplicate in the same tick is coalesced).
      const watch = watches.get(session.id);
      if (watch) notify(watch);
      return { session };
    },
  );

  tool(
    "session_complete",
    "Mark a session completed (or failed, or abandoned).",
    completeShape,
    { idempotentHint: true },
    async (args) => ({ session: await sessions.completeSession(args.session_id, args.status ?? "completed") }),
  );

  tool(
    "session_stats",
    "A session's statistics: messages, tool calls and errors, tools used, tokens, cost, total tool time.",
    idShape,
    { readOnlyHint: true, idempotentHint: true },
    async (args) => ({ sessionId: args.session_id, stats: await sessions.getStatistics(args.session_id) }),
  );

  tool(
    "session_search",
    `Search your sessions by text: titles and purposes of all of them, and the newest ${messagesPerSession} messages of the ${maxSearchSessions} most recently updated ones.`,
    searchShape,
    { readOnlyHint: true, idempotentHint: true },
    async (args) => {
      const limit = args.limit ?? 10;
      const needle = args.query.toLowerCase();
      const status = statusList(args.status);
      const found = new Map<string, { session: Session; matches: Record<string, unknown>[] }>();
      const add = (session: Session, match: Record<string, unknown>): void => {
        const entry = found.get(session.id) ?? { session, matches: [] };
        if (entry.matches.length < 3) entry.matches.push(match);
        found.set(session.id, entry);
      };
      // Titles and purposes: the store's own (indexed) text filter, over every session.
      const headers = await sessions.listSessions({ text: args.query, status, orderBy: "updatedAt", limit });
      for (const session of headers.items) {
        for (const field of ["title", "purpose"] as const) {
          const text = session[field] ?? "";
          const at = text.toLowerCase().indexOf(needle);
          if (at >= 0) add(session, { field, snippet: snippetOf(text, at, needle.length) });
        }
      }
      // Message text: bounded, newest sessions and newest messages first.
      let scannedSessions = 0;
      let complete = true;
      // Up to maxSearchSessions × messagesPerSession messages of up to 256 KiB each: the event loop
      // gets a turn every few milliseconds instead of waiting for the whole search.
      let sliceEnd = performance.now() + SEARCH_SLICE_MS;
      if (args.in_messages !== false) {
        let cursor: string | undefined;
        scan: while (scannedSessions < maxSearchSessions) {
          const page = await sessions.listSessions({
            status,
            orderBy: "updatedAt",
            limit: Math.min(50, maxSearchSessions - scannedSessions),
            cursor,
          });
          for (const session of page.items) {
            if (found.size >= limit && !found.has(session.id)) {
              complete = false;
              break scan;
            }
            scannedSessions++;
            if (session.stats.messages === 0) continue;
            const messages = await sessions
              .readEvents(session.id, { types: ["message"], last: messagesPerSession })
              .catch((error: unknown) => {
                if (isFrontdeskError(error, "not_found")) return [] as readonly SessionEvent[];
                throw error;
              });
            for (let i = messages.length - 1; i >= 0; i--) {
              if (performance.now() > sliceEnd) {
                await yieldToEventLoop();
                sliceEnd = performance.now() + SEARCH_SLICE_MS;
              }
              const event = messages[i] as SessionEvent;
              const text = messageText(event);
              const at = text.toLowerCase().indexOf(needle);
              if (at >= 0) {
                add(session, {
                  field: "message",
                  seq: event.seq,
                  role: event.type === "message" ? event.role : undefined,
                  snippet: snippetOf(text, at, needle.length),
                });
              }
            }
            if (session.stats.messages > messagesPerSession) complete = false;
          }
          if (!page.nextCursor || page.items.length === 0) break;
          cursor = page.nextCursor;
          if (scannedSessions >= maxSearchSessions) complete = false;
        }
      }
      const items = [...found.values()].slice(0, limit).map(({ session, matches }) => ({
        sessionId: session.id,
        title: session.title,
        purpose: session.purpose,
        status: session.status,
        updatedAt: session.updatedAt,
        matches,
      }));
      return {
        items,
        searched: {
          titlesAndPurposes: "all sessions",
          messages: args.in_messages === false ? "none" : { sessions: scannedSessions, perSession: messagesPerSession },
          complete,
        },
      };
    },
  );

  // ── resources ──────────────────────────────────────────────────────────────────────────────

  const listResources = async (suffix: "" | "/events") => {
    const page = await sessions.listSessions({ orderBy: "updatedAt", limit: maxListed });
    return {
      resources: page.items.map((session) => ({
        uri: `${SESSION_URI_PREFIX}${session.id}${suffix}`,
        name: suffix === "" ? (session.title ?? session.id) : `${session.title ?? session.id} (events)`,
        ...(session.purpose ? { description: session.purpose } : {}),
        mimeType: "application/json",
      })),
    };
  };

  const json = (uri: URL, value: unknown): ReadResourceResult => ({
    contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(value) }],
  });

  server.registerResource(
    "session",
    new ResourceTemplate(SESSION_URI_TEMPLATE, { list: () => listResources("") }),
    {
      title: "Session",
      description: "A session: header, state and statistics (JSON)",
      mimeType: "application/json",
    },
    async (uri, variables) => {
      try {
        return json(uri, await sessions.get(variable(variables.id)));
      } catch (error) {
        throw resourceError(error, uri.href, logger);
      }
    },
  );

  server.registerResource(
    "session-events",
    new ResourceTemplate(EVENTS_URI_TEMPLATE, { list: () => listResources("/events") }),
    {
      title: "Session events",
      description: `A session's newest ${EVENTS_RESOURCE_LIMIT} events in seq order (JSON); page older ones with the session_events tool`,
      mimeType: "application/json",
    },
    async (uri, variables) => {
      const id = variable(variables.id);
      try {
        const session = await sessions.get(id);
        const page = await sessions.readEventPage(id, { last: EVENTS_RESOURCE_LIMIT, maxBytes: MCP_PAGE_BYTES });
        return json(uri, {
          sessionId: id,
          lastSeq: session.lastSeq,
          items: page.items,
          truncated: page.nextBefore !== null,
          nextBefore: page.nextBefore,
        });
      } catch (error) {
        throw resourceError(error, uri.href, logger);
      }
    },
  );

  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const uri = request.params.uri;
    const id = sessionIdOfUri(uri);
    if (id === undefined) {
      throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`, { uri, code: "not_found" });
    }
    try {
      await sessions.get(id); // absent, expired and other users' sessions alike: not found
    } catch (error) {
      throw resourceError(error, uri, logger);
    }
    const existing = watches.get(id);
    if (existing) {
      existing.uris.add(uri);
      return {};
    }
    if (watchedUris() >= maxSubscriptions) {
      throw new McpError(ErrorCode.InvalidRequest, `At most ${maxSubscriptions} subscriptions per client`, {
        code: "rate_limited",
      });
    }
    const watch: Watch = { uris: new Set([uri]), pending: false, closed: false };
    watches.set(id, watch);
    try {
      // The store's commit hint covers every change (events, header edits, status), made here or
      // by any other client or server instance on the same backend.
      const key = { namespace: sessions.namespace, userId: sessions.userId, id };
      const unsubscribe = await sessions.store.subscribe(key, () => notify(watch));
      if (watch.closed) await unsubscribe().catch(() => undefined);
      else watch.unsubscribe = unsubscribe;
    } catch (error) {
      await stopWatch(id, watch);
      throw resourceError(error, uri, logger);
    }
    return {};
  });

  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    const uri = request.params.uri;
    const id = sessionIdOfUri(uri);
    const watch = id === undefined ? undefined : watches.get(id);
    if (id !== undefined && watch) {
      watch.uris.delete(uri);
      if (watch.uris.size === 0) await stopWatch(id, watch);
    }
    return {};
  });

  // When the connection ends (client gone, transport or server closed), drop every subscription.
  const previous = server.server.onclose;
  server.server.onclose = () => {
    for (const [id, watch] of [...watches]) void stopWatch(id, watch);
    previous?.();
  };

  return server;
}
