/**
 * The AI SDK's chat protocol: what `useChat` with `new DefaultChatTransport({ api: "/v1/chat" })`
 * sends and expects. A message runs a turn on the session named by the chat id; the answer is the
 * UI message stream, read off the session log (protocols/ui-message-stream.ts), so the reconnect
 * request replays the reply in flight from its start and then follows it live, on this instance
 * or any other on the same store. The turn runs to its end whatever the connection does; the way
 * to stop it is `POST /v1/sessions/{id}/cancel`.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { readAgentState } from "../../agent/agent-state.ts";
import { pendingApprovals, respondToApproval } from "../../agent/approvals.ts";
import { FrontdeskError, isFrontdeskError } from "../../core/errors.ts";
import { textOfContent } from "../../core/message-text.ts";
import type { JsonObject, SessionEvent } from "../../core/model.ts";
import type { SessionManager } from "../../core/session-manager.ts";
import { type ServerContext, scopedManager } from "../context.ts";
import { type FrontdeskUIMessage, UiMessageFold, uiMessagesOf } from "../protocols/ui-message-stream.ts";
import { ERROR_RESPONSES, IdParams, SessionIdSchema } from "../schemas.ts";
import { openSse } from "../streams.ts";
import { agentHostOf } from "./agent.ts";

const SECURED = [{ bearerAuth: [] }];
const TAGS = ["chat"];

const UIPartSchema = z.looseObject({ type: z.string().min(1).max(256) });
const UIMessageSchema = z.looseObject({
  id: z.string().max(256),
  role: z.enum(["system", "user", "assistant"]),
  parts: z.array(UIPartSchema).max(10_000),
});

const ChatBody = z.looseObject({
  id: SessionIdSchema.describe("The chat id: the session the turn runs on (created for the caller when absent)"),
  messages: z.array(UIMessageSchema).min(1).max(100_000).describe("The chat's messages; the last one is the new one"),
  trigger: z.enum(["submit-message", "regenerate-message"]),
  messageId: z.string().max(256).optional(),
});

const ChatMessagesSchema = z.object({ messages: z.array(z.looseObject({ id: z.string(), role: z.string() })) });

type ChatMessage = z.infer<typeof UIMessageSchema>;

/** The session's stored history as UI messages, and the turn running in it (if any). */
async function storedChat(
  manager: SessionManager,
  sessionId: string,
  { create = false }: { create?: boolean } = {},
): Promise<{ messages: FrontdeskUIMessage[]; running: { id: string; startSeq: number } | undefined }> {
  const session = await manager.get(sessionId).catch(async (error: unknown) => {
    if (!create || !isFrontdeskError(error, "not_found")) throw error;
    // A chat's first message opens its session; of two first messages at once, the other created it.
    return manager.create({ sessionId }).catch((raced: unknown) => {
      if (!isFrontdeskError(raced, "conflict")) throw raced;
      return manager.get(sessionId);
    });
  });
  const lock = readAgentState(session.state as JsonObject)?.turn;
  const events = await manager.readEvents(sessionId);
  const running = lock ? { id: lock.id, startSeq: lock.startSeq } : undefined;
  return { messages: await uiMessagesOf(events, running?.id), running };
}

/**
 * The client's messages before its new one must be the stored history: same roles, user text,
 * assistant ids. They are never written; a client that holds another history is told to reload.
 */
function checkHistory(sent: readonly ChatMessage[], stored: readonly FrontdeskUIMessage[]): void {
  const differs = (at: number, why: string): FrontdeskError =>
    new FrontdeskError(
      "conflict",
      `The chat's messages differ from the stored history (message ${at}: ${why}); load them again from GET /v1/chat/{id}/messages`,
      { details: { index: at } },
    );
  const history = sent.filter((message) => message.role !== "system");
  if (history.length !== stored.length) {
    throw differs(Math.min(history.length, stored.length), `${history.length} sent, ${stored.length} stored`);
  }
  history.forEach((message, index) => {
    const kept = stored[index] as FrontdeskUIMessage;
    if (message.role !== kept.role)
      throw differs(index, `a ${message.role} message where a ${kept.role} one is stored`);
    if (message.role === "assistant" && message.id !== kept.id) throw differs(index, "another assistant message");
    if (message.role === "user") {
      if (textOfContent(message.parts) !== textOfContent(kept.parts)) throw differs(index, "another user text");
    }
  });
}

