import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { pendingApprovals, respondToApproval } from "../../agent/approvals.ts";
import { requestTurnCancel } from "../../agent/cancel.ts";
import type { AgentStreamEvent } from "../../agent/types.ts";
import { FrontdeskError } from "../../core/errors.ts";
import type { AgentHost, StartedTurn, TurnOutcome } from "../agents.ts";
import { type ServerContext, scopedManager } from "../context.ts";
import {
  ApprovalAnswerSchema,
  ApprovalBody,
  ApprovalParams,
  CancelBody,
  CancelResultSchema,
  DetachedTurnSchema,
  ERROR_RESPONSES,
  IdParams,
  PendingApprovalsSchema,
  ScopeHeaders,
  ScopeQuery,
  TurnBody,
} from "../schemas.ts";
import { openSse, sseEventFrame } from "../streams.ts";

const SECURED = [{ bearerAuth: [] }];
const TAGS = ["agent"];

/** The route or message needs an agent runtime and this server has none (`agents: false`). */
export function agentHostOf(context: ServerContext): AgentHost {
  if (!context.agents) throw new FrontdeskError("not_found", "no agent runtime is configured");
  return context.agents;
}

/** The `done` frame / `turn` frame payload. */
export const outcomeFrame = (
  outcome: TurnOutcome,
): { status: string; turnId: string; code?: string; message?: string } => ({
  status: outcome.status,
  turnId: outcome.turnId,
  ...(outcome.status === "error" && outcome.result?.error ? { code: outcome.result.error.code } : {}),
  ...(outcome.message !== undefined ? { message: outcome.message } : {}),
});

/** Agent turns (SSE), approvals and cancel. */
export function agentRoutes(context: ServerContext) {
  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    const config = { auth: "user" as const };

    app.post(
      "/v1/sessions/:id/turns",
      {
        config,
        schema: {
          summary: "Run one agent turn (Server-Sent Events)",
          description:
            "Runs the agent (`agent`, default the config's defaultAgent) on `message` in this session and streams " +
            'the turn: `event: delta` with data `{"text"}` as the reply streams; `id: <seq>` + `event: <type>` + ' +
            "`data: <event JSON>` for every event the turn writes (user message, tool_call, tool_result, " +
            "approval_request, approval_response, assistant messages, status…, same framing as the events stream); " +
            '`: heartbeat` comments while waiting; last `event: done` with data `{"status":"completed"|"cancelled"|' +
            '"error","turnId","code"?,"message"?}` (`code` for an error: `provider_unavailable`, `model_error`, or a ' +
            "Frontdesk code). Refusals come as JSON errors before the stream starts: 404 (no such " +
            "session), 400 (bad message, unknown agent), 409 `conflict` (a turn is already running in this session, " +
            "on any instance). Closing the connection cancels the turn; its partial reply is kept, marked cancelled. " +
            "With `detach: true` the answer is 202 `{turnId, startSeq}` instead, once the turn holds the lock: the " +
            "turn runs to its end whatever the connection does (stop it with `POST …/cancel`), and any client on " +
            "any instance follows it on the events stream from `startSeq`.",
          tags: TAGS,
          security: SECURED,
          produces: ["text/event-stream"],
          params: IdParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          body: TurnBody,
          response: {
            200: { description: "The turn's stream", content: { "text/event-stream": { schema: z.string() } } },
            202: DetachedTurnSchema,
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const host = agentHostOf(context);
        const manager = scopedManager(context, request);
        if (request.body.detach === true) {
          const started = await host.start(manager, request.params.id, request.body.message, {
            agent: request.body.agent,
            onEvent: () => undefined,
          });
          host.hold(started.done);
          return reply.code(202).send({ turnId: started.turnId, startSeq: started.startSeq });
        }
        const raw = reply.raw;
        const buffered: string[] = [];
        let streaming = false;
        let gone = false;
        let turn: StartedTurn | undefined;
        const write = (text: string): void => {
          if (!streaming) {
            buffered.push(text);
            return;
          }
          if (raw.writableEnded || raw.destroyed) return;
          raw.write(text);
          // A client that stops reading is dropped (which cancels the turn) rather than buffered without bound.
          if (raw.writableLength > context.limits.streamBufferBytes) raw.destroy();
        };
        const onEvent = (event: AgentStreamEvent): void => {
          if (event.type === "delta") write(`event: delta\ndata: ${JSON.stringify({ text: event.text })}\n\n`);
          else if (event.type === "event") write(sseEventFrame(event.event));
        };
        raw.once("close", () => {
          gone = true;
          turn?.cancel("The client went away");
        });
        turn = await host.start(manager, request.params.id, request.body.message, {
          agent: request.body.agent,
          onEvent,
        });
        if (gone) turn.cancel("The client went away");

        let finished!: () => void;
        host.hold(new Promise<void>((resolve) => (finished = resolve)));
        try {
          openSse(reply);
          streaming = true;
          for (const frame of buffered.splice(0)) write(frame);
          const heartbeat = setInterval(() => write(": heartbeat\n\n"), context.heartbeatMs);
          heartbeat.unref();
          const outcome = await turn.done;
          clearInterval(heartbeat);
          write(`event: done\ndata: ${JSON.stringify(outcomeFrame(outcome))}\n\n`);
          if (!raw.writableEnded) raw.end();
        } finally {
          finished();
        }
      },
    );

    app.get(
      "/v1/sessions/:id/approvals",
      {
        config,
        schema: {
          summary: "Pending approvals",
          description:
            "Approval requests of the session's running turn that have neither an answer nor a tool result yet; " +
            "none when no turn is running (a fork or import taken while a turn waited has none).",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          response: { 200: PendingApprovalsSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => ({ items: await pendingApprovals(scopedManager(context, request), request.params.id) }),
    );

    app.post(
      "/v1/sessions/:id/approvals/:approvalId",
      {
        config,
        schema: {
          summary: "Answer an approval request",
          description:
            "Writes an `approval_response` event; the turn waiting for it (on any instance) resumes: on approve " +
            "the tool runs, on deny its result is `denied` and the model is told. 404 for an unknown approval, " +
            "409 `conflict` when it was already answered, its call is closed (cancelled, interrupted), or no running " +
            "turn is waiting for it.",
          tags: TAGS,
          security: SECURED,
          params: ApprovalParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          body: ApprovalBody,
          response: { 200: ApprovalAnswerSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => {
        const { id, approvalId } = request.params;
        const { decision, reason } = request.body;
        const event = await respondToApproval(scopedManager(context, request), id, approvalId, decision, reason);
        return { approvalId, decision, seq: event.seq };
      },
    );

    app.post(
      "/v1/sessions/:id/cancel",
      {
        config,
        schema: {
          summary: "Cancel the running turn",
          description:
            "202 once the cancel is under way: a turn running on this instance is cancelled at once (`local: true`); " +
            "for a turn running elsewhere a `custom` event `turn.cancel` naming it is written, which that " +
            "instance follows (`local: false`). Either way the turn ends with status cancelled and keeps its " +
            "partial reply. 409 `conflict` when no turn is running.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          body: CancelBody,
          response: { 202: CancelResultSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const manager = scopedManager(context, request);
        const reason = request.body?.reason;
        const result = context.agents
          ? await context.agents.cancel(manager, request.params.id, reason)
          : { turnId: (await requestTurnCancel(manager, request.params.id, { reason })).turnId, local: false };
        return reply.code(202).send(result);
      },
    );
  };
}
