/**
 * Agent messages on a session's WebSocket: `user_message` runs a turn (deltas out as
 * `{type:"delta",text}`, the events it writes as the usual `{type:"event",event}` frames of the
 * socket's stream, then `{type:"turn",status,turnId,message?}`), `approve` / `deny` answer an
 * approval request, `cancel` stops the running turn. A bad message gets an error frame and the
 * socket stays open. Closing the socket cancels the turn it started.
 */
import { z } from "zod";
import { respondToApproval } from "../agent/approvals.ts";
import { requestTurnCancel } from "../agent/cancel.ts";
import type { SessionManager } from "../core/session-manager.ts";
import type { StartedTurn } from "./agents.ts";
import type { ServerContext } from "./context.ts";
import { toHttpError } from "./http-errors.ts";
import { agentHostOf, outcomeFrame } from "./routes/agent.ts";
import { AgentNameSchema, ApprovalIdSchema, TurnMessageSchema } from "./schemas.ts";
import type { EventPump } from "./streams.ts";

const UserMessage = z.object({
  type: z.literal("user_message"),
  content: TurnMessageSchema,
  agent: AgentNameSchema.optional(),
});
const Approve = z.object({ type: z.literal("approve"), approvalId: ApprovalIdSchema });
const Deny = z.object({
  type: z.literal("deny"),
  approvalId: ApprovalIdSchema,
  reason: z.string().max(4096).optional(),
});
const Cancel = z.object({ type: z.literal("cancel"), reason: z.string().max(1024).optional() });

const SCHEMAS = { user_message: UserMessage, approve: Approve, deny: Deny, cancel: Cancel } as const;
export type AgentMessageType = keyof typeof SCHEMAS;
export const AGENT_MESSAGE_TYPES = new Set<string>(Object.keys(SCHEMAS));

export interface AgentSocket {
  context: ServerContext;
  manager: SessionManager<object>;
  sessionId: string;
  keyId: string;
  pump: EventPump;
  respond(frame: unknown): void;
}

const errorFrame = (error: unknown) => ({ type: "error", error: toHttpError(error).body.error });

const invalid = (type: string, error: z.ZodError) => {
  const issue = error.issues[0];
  const path = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  return {
    type: "error",
    error: { code: "invalid_request", message: `Invalid ${type}: ${path}${issue?.message ?? "bad message"}` },
  };
};

/** One socket's agent side: at most one turn started from it at a time. */
export class AgentSocketHandler {
  private turn: StartedTurn | undefined;
  private closed = false;

  constructor(private readonly socket: AgentSocket) {}

  /** Handles one agent message (its `type` is one of AGENT_MESSAGE_TYPES). Never throws. */
  async handle(type: AgentMessageType, message: unknown): Promise<void> {
    const { context, respond } = this.socket;
    try {
      if (context.draining) {
        respond({ type: "error", error: { code: "unavailable", message: "The server is shutting down" } });
        return;
      }
      const parsed = SCHEMAS[type].safeParse(message);
      if (!parsed.success) {
        respond(invalid(type, parsed.error));
        return;
      }
      // Agent messages count toward the key's request rate, as the HTTP routes do.
      const decision = context.rateLimiter?.take(this.socket.keyId);
      if (decision && !decision.allowed) {
        context.metrics.rateLimited.inc();
        respond({
          type: "error",
          error: {
            code: "rate_limited",
            message: "Too many requests for this API key",
            details: { retryAfterSeconds: decision.retryAfterSeconds },
          },
        });
        return;
      }
      const data = parsed.data;
      switch (data.type) {
        case "user_message":
          await this.runTurn(data.content, data.agent);
          return;
        case "approve":
        case "deny":
          await respondToApproval(
            this.socket.manager,
            this.socket.sessionId,
            data.approvalId,
            data.type,
            data.type === "deny" ? data.reason : undefined,
          );
          return;
        case "cancel":
          // Without a runtime here the turn runs elsewhere: the turn.cancel event reaches it.
          if (context.agents) await context.agents.cancel(this.socket.manager, this.socket.sessionId, data.reason);
          else await requestTurnCancel(this.socket.manager, this.socket.sessionId, { reason: data.reason });
          return;
      }
    } catch (error) {
      respond(errorFrame(error));
    }
  }

  /** The socket is gone: its turn is cancelled (the partial reply kept). */
  close(): void {
    this.closed = true;
    this.turn?.cancel("The client went away");
  }

  private async runTurn(content: z.infer<typeof TurnMessageSchema>, agent: string | undefined): Promise<void> {
    const { context, respond, pump } = this.socket;
    const host = agentHostOf(context);
    const turn = await host.start(this.socket.manager, this.socket.sessionId, content, {
      agent,
      // Persisted events reach the client through the socket's own event stream (once each, in seq order).
      onEvent: (event) => {
        if (event.type === "delta") respond({ type: "delta", turnId: event.turnId, text: event.text });
      },
    });
    this.turn = turn;
    if (this.closed) turn.cancel("The client went away");
    const finished = (async () => {
      const outcome = await turn.done;
      // The `turn` frame comes after the turn's last event frame.
      await pump.sentThrough(outcome.lastSeq);
      if (this.turn === turn) this.turn = undefined;
      respond({ type: "turn", ...outcomeFrame(outcome) });
    })();
    host.hold(finished);
    await finished;
  }
}
