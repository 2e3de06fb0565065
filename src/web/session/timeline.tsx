/**
 * The event timeline, virtualised: only the rows on screen (plus a few) are in the DOM, each
 * measured as it renders, so a session of 5,000 or 50,000 events scrolls like one of 50. It sticks
 * to the newest event while you are at the bottom, and says how many arrived while you read above.
 */
import { useVirtualizer } from "@tanstack/react-virtual";
import {
  forwardRef,
  type ReactNode,
  useCallback,
  useEffect,
  useImperativeHandle,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import { TURN_DELTA_EVENT } from "../../client/index.ts";
import type { FrontdeskEvent } from "../api/client.ts";
import {
  type ApprovalResponseEvent,
  DraftRow,
  EventRow,
  type RowContext,
  type ToolResultEvent,
} from "./event-views.tsx";
import { bookkeepingOf, type MessageToolCall, messageToolCalls } from "./framework-events.ts";
import { isFrontdeskMarker } from "./history-views.tsx";

export const EVENT_GROUPS = {
  messages: { label: "Messages", types: ["message"] },
  tools: { label: "Tools", types: ["tool_call", "tool_result"] },
  approvals: { label: "Approvals", types: ["approval_request", "approval_response"] },
  status: { label: "Status", types: ["status"] },
  summaries: { label: "Summaries", types: ["summary"] },
  state: { label: "State", types: ["state"] },
  custom: { label: "Custom", types: ["custom"] },
} as const;
export type EventGroup = keyof typeof EVENT_GROUPS;

type Row =
  | {
      kind: "event";
      event: FrontdeskEvent;
      result?: ToolResultEvent;
      response?: ApprovalResponseEvent;
      toolCalls?: MessageToolCall[];
    }
  | { kind: "draft"; text: string };

/** Calls and results, requests and answers, folded together; hidden groups left out. */
export function buildRows(events: readonly FrontdeskEvent[], hidden: ReadonlySet<EventGroup>): Row[] {
  const results = new Map<string, ToolResultEvent>();
  const calls = new Set<string>();
  const responses = new Map<string, ApprovalResponseEvent>();
  const requests = new Set<string>();
  for (const event of events) {
    if (event.type === "tool_result") results.set(event.invocationId, event);
    else if (event.type === "tool_call") calls.add(event.invocationId);
    else if (event.type === "approval_response" && !responses.has(event.approvalId)) {
      responses.set(event.approvalId, event);
    } else if (event.type === "approval_request") requests.add(event.approvalId);
  }
  const hiddenTypes = new Set<string>();
  for (const group of hidden) for (const type of EVENT_GROUPS[group].types) hiddenTypes.add(type);
  // With tools hidden, a message's own tool calls stay the one-line parts they are.
  const messageCalls = hidden.has("tools") ? new Map<number, MessageToolCall[]>() : messageToolCalls(events);
  const rows: Row[] = [];
  for (const event of events) {
    // Frontdesk's markers say why the log starts late or reads "[redacted]": never filtered out.
    if (hiddenTypes.has(event.type) && !isFrontdeskMarker(event)) continue;
    // A piece of a reply being written: its text is in the draft row, then in the assistant message.
    if (event.type === "custom" && event.name === TURN_DELTA_EVENT) continue;
    if (event.type === "tool_result" && calls.has(event.invocationId)) continue;
    if (event.type === "approval_response" && requests.has(event.approvalId)) continue;
    if (event.type === "tool_call") rows.push({ kind: "event", event, result: results.get(event.invocationId) });
    else if (event.type === "approval_request") {
      rows.push({
        kind: "event",
        event,
        response: responses.get(event.approvalId),
        result: results.get(event.invocationId),
      });
    } else if (event.type === "message" && messageCalls.has(event.seq)) {
      rows.push({ kind: "event", event, toolCalls: messageCalls.get(event.seq) });
    } else rows.push({ kind: "event", event });
  }
  return rows;
}

const estimate = (row: Row | undefined): number => {
  if (!row || row.kind === "draft") return 90;
  const event = row.event;
  switch (event.type) {
    case "message":
      return event.role === "system" || event.role === "tool" ? 44 : 96;
    case "status":
    case "state":
      return 34;
    case "approval_request":
      return 150;
    case "custom":
      return bookkeepingOf(event.name) || isFrontdeskMarker(event) ? 30 : 52;
    default:
      return 52;
  }
};

export interface TimelineHandle {
  jumpToLatest(): void;
  /** Scrolls the row holding this event (or the call/request it is folded into) into view. */
  showSeq(seq: number): void;
}

export interface TimelineProps {
  events: readonly FrontdeskEvent[];
  hidden: ReadonlySet<EventGroup>;
  draft: string | null;
  onFork: RowContext["onFork"];
  onRedact: RowContext["onRedact"];
  onAnswer: RowContext["onAnswer"];
  answerable: RowContext["answerable"];
  /** Shown above the first row when older events were not loaded. */
  header?: ReactNode;
}

export const Timeline = forwardRef<TimelineHandle, TimelineProps>(function Timeline(props, ref) {
  const { events, hidden, draft, onFork, onRedact, onAnswer, answerable } = props;
  const rows = useMemo(() => {
    const built = buildRows(events, hidden);
    if (draft !== null) built.push({ kind: "draft", text: draft });
    return built;
  }, [events, hidden, draft]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(() => new Set());
  const follow = useRef(true);
  const [unseen, setUnseen] = useState(0);
  const seenCount = useRef(rows.length);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (index) => estimate(rows[index]),
    getItemKey: (index) => {
      const row = rows[index];
      return !row ? index : row.kind === "draft" ? "draft" : row.event.seq;
    },
    overscan: 6,
  });

  const scrollToEnd = useCallback(() => {
    const element = scrollRef.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, []);

  useImperativeHandle(
    ref,
    () => ({
      jumpToLatest: () => {
        follow.current = true;
        setUnseen(0);
        if (rows.length > 0) virtualizer.scrollToIndex(rows.length - 1, { align: "end" });
        requestAnimationFrame(scrollToEnd);
        scrollRef.current?.focus();
      },
      showSeq: (seq) => {
        const index = rows.findIndex(
          (row) =>
            row.kind === "event" && (row.event.seq === seq || row.result?.seq === seq || row.response?.seq === seq),
        );
        if (index === -1) return;
        follow.current = false;
        virtualizer.scrollToIndex(index, { align: "center" });
      },
    }),
    [rows, virtualizer, scrollToEnd],
  );

  // While following, every growth (new rows, rows measured taller) keeps the newest in view.
  const total = virtualizer.getTotalSize();
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on growth, reading refs
  useLayoutEffect(() => {
    if (follow.current) {
      scrollToEnd();
      seenCount.current = rows.length;
      setUnseen(0);
    } else if (rows.length > seenCount.current) {
      setUnseen(rows.length - seenCount.current);
    }
  }, [total, rows.length]);

  useEffect(() => {
    const element = scrollRef.current;
    if (!element) return;
    let lastTop = element.scrollTop;
    const onScroll = () => {
      const distance = element.scrollHeight - element.scrollTop - element.clientHeight;
      // Only the reader moving up lets go of the bottom; growth below never does.
      if (element.scrollTop < lastTop - 2 && distance > 40) follow.current = false;
      else if (distance < 40) {
        follow.current = true;
        seenCount.current = rows.length;
        setUnseen(0);
      }
      lastTop = element.scrollTop;
    };
    element.addEventListener("scroll", onScroll, { passive: true });
    return () => element.removeEventListener("scroll", onScroll);
  }, [rows.length]);

  const toggle = useCallback((seq: number) => {
    setExpanded((previous) => {
      const next = new Set(previous);
      if (next.has(seq)) next.delete(seq);
      else next.add(seq);
      return next;
    });
  }, []);

  const items = virtualizer.getVirtualItems();
  return (
    <div className="timeline-wrap">
      {props.header}
      <div
        className="timeline"
        ref={scrollRef}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
        tabIndex={0}
        role="feed"
        aria-label="Session events"
        aria-busy={draft !== null}
      >
        {rows.length === 0 && (
          <p className="timeline-empty">
            {events.length === 0
              ? "No events yet. They appear here live as they are written."
              : "Every event is hidden by the filters above."}
          </p>
        )}
        <div className="timeline-body" style={{ height: total }}>
          {items.map((item) => {
            const row = rows[item.index]!;
            return (
              <div
                key={item.key}
                data-index={item.index}
                ref={virtualizer.measureElement}
                className="timeline-row"
                style={{ transform: `translateY(${item.start}px)` }}
              >
                {row.kind === "draft" ? (
                  <DraftRow text={row.text} />
                ) : (
                  <EventRow
                    event={row.event}
                    result={row.result}
                    response={row.response}
                    toolCalls={row.toolCalls}
                    ctx={{
                      expanded: expanded.has(row.event.seq),
                      toggle: () => toggle(row.event.seq),
                      onFork,
                      onRedact,
                      onAnswer,
                      answerable,
                    }}
                  />
                )}
              </div>
            );
          })}
        </div>
      </div>
      {unseen > 0 && (
        <button
          type="button"
          className="new-events"
          onClick={() => {
            follow.current = true;
            setUnseen(0);
            scrollToEnd();
          }}
        >
          {unseen} new {unseen === 1 ? "event" : "events"} ↓
        </button>
      )}
    </div>
  );
});
