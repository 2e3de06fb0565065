import type { Json, SessionEvent, SessionStats } from "../core/model.ts";
import { formatDuration } from "./durations.ts";
import { formatTime, renderTable, truncate } from "./table.ts";
import type { SessionView } from "./targets/types.ts";

const compact = (value: Json | undefined): string => (value === undefined ? "" : JSON.stringify(value));

/** Message text: the string, or the text parts joined, with other parts named by type. */
const messageText = (content: unknown): string => {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part: { type?: unknown; text?: unknown }) =>
      part.type === "text" && typeof part.text === "string" ? part.text : `[${String(part.type)}]`,
    )
    .join(" ");
};

/** One line saying what an event is, for `sessions show`. */
export function describeEvent(event: SessionEvent, width = 100): string {
  let what: string;
  switch (event.type) {
    case "message":
      what = `${event.role}${event.name ? ` (${event.name})` : ""}: ${messageText(event.content)}`;
      break;
    case "tool_call":
      what = `${event.tool} ${compact(event.input)} [${event.invocationId}]`;
      break;
    case "tool_result":
      what =
        `${event.tool} ${event.status}` +
        (event.durationMs === undefined ? "" : ` in ${event.durationMs}ms`) +
        (event.error ? `: ${event.error.message}` : event.output === undefined ? "" : ` → ${compact(event.output)}`);
      break;
    case "state":
      what = `set ${Object.keys(event.stateDelta ?? {}).join(", ") || "nothing"}`;
      break;
    case "status":
      what = `${event.previous ? `${event.previous} → ` : ""}${event.status}${event.reason ? ` (${event.reason})` : ""}`;
      break;
    case "summary":
      what = `through #${event.throughSeq}: ${event.text}`;
      break;
    case "custom":
      what = `${event.name} ${compact(event.data)}`;
      break;
    case "approval_request":
      what = `${event.tool} ${compact(event.input)} [${event.approvalId}]`;
      break;
    case "approval_response":
      what = `${event.decision} [${event.approvalId}]${event.reason ? ` (${event.reason})` : ""}`;
      break;
    default:
      what = compact(event as unknown as Json);
  }
  if (event.type !== "state" && event.stateDelta && Object.keys(event.stateDelta).length > 0) {
    what += ` {set ${Object.keys(event.stateDelta).join(", ")}}`;
  }
  return truncate(what.replace(/\s*\n\s*/g, " ").trim(), width);
}

/** The rows of `sessions list`. */
export function sessionTable(sessions: readonly SessionView[]): string[] {
  return renderTable(
    ["ID", "USER", "STATUS", "EVENTS", "UPDATED", "TAGS", "TITLE"],
    sessions.map((session) => [
      session.id,
      session.userId ?? "-",
      session.status,
      String(session.lastSeq),
      formatTime(session.updatedAt),
      session.tags.length === 0 ? "-" : truncate(session.tags.join(","), 30),
      truncate(session.title ?? session.purpose ?? "-", 60),
    ]),
  );
}

/** `sessions stats` and the stats block of `sessions show`. */
export function statsLines(stats: Readonly<SessionStats>): string[] {
  return renderTable(
    ["STAT", "VALUE"],
    [
      ["messages", String(stats.messages)],
      ["toolCalls", String(stats.toolCalls)],
      ["toolErrors", String(stats.toolErrors)],
      ["toolsUsed", stats.toolsUsed.length === 0 ? "-" : stats.toolsUsed.join(", ")],
      ["inputTokens", String(stats.inputTokens)],
      ["outputTokens", String(stats.outputTokens)],
      ["costUsd", stats.costUsd.toFixed(6).replace(/\.?0+$/, "") || "0"],
      ["durationMs", String(stats.durationMs)],
    ],
  ).slice(1);
}

/** `sessions show` for people: header, state, stats, then the last events. */
export function sessionDetail(session: SessionView, events: readonly SessionEvent[]): string[] {
  const expires =
    session.expiresAt === null
      ? "never"
      : `${formatTime(session.expiresAt)}${session.ttlMs === null ? "" : ` (sliding ${formatDuration(session.ttlMs)})`}`;
  const header = renderTable(
    ["FIELD", "VALUE"],
    [
      ["id", session.id],
      ["user", session.userId ?? "-"],
      ["namespace", session.namespace],
      ["status", session.status],
      ["title", session.title ?? "-"],
      ["purpose", session.purpose ?? "-"],
      ["tags", session.tags.length === 0 ? "-" : session.tags.join(", ")],
      ["version", String(session.version)],
      ["events", String(session.lastSeq)],
      ["created", formatTime(session.createdAt)],
      ["updated", formatTime(session.updatedAt)],
      ["accessed", formatTime(session.lastAccessedAt)],
      ["expires", expires],
      ...(session.absoluteExpiresAt === null ? [] : [["ends", formatTime(session.absoluteExpiresAt)]]),
      ["parent", session.parent === null ? "-" : `${session.parent.sessionId} at #${session.parent.seq}`],
      ["metadata", Object.keys(session.metadata).length === 0 ? "-" : truncate(JSON.stringify(session.metadata), 100)],
    ],
  ).slice(1);
  const lines = [...header, "", "state:"];
  const state = JSON.stringify(session.state, null, 2);
  lines.push(...state.split("\n").map((line) => `  ${line}`));
  lines.push("", "stats:", ...statsLines(session.stats).map((line) => `  ${line}`));
  lines.push("");
  if (events.length === 0) {
    lines.push(session.lastSeq === 0 ? "no events" : "events: (not shown)");
  } else {
    const first = events[0]?.seq ?? 0;
    lines.push(`events #${first}-#${events.at(-1)?.seq ?? first} of ${session.lastSeq}:`);
    lines.push(
      ...renderTable(
        ["SEQ", "AT", "TYPE", "WHAT"],
        events.map((event) => [`#${event.seq}`, formatTime(event.at), event.type, describeEvent(event)]),
      )
        .slice(1)
        .map((line) => `  ${line}`),
    );
  }
  return lines;
}
