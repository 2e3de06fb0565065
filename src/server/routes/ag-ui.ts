/**
 * `POST /v1/ag-ui`: the AG-UI protocol, so `new HttpAgent({ url, headers })` from `@ag-ui/client`
 * runs against Frontdesk with no glue. `threadId` is the session; the translation lives in
 * protocols/ag-ui.ts. Every run starts with `MESSAGES_SNAPSHOT` and `STATE_SNAPSHOT` of the stored
 * thread, then streams the log from there on, so a run may attach to a turn on any instance.
 *
 * The turn a run starts is not tied to its connection: it keeps running when the run ends on an
 * approval (the next run, carrying the answer in `resume`, streams the rest) or when the client goes
 * away (a later run on the thread picks it up). `POST /v1/sessions/{id}/cancel` stops it.
 */
import { type BaseEvent, EventType, PROTOCOL_VERSION, type RunAgentInput } from "@ag-ui/core";
import { RunAgentInputSchema } from "@ag-ui/core/schemas";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isStale, readAgentState } from "../../agent/agent-state.ts";
import { pendingApprovals, respondToApproval } from "../../agent/approvals.ts";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import type { JsonObject, SessionEvent } from "../../core/model.ts";
import type { SessionManager } from "../../core/session-manager.ts";
import { type ServerContext, scopedManager } from "../context.ts";
import {
  type AgUiEvent,
  checkClientMessages,
  decisionOf,
  interruptOf,
  ThreadFold,
  type TurnEnd,
} from "../protocols/ag-ui.ts";
import {
  AgentNameSchema,
  ERROR_RESPONSES,
  JsonValue,
  ScopeHeaders,
  ScopeQuery,
  SessionIdSchema,
  schemaRegistry,
} from "../schemas.ts";
import { openSse } from "../streams.ts";
import { agentHostOf } from "./agent.ts";

/** A turn lock not refreshed for this long belongs to a process that died: the run stops following it. */
const STALE_TURN_MS = 5 * 60 * 1000;
/** Log pages read to build a snapshot. */
const READ_PAGE = 1000;

const AgUiMessageSchema = z
  .looseObject({
    id: z.string().min(1).max(256),
    role: z.enum(["developer", "system", "assistant", "user", "tool", "activity", "reasoning"]),
    content: JsonValue.optional(),
  })
  .describe("An AG-UI message; only a new trailing `user` message is taken, the rest is checked against the log");

export const AgUiRunBody = z
  .looseObject({
    threadId: SessionIdSchema.describe("The Frontdesk session; created for the key's user when it does not exist"),
    runId: z.string().min(1).max(256),
    messages: z.array(AgUiMessageSchema).max(100_000),
    state: JsonValue.optional().describe("Ignored: the stored state is the state"),
    tools: z.array(JsonValue).optional().describe("Ignored: the agent's tools are configured on the server"),
    context: z.array(JsonValue).optional().describe("Ignored"),
    forwardedProps: JsonValue.optional().describe("`{agent}` picks a configured agent; anything else is ignored"),
    resume: z
      .array(
        z.looseObject({
          interruptId: z.string().min(1).max(256).describe("The approvalId of the interrupt answered"),
          status: z.enum(["resolved", "cancelled"]),
          payload: JsonValue.optional().describe("`{approved: boolean, reason?: string}`"),
        }),
      )
      .max(64)
      .optional()
      .describe("Answers to the interrupts (approvals) that ended the previous run"),
  })
  .describe("AG-UI RunAgentInput (@ag-ui/core 1.0)");
schemaRegistry.add(AgUiRunBody, {
  id: "AgUiRunAgentInput",
  description: "AG-UI RunAgentInput: `threadId` is the session id.",
});

/** The request body checked against AG-UI's own schema; an issue names its field. */
function runInputOf(body: unknown): RunAgentInput {
  const parsed = RunAgentInputSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("") ?? "";
    throw new FrontdeskError("invalid_request", `body${path}: ${issue?.message ?? "is not a RunAgentInput"}`);
  }
  return parsed.data as RunAgentInput;
}

