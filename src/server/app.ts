/**
 * Builds the HTTP API v1 server (docs/http-api.md) as a Fastify instance. It never listens: tests drive
 * it with `app.inject()`, and `listen.ts` is the only file that binds a port.
 *
 * Every session route acts through `manager.forUser(<the key's user>)`, so no code path can serve
 * data outside the caller's scope; another user's session answers exactly like an absent one.
 */
import swagger from "@fastify/swagger";
import websocket from "@fastify/websocket";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from "fastify-type-provider-zod";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { FrontdeskError } from "../core/errors.ts";
import { LruMap } from "../core/lru-map.ts";
import { type RetentionPolicy, SessionManager } from "../core/session-manager.ts";
import { registerMcpRoutes } from "../mcp/http.ts";
import type { SessionStore } from "../stores/types.ts";
import { AgentHost, type AgentServerOptions } from "./agents.ts";
import {
  Authenticator,
  credentialOf,
  type Principal,
  unauthorized,
  WS_BEARER_PROTOCOL_PREFIX,
  WS_PROTOCOL,
} from "./auth.ts";
import { createClientErrorHandler, REQUEST_TIMEOUT_RESPONSE } from "./client-errors.ts";
import { registerConsole } from "./console.ts";
import type { ServerContext } from "./context.ts";
import { sendError, serverUnavailable } from "./http-errors.ts";
import { coreLimitsOf, resolveLimits, type ServerLimits } from "./limits.ts";
import { type AppLoggerOption, hashSessionId, loggerOptionsOf, routeTemplateOf } from "./logging.ts";
import { createServerMetrics } from "./metrics.ts";
import { RateLimiter, rateLimitFieldOf } from "./rate-limit.ts";
import { agUiRoutes } from "./routes/ag-ui.ts";
import { agentRoutes } from "./routes/agent.ts";
import { chatRoutes } from "./routes/chat.ts";
import { eventRoutes } from "./routes/events.ts";
import { opsRoutes } from "./routes/ops.ts";
import { privacyRoutes } from "./routes/privacy.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import { streamRoutes, WS_ROUTE } from "./routes/streams.ts";
import { schemaRegistry } from "./schemas.ts";
import { responseSerializerCompiler } from "./serializer.ts";
import { StreamHub } from "./streams.ts";
import { requestValidatorCompiler } from "./validator.ts";

export type { ServerLimits };

/** The connection bounds of {@link ServerLimits} under their older names; each one given wins over its limit. */
export interface AppTimeouts {
  /** `limits.idleTimeoutMs`: idle time after which a connection is dropped (streams are exempt). @default 120_000 */
  connectionMs?: number;
  /** `limits.keepAliveTimeoutMs`: idle keep-alive connections are closed after this. @default 5_000 */
  keepAliveMs?: number;
  /** `limits.requestTimeoutMs`: time to receive a whole request (headers and body). @default 30_000 */
  requestMs?: number;
  /** `limits.headersTimeoutMs`: time to receive a request's headers. @default 10_000 */
  headersMs?: number;
}

/** The HTTP server's connection bounds, from the limits and any {@link AppTimeouts} override. */
function connectionBoundsOf(limits: ServerLimits, timeouts: AppTimeouts) {
  const checked = (name: string, value: number): number => {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new FrontdeskError("invalid_request", `timeouts.${name} must be a positive integer (ms)`);
    }
    return value;
  };
  const bounds = {
    idleMs: checked("connectionMs", timeouts.connectionMs ?? limits.idleTimeoutMs),
    keepAliveMs: checked("keepAliveMs", timeouts.keepAliveMs ?? limits.keepAliveTimeoutMs),
    requestMs: checked("requestMs", timeouts.requestMs ?? limits.requestTimeoutMs),
    headersMs: checked("headersMs", timeouts.headersMs ?? limits.headersTimeoutMs),
  };
  if (bounds.headersMs > bounds.requestMs) {
    throw new FrontdeskError("invalid_request", "The headers timeout must not exceed the request timeout");
  }
  // A body may take the request bound plus its size at the slowest rate served: the largest body a
  // route takes sets Node's own bound, and each request with a body is held to its own (`bodyBound`).
  const largestBody = Math.max(limits.maxBodyBytes, limits.maxImportBytes);
  return {
    ...bounds,
    nodeRequestMs: bounds.requestMs + Math.ceil((largestBody * 1000) / limits.minBodyBytesPerSecond),
    // Node finds expired requests by polling (every 30 s by default), which would let a slow
    // client outlive its bound by that much; a sweep of the open connections costs little.
    checkIntervalMs: Math.max(50, Math.min(1_000, Math.floor(bounds.headersMs / 8))),
  };
}

