import { yieldToEventLoop } from "../core/event-loop.ts";
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
  // Whitespace runs holding a line end become one space; /\s*\n\s*/ would cost the square of a long run of spaces.
  return truncate(what.replace(/\s+/g, (run) => (run.includes("\n") ? " " : run)).trim(), width);
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

// ── text for a terminal ─────────────────────────────────────────────────────────────────────────

/**
 * C0 controls but tab and line feed, DEL, and the C1 controls. Written raw they would let a
 * model's reply move the cursor, recolour or retitle the terminal, or hide text (`\x1b[…`, `\r`).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Control characters made visible: `\x1b` → `␛` (Unicode Control Pictures), one column each. */
export function terminalText(text: string): string {
  return text.replace(CONTROLS, (char) => {
    const code = char.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    return code === 0x7f ? "\u2421" : "\ufffd";
  });
}

/** Code points that take two terminal columns: East Asian wide and fullwidth forms, most emoji. */
const isWide = (code: number): boolean =>
  (code >= 0x1100 && code <= 0x115f) ||
  (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
  (code >= 0xac00 && code <= 0xd7a3) ||
  (code >= 0xf900 && code <= 0xfaff) ||
  (code >= 0xfe30 && code <= 0xfe4f) ||
  (code >= 0xff00 && code <= 0xff60) ||
  (code >= 0xffe0 && code <= 0xffe6) ||
  (code >= 0x1f300 && code <= 0x1f64f) ||
  (code >= 0x1f900 && code <= 0x1f9ff) ||
  (code >= 0x20000 && code <= 0x3fffd);

/** Combining marks, zero-width characters and variation selectors: no column of their own. */
const isZeroWidth = (code: number): boolean =>
  (code >= 0x300 && code <= 0x36f) ||
  (code >= 0x200b && code <= 0x200f) ||
  (code >= 0xfe00 && code <= 0xfe0f) ||
  (code >= 0x1ab0 && code <= 0x1aff) ||
  (code >= 0x20d0 && code <= 0x20ff);

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** How many terminal columns `text` (without control characters) takes. */
export function displayWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    width += isZeroWidth(code) ? 0 : isWide(code) ? 2 : 1;
  }
  return width;
}

/**
 * `text` cut into lines of at most `columns` (a line takes at least one character, so a wide
 * character in a one-column line still moves on), in one pass: the last piece is the rest.
 */
function cutLines(text: string, columns: number): { lines: string[]; rest: string; restWidth: number } {
  const lines: string[] = [];
  if (PRINTABLE_ASCII.test(text)) {
    let start = 0;
    while (text.length - start > columns) {
      lines.push(text.slice(start, start + columns));
      start += columns;
    }
    return { lines, rest: text.slice(start), restWidth: text.length - start };
  }
  let start = 0;
  let end = 0;
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    const add = isZeroWidth(code) ? 0 : isWide(code) ? 2 : 1;
    if (width + add > columns && end > start) {
      lines.push(text.slice(start, end));
      start = end;
      width = 0;
    }
    width += add;
    end += char.length;
  }
  return { lines, rest: text.slice(start), restWidth: width };
}

/** A run of spaces and tabs, a line end, or a run of anything else: each token is a simple class run (linear). */
const TOKENS = /[ \t]+|\n|[^ \t\n]+/g;

/**
 * Word wrap for text that arrives in pieces (a streamed reply): lines break at spaces, never inside
 * a word; a word longer than a whole line is cut at the line's end (there is no better place).
 * The last word of a piece is held back until the next piece shows where it ends; `end()` lets it
 * go. Without a width (output that is not a terminal) the text passes through unwrapped.
 * Control characters are made visible ({@link terminalText}). Each piece costs time linear in
 * its length, and what is held back is at most one line.
 */
export class WordWrapper {
  /** Columns used on the current line, as written so far. */
  private column = 0;
  /** Spaces after the last written word, written only if the next word stays on this line. */
  private gap = "";
  private gapWidth = 0;
  /** The word being read: written once it ends, on this line or the next. */
  private word = "";
  private wordWidth = 0;
  /** A `\r` at the end of a piece: a line end if a `\n` follows. */
  private carriageReturn = false;

  constructor(private readonly width: () => number | undefined) {}