/** Approval answers carried by the parts of an assistant message (`addToolApprovalResponse`). */
function approvalAnswers(message: ChatMessage): { approvalId: string; approve: boolean; reason?: string }[] {
  const answers: { approvalId: string; approve: boolean; reason?: string }[] = [];
  for (const part of message.parts) {
    const approval = part.approval as { id?: unknown; approved?: unknown; reason?: unknown } | undefined;
    if (part.state !== "approval-responded" || !approval || typeof approval.id !== "string") continue;
    if (typeof approval.approved !== "boolean") continue;
    answers.push({
      approvalId: approval.id,
      approve: approval.approved,
      ...(typeof approval.reason === "string" ? { reason: approval.reason.slice(0, 4096) } : {}),
    });
  }
  return answers;
}

/** AI SDK chat: send (runs a turn), reconnect (replays the reply in flight), and the stored messages. */
export function chatRoutes(context: ServerContext) {
  /**
   * Streams the exchange that starts at `fromSeq` (the turn's user message) as UI message chunks,
   * writing those of events after `quietThrough`, until the turn ends or waits for an approval.
   */
  const streamTurn = async (
    reply: FastifyReply,
    manager: SessionManager,
    sessionId: string,
    fromSeq: number,
    quietThrough = 0,
  ): Promise<void> => {
    const subscription = manager.subscribe(sessionId, { after: fromSeq - 1 });
    const raw = openSse(reply, { "x-vercel-ai-ui-message-stream": "v1" });
    let gone = false;
    const write = (text: string): void => {
      if (gone || raw.writableEnded || raw.destroyed) return;
      raw.write(text);
      // A reader that stops reading is dropped; the turn goes on and it can reconnect.
      if (raw.writableLength > context.limits.streamBufferBytes) raw.destroy();
    };
    raw.once("close", () => {
      gone = true;
      void subscription.close();
    });
    const heartbeat = setInterval(() => write(": heartbeat\n\n"), context.heartbeatMs);
    heartbeat.unref();
    const fold = new UiMessageFold();
    let finished!: () => void;
    context.agents?.hold(new Promise<void>((resolve) => (finished = resolve)));
    try {
      for await (const event of subscription as AsyncIterable<SessionEvent>) {
        const chunks = fold.observe(event);
        if (event.seq > quietThrough) for (const chunk of chunks) write(`data: ${JSON.stringify(chunk)}\n\n`);
        if (fold.isFinished) {
          const failed = chunks.find((chunk) => chunk.type === "finish")?.messageMetadata as
            | { error?: { code: string; message: string } }
            | undefined;
          if (failed?.error) write(`data: ${JSON.stringify({ type: "error", errorText: failed.error.message })}\n\n`);
          break;
        }
        if (event.type === "approval_request" && event.seq > quietThrough) {
          const pending = await pendingApprovals(manager, sessionId);
          if (pending.some((approval) => approval.approvalId === event.approvalId)) {
            // The turn waits for the user: the stream ends, and the answer comes back as the next message.
            write(
              `data: ${JSON.stringify({ type: "finish-step" })}\n\ndata: ${JSON.stringify({ type: "finish" })}\n\n`,
            );
            break;
          }
        }
      }
    } catch (error) {
      write(`data: ${JSON.stringify({ type: "error", errorText: (error as Error).message })}\n\n`);
    } finally {
      clearInterval(heartbeat);
      await subscription.close();
      write("data: [DONE]\n\n");
      if (!raw.writableEnded) raw.end();
      finished();
    }
  };

  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    const config = { auth: "user" as const };

    app.post(
      "/v1/chat",
      {
        config,
        schema: {
          summary: "Send a chat message (AI SDK UI message stream)",
          description:
            "What `useChat` with `new DefaultChatTransport({ api: '/v1/chat', headers: { Authorization } })` sends: " +
            "`{id, messages, trigger}`. `id` names the session (created for the caller when absent). The last " +
            "message is the new one: a user message runs a turn; an assistant message carrying approval answers " +
            "(`addToolApprovalResponse`) answers the running turn's approval requests. The messages before it must " +
            "be the stored history (409 `conflict` otherwise: load GET /v1/chat/{id}/messages again); they are " +
            "never written. The answer is the UI message stream (`x-vercel-ai-ui-message-stream: v1`): start, " +
            "text and reasoning, tool input/output, `tool-approval-request`, `data-frontdesk-status` parts, finish " +
            "(metadata `finish`: complete, cancelled or error), `[DONE]`. The turn runs to its end whatever the " +
            "connection does; stop it with POST /v1/sessions/{id}/cancel. `regenerate-message` is refused (400): " +
            "the log is append-only.",
          tags: TAGS,
          security: SECURED,
          produces: ["text/event-stream"],
          body: ChatBody,
          response: {
            200: { description: "The UI message stream", content: { "text/event-stream": { schema: z.string() } } },
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const host = agentHostOf(context);
        const manager = scopedManager(context, request);
        const { id, messages, trigger } = request.body;
        if (trigger === "regenerate-message") {
          throw new FrontdeskError(
            "invalid_request",
            "trigger: regenerate-message is not supported: a session's log is append-only; send a new message instead",
          );
        }
        const last = messages.at(-1) as ChatMessage;
        const stored = await storedChat(manager, id, { create: true });
        if (last.role === "assistant") {
          if (!stored.running || stored.running.id !== last.id) {
            throw new FrontdeskError("conflict", "No running turn of this chat waits for this message's answers");
          }
          const answers = approvalAnswers(last);
          if (answers.length === 0) {
            throw new FrontdeskError(
              "invalid_request",
              "messages: the last assistant message carries no approval answer",
            );
          }
          const pending = new Set((await pendingApprovals(manager, id)).map((approval) => approval.approvalId));
          let quietThrough = 0;
          for (const answer of answers) {
            if (!pending.has(answer.approvalId)) continue;
            const event = await respondToApproval(
              manager,
              id,
              answer.approvalId,
              answer.approve ? "approve" : "deny",
              answer.reason,
            );
            quietThrough = Math.max(quietThrough, event.seq);
          }
          if (quietThrough === 0) throw new FrontdeskError("conflict", "These approvals were already answered");
          await streamTurn(reply, manager, id, stored.running.startSeq, quietThrough);
          return;
        }
        if (last.role !== "user")
          throw new FrontdeskError("invalid_request", "messages: the last message must be a user message");
        checkHistory(messages.slice(0, -1), stored.messages);
        const text = textOfContent(last.parts);
        if (text.trim() === "")
          throw new FrontdeskError("invalid_request", "messages: the new message has no text part");
        const started = await host.start(manager, id, text, { onEvent: () => undefined });
        host.hold(started.done);
        await streamTurn(reply, manager, id, started.startSeq);
      },
    );

    app.get(
      "/v1/chat/:id/stream",
      {
        config,
        schema: {
          summary: "Reconnect to the reply in flight (AI SDK resume)",
          description:
            "What `useChat({ resume: true })` / `resumeStream()` calls: the reply of the turn running in this " +
            "session, replayed from its start (the turn's `turn.delta` pieces in the log) and then followed live " +
            "to its end, on any instance sharing the store. 204 when no turn is running (or no such session " +
            "yet: a new chat).",
          tags: TAGS,
          security: SECURED,
          produces: ["text/event-stream"],
          params: IdParams,
          response: {
            200: { description: "The UI message stream", content: { "text/event-stream": { schema: z.string() } } },
            204: z.null().describe("No turn is running"),
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const manager = scopedManager(context, request);
        // useChat with `resume: true` reconnects on mount, a brand-new chat too: no session yet is
        // nothing in flight (the same answer for another user's session, so it tells nothing).
        const session = await manager.get(request.params.id).catch((error: unknown) => {
          if (isFrontdeskError(error, "not_found")) return undefined;
          throw error;
        });
        const lock = session ? readAgentState(session.state as JsonObject)?.turn : undefined;
        if (!lock) return reply.code(204).send(null);
        await streamTurn(reply, manager, request.params.id, lock.startSeq);
      },
    );

    app.get(
      "/v1/chat/:id/messages",
      {
        config,
        schema: {
          summary: "The chat's stored messages (AI SDK UIMessage[])",
          description:
            "The session's history as UI messages, built by the same fold as the stream (so a streamed message " +
            "equals its stored one), without the reply still being written: resume the stream for that one.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          response: { 200: ChatMessagesSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => {
        const { messages } = await storedChat(scopedManager(context, request), request.params.id);
        // Typed by the AI SDK's UIMessage; the schema only names the fields it documents.
        return { messages } as unknown as z.infer<typeof ChatMessagesSchema>;
      },
    );
  };
}
