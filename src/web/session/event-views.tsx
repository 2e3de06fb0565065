/**
 * How each kind of event looks in the timeline: messages as chat, tool invocations as cards (the
 * call and its result shown together), approvals with their answer, status changes as dividers,
 * summaries and state changes in their own colours. Every event can be forked at, shown raw and
 * redacted; tombstones and Frontdesk's markers are drawn by history-views.tsx.
 */
import { type ReactNode, useState } from "react";
import type { FrontdeskEvent } from "../api/client.ts";
import { bytes, clock, cost, dateTime, duration, pretty, preview, tokens } from "../format.ts";
import { bookkeepingOf, jsonBytes, type MessageToolCall } from "./framework-events.ts";
import { FoldedRedactions, historyBodyOf, RedactButton, type RedactTarget } from "./history-views.tsx";
import { JsonTree } from "./json-tree.tsx";
import { Markdown } from "./markdown.tsx";

type Of<T extends FrontdeskEvent["type"]> = Extract<FrontdeskEvent, { type: T }>;
export type ToolResultEvent = Of<"tool_result">;
export type ApprovalResponseEvent = Of<"approval_response">;

export interface RowContext {
  expanded: boolean;
  toggle: () => void;
  onFork: (seq: number) => void;
  /** Opens the Redact dialog for these events (the row's own, and what is folded into it). */
  onRedact: (targets: RedactTarget[]) => void;
  onAnswer: (approvalId: string, decision: "approve" | "deny", reason?: string) => Promise<void>;
  /** A turn holds the session's lock, so an unanswered approval request can still be answered. */
  answerable: boolean;
}

/** Output bigger than this is cut in the card, with a button for the rest. */
const BIG_TEXT = 20_000;

export function EventRow(props: {
  event: FrontdeskEvent;
  result?: ToolResultEvent;
  response?: ApprovalResponseEvent;
  /** Tool calls this message makes that no `tool_call` event stands for (see framework-events.ts). */
  toolCalls?: MessageToolCall[];
  ctx: RowContext;
}) {
  const { event, ctx } = props;
  const [raw, setRaw] = useState(false);
  let body: ReactNode;
  switch (event.type) {
    case "message":
      body = <MessageView event={event} toolCalls={props.toolCalls} ctx={ctx} />;
      break;
    case "tool_call":
      body = <ToolCard call={event} result={props.result} ctx={ctx} />;
      break;
    case "tool_result":
      body = <ToolCard result={event} ctx={ctx} />;
      break;
    case "approval_request":
      body = <ApprovalCard request={event} response={props.response} result={props.result} ctx={ctx} />;
      break;
    case "approval_response":
      body = <ApprovalAnswer response={event} />;
      break;
    case "status":
      body = <StatusView event={event} />;
      break;
    case "summary":
      body = <SummaryView event={event} ctx={ctx} />;
      break;
    case "state":
      body = <StateView event={event} />;
      break;
    case "custom":
      body = <CustomView event={event} ctx={ctx} />;
      break;
    default:
      body = <div className="ev-generic">{(event as { type: string }).type}</div>;
  }
  body = historyBodyOf(event) ?? body;
  // A framework's bookkeeping row stays one line: the state it keeps is its own, shown when unfolded.
  const bookkeeping = event.type === "custom" && bookkeepingOf(event.name) !== null;
  const delta = event.type !== "state" && event.stateDelta && !bookkeeping ? Object.keys(event.stateDelta) : [];
  // A folded row forks after the last event it shows.
  const forkSeq =
    event.type === "approval_request" ? (props.response?.seq ?? event.seq) : (props.result?.seq ?? event.seq);
  return (
    // tabIndex -1: a tap or click on an event focuses it, which shows its actions on touch screens.
    <article className={`ev ev-${event.type} ${roleClass(event)}`} aria-label={labelOf(event)} tabIndex={-1}>
      <div className="ev-gutter">
        <span className="ev-seq">#{event.seq}</span>
        <time className="ev-time" dateTime={new Date(event.at).toISOString()} title={dateTime(event.at)}>
          {clock(event.at)}
        </time>
      </div>
      <div className="ev-main">
        {body}
        <FoldedRedactions events={[event, props.result, props.response]} />
        {delta.length > 0 && (
          <button type="button" className="delta-chip" onClick={() => setRaw(!raw)} aria-expanded={raw}>
            Δ state: {delta.join(", ")}
          </button>
        )}
        {raw && (
          <div className="ev-raw">
            <JsonTree value={event} openDepth={2} label={`Event ${event.seq} as JSON`} />
          </div>
        )}
      </div>
      <div className="ev-actions">
        <button
          type="button"
          className="icon-button"
          onClick={() => setRaw(!raw)}
          aria-pressed={raw}
          title="Show this event as JSON"
        >
          {"{ }"}
          <span className="sr-only"> event {event.seq} as JSON</span>
        </button>
        <button
          type="button"
          className="icon-button"
          onClick={() => ctx.onFork(forkSeq)}
          title={`Fork: a new session with events 1 to ${forkSeq}`}
        >
          Fork<span className="sr-only"> here at event {event.seq}</span>
        </button>
        <RedactButton events={[event, props.result, props.response]} onRedact={ctx.onRedact} />
      </div>
    </article>
  );
}