export interface AppOptions {
  /** The backend. The app never closes it; {@link RunningServer.close} does. */
  store: SessionStore;
  /** @default "default" */
  namespace?: string;
  clock?: Clock;
  /** Every bound the server enforces; see {@link ServerLimits} for the defaults. */
  limits?: Partial<ServerLimits>;
  /** `false` (use it in tests) logs nothing; `true` logs at info; or pino options (`level`, `stream`…). @default false */
  logger?: AppLoggerOption;
  /** Sliding TTL of new sessions in ms; `null` never expires. @default 1_800_000 (the manager's default) */
  defaultTtlMs?: number | null;
  /** Mask secrets in events before they are stored (docs/privacy.md). @default false */
  maskSecrets?: boolean;
  /** Prune sessions to this retention policy as they grow (docs/privacy.md). @default keep everything */
  retention?: RetentionPolicy;
  /** SSE heartbeat comment / WebSocket ping interval. @default 15_000 */
  heartbeatMs?: number;
  /** Trust `X-Forwarded-*` from a proxy in front. @default false */
  trustProxy?: boolean;
  timeouts?: AppTimeouts;
  /** How long a closing stream may take to flush its last frame. @default 5_000 */
  streamGraceMs?: number;
  /** How long an API key lookup (hit or miss) is cached; revocations take effect within it. @default 500 */
  keyCacheTtlMs?: number;
  /** `admin` (default): /metrics needs an admin key. `public`: anyone who reaches the port may scrape. */
  metricsAuth?: "admin" | "public";
  /**
   * Also export the Node process metrics (event-loop lag, heap, GC, handles, CPU) under prom-client's
   * standard names (`nodejs_eventloop_lag_seconds`, `process_cpu_user_seconds_total`, …). They are
   * process-wide: every app of a process shares one set. @default true
   */
  processMetrics?: boolean;
  /**
   * The agent runtime behind `POST /v1/sessions/{id}/turns` and the WebSocket's agent messages:
   * its config (default: the built-in config, an assistant on the offline model) and the turns'
   * time bound. `false`: no runtime (turns answer 404 `not_found`).
   */
  agents?: AgentServerOptions | false;
}

/** Bodies from this size on are parsed and validated in separate turns of the event loop. */
const LARGE_JSON_BODY_CHARS = 64 * 1024;

/** Counts nesting depth without parsing, so a depth bomb never reaches a recursive walker. */
export function jsonDepthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/**
 * @example
 * const app = await createApp({ store: createMemoryStore(), logger: false });
 * const res = await app.inject({ method: "GET", url: "/healthz" });
 */
