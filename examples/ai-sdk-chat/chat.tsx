/**
 * The chat itself: the AI SDK's useChat with its DefaultChatTransport, unchanged. Frontdesk speaks
 * the transport's protocol: POST /v1/chat runs a turn, GET /v1/chat/{id}/stream resumes the reply
 * in flight (after a reload, or in a second tab), and the stored history comes in as `messages`.
 */
import { useChat } from "@ai-sdk/react";
import {
  DefaultChatTransport,
  getToolName,
  isToolUIPart,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  type UIMessage,
} from "ai";
import { type FormEvent, useMemo, useState } from "react";

/** A status event of the session (the agent starting, running, idle…), as Frontdesk streams it. */
export interface FrontdeskStatus {
  status: string;
  scope?: string;
  previous?: string;
  reason?: string;
  seq: number;
}

/** Frontdesk's UI messages: how a reply ended in its metadata, status events as `data-frontdesk-status` parts. */
export type ChatMessage = UIMessage<
  { turnId?: string; finish?: "complete" | "cancelled" | "error"; error?: { code: string; message: string } },
  { "frontdesk-status": FrontdeskStatus }
>;

export interface ChatViewProps {
  apiKey: string;
  chatId: string;
  initialMessages: ChatMessage[];
  /** Reattach to a reply in flight on mount; false for a chat with no session yet (the reconnect would be a 404). */
  resume: boolean;
}

export function ChatView({ apiKey, chatId, initialMessages, resume }: ChatViewProps) {
  const transport = useMemo(
    () => new DefaultChatTransport({ api: "/v1/chat", headers: { Authorization: `Bearer ${apiKey}` } }),
    [apiKey],
  );
  const { messages, sendMessage, status, stop, error, addToolApprovalResponse } = useChat<ChatMessage>({
    id: chatId,
    messages: initialMessages,
    transport,
    // On mount: GET /v1/chat/{id}/stream. Frontdesk replays the reply being written from its
    // start, then streams it live; 204 (nothing to resume) when no turn is running.
    resume,
    // A turn waiting for approval ends its stream; once every request is answered, the answers go
    // back as the next message and the same turn goes on.
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  const [draft, setDraft] = useState("");
  const [stopFailure, setStopFailure] = useState<string>();
  const busy = status === "submitted" || status === "streaming";

  const send = (event: FormEvent) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text || busy) return;
    setDraft("");
    void sendMessage({ text });
  };

  // AI SDK 6's stop() only aborts the fetch, which the server cannot tell from a lost connection
  // (the turn would run on, and a reload would resume it). So: cancel the turn, then stop reading.
  const stopReply = async () => {
    setStopFailure(undefined);
    const response = await fetch(`/v1/sessions/${encodeURIComponent(chatId)}/cancel`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}` },
    }).catch((cause: unknown) => cause as Error);
    if (response instanceof Error || !response.ok) {
      setStopFailure(response instanceof Error ? response.message : `${response.status} ${await response.text()}`);
    }
    await stop();
  };

  return (
    <main>
      <header>
        <h1>Frontdesk · useChat</h1>
        <p className="meta">
          chat <code>{chatId}</code> · <span data-testid="chat-status">{status}</span>
        </p>
      </header>
      <ol className="messages" aria-label="Messages">
        {messages.map((message) => (
          <Message key={message.id} message={message} onApproval={addToolApprovalResponse} />
        ))}
      </ol>
      {error && <p role="alert">{error.message}</p>}
      {stopFailure && <p role="alert">Cancel failed: {stopFailure}</p>}
      <form className="composer" onSubmit={send}>
        <input aria-label="Message" value={draft} onChange={(event) => setDraft(event.target.value)} />
        {busy ? (
          <button type="button" onClick={() => void stopReply()}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!draft.trim()}>
            Send
          </button>
        )}
      </form>
    </main>
  );
}

type Approve = (response: { id: string; approved: boolean; reason?: string }) => void | PromiseLike<void>;

function Message({ message, onApproval }: { message: ChatMessage; onApproval: Approve }) {
  const { finish, error } = message.metadata ?? {};
  return (
    <li className={`message ${message.role}`} data-role={message.role} data-message-id={message.id}>
      <span className="author">{message.role === "user" ? "You" : "Assistant"}</span>
      {message.parts.map((part, index) => {
        const key = `${message.id}-${index}`;
        if (part.type === "text") {
          return (
            <p key={key} className="text">
              {part.text}
            </p>
          );
        }
        if (part.type === "reasoning") {
          return (
            <details key={key} className="reasoning" open={part.state === "streaming"}>
              <summary>Reasoning</summary>
              <p>{part.text}</p>
            </details>
          );
        }
        if (isToolUIPart(part)) return <ToolCall key={key} part={part} onApproval={onApproval} />;
        if (part.type === "data-frontdesk-status") {
          const { scope, previous, status, reason } = part.data;
          return (
            <p key={key} className="data" data-part={part.type}>
              {scope ?? "session"}: {previous ? `${previous} → ` : ""}
              {status}
              {reason ? ` (${reason})` : ""}
            </p>
          );
        }
        return null;
      })}
      {finish === "cancelled" && <p className="cancelled">Stopped</p>}
      {finish === "error" && <p role="alert">Failed: {error?.message ?? "the turn failed"}</p>}
    </li>
  );
}

function ToolCall({ part, onApproval }: { part: Parameters<typeof getToolName>[0]; onApproval: Approve }) {
  const name = getToolName(part);
  return (
    <div className="tool" data-tool={name} data-state={part.state}>
      <p>
        <strong>{name}</strong> <code>{describe(part.input)}</code>{" "}
        <span className="state">{TOOL_STATES[part.state]}</span>
      </p>
      {part.state === "approval-requested" && (
        <p className="approval">
          <button type="button" onClick={() => void onApproval({ id: part.approval.id, approved: true })}>
            Approve
          </button>
          <button type="button" onClick={() => void onApproval({ id: part.approval.id, approved: false })}>
            Deny
          </button>
        </p>
      )}
      {part.state === "output-available" && <pre>{describe(part.output)}</pre>}
      {part.state === "output-error" && <p role="alert">{part.errorText}</p>}
      {part.state === "output-denied" && <p>Denied{part.approval.reason ? `: ${part.approval.reason}` : ""}</p>}
    </div>
  );
}

const TOOL_STATES: Record<Parameters<typeof getToolName>[0]["state"], string> = {
  "input-streaming": "preparing…",
  "input-available": "running…",
  "approval-requested": "waiting for your approval",
  "approval-responded": "answered",
  "output-available": "done",
  "output-error": "failed",
  "output-denied": "denied",
};

const describe = (value: unknown): string => (typeof value === "string" ? value : (JSON.stringify(value) ?? ""));