const roleClass = (event: FrontdeskEvent): string => (event.type === "message" ? `ev-role-${event.role}` : "");

function labelOf(event: FrontdeskEvent): string {
  const redacted = event.redacted ? " (redacted)" : "";
  switch (event.type) {
    case "message":
      return `Event ${event.seq}: ${event.role} message${redacted}`;
    case "tool_call":
    case "tool_result":
      return `Event ${event.seq}: tool ${event.tool}${redacted}`;
    default:
      return `Event ${event.seq}: ${event.type}${redacted}`;
  }
}

type Part = { type?: unknown; [key: string]: unknown };

function MessageView({
  event,
  toolCalls = [],
  ctx,
}: {
  event: Of<"message">;
  toolCalls?: MessageToolCall[];
  ctx: RowContext;
}) {
  const { role } = event;
  const carded = new Set(toolCalls.map(({ call }) => call.invocationId));
  const parts: Part[] = (
    typeof event.content === "string" ? [{ type: "text", text: event.content }] : event.content
  ).filter((part: Part) => !(part.type === "tool-call" && carded.has(String(part.toolCallId))));
  const usage = event.usage;
  const header = (
    <div className="msg-head">
      <span className="msg-role">{role === "tool" ? "Tool results" : role}</span>
      {event.name && <span className="muted">{event.name}</span>}
      {event.model && <span className="chip-mini mono">{event.model}</span>}
      {event.finish && event.finish !== "complete" && (
        <span className={`badge finish-${event.finish}`}>{event.finish === "cancelled" ? "cut off" : "error"}</span>
      )}
    </div>
  );
  if (role === "system" || role === "tool") {
    const text = parts
      .map((p) => (isText(p) ? p.text : p.type === "tool-result" ? toolResultLine(p) : ""))
      .filter(Boolean)
      .join(" · ");
    return (
      <div className="msg msg-folded">
        <button type="button" className="fold" aria-expanded={ctx.expanded} onClick={ctx.toggle}>
          <span className="json-caret" aria-hidden="true">
            {ctx.expanded ? "▾" : "▸"}
          </span>
          {header}
          {!ctx.expanded && <span className="fold-preview">{preview(text, 140)}</span>}
        </button>
        {ctx.expanded && <Parts parts={parts} />}
      </div>
    );
  }
  const said = parts.some((part) => !isText(part) || part.text.trim() !== "");
  return (
    <div className="msg">
      {header}
      {said && (
        <div className="bubble">
          {/* What a person typed is shown as typed: `3*4*5` is arithmetic, not markdown. */}
          <Parts parts={parts} verbatim={role === "user"} />
        </div>
      )}
      {toolCalls.map(({ call, result }) => (
        <MessageToolCard key={call.invocationId} call={call} result={result} ctx={ctx} />
      ))}
      {usage && (
        <div className="msg-usage">
          {tokens(usage.inputTokens ?? 0)} in · {tokens(usage.outputTokens ?? 0)} out
          {typeof usage.costUsd === "number" && usage.costUsd > 0 && <> · {cost(usage.costUsd)}</>}
        </div>
      )}
    </div>
  );
}

