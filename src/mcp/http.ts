/**
 * The Frontdesk MCP server over streamable HTTP at `/mcp` (POST, GET, DELETE), behind the HTTP
 * API's keys: every request carries `Authorization: Bearer <key>`, and every MCP session is bound
 * to the user who opened it. One `McpServer` and transport per MCP session, kept in a bounded map
 * with idle expiry.
 */
import { randomUUID } from "node:crypto";
import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { ERROR_STATUS, type ErrorCode, FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import { assertUserId } from "../core/ids.ts";
import { SessionManager, type SessionManagerOptions } from "../core/session-manager.ts";
import type { SessionStore } from "../stores/types.ts";
import { createFrontdeskMcpServer, type FrontdeskMcpServerOptions } from "./server.ts";
import type { McpLogger } from "./track.ts";

/** Who is calling, as the HTTP API's authentication finds it. */
export interface McpCaller {
  userId: string;
  admin: boolean;
}

export interface McpRoutesOptions {
  /** The backend. Not needed when `sessions` is given. */
  store?: SessionStore;
  /** An unbound manager to serve from (the app's, so TTL and limits match the HTTP API). @default one on `store` */
  // biome-ignore lint/suspicious/noExplicitAny: any state type.
  sessions?: SessionManager<any>;
  /** @default "default" (only with `store`) */
  namespace?: string;
  /** Options of the manager made on `store`. */
  manager?: Omit<SessionManagerOptions, "userId">;
  /**
   * The caller of a request; throws (a FrontdeskError `unauthorized`, `forbidden`, `unavailable`…)
   * when there is none. The HTTP API's: `(request) => auth.authenticate(credentialOf(request.headers, false))`.
   */
  authenticate(request: FastifyRequest): Promise<McpCaller>;
  /** @default "/mcp" */
  path?: string;
  /**
   * The route's Fastify `config`. In the Frontdesk app, `{ auth: "user" }` lets the app's own
   * request hook authenticate and rate-limit `/mcp` like every API route; `authenticate` then
   * only reads `request.principal`.
   */
  routeConfig?: Record<string, unknown>;
  /** MCP sessions kept at once; the least recently used one is closed to make room. @default 1000 */
  maxSessions?: number;
  /** MCP sessions one user may keep; their least recently used one is closed to make room. @default 16 */
  maxSessionsPerUser?: number;
  /** An MCP session with no request (and no open stream) for this long is closed. @default 1_800_000 */
  idleTimeoutMs?: number;
  clock?: Clock;
  /** @default the app's logger (`app.log.warn`) */
  logger?: McpLogger;
  /** Passed to every MCP server made (search bounds, subscription limits). */
  server?: Omit<FrontdeskMcpServerOptions, "sessions" | "logger">;
}

/** What the routes hold, for operations and tests. */
export interface McpRoutes {
  /** Open MCP sessions. */
  size(): number;
  /** Requests and streams in progress, over every MCP session. */
  active(): number;
  /** Closes every MCP session (the app's preClose hook does it too). */
  closeAll(): Promise<void>;
  /** Closes the MCP sessions idle longer than `idleTimeoutMs` now (a timer does it too). */
  sweep(): Promise<number>;
}

interface Entry {
  id: string;
  userId: string;
  transport: StreamableHTTPServerTransport;
  close(): Promise<void>;
  lastSeen: number;
  /** Requests (and streams) in progress: an entry with one is never idle. */
  active: number;
  closed: boolean;
}

const MCP_SESSION_HEADER = "mcp-session-id";

/** `{"error":{"code","message"}}`, as every HTTP API error. */
const sendFrontdeskError = (reply: FastifyReply, code: ErrorCode, message: string): void => {
  if (code === "unauthorized") reply.header("www-authenticate", 'Bearer realm="frontdesk"');
  if (code === "unavailable") reply.header("retry-after", "1");
  void reply.code(ERROR_STATUS[code]).type("application/json").send({ error: { code, message } });
};

/** MCP transport errors are JSON-RPC errors, which MCP clients read (404: start a new session). */
const sendRpcError = (reply: FastifyReply, status: number, rpcCode: number, message: string, code: ErrorCode) => {
  void reply
    .code(status)
    .type("application/json")
    .send({ jsonrpc: "2.0", error: { code: rpcCode, message, data: { code } }, id: null });
};

const errorOf = (error: unknown): { code: ErrorCode; message: string } => {
  if (isFrontdeskError(error) && error.code !== "internal") {
    return {
      code: error.code,
      message: error.code === "unavailable" ? "The key store is unavailable; retry shortly" : error.message,
    };
  }
  return { code: "internal", message: "Internal server error" };
};

/** Non-admin callers act for themselves; admins may name a user with `X-Frontdesk-User`. */
const actingUser = (caller: McpCaller, request: FastifyRequest): string => {
  const named = request.headers["x-frontdesk-user"];
  if (named === undefined || named === caller.userId) return caller.userId;
  if (!caller.admin) throw new FrontdeskError("forbidden", "Only admin keys may act for another user");
  if (typeof named !== "string") throw new FrontdeskError("invalid_request", "Name one user in X-Frontdesk-User");
  return assertUserId(named);
};

/**
 * Mounts `POST|GET|DELETE /mcp` on `app`. Call it before `app.ready()` / `listen()`.
 *
 * @example
 * await registerMcpRoutes(app, { sessions: manager, authenticate: (request) => auth.authenticate(credentialOf(request.headers, false)) });
 */
export async function registerMcpRoutes(app: FastifyInstance, options: McpRoutesOptions): Promise<McpRoutes> {
  if (!options || typeof options.authenticate !== "function" || (!options.store && !options.sessions)) {
    throw new FrontdeskError("invalid_request", "registerMcpRoutes needs { store or sessions, authenticate }");
  }
  // Loaded here, not at import: code that only tracks tools never loads the HTTP transport.
  const { StreamableHTTPServerTransport } = await import("@modelcontextprotocol/sdk/server/streamableHttp.js");
  const manager =
    options.sessions ??
    new SessionManager(() => ({}), options.store as SessionStore, options.namespace ?? "default", options.manager);
  const path = options.path ?? "/mcp";
  const maxSessions = positive(options.maxSessions ?? 1000, "maxSessions");
  const maxPerUser = positive(options.maxSessionsPerUser ?? 16, "maxSessionsPerUser");
  const idleTimeoutMs = positive(options.idleTimeoutMs ?? 30 * 60 * 1000, "idleTimeoutMs");
  const clock = options.clock ?? SYSTEM_CLOCK;
  const logger: McpLogger = options.logger ?? {
    warn: (details, message) => app.log.warn(details, message),
  };
  /** Insertion order is recency: every request moves its entry to the end. */
  const entries = new Map<string, Entry>();
  let shuttingDown = false;

  const drop = async (entry: Entry): Promise<void> => {
    if (entry.closed) return;
    entry.closed = true;
    if (entries.get(entry.id) === entry) entries.delete(entry.id);
    await entry.close().catch(() => undefined);
  };

  /** Makes room for one more session of `userId`: closes their, then anyone's, least recently used idle one. */
  const makeRoom = async (userId: string): Promise<boolean> => {
    const own = [...entries.values()].filter((entry) => entry.userId === userId);
    if (own.length >= maxPerUser) {
      const victim = own.find((entry) => entry.active === 0) ?? own[0];
      if (victim) await drop(victim);
    }
    if (entries.size >= maxSessions) {
      const victim = [...entries.values()].find((entry) => entry.active === 0);
      if (!victim) return false;
      await drop(victim);
    }
    return true;
  };

  const sweep = async (): Promise<number> => {
    const now = clock.now();
    const idle = [...entries.values()].filter((entry) => entry.active === 0 && now - entry.lastSeen >= idleTimeoutMs);
    await Promise.all(idle.map(drop));
    return idle.length;
  };
  const timer = setInterval(
    () => {
      void sweep();
    },
    Math.min(idleTimeoutMs, 60_000),
  );
  timer.unref();

  const closeAll = async (): Promise<void> => {
    await Promise.all([...entries.values()].map(drop));
  };

  app.addHook("preClose", async () => {
    shuttingDown = true;
    clearInterval(timer);
    // Open SSE streams would keep the server from closing.
    await closeAll();
  });
  app.addHook("onClose", async () => {
    clearInterval(timer);
  });

  const serve = async (entry: Entry, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    entry.active++;
    entry.lastSeen = clock.now();
    if (entry.id !== "" && !entry.closed) {
      entries.delete(entry.id);
      entries.set(entry.id, entry);
    }
    reply.hijack();
    try {
      await entry.transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (error) {
      logger.warn({ error: error instanceof Error ? error.message : String(error) }, "MCP request failed");
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { "content-type": "application/json" });
        reply.raw.end(
          JSON.stringify({
            jsonrpc: "2.0",
            error: { code: -32603, message: "Internal server error", data: { code: "internal" } },
            id: null,
          }),
        );
      }
    } finally {
      entry.active--;
      entry.lastSeen = clock.now();
    }
  };

  const open = async (userId: string, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!(await makeRoom(userId))) {
      sendRpcError(reply, 503, -32000, "Too many open MCP sessions; retry shortly", "unavailable");
      return;
    }
    const server = createFrontdeskMcpServer({ ...options.server, sessions: manager.forUser(userId), logger });
    const entry: Entry = {
      id: "",
      userId,
      transport: undefined as unknown as StreamableHTTPServerTransport,
      close: () => server.close(),
      lastSeen: clock.now(),
      active: 0,
      closed: false,
    };
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        entry.id = id;
        entries.set(id, entry);
      },
      onsessionclosed: () => {
        void drop(entry);
      },
    });
    entry.transport = transport;
    transport.onclose = () => {
      entry.closed = true;
      if (entries.get(entry.id) === entry) entries.delete(entry.id);
    };
    await server.connect(transport);
    await serve(entry, request, reply);
    // An initialize that failed leaves no session behind.
    if (entry.id === "") await server.close().catch(() => undefined);
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (shuttingDown) {
      sendFrontdeskError(reply, "unavailable", "The server is shutting down");
      return;
    }
    let userId: string;
    try {
      const caller = await options.authenticate(request);
      userId = actingUser(caller, request);
    } catch (error) {
      const { code, message } = errorOf(error);
      if (code === "internal") {
        logger.warn({ error: error instanceof Error ? error.message : String(error) }, "MCP authentication failed");
      }
      sendFrontdeskError(reply, code, message);
      return;
    }
    const sessionId = request.headers[MCP_SESSION_HEADER];
    if (typeof sessionId === "string" && sessionId.length > 0) {
      const entry = entries.get(sessionId);
      // Another user's MCP session answers exactly like an unknown one.
      if (!entry || entry.closed || entry.userId !== userId) {
        sendRpcError(reply, 404, -32001, "Session not found", "not_found");
        return;
      }
      await serve(entry, request, reply);
      return;
    }
    if (request.method === "POST" && isInitializeRequest(request.body)) {
      await open(userId, request, reply);
      return;
    }
    sendRpcError(
      reply,
      400,
      -32000,
      "Bad Request: send an initialize request first, then the Mcp-Session-Id it returns",
      "invalid_request",
    );
  };

  app.route({
    method: ["POST", "GET", "DELETE"],
    url: path,
    // Read by @fastify/swagger when the app has it (the Frontdesk server's /openapi.json).
    schema: {
      summary: "MCP over streamable HTTP",
      description:
        "The Frontdesk MCP server (session tools and resources) for the key's user: POST JSON-RPC messages, GET " +
        "the server-to-client stream, DELETE to end an MCP session (`Mcp-Session-Id`). See docs/mcp.md.",
      tags: ["mcp"],
      security: [{ bearerAuth: [] }],
    } as never,
    handler,
    ...(options.routeConfig === undefined ? {} : { config: options.routeConfig as never }),
  });

  return {
    size: () => entries.size,
    active: () => [...entries.values()].reduce((sum, entry) => sum + entry.active, 0),
    closeAll,
    sweep,
  };
}

const positive = (value: number, name: string): number => {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new FrontdeskError("invalid_request", `${name} must be a positive whole number`);
  }
  return value;
};
