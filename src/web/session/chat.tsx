/**
 * Talk to the session's agent: each message starts a detached turn (`POST /v1/sessions/{id}/turns`
 * with `detach: true`), which runs to its end whatever happens to this page; its reply reaches the
 * timeline over the events stream, as in any other tab. Stop is `POST …/cancel`. Open approval
 * requests are shown above the box.
 */
import { forwardRef, type KeyboardEvent, useEffect, useId, useImperativeHandle, useRef, useState } from "react";
import type { SendOptions, StartedTurn } from "../../react/index.ts";
import { ApiError, describeError } from "../api/client.ts";
import { preview } from "../format.ts";

export interface PendingApproval {
  approvalId: string;
  tool: string;
  input: unknown;
  seq: number;
}

/** The closing status of a turn: `idle` (done, or cancelled with reason "cancelled") or `error`. */
export interface TurnEnd {
  seq: number;
  status: string;
  reason: string | null;
}

export interface ChatHandle {
  focus(): void;
  /** Starts a turn with `message`, as if it had been typed and sent (unless a turn is running). */
  send(message: string): void;
}

export interface ChatProps {
  sessionId: string;
  userId: string | null;
  /** The agent already running in this session, if any (state.agent.name). */
  currentAgent: string | null;
  pending: PendingApproval[];
  /** A turn runs in this session (started here, in another tab, or anywhere else). */
  running: boolean;
  /** How the newest finished turn ended, to tell the user when one started here was cancelled or failed. */
  lastTurnEnd: TurnEnd | null;
  onSend: (message: string, options?: SendOptions) => Promise<StartedTurn>;
  onCancel: () => Promise<void>;
  onAnswer: (approvalId: string, decision: "approve" | "deny", reason?: string) => Promise<void>;
  onShow: (seq: number) => void;
}

export const Chat = forwardRef<ChatHandle, ChatProps>(function Chat(props, ref) {
  const { pending, running, lastTurnEnd } = props;
  const [text, setText] = useState("");
  const [agent, setAgent] = useState("");
  const [showOptions, setShowOptions] = useState(false);
  const [starting, setStarting] = useState(false);
  /** The start seq of the turn this tab started (or asked to stop), until its end is seen. */
  const [watched, setWatched] = useState<number | null>(null);
  const [notice, setNotice] = useState<{ tone: "error" | "info"; text: string } | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const ids = { input: useId(), agent: useId(), hint: useId() };
  const busy = running || starting;

  // The turn this tab started ended: say so when it was not a plain completion.
  useEffect(() => {
    if (watched === null || !lastTurnEnd || lastTurnEnd.seq < watched) return;
    setWatched(null);
    if (lastTurnEnd.reason === "cancelled") setNotice({ tone: "info", text: "The turn was cancelled." });
    else if (lastTurnEnd.status === "error") {
      setNotice({ tone: "error", text: lastTurnEnd.reason?.replace(/^turn failed: /, "") ?? "The turn failed." });
    } else setNotice(null);
  }, [watched, lastTurnEnd]);

  const submit = async (typed = text) => {
    const message = typed.trim();
    if (!message || busy) return;
    setStarting(true);
    setNotice(null);
    setText("");
    try {
      const started = await props.onSend(message, agent.trim() ? { agent: agent.trim() } : undefined);
      setWatched(started.startSeq);
    } catch (error) {
      setText((current) => current || message);
      setNotice({ tone: "error", text: turnErrorText(error) });
    } finally {
      setStarting(false);
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
    setNotice({ tone: "info", text: "Cancelling…" });
    // Stopping a turn started in another tab is told here too.
    setWatched((current) => current ?? (lastTurnEnd?.seq ?? 0) + 1);
    try {
      await props.onCancel();
    } catch (error) {
      // 409: no turn runs any more (it ended on its own meanwhile).
      setNotice(isConflict(error) ? null : { tone: "error", text: describeError(error) });
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
          {busy ? (
            <button type="button" className="button button-danger" disabled={!running} onClick={() => void cancel()}>
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
          {busy ? "The agent is working… " : ""}
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

const codeOf = (error: unknown): string | undefined =>
  error instanceof ApiError
    ? error.code
    : (error as { code?: unknown })?.code === undefined
      ? undefined
      : String((error as { code: unknown }).code);

const isConflict = (error: unknown): boolean => codeOf(error) === "conflict";

function turnErrorText(error: unknown): string {
  if (isConflict(error)) {
    return "A turn is already running in this session. Wait for it to finish or stop it.";
  }
  if (codeOf(error) === "not_found" && error instanceof Error && /agent|runtime/i.test(error.message)) {
    return `This server cannot run agents: ${error.message}. Start it with an agent configuration.`;
  }
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