/** Text parts: the AI SDK's `text`, and OpenAI's `input_text` / `output_text` that its adapter keeps as given. */
const TEXT_PARTS = new Set(["text", "input_text", "output_text"]);
const isText = (part: Part): part is Part & { text: string } =>
  TEXT_PARTS.has(String(part.type)) && typeof part.text === "string";

/** A card of its own per call, folded and unfolded apart from the message it sits in. */
function MessageToolCard(props: { call: Of<"tool_call">; result?: ToolResultEvent; ctx: RowContext }) {
  const [expanded, setExpanded] = useState(false);
  const ctx = { ...props.ctx, expanded, toggle: () => setExpanded(!expanded) };
  return <ToolCard call={props.call} result={props.result} ctx={ctx} />;
}

const toolResultLine = (part: Part): string => {
  const output = part.output as { type?: string; value?: unknown } | undefined;
  return `${String(part.toolName ?? "tool")}: ${preview(output?.value ?? output, 60)}`;
};

function Parts({ parts, verbatim = false }: { parts: Part[]; verbatim?: boolean }) {
  return (
    <>
      {parts.map((part, i) => {
        const key = `${i}-${String(part.type)}`;
        if (isText(part)) {
          return verbatim ? (
            <p key={key} className="verbatim">
              {part.text}
            </p>
          ) : (
            <Markdown key={key} text={part.text} />
          );
        }
        if (part.type === "reasoning" && typeof part.text === "string") {
          return (
            <details key={key} className="reasoning">
              <summary>Reasoning</summary>
              <Markdown text={part.text} />
            </details>
          );
        }
        if (part.type === "tool-call") {
          return (
            <div key={key} className="part-call">
              <span aria-hidden="true">→</span> calls <strong className="mono">{String(part.toolName)}</strong>
              <code className="part-input">{preview(part.input ?? part.args, 100)}</code>
            </div>
          );
        }
        if (part.type === "tool-result") {
          const output = part.output as { type?: string; value?: unknown } | undefined;
          return (
            <div key={key} className="part-result">
              <span aria-hidden="true">←</span> <strong className="mono">{String(part.toolName ?? "tool")}</strong>{" "}
              {output?.type && <span className="chip-mini">{output.type}</span>}
              <pre className="code">{pretty(output?.value ?? output)}</pre>
            </div>
          );
        }
        if (part.type === "image" || part.type === "file") {
          return (
            <div key={key} className="part-file muted">
              [{String(part.type)}
              {part.mediaType ? ` ${String(part.mediaType)}` : ""}]
            </div>
          );
        }
        return (
          <pre key={key} className="code">
            {pretty(part)}
          </pre>
        );
      })}
    </>
  );
}

const STATUS_LABEL: Record<string, string> = {
  success: "success",
  error: "error",
  denied: "denied",
  cancelled: "cancelled",
  pending: "running",
};

function ToolCard({ call, result, ctx }: { call?: Of<"tool_call">; result?: ToolResultEvent; ctx: RowContext }) {
  const tool = (call ?? result)!.tool;
  const input = call?.input ?? result?.input;
  const status = result?.status ?? "pending";
  return (
    <div className={`tool-card tool-${status}`}>
      <button type="button" className="tool-head" aria-expanded={ctx.expanded} onClick={ctx.toggle}>
        <span className="json-caret" aria-hidden="true">
          {ctx.expanded ? "▾" : "▸"}
        </span>
        <span className="tool-icon" aria-hidden="true">
          ⚙
        </span>
        <span className="tool-name mono">{tool}</span>
        <span className="tool-preview mono">{preview(input, 70)}</span>
        <span className={`badge tool-status-${status}`}>{STATUS_LABEL[status] ?? status}</span>
        {typeof result?.durationMs === "number" && <span className="tool-duration">{duration(result.durationMs)}</span>}
      </button>
      {ctx.expanded && (
        <div className="tool-body">
          <Section title="Input">
            <BigPre text={input === undefined ? "(none)" : pretty(input)} />
          </Section>
          {result?.error && (
            <Section title="Error">
              <div className="tool-error-text">
                {result.error.code && <span className="chip-mini mono">{result.error.code}</span>}{" "}
                {result.error.message}
              </div>
            </Section>
          )}
          {result && result.output !== undefined && (
            <Section title="Output">
              <BigPre text={pretty(result.output)} />
            </Section>
          )}
          {!result && <p className="muted">Waiting for the result…</p>}
          <p className="tool-meta muted mono">
            invocation {(call ?? result)!.invocationId}
            {call && result && ` · call #${call.seq}, result #${result.seq}`}
          </p>
        </div>
      )}
    </div>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="tool-section">
      <h4>{title}</h4>
      {children}
    </section>
  );
}