async function sessionOf(manager: SessionManager, id: string) {
  try {
    return await manager.get(id);
  } catch (error) {
    if (!isFrontdeskError(error, "not_found")) throw error;
  }
  // A concurrent run of the same new thread may create it first: either way, that session.
  return manager.create({ sessionId: id, ifExists: "return" });
}

/** The log through `lastSeq`, read in pages. */
async function logThrough(manager: SessionManager, id: string, lastSeq: number): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  let after = 0;
  while (after < lastSeq) {
    const page = await manager.readEvents(id, { after, limit: READ_PAGE });
    if (page.length === 0) break;
    for (const event of page) if (event.seq <= lastSeq) events.push(event);
    after = page.at(-1)?.seq ?? lastSeq;
  }
  return events;
}

const agentNameOf = (forwarded: unknown): string | undefined => {
  const agent = (forwarded as { agent?: unknown } | null | undefined)?.agent;
  if (agent === undefined) return undefined;
  const parsed = AgentNameSchema.safeParse(agent);
  if (!parsed.success)
    throw new FrontdeskError("invalid_request", `forwardedProps.agent: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
};

export function agUiRoutes(context: ServerContext) {
  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.post(
      "/v1/ag-ui",
      {
        config: { auth: "user" as const },
        schema: {
          summary: "Run an AG-UI agent (Server-Sent Events)",
          description:
            "The AG-UI protocol for `@ag-ui/client`'s HttpAgent. `threadId` is the session (created for the key's " +
            "user when absent). The stream: `RUN_STARTED`, `MESSAGES_SNAPSHOT` and `STATE_SNAPSHOT` of the stored " +
            "thread, then the log as it is written (text message start/content/end, tool call start/args/end and " +
            "`TOOL_CALL_RESULT`, `STATE_DELTA` as JSON Patch), then `RUN_FINISHED` (outcome `success`, `cancelled`, " +
            "or `interrupt` listing the turn's pending approvals) or `RUN_ERROR` with a `code`. A run whose " +
            "messages add no new trailing user message and carry no `resume` loads the thread: the snapshots, then " +
            "the running turn (if any) to its end. `resume` answers approvals (`{approved, reason?}`) and streams the " +
            "rest of the turn. The client's messages are checked against the log by id: 409 `conflict` when they " +
            "rewrite, reorder or drop stored messages, or add a message to a thread the client has not fully seen; " +
            "client `state` and `tools` are ignored. 409 also when a new message arrives while a turn runs. The " +
            "turn runs on whatever the connection does; stop it with `POST /v1/sessions/{id}/cancel`.",
          tags: ["agent"],
          security: [{ bearerAuth: [] }],
          produces: ["text/event-stream"],
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          body: AgUiRunBody,
          response: {
            200: { description: "The run's AG-UI events", content: { "text/event-stream": { schema: z.string() } } },
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const host = agentHostOf(context);
        const manager = scopedManager(context, request);
        const input = runInputOf(request.body);
        const sessionId = input.threadId;
        const agent = agentNameOf(input.forwardedProps);
        const header = await sessionOf(manager, sessionId);
        const fold = new ThreadFold();
        for (const event of await logThrough(manager, sessionId, header.lastSeq)) fold.observe(event);
        const intent = checkClientMessages(input.messages, fold);
        const resume = input.resume ?? [];
        if (intent.message !== undefined && resume.length > 0) {
          throw new FrontdeskError(
            "invalid_request",
            "resume: answer the interrupts in one run and send the new message in the next",
          );
        }
        const answers = resume.map((entry, index) => ({ entry, ...decisionOf(entry, index) }));
        for (const { entry, decision, reason } of answers) {
          await respondToApproval(manager, sessionId, entry.interruptId, decision, reason);
        }
        let startSeq: number | undefined;
        if (intent.message !== undefined) {
          const started = await host.start(manager, sessionId, intent.message, {
            ...(agent ? { agent } : {}),
            onEvent: () => undefined,
          });
          host.hold(started.done);
          startSeq = started.startSeq;
        }

        const raw = reply.raw;
        let closed = false;
        const write = (event: AgUiEvent | BaseEvent): void => {
          if (closed || raw.writableEnded || raw.destroyed) return;
          raw.write(`data: ${JSON.stringify(event)}\n\n`);
          if (raw.writableLength > context.limits.streamBufferBytes) raw.destroy();
        };
        let finished!: () => void;
        host.hold(new Promise<void>((resolve) => (finished = resolve)));
        const subscription = manager.subscribe(sessionId, { after: header.lastSeq });
        const stop = (): void => {
          closed = true;
          void subscription.close().catch(() => undefined);
        };
        raw.once("close", stop);
        const base = { threadId: sessionId, runId: input.runId };
        let ended = false;
        const end = (last: AgUiEvent | BaseEvent): void => {
          if (ended) return;
          ended = true;
          write(last);
          if (!raw.writableEnded) raw.end();
          stop();
        };
        const finishTurn = (turnEnd: TurnEnd): void =>
          end(
            turnEnd.status === "error"
              ? { type: EventType.RUN_ERROR, message: turnEnd.message ?? "The turn failed", code: turnEnd.code }
              : {
                  type: EventType.RUN_FINISHED,
                  ...base,
                  outcome: turnEnd.status === "cancelled" ? { type: "cancelled" } : { type: "success" },
                },
          );
        /** Ends the run on the turn's pending approvals, if it has any. */
        const interruptIfWaiting = async (): Promise<boolean> => {
          const pending = await pendingApprovals(manager, sessionId);
          if (pending.length === 0) return false;
          for (const event of fold.endText()) write(event);
          end({
            type: EventType.RUN_FINISHED,
            ...base,
            outcome: { type: "interrupt", interrupts: pending.map(interruptOf) },
          });
          return true;
        };
        let heartbeat: NodeJS.Timeout | undefined;
        try {
          openSse(reply);
          write({ type: EventType.RUN_STARTED, ...base, protocolVersion: PROTOCOL_VERSION });
          write({ type: EventType.MESSAGES_SNAPSHOT, messages: fold.snapshot() });
          write({ type: EventType.STATE_SNAPSHOT, snapshot: header.state });
          fold.beginRun(header.state as JsonObject);

          // A run that started no turn follows the one running now, if any; none: the snapshots were the answer.
          if (startSeq === undefined) {
            const lock = readAgentState(header.state as JsonObject)?.turn;
            if (!lock) {
              end({ type: EventType.RUN_FINISHED, ...base, outcome: { type: "success" } });
              return;
            }
            if (await interruptIfWaiting()) return;
          }
          heartbeat = setInterval(() => {
            if (closed) return;
            raw.write(": heartbeat\n\n");
            // A turn whose process died never writes its end: stop following it once its lock is stale.
            void manager
              .get(sessionId)
              .then((session) => {
                const lock = readAgentState(session.state as JsonObject)?.turn;
                if (lock && isStale(lock, context.clock.now(), STALE_TURN_MS)) {
                  end({ type: EventType.RUN_ERROR, message: "The turn stopped answering", code: "interrupted" });
                }
              })
              .catch(() => undefined);
          }, context.heartbeatMs);
          heartbeat.unref();
          for await (const event of subscription) {
            const observed = fold.observe(event);
            for (const out of observed.events) write(out);
            const ours = startSeq === undefined || event.seq > startSeq;
            if (observed.turnEnd && ours) {
              finishTurn(observed.turnEnd);
              break;
            }
            if (observed.approvalRequested && ours && (await interruptIfWaiting())) break;
            if (closed) break;
          }
          // The subscription ends when the session is deleted or expires.
          if (!closed) end({ type: EventType.RUN_ERROR, message: "The session is gone", code: "not_found" });
        } catch (error) {
          const code = isFrontdeskError(error) ? error.code : "internal";
          end({ type: EventType.RUN_ERROR, message: "The run failed while streaming", code });
        } finally {
          if (heartbeat) clearInterval(heartbeat);
          stop();
          if (!raw.writableEnded) raw.end();
          finished();
        }
      },
    );
  };
}