export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  if (!options || typeof options !== "object" || !options.store) {
    throw new FrontdeskError("invalid_request", "createApp needs a store");
  }
  const limits = resolveLimits(options.limits);
  const clock = options.clock ?? SYSTEM_CLOCK;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs <= 0) {
    throw new FrontdeskError("invalid_request", "heartbeatMs must be a positive integer");
  }
  const bounds = connectionBoundsOf(limits, options.timeouts ?? {});
  const metrics = createServerMetrics({ processMetrics: options.processMetrics });
  const manager = new SessionManager(() => ({}), options.store, options.namespace ?? "default", {
    clock,
    limits: coreLimitsOf(limits),
    ...(options.defaultTtlMs === undefined ? {} : { defaultTtlMs: options.defaultTtlMs }),
    ...(options.maskSecrets === undefined ? {} : { maskSecrets: options.maskSecrets }),
    ...(options.retention === undefined ? {} : { retention: options.retention }),
  });
  // Always built: with no default rate, a key given its own rate is still held to it.
  const rateLimiter = new RateLimiter(limits.requestsPerSecond, limits.rateLimitBurst, clock, limits.maxCachedKeys);
  const agents =
    options.agents === false
      ? undefined
      : new AgentHost(options.agents ?? {}, clock, metrics, Math.min(1000, heartbeatMs));
  const context: ServerContext = {
    store: options.store,
    manager,
    auth: new Authenticator({
      store: options.store,
      clock,
      cacheTtlMs: options.keyCacheTtlMs ?? 500,
      maxEntries: limits.maxCachedKeys,
    }),
    limits,
    clock,
    metrics,
    hub: new StreamHub(limits.maxStreamsPerKey, metrics),
    heartbeatMs,
    streamGraceMs: options.streamGraceMs ?? 5_000,
    agents,
    rateLimiter,
    draining: false,
  };
  const countStoreError = (): void => metrics.storeErrors.inc();
  // The log binding hashes the session id on every request; the hash of an id never changes.
  const sessionHashes = new LruMap<string, string>(1024);
  const sessionHashOf = (id: string): string => {
    let hash = sessionHashes.get(id);
    if (hash === undefined) {
      hash = hashSessionId(id);
      sessionHashes.set(id, hash);
    }
    return hash;
  };

  const app = Fastify({
    logger: loggerOptionsOf(options.logger) as FastifyServerOptions["logger"],
    bodyLimit: limits.maxBodyBytes,
    trustProxy: options.trustProxy ?? false,
    connectionTimeout: bounds.idleMs,
    keepAliveTimeout: bounds.keepAliveMs,
    requestTimeout: bounds.nodeRequestMs,
    // Fastify sets the two above after creating the server; these two Node reads only at creation.
    http: {
      headersTimeout: bounds.headersMs,
      requestTimeout: bounds.nodeRequestMs,
      connectionsCheckingInterval: bounds.checkIntervalMs,
    },
    clientErrorHandler: createClientErrorHandler(),
    return503OnClosing: false,
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 512 },
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    frameworkErrors: (error, request, reply) => {
      sendError(request, reply, error, countStoreError);
    },
  });

  app.setValidatorCompiler(requestValidatorCompiler);
  app.setSerializerCompiler(responseSerializerCompiler);
  app.decorateRequest("principal", null);

  // JSON bodies: refuse depth bombs before parsing, then parse safely (no __proto__/constructor).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  // No route takes text: a text/plain body is refused (415, naming the type to send), never read as a string.
  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    // An empty body with a JSON content type is "no body", as when none is sent at all.
    if (text.trim() === "") {
      done(null, undefined);
      return;
    }
    if (jsonDepthOf(text) > limits.maxJsonDepth) {
      done(new FrontdeskError("invalid_request", `JSON nested deeper than ${limits.maxJsonDepth} levels`), undefined);
      return;
    }
    if (text.length < LARGE_JSON_BODY_CHARS) {
      parseJson(request, text, done);
      return;
    }
    // A large body's depth scan, parse and validation would otherwise run as one task holding the
    // event loop (tens of ms for 1 MiB): the loop gets a turn between each step.
    setImmediate(() => parseJson(request, text, (error, value) => setImmediate(() => done(error, value))));
  });
  app.addContentTypeParser(["application/x-ndjson", "application/jsonl"], { parseAs: "string" }, (_r, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error, request, reply) => {
    sendError(request, reply, error, countStoreError);
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(request, reply, new FrontdeskError("not_found", "No such route (method and path)"));
  });

  // Registered before our hooks: its onRequest hook must mark upgrade requests first, so that a
  // refused upgrade (401, 404, 429) still has its socket closed after the answer.
  await app.register(websocket, {
    // Replaces the plugin's default: end our streams with a resume hint first, then close the rest.
    preClose: async function (this: FastifyInstance) {
      context.draining = true;
      // Running turns first: each is cancelled, keeps its partial reply and ends its stream with
      // `done`/`turn` while the store is still open and the event streams still deliver.
      await context.agents?.shutdown();
      await context.hub.shutdown(context.streamGraceMs);
      const wss = this.websocketServer;
      for (const client of wss.clients) client.close(1001, "server shutting down");
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
    options: {
      maxPayload: limits.maxWsMessageBytes,
      // Browsers offer ["frontdesk.v1", "frontdesk.bearer.<key>"]: answering frontdesk.v1 keeps the key out of the response.
      handleProtocols: (protocols: Set<string>) => {
        if (protocols.has(WS_PROTOCOL)) return WS_PROTOCOL;
        const offered = [...protocols];
        return offered.find((p) => !p.startsWith(WS_BEARER_PROTOCOL_PREFIX)) ?? offered[0] ?? false;
      },
    },
  });

  /** Admin-only routes and the per-key rate limit, once the caller is known. Throws to refuse. */
  const admit = (request: FastifyRequest, reply: FastifyReply, auth: string, principal: Principal): void => {
    if (auth === "admin" && !principal.admin) throw new FrontdeskError("forbidden", "This needs an admin key");
    request.principal = principal;
    const decision = rateLimiter.take(principal.keyId, rateLimiter.policyFor(principal.requestsPerSecond));
    if (decision === undefined) return;
    // The IETF fields and the older X- pair describe the same bucket: its size and what is left of it.
    reply.header("ratelimit-policy", decision.policy.field);
    reply.header("ratelimit", rateLimitFieldOf(decision));
    reply.header("x-ratelimit-limit", decision.policy.quotaText);
    reply.header("x-ratelimit-remaining", String(decision.remaining));
    if (!decision.allowed) {
      metrics.rateLimited.inc();
      throw new FrontdeskError("rate_limited", "Too many requests for this API key", {
        details: { retryAfterSeconds: decision.retryAfterSeconds },
      });
    }
  };

  /**
   * Holds a request with a body to `requestTimeoutMs` plus its size (declared, else the route's
   * limit) at `minBodyBytesPerSecond`. Past that, a body still arriving gets `408` and the
   * connection is closed, as Node does for its own bound; a finished body clears the timer.
   */
  const boundBody = (request: FastifyRequest, reply: FastifyReply): void => {
    const raw = request.raw;
    const declared = Number(request.headers["content-length"]);
    const bytes =
      Number.isSafeInteger(declared) && declared >= 0
        ? declared
        : (request.routeOptions.bodyLimit ?? limits.maxBodyBytes);
    const timer = setTimeout(
      () => {
        const socket = raw.socket;
        if (raw.complete || !socket || socket.destroyed) return;
        // `app.inject()` requests (light-my-request) have a socket stand-in with neither end nor
        // destroy, and no connection to free: one refused before its body was read (a 401) never
        // ends, and calling destroy on it threw an uncaught TypeError in the embedding process.
        if (typeof socket.destroy !== "function") return;
        if (reply.raw.headersSent) socket.destroy();
        else socket.end(REQUEST_TIMEOUT_RESPONSE, () => socket.destroy());
      },
      bounds.requestMs + Math.ceil((bytes * 1000) / limits.minBodyBytesPerSecond),
    );
    timer.unref();
    const clear = (): void => clearTimeout(timer);
    raw.once("end", clear);
    raw.once("close", clear);
  };

  // Hooks run in the order added: draining first, then who is calling, then how often. A callback
  // hook, not an async one: a cached key is answered without a promise on every request.
  // An erasure a crash interrupted finishes in the background once the server is up.
  app.addHook("onReady", async () => {
    manager.resumeErasures().catch((error) => app.log.error({ err: error }, "resuming an interrupted erasure failed"));
  });
  app.addHook("onRequest", (request, reply, done) => {
    if (context.draining) {
      reply.header("connection", "close");
      throw serverUnavailable("The server is shutting down");
    }
    const headers = request.headers;
    if (headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined) {
      boundBody(request, reply);
    }
    const id = (request.params as { id?: unknown } | null)?.id;
    if (typeof id === "string") {
      // request.log is already this request's own child (Fastify binds reqId per request), so
      // adding the binding to it is the same as a further child, without building one.
      const log = request.log as FastifyRequest["log"] & { setBindings?: (bindings: object) => void };
      if (typeof log.setBindings === "function") log.setBindings({ session: sessionHashOf(id) });
      else request.log = log.child({ session: sessionHashOf(id) });
      reply.log = request.log;
    }
    // Fastify builds a fresh routeOptions object on every read: read it once.
    const route = request.routeOptions;
    const auth = route.config?.auth ?? "none";
    if (auth === "none") {
      done();
      return;
    }
    // Only the WebSocket route takes a key from the subprotocol list (browsers cannot set headers there).
    const websocket = route.url === WS_ROUTE && typeof request.headers.upgrade === "string";
    const principal = context.auth.resolve(credentialOf(request.headers, websocket));
    if (principal instanceof Promise) {
      principal.then((found) => admit(request, reply, auth, found)).then(() => done(), done);
      return;
    }
    admit(request, reply, auth, principal);
    done();
  });

  app.addHook("onResponse", (request, reply, done) => {
    metrics.requestDuration.observe(
      { method: request.method, route: routeTemplateOf(request), status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Frontdesk HTTP API",
        version: "1",
        description:
          "Session management for AI agents. Every request (except operations) needs `Authorization: Bearer <key>`. " +
          'Errors are `{"error":{"code","message"}}`. Timestamps are epoch milliseconds.',
      },
      components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } } },
      tags: [
        { name: "sessions", description: "Sessions: header, state, lifecycle" },
        { name: "events", description: "The append-only event log" },
        { name: "streams", description: "Live events: SSE and WebSocket" },
        { name: "agent", description: "Agent turns, approvals and cancel" },
        { name: "operations", description: "Health, readiness, metrics" },
      ],
    },
    transform: createJsonSchemaTransform({ schemaRegistry, skipList: ["/openapi.json", "/"] }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry }),
  });

  await app.register(sessionRoutes(context));
  await app.register(eventRoutes(context));
  await app.register(privacyRoutes(context));
  await app.register(streamRoutes(context));
  await app.register(agentRoutes(context));
  await app.register(chatRoutes(context));
  await app.register(agUiRoutes(context));
  await app.register(opsRoutes(context, { metricsAuth: options.metricsAuth ?? "admin" }));
  // MCP over streamable HTTP, behind the same API-key auth and rate limit as every /v1 route.
  await registerMcpRoutes(app, {
    sessions: manager,
    routeConfig: { auth: "user" },
    authenticate: async (request) => {
      if (!request.principal) throw unauthorized();
      return request.principal;
    },
  });
  await registerConsole(app, {});
  await app.ready();
  return app;
}

export type { FastifyInstance, FastifyReply };