function BigPre({ text }: { text: string }) {
  const [all, setAll] = useState(false);
  const cut = !all && text.length > BIG_TEXT;
  return (
    <>
      <pre className="code">{cut ? text.slice(0, BIG_TEXT) : text}</pre>
      {cut && (
        <button type="button" className="link-button" onClick={() => setAll(true)}>
          Show all {Math.round(text.length / 1024)} KiB
        </button>
      )}
    </>
  );
}

function ApprovalCard({
  request,
  response,
  result,
  ctx,
}: {
  request: Of<"approval_request">;
  response?: ApprovalResponseEvent;
  /** The invocation's result: without a response, the request was closed unanswered (cancelled…). */
  result?: ToolResultEvent;
  ctx: RowContext;
}) {
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const answer = async (decision: "approve" | "deny") => {
    setBusy(true);
    setError(null);
    try {
      await ctx.onAnswer(request.approvalId, decision, reason.trim() || undefined);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  const closed = !response && (result !== undefined || !ctx.answerable);
  const tone = response ? `approval-${response.decision}` : closed ? "approval-closed" : "approval-pending";
  return (
    <div className={`approval ${tone}`}>
      <div className="approval-head">
        <span className="approval-icon" aria-hidden="true">
          {response ? (response.decision === "approve" ? "✓" : "✕") : closed ? "–" : "?"}
        </span>
        <span>
          {response ? "Approval answered" : closed ? "Approval closed" : "Approval needed"} ·{" "}
          <strong className="mono">{request.tool}</strong>
        </span>
      </div>
      {request.input !== undefined && <pre className="code">{pretty(request.input)}</pre>}
      {response ? (
        <ApprovalAnswer response={response} />
      ) : closed ? (
        <p className="approval-answer muted">
          {result === undefined ? (
            "Not answered: no turn is waiting for it."
          ) : (
            <>
              Not answered: the call was {result.status === "pending" ? "closed" : result.status}
              {result.error?.message && result.error.message !== result.status ? ` (${result.error.message})` : ""}.
            </>
          )}
        </p>
      ) : (
        <div className="approval-actions">
          <label className="sr-only" htmlFor={`reason-${request.seq}`}>
            Reason (optional)
          </label>
          <input
            id={`reason-${request.seq}`}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            placeholder="Reason (optional)"
          />
          <button
            type="button"
            className="button button-primary"
            disabled={busy}
            onClick={() => void answer("approve")}
          >
            Approve
          </button>
          <button type="button" className="button button-danger" disabled={busy} onClick={() => void answer("deny")}>
            Deny
          </button>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
        </div>
      )}
    </div>
  );
}

function ApprovalAnswer({ response }: { response: ApprovalResponseEvent }) {
  return (
    <p className={`approval-answer answer-${response.decision}`}>
      {response.decision === "approve" ? "Approved" : "Denied"}
      {response.reason && <>: {response.reason}</>}
      <span className="muted"> · #{response.seq}</span>
    </p>
  );
}

function StatusView({ event }: { event: Of<"status"> }) {
  const agent = event.scope === "agent";
  return (
    <div className={`status-line ${agent ? "status-agent" : "status-session"}`}>
      <span className="status-rule" aria-hidden="true" />
      <span className="status-text">
        {agent ? "agent" : "session"} {event.previous && <span className="muted">{event.previous} → </span>}
        <strong className={agent ? "" : `status-word status-${event.status}`}>{event.status}</strong>
        {event.reason && <span className="muted"> — {event.reason}</span>}
      </span>
      <span className="status-rule" aria-hidden="true" />
    </div>
  );
}

function SummaryView({ event, ctx }: { event: Of<"summary">; ctx: RowContext }) {
  return (
    <div className="summary-card">
      <button type="button" className="fold" aria-expanded={ctx.expanded} onClick={ctx.toggle}>
        <span className="json-caret" aria-hidden="true">
          {ctx.expanded ? "▾" : "▸"}
        </span>
        <strong>Summary</strong>
        <span className="muted"> stands in for events 1–{event.throughSeq} in the agent's context</span>
      </button>
      {ctx.expanded ? <Markdown text={event.text} /> : <p className="fold-preview">{preview(event.text, 200)}</p>}
    </div>
  );
}

function StateView({ event }: { event: Of<"state"> }) {
  const delta = event.stateDelta ?? {};
  const set = Object.keys(delta).filter((k) => delta[k] !== null);
  const removed = Object.keys(delta).filter((k) => delta[k] === null);
  return (
    <div className="state-line">
      <span className="chip-mini">state</span>
      {set.length > 0 && <span> set {set.join(", ")}</span>}
      {removed.length > 0 && <span> removed {removed.join(", ")}</span>}
      {set.length + removed.length === 0 && <span className="muted"> no change</span>}
    </div>
  );
}

function CustomView({ event, ctx }: { event: Of<"custom">; ctx: RowContext }) {
  const bookkeeping = bookkeepingOf(event.name);
  if (bookkeeping) return <BookkeepingView event={event} bookkeeping={bookkeeping} ctx={ctx} />;
  return (
    <div className="custom-card">
      <button type="button" className="fold" aria-expanded={ctx.expanded} onClick={ctx.toggle}>
        <span className="json-caret" aria-hidden="true">
          {ctx.expanded ? "▾" : "▸"}
        </span>
        <span className="chip-mini">custom</span> <strong className="mono">{event.name}</strong>
        {!ctx.expanded && event.data !== undefined && (
          <span className="fold-preview mono">{preview(event.data, 90)}</span>
        )}
      </button>
      {ctx.expanded && event.data !== undefined && <JsonTree value={event.data} openDepth={2} />}
    </div>
  );
}

/**
 * A framework's own record (a checkpoint, a history marker, a revision): named, sized, folded.
 * It is for the framework to read back, not for people, so its JSON shows only when unfolded.
 */
function BookkeepingView({
  event,
  bookkeeping,
  ctx,
}: {
  event: Of<"custom">;
  bookkeeping: NonNullable<ReturnType<typeof bookkeepingOf>>;
  ctx: RowContext;
}) {
  const keys = Object.keys(event.stateDelta ?? {});
  return (
    <div className="bookkeeping" title={event.name}>
      <button type="button" className="fold" aria-expanded={ctx.expanded} onClick={ctx.toggle}>
        <span className="json-caret" aria-hidden="true">
          {ctx.expanded ? "▾" : "▸"}
        </span>
        <span className="bookkeeping-label">
          {bookkeeping.framework} {bookkeeping.what}
        </span>
        <span className="bookkeeping-size">{bytes(jsonBytes(event.data))}</span>
      </button>
      {ctx.expanded && (
        <div className="bookkeeping-body">
          <p className="muted mono">
            {event.name}
            {keys.length > 0 && ` · state: ${keys.join(", ")}`}
          </p>
          {event.data !== undefined && <JsonTree value={event.data} openDepth={1} />}
        </div>
      )}
    </div>
  );
}

/** The assistant's reply while it streams, before its message event is written. */
export function DraftRow({ text }: { text: string }) {
  return (
    <article className="ev ev-message ev-role-assistant ev-draft" aria-label="Assistant reply, streaming">
      <div className="ev-gutter">
        <span className="ev-seq">…</span>
      </div>
      <div className="ev-main">
        <div className="msg">
          <div className="msg-head">
            <span className="msg-role">assistant</span>
            <span className="typing" aria-hidden="true">
              <i />
              <i />
              <i />
            </span>
          </div>
          <div className="bubble">{text ? <Markdown text={text} /> : <span className="muted">Thinking…</span>}</div>
        </div>
      </div>
      <div className="ev-actions" />
    </article>
  );
}
