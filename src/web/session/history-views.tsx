/**
 * How the timeline shows a session's edited past: a redacted event as a tombstone with a clear
 * "Redacted" badge saying who removed its content, when and why; Frontdesk's own markers (the
 * pruned range, the notices of redactions and prunes) as one-line notes rather than raw custom
 * events. docs/privacy.md says what each one is.
 */
import type { ReactNode } from "react";
import { isHistoryChanged, isPrunedMarker } from "../../client/index.ts";
import type { Redaction } from "../../core/model.ts";
import { noticeOf } from "../../react/index.ts";
import type { FrontdeskEvent } from "../api/client.ts";
import { dateTime, timeAgo } from "../format.ts";

/** Frontdesk's own records: nothing in them to redact, and they are shown as notes. */
export const isFrontdeskMarker = (event: FrontdeskEvent): boolean => isPrunedMarker(event) || isHistoryChanged(event);

/** What an event is, in a few words that hold none of its content ("user message", "tool result lookup"). */
export function kindOf(event: FrontdeskEvent): string {
  switch (event.type) {
    case "message":
      return `${event.role} message`;
    case "tool_call":
      return `tool call ${event.tool}`;
    case "tool_result":
      return `tool result ${event.tool}`;
    case "approval_request":
      return `approval request for ${event.tool}`;
    case "approval_response":
      return `approval answer (${event.decision === "approve" ? "approved" : "denied"})`;
    case "status":
      return `${event.scope ?? "session"} status ${event.status}`;
    case "summary":
      return `summary of events 1–${event.throughSeq}`;
    case "state":
      return "state change";
    case "custom":
      return `custom event ${event.name}`;
    default:
      return (event as { type: string }).type;
  }
}

/** An event the Redact action may name: not already a tombstone, not one of Frontdesk's records. */
export const redactable = (event: FrontdeskEvent | undefined): event is FrontdeskEvent =>
  event !== undefined && event.redacted === undefined && !isFrontdeskMarker(event);

export interface RedactTarget {
  seq: number;
  /** "user message #7" */
  label: string;
}

/** What one row's Redact action offers: the event, and the result or answer folded into its row. */
export function redactTargets(...events: (FrontdeskEvent | undefined)[]): RedactTarget[] {
  return events.filter(redactable).map((event) => ({ seq: event.seq, label: `${kindOf(event)} #${event.seq}` }));
}

/** The badge and who, when and why: shown wherever a tombstone stands in the timeline. */
export function RedactedNote({ redaction, subject }: { redaction: Redaction; subject?: string }) {
  return (
    <p className="redacted-note">
      <span className="badge badge-redacted">Redacted</span>
      {subject && <span className="redacted-subject">{subject}</span>}
      <span>
        by <span className="mono">{redaction.by}</span>
      </span>
      <time dateTime={new Date(redaction.at).toISOString()} title={dateTime(redaction.at)}>
        {timeAgo(redaction.at)}
      </time>
      <span className="redacted-reason">
        <span className="sr-only">Reason: </span>“{redaction.reason}”
      </span>
    </p>
  );
}

/** A redacted event of a kind with no card of its own: what it was, and the note. */
export function TombstoneView({ event }: { event: FrontdeskEvent & { redacted: Redaction } }) {
  return (
    <div className="tombstone">
      <span className="tombstone-kind">{kindOf(event)}</span>
      <RedactedNote redaction={event.redacted} />
    </div>
  );
}

/** Cards (tools, approvals) keep showing what is left of their events, with a note per tombstone. */
const isCarded = (event: FrontdeskEvent): boolean =>
  event.type === "tool_call" || event.type === "tool_result" || event.type === "approval_request";

/** The row's body when the history decides it: a marker's line, a tombstone; undefined otherwise. */
export function historyBodyOf(event: FrontdeskEvent): ReactNode | undefined {
  if (event.type === "custom" && isFrontdeskMarker(event)) return <MarkerView event={event} />;
  if (event.redacted && !isCarded(event)) return <TombstoneView event={{ ...event, redacted: event.redacted }} />;
  return undefined;
}

/** Under a card: a note for each of its events (the row's own, its result or answer) that is a tombstone. */
export function FoldedRedactions({ events }: { events: (FrontdeskEvent | undefined)[] }) {
  if (!events[0] || !isCarded(events[0])) return null;
  return (
    <>
      {events.map(
        (event) =>
          event?.redacted && (
            <RedactedNote key={event.seq} redaction={event.redacted} subject={`${kindOf(event)} #${event.seq}`} />
          ),
      )}
    </>
  );
}

/** The row's Redact action, offering its events that still have content. */
export function RedactButton(props: {
  events: (FrontdeskEvent | undefined)[];
  onRedact: (targets: RedactTarget[]) => void;
}) {
  const targets = redactTargets(...props.events);
  if (targets.length === 0) return null;
  return (
    <button
      type="button"
      className="icon-button"
      onClick={() => props.onRedact(targets)}
      title="Redact: replace the content with a tombstone, for every reader"
    >
      Redact<span className="sr-only"> event {props.events[0]?.seq}</span>
    </button>
  );
}

/** "Event 7", "Events 3–5, 9", with the longest lists cut short. */
export function seqList(seqs: readonly number[]): string {
  if (seqs.length === 1) return `Event ${seqs[0]}`;
  const runs: string[] = [];
  let start = seqs[0] as number;
  let previous = start;
  for (const seq of [...seqs.slice(1), Number.NaN]) {
    if (seq === previous + 1) {
      previous = seq;
      continue;
    }
    runs.push(start === previous ? `${start}` : `${start}–${previous}`);
    start = seq;
    previous = seq;
  }
  const shown = runs.length > 6 ? [...runs.slice(0, 5), `and ${runs.length - 5} more ranges`] : runs;
  return `Events ${shown.join(", ")}`;
}

/** One line for the pruned marker or a history notice. */
export function MarkerView({ event }: { event: Extract<FrontdeskEvent, { type: "custom" }> }) {
  let text: string;
  let title: string;
  if (isPrunedMarker(event)) {
    const data = event.data as { fromSeq?: unknown; throughSeq?: unknown } | undefined;
    const from = typeof data?.fromSeq === "number" ? data.fromSeq : 1;
    const through = typeof data?.throughSeq === "number" ? data.throughSeq : event.seq;
    text =
      from === through ? `Event ${from} was pruned (retention)` : `Events ${from}–${through} were pruned (retention)`;
    title = "The session's retention policy removed these events; this marker stands in their place.";
  } else {
    const notice = noticeOf(event);
    const data = event.data as { by?: unknown; reason?: unknown } | undefined;
    if (notice.kind === "redaction" && notice.seqs.length > 0) {
      const by = typeof data?.by === "string" ? data.by : "someone";
      const reason = typeof data?.reason === "string" ? `: ${data.reason}` : "";
      text = `${seqList(notice.seqs)} redacted by ${by}${reason}`;
      title = "The content of these events was replaced by a tombstone.";
    } else if (notice.kind === "prune") {
      text = notice.throughSeq === 1 ? "Event 1 pruned" : `Events 1–${notice.throughSeq} pruned`;
      title = "Retention removed these events from the log.";
    } else {
      text = "History changed";
      title = event.name;
    }
  }
  return (
    <div className="status-line history-line" title={title}>
      <span className="status-rule" aria-hidden="true" />
      <span className="history-text">{text}</span>
      <span className="status-rule" aria-hidden="true" />
    </div>
  );
}
