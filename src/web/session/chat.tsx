/**
 * Talk to the session's agent: one turn at a time through `POST /v1/sessions/{id}/turns`, its reply
 * streaming into the timeline as it is written. Open approval requests are shown above the box.
 */
import { forwardRef, type KeyboardEvent, useId, useImperativeHandle, useRef, useState } from "react";
import { ApiError, describeError, type FrontdeskEvent, ownerQuery, send, sessionPath } from "../api/client.ts";
import { runTurn } from "../api/streams.ts";
import { preview } from "../format.ts";

export interface PendingApproval {
  approvalId: string;
  tool: string;
  input: unknown;
  seq: number;
}

export interface ChatHandle {
  focus(): void;
  /** Runs a turn with `message`, as if it had been typed and sent (unless a turn is running). */
  send(message: string): void;
}

export interface ChatProps {
  sessionId: string;
  userId: string | null;
  /** The agent already running in this session, if any (state.agent.name). */
  currentAgent: string | null;
  pending: PendingApproval[];
  onEvent: (event: FrontdeskEvent) => void;
  onDraft: (text: string | null) => void;
  onAnswer: (approvalId: string, decision: "approve" | "deny", reason?: string) => Promise<void>;
  onShow: (seq: number) => void;
}

const CANCEL_GRACE_MS = 5000;

export const Chat = forwardRef<ChatHandle, ChatProps>(function Chat(props, ref) {
  const { sessionId, userId, pending } = props;
  const [text, setText] = useState("");
  const [agent, setAgent] = useState("");
  const [showOptions, setShowOptions] = useState(false);
  const [running, setRunning] = useState<AbortController | null>(null);
  const [notice, setNotice] = useState<{ tone: "error" | "info"; text: string } | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const ids = { input: useId(), agent: useId(), hint: useId() };

  const submit = async (typed = text) => {
    const message = typed.trim();
    if (!message || running) return;
    const controller = new AbortController();
    setRunning(controller);
    setNotice(null);
    setText("");
    let draft = "";
    props.onDraft("");
    try {
      const done = await runTurn({
        sessionId,
        userId,
        message,
        agent: agent.trim() || undefined,
        signal: controller.signal,
        onDelta: (delta) => {
          draft += delta;
          props.onDraft(draft);
        },
        onEvent: (event) => {
          // The step's message is written: its text now lives in the timeline.
          if (event.type === "message" && event.role === "assistant") {
            draft = "";
            props.onDraft("");
          }
          props.onEvent(event);
        },
      });
      if (done.status === "cancelled") setNotice({ tone: "info", text: "The turn was cancelled." });
      else if (done.status === "error") setNotice({ tone: "error", text: done.message ?? "The turn failed." });
    } catch (error) {
      setText((current) => current || message);
      setNotice({ tone: "error", text: turnErrorText(error) });
    } finally {
      setRunning(null);
      props.onDraft(null);
    }
  };

  const submitRef = useRef(submit);
  submitRef.current = submit;
  useImperativeHandle(
    ref,
    () => ({
      focus: () => inputRef.current?.focus(),
      send: (message: string) => void submitRef.current(message),
    }),
    [],
  );

  const cancel = async () => {
    const controller = running;
    if (!controller) return;
    setNotice({ tone: "info", text: "Cancelling…" });
    const timer = setTimeout(() => controller.abort(), CANCEL_GRACE_MS);
    try {
      await send(sessionPath(sessionId, "/cancel"), { method: "POST", query: ownerQuery(userId) });
    } catch {
      // The server may not know this route: closing the stream cancels too.
      controller.abort();
    } finally {
      if (controller.signal.aborted) clearTimeout(timer);
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void submit();
    }
  };

  return (
    <div className="chat">
      {pending.length > 0 && (
        <section className="chat-approvals" aria-label="Waiting for approval">
          {pending.map((p) => (
            <PendingRow key={p.approvalId} approval={p} onAnswer={props.onAnswer} onShow={props.onShow} />
          ))}
        </section>
      )}
      {notice && (
        <p className={`chat-notice notice-${notice.tone}`} role={notice.tone === "error" ? "alert" : "status"}>
          {notice.text}
          <button type="button" className="link-button" onClick={() => setNotice(null)} aria-label="Dismiss">
            ×
          </button>
        </p>
      )}
      <form
        className="chat-form"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <label htmlFor={ids.input} className="sr-only">
          Message the agent
        </label>
        <textarea
          ref={inputRef}
          id={ids.input}
          value={text}
          rows={Math.min(8, Math.max(1, text.split("\n").length))}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder={`Message ${agent.trim() || props.currentAgent || "the agent"}…`}
          aria-describedby={ids.hint}
        />
        <div className="chat-buttons">
          {running ? (
            <button type="button" className="button button-danger" onClick={() => void cancel()}>
              Stop
            </button>
          ) : (
            <button type="submit" className="button button-primary" disabled={!text.trim()}>
              Send
            </button>
          )}
        </div>
      </form>
      <div className="chat-foot">
        <span id={ids.hint} className="hint">
          {running ? "The agent is working… " : ""}
          Enter sends, Shift+Enter adds a line.
        </span>
        <button
          type="button"
          className="link-button"
          aria-expanded={showOptions}
          onClick={() => setShowOptions(!showOptions)}
        >
          Agent: {agent.trim() || props.currentAgent || "default"}
        </button>
      </div>
      {showOptions && (
        <div className="chat-options">
          <label htmlFor={ids.agent}>Agent for the next turn</label>
          <input
            id={ids.agent}
            value={agent}
            onChange={(e) => setAgent(e.target.value)}
            placeholder={props.currentAgent ?? "the server's default agent"}
            spellCheck={false}
          />
        </div>
      )}
    </div>
  );
});

function turnErrorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 409) return "A turn is already running in this session. Wait for it to finish or stop it.";
    if (error.status === 404 && /agent|runtime/i.test(error.message)) {
      return `This server cannot run agents: ${error.message}. Start it with an agent configuration.`;
    }
    return error.message;
  }
  return describeError(error);
}

function PendingRow({
  approval,
  onAnswer,
  onShow,
}: {
  approval: PendingApproval;
  onAnswer: ChatProps["onAnswer"];
  onShow: (seq: number) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const answer = async (decision: "approve" | "deny") => {
    setBusy(true);
    setError(null);
    try {
      await onAnswer(approval.approvalId, decision);
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  };
  return (
    <div className="pending">
      <span className="approval-icon" aria-hidden="true">
        ?
      </span>
      <span className="pending-text">
        The agent wants to run <strong className="mono">{approval.tool}</strong>{" "}
        <code className="part-input">{preview(approval.input, 60)}</code>
      </span>
      <button type="button" className="link-button" onClick={() => onShow(approval.seq)}>
        Show
      </button>
      <button
        type="button"
        className="button button-primary button-small"
        disabled={busy}
        onClick={() => void answer("approve")}
      >
        Approve
      </button>
      <button
        type="button"
        className="button button-danger button-small"
        disabled={busy}
        onClick={() => void answer("deny")}
      >
        Deny
      </button>
      {error && (
        <span className="form-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