  /** Where the cursor stands now (after a label, say), in columns. */
  startAt(column: number): void {
    this.column = column;
    this.dropGap();
    this.word = "";
    this.wordWidth = 0;
    this.carriageReturn = false;
  }

  /** The column the next character would be written at, counting what is held back. */
  get cursor(): number {
    return this.column + (this.word === "" ? 0 : this.gapWidth + this.wordWidth);
  }

  push(piece: string): string {
    let text = piece;
    if (this.carriageReturn) text = `\r${text}`;
    this.carriageReturn = text.endsWith("\r");
    if (this.carriageReturn) text = text.slice(0, -1);
    text = terminalText(text.replace(/\r\n/g, "\n"));
    const width = this.width();
    if (width === undefined || width < 2) {
      if (text === "") return "";
      const lastLine = text.lastIndexOf("\n");
      this.column = lastLine === -1 ? this.column + displayWidth(text) : displayWidth(text.slice(lastLine + 1));
      return text;
    }
    const out: string[] = [];
    for (const [token] of text.matchAll(TOKENS)) {
      if (token === "\n") {
        this.commitWord(out);
        this.dropGap();
        out.push("\n");
        this.column = 0;
      } else if (token[0] === " " || token[0] === "\t") {
        this.commitWord(out);
        const spaces = token.includes("\t") ? this.expandTabs(token, width) : token;
        this.gapWidth += spaces.length;
        // Spaces past the line's end are never written (the next word goes to a new line).
        if (this.gap.length <= width) this.gap += spaces.slice(0, width + 1 - this.gap.length);
      } else {
        this.word += token;
        this.wordWidth += displayWidth(token);
        this.fit(out, width);
      }
    }
    return out.join("");
  }

  /** Lets the held-back word go (trailing spaces are dropped). */
  end(): string {
    const out: string[] = [];
    if (this.carriageReturn) {
      this.carriageReturn = false;
      out.push(this.push("\r"));
    }
    this.commitWord(out);
    this.dropGap();
    return out.join("");
  }

  private dropGap(): void {
    this.gap = "";
    this.gapWidth = 0;
  }

  private commitWord(out: string[]): void {
    if (this.word === "") return;
    out.push(this.gap, this.word);
    this.column += this.gapWidth + this.wordWidth;
    this.dropGap();
    this.word = "";
    this.wordWidth = 0;
  }

  /** Moves the word to a new line when it no longer fits; cuts it when it is longer than a line. */
  private fit(out: string[], width: number): void {
    if (this.column + this.gapWidth + this.wordWidth <= width) return;
    if (this.column > 0) out.push("\n");
    this.column = 0;
    this.dropGap();
    if (this.wordWidth <= width) return;
    const { lines, rest, restWidth } = cutLines(this.word, width);
    for (const line of lines) out.push(line, "\n");
    this.word = rest;
    this.wordWidth = restWidth;
  }

  /** Tabs as spaces to the next stop of 8 (at most a line's worth: the rest is never written). */
  private expandTabs(token: string, width: number): string {
    let column = this.column + this.gapWidth;
    let spaces = 0;
    for (let i = 0; i < token.length && spaces <= width; i++) {
      const add = token[i] === "\t" ? 8 - (column % 8) : 1;
      spaces += add;
      column += add;
    }
    return " ".repeat(Math.min(spaces, width + 1));
  }
}

/** Characters wrapped between two turns of the event loop: about a millisecond of work. */
export const RENDER_SLICE = 16_384;

/**
 * `text` in slices of about `size` characters, never splitting a surrogate pair: a long reply is
 * written slice by slice, with the event loop free in between (Ctrl-C, signals, timers).
 */
export function* textSlices(text: string, size = RENDER_SLICE): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end++;
    yield text.slice(start, end);
    start = end;
  }
}

/**
 * Writes `text` through `wrapper`, a slice at a time, with the event loop free between slices
 * (`setImmediate`): a reply of megabytes is drawn without holding up key presses or signals.
 */
export async function writeWrapped(
  text: string,
  wrapper: WordWrapper,
  write: (out: string) => void,
  size = RENDER_SLICE,
): Promise<void> {
  let first = true;
  for (const slice of textSlices(text, size)) {
    if (!first) await yieldToEventLoop();
    first = false;
    write(wrapper.push(slice));
  }
}
