import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { WebSocket } from "ws";
import { z } from "zod";
import { FrontdeskError } from "../../core/errors.ts";
import { resumeAfterOf, type ServerContext, scopedManager } from "../context.ts";
import { ERROR_RESPONSES, IdParams, StreamHeaders, StreamQuery } from "../schemas.ts";
import { EventPump, openSse, sseTransport, wsTransport } from "../streams.ts";
import { AGENT_MESSAGE_TYPES, type AgentMessageType, AgentSocketHandler } from "../ws-agent.ts";

const SECURED = [{ bearerAuth: [] }];
export const WS_ROUTE = "/v1/sessions/:id/ws";
const TAGS = ["streams"];

const isUpgrade = (request: FastifyRequest): boolean =>
  typeof request.headers.upgrade === "string" && request.headers.upgrade.toLowerCase() === "websocket";

/** Live events: Server-Sent Events and WebSocket, both resumable by seq. */
export function streamRoutes(context: ServerContext) {
  const pumpOptions = (after: number, kind: "sse" | "ws") => ({
    after,
    onEnd: (reason: string) => context.metrics.streamsEnded.inc({ kind, reason }),
    heartbeatMs: context.heartbeatMs,
    bufferEvents: context.limits.streamBufferEvents,
    bufferBytes: context.limits.streamBufferBytes,
    graceMs: context.streamGraceMs,
  });

  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();

    app.get(
      "/v1/sessions/:id/events/stream",
      {
        config: { auth: "user" },
        schema: {
          summary: "Follow events (Server-Sent Events)",
          description:
            "Replays the events after `Last-Event-ID` (or `after`), then follows new ones, with no gap and no " +
            "duplicate. Frames: `id: <seq>`, `event: <type>`, `data: <event JSON>`; `: heartbeat` comments. The " +
            "stream ends with `event: end` (session gone), `overflow` (the consumer fell behind), `shutdown` " +
            "(server draining) or `stream_error`, each with data `{after}`: reconnect with Last-Event-ID = after.",
          tags: TAGS,
          security: SECURED,
          produces: ["text/event-stream"],
          params: IdParams,
          querystring: StreamQuery,
          headers: StreamHeaders,
          response: {
            200: { description: "An event stream", content: { "text/event-stream": { schema: z.string() } } },
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const manager = scopedManager(context, request);
        const after = resumeAfterOf(request.headers["last-event-id"], request.query.after);
        // A missing session (or another user's) is a plain JSON 404 before any stream starts.
        await manager.get(request.params.id);
        const keyId = (request.principal as { keyId: string }).keyId;
        context.hub.assertRoom(keyId);
        const subscription = manager.subscribe(request.params.id, { after });
        const raw = openSse(reply);
        raw.write("retry: 1000\n\n");
        const pump = new EventPump(subscription, sseTransport(raw), pumpOptions(after, "sse"));
        context.hub.track(keyId, "sse", pump);
        pump.start();
      },
    );

    app.route({
      method: "GET",
      url: WS_ROUTE,
      config: { auth: "user" },
      schema: {
        summary: "Follow events (WebSocket)",
        description:
          "Upgrade with `Authorization: Bearer <key>`, or (browsers) offer the subprotocols `frontdesk.v1` and " +
          '`frontdesk.bearer.<key>`. Frames out: `{type:"event", event}`; the last frame is `{type:"end"|' +
          '"overflow"|"shutdown"|"error", after}` before close (1000, 4008, 1012, 1013). Resume with `?after=`. ' +
          'Messages in: `{type:"ping"}` (answered `{type:"pong"}`); `{type:"user_message", content, agent?}` runs a ' +
          'turn: `{type:"delta", text}` frames, its events as `event` frames, then `{type:"turn", status, turnId, ' +
          'code?, message?}`; `{type:"approve", approvalId}`, `{type:"deny", approvalId, reason?}`, `{type:"cancel"}`. ' +
          'A bad message gets `{type:"error", error:{code, message}}` and the socket stays open; closing it ' +
          "cancels the turn it started.",
        tags: TAGS,
        security: SECURED,
        params: IdParams,
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: { ...ERROR_RESPONSES },
      },
      preHandler: async (request) => {
        if (!isUpgrade(request)) return;
        const { id } = request.params as { id: string };
        await scopedManager(context, request).get(id);
        context.hub.assertRoom((request.principal as { keyId: string }).keyId);
      },
      handler: async () => {
        throw new FrontdeskError("invalid_request", "This route needs a WebSocket upgrade");
      },
      wsHandler: (socket: WebSocket, request: FastifyRequest) => {
        const { id } = request.params as { id: string };
        const after = (request.query as { after?: number }).after ?? 0;
        const keyId = (request.principal as { keyId: string }).keyId;
        const respond = (frame: unknown): void => {
          if (socket.readyState === socket.OPEN && socket.bufferedAmount < context.limits.streamBufferBytes) {
            socket.send(JSON.stringify(frame));
          }
        };
        if (!context.hub.hasRoom(keyId)) {
          respond({ type: "error", error: { code: "rate_limited", message: "Too many open streams for this key" } });
          socket.close(4029, "too many streams");
          return;
        }
        const manager = scopedManager(context, request);
        const subscription = manager.subscribe(id, { after });
        const pump = new EventPump(subscription, wsTransport(socket), pumpOptions(after, "ws"));
        context.hub.track(keyId, "ws", pump);
        const agent = new AgentSocketHandler({ context, manager, sessionId: id, keyId, pump, respond });
        socket.once("close", () => agent.close());
        socket.on("message", (data, isBinary) => {
          let message: unknown;
          try {
            message = isBinary ? undefined : JSON.parse(String(data));
          } catch {
            message = undefined;
          }
          const type = (message as { type?: unknown } | null | undefined)?.type;
          if (typeof type !== "string") {
            respond({ type: "error", error: { code: "invalid_request", message: "Send JSON objects with a type" } });
          } else if (type === "ping") {
            respond({ type: "pong" });
          } else if (AGENT_MESSAGE_TYPES.has(type)) {
            void agent.handle(type as AgentMessageType, message);
          } else {
            respond({ type: "error", error: { code: "invalid_request", message: "Unknown message type" } });
          }
        });
        pump.start();
      },
    });
  };
}
