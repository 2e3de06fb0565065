import type { ModelMessage } from "ai";
import { isHistoryChanged } from "../core/log-markers.ts";
import type { JsonObject, MessagePayload, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import { contentText, countContentTokens, countContentTokensAsync, countTokens, countTokensAsync } from "./tokens.ts";
import { isWhitespace } from "./whitespace.ts";

type MessageEvent = SessionEvent & MessagePayload;
type SummaryEvent = Extract<SessionEvent, { type: "summary" }>;

export interface ContextWindow {
  /** Messages for the model, oldest first; always starts with a user message. */
  messages: ModelMessage[];
  /** The summary standing in for older history, if any. */
  summary?: { text: string; throughSeq: number; seq: number };
  /** System text found in the log (system-role messages), appended to the system prompt. */
  systemNotes: string[];
  /** Tokens of `messages` (gpt-tokenizer count). */
  tokens: number;
  /** Seqs of the message events in the window. */
  seqs: number[];
}

/**
 * Over-fetch factor for `getMessages`: the manager counts tokens its own way (4 characters a token
 * unless told otherwise); the window is then cut exactly with gpt-tokenizer.
 */
const OVERFETCH = 2;

/**
 * The newest history that fits `budget` tokens, counted with a real tokenizer, with the latest
 * summary (kept in `summary`) standing in for what it covers. The window never begins with an
 * assistant or tool message, so a tool result is never separated from its call.
 */
export async function buildContextWindow(
  sessions: SessionManager<object>,
  sessionId: string,
  budget: number,
): Promise<ContextWindow> {
  return new HistoryWindow(sessions, sessionId, budget).window(0);
}

/** Events appended by others since the last turn past which the window is read afresh instead. */
const RELOAD_GAP = 1000;

interface HistoryEntry {
  readonly event: MessageEvent;
  /**
   * gpt-tokenizer tokens of the message, counted once, when a window is next asked for: counting
   * is async (a long message yields to the event loop), taking in events is not.
   */
  cost: number | undefined;
  /** The message as the model gets it, converted once (the event is frozen, so it stays true). */
  readonly message: ModelMessage | "system" | undefined;
}

/**
 * One session's history window kept between turns, so a turn reads only what was appended since
 * the last one instead of the whole window. The log is append-only, so what was seen stays true:
 * events this AgentSession wrote are taken from its own commits when they follow on from what is
 * known, and anything else (another writer's appends, a gap) is read with `readEvents({ after })`.
 * The window is then cut exactly as {@link buildContextWindow} cuts it: the newest messages that fit
 * the budget, the latest summary standing in for what it covers, never beginning with an assistant
 * or tool message. A session recreated under the same id (another `createdAt`, or a log shorter
 * than what was seen) starts over from a full read.
 */
export class HistoryWindow {
  /** Messages after the latest summary's `throughSeq`, oldest first, trimmed to what a window can still reach. */
  private entries: HistoryEntry[] = [];
  private summary: { text: string; throughSeq: number; seq: number; tokens: number | undefined } | undefined;
  /** Every event up to this seq has been seen; -1 before the first load. */
  private seenThrough = -1;
  private createdAt: number | undefined;
  private reloadNeeded = false;
  /**
   * `entries` hold every message after the latest summary (or of the whole log): false after a
   * budget-bounded read that may have stopped short, and once a cut lets old messages go.
   */
  private complete = false;

  constructor(
    private readonly sessions: SessionManager<object>,
    private readonly sessionId: string,
    private readonly budget: number,
  ) {}

  /**
   * The session as a commit just read it: a different session under the same id (recreated after a
   * delete or an expiry) makes everything seen so far void.
   */
  checkSession(session: { createdAt: number; lastSeq: number }): void {
    if (this.seenThrough >= 0 && (session.createdAt !== this.createdAt || session.lastSeq < this.seenThrough)) {
      this.reset();
    }
    this.createdAt = session.createdAt;
  }

  /** Events one commit wrote (consecutive seqs): taken in when they follow on from what was seen. */
  observe(events: readonly SessionEvent[]): void {
    if (this.seenThrough < 0 || events.length === 0 || (events[0] as SessionEvent).seq !== this.seenThrough + 1) return;
    for (const event of events) this.take(event);
    this.seenThrough = (events[events.length - 1] as SessionEvent).seq;
  }

  /** Forgets everything: the next window is read in full. */
  reset(): void {
    this.entries = [];
    this.summary = undefined;
    this.seenThrough = -1;
    this.reloadNeeded = false;
    this.complete = false;
  }

  /** The window over the log through at least `throughSeq` (reading only what was not seen yet). */
  async window(throughSeq: number): Promise<ContextWindow> {
    await this.catchUp(throughSeq);
    await this.measure();
    return this.cut();
  }

  /**
   * Tokens of every message after the latest summary, through at least `throughSeq`, when this
   * window holds all of them; undefined when it may not (then only a read can tell). Lets a turn
   * decide that no summary is due without reading the log again.
   */
  async tokensSinceSummary(throughSeq: number): Promise<number | undefined> {
    await this.catchUp(throughSeq);
    if (!this.complete) return undefined;
    await this.measure();
    let tokens = 0;
    for (const entry of this.entries) tokens += costOf(entry);
    return tokens;
  }

  /** Counts what was taken in since the last count (entries and summary are replaced, never edited). */
  private async measure(): Promise<void> {
    const { summary } = this;
    if (summary && summary.tokens === undefined) summary.tokens = await countTokensAsync(summary.text);
    for (const entry of this.entries) {
      if (entry.cost === undefined) entry.cost = await countContentTokensAsync(entry.event.content);
    }
  }

  private summaryTokens(): number {
    const { summary } = this;
    if (!summary) return 0;
    // Normally counted by measure(); anything taken in since (while it awaited) is counted here.
    summary.tokens ??= countTokens(summary.text);
    return summary.tokens;
  }

  private async catchUp(throughSeq: number): Promise<void> {
    // Far behind (others wrote a lot since): a budget-bounded read beats reading every event since.
    if (this.seenThrough < 0 || this.reloadNeeded || throughSeq - this.seenThrough > RELOAD_GAP) {
      await this.load(throughSeq);
    } else if (this.seenThrough < throughSeq) {
      // Custom events too: a `frontdesk.history_changed` notice says a message already held was
      // redacted or pruned, and the window must not hand the model its old content again.
      const newer = await this.sessions.readEvents(this.sessionId, {
        after: this.seenThrough,
        types: ["message", "summary", "custom"],
      });
      if (newer.some(isHistoryChanged)) {
        await this.load(throughSeq);
        return;
      }
      for (const event of newer) if (event.seq > this.seenThrough) this.take(event);
      // The read began after `throughSeq` was committed: everything up to it (or to the newest event read) is seen.
      this.seenThrough = Math.max(throughSeq, newer.at(-1)?.seq ?? 0, this.seenThrough);
    }
  }

  private async load(throughSeq: number): Promise<void> {
    const events = await this.sessions.getMessages(this.sessionId, {
      tokenBudget: Math.max(1, Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(this.budget * OVERFETCH))),
    });
    this.entries = [];
    this.summary = undefined;
    this.reloadNeeded = false;
    for (const event of events) this.take(event);
    this.seenThrough = Math.max(throughSeq, events.at(-1)?.seq ?? 0);
    // The read stops at its budget; it reached back far enough when nothing older is left after the summary.
    const [first] = await this.sessions.readEvents(this.sessionId, {
      after: this.summaryFloor(),
      types: ["message"],
      limit: 1,
    });
    this.complete = first === undefined || first.seq === this.entries[0]?.event.seq;
  }

  /** The last seq the latest summary covers (0 without one): the messages after it are the history. */
  private summaryFloor(): number {
    return this.summary?.throughSeq ?? 0;
  }

  private take(event: SessionEvent): void {
    if (event.type === "summary") {
      const summary = event as SummaryEvent;
      // A summary covering less than the one it replaces would bring back messages already let go.
      if (this.summary && summary.throughSeq < this.summary.throughSeq) this.reloadNeeded = true;
      this.summary = {
        text: summary.text,
        throughSeq: summary.throughSeq,
        seq: summary.seq,
        tokens: undefined,
      };
      let covered = 0;
      while (covered < this.entries.length && (this.entries[covered] as HistoryEntry).event.seq <= summary.throughSeq) {
        covered++;
      }
      if (covered > 0) {
        this.entries = this.entries.slice(covered);
        // Every message from the first entry on was held; that one is covered, so all after the summary are.
        this.complete = true;
      }
      if (this.reloadNeeded) this.complete = false;
    } else if (event.type === "message") {
      const message = event as MessageEvent;
      if (this.summary && message.seq <= this.summary.throughSeq) return;
      const converted = toModelMessage(message);
      this.entries.push({
        event: message,
        cost: undefined,
        // Frozen, like the event it wraps: the same object goes to every later model call.
        message: typeof converted === "object" ? Object.freeze(converted) : converted,
      });
    }
  }

  private cut(): ContextWindow {
    const { entries, summary } = this;
    let remaining = this.budget - this.summaryTokens();
    let tokens = 0;
    let first = entries.length;
    while (first > 0) {
      const cost = costOf(entries[first - 1] as HistoryEntry);
      if (cost > remaining && first < entries.length) break;
      remaining -= cost;
      tokens += cost;
      first--;
    }
    // What did not fit now never will: later windows hold newer messages and the same budget.
    if (first > 0) {
      this.entries = entries.slice(first);
      this.complete = false;
      first = 0;
    }
    const picked = this.entries;
    while (first < picked.length - 1 && (picked[first] as HistoryEntry).event.role !== "user") {
      tokens -= costOf(picked[first] as HistoryEntry);
      first++;
    }
    const systemNotes: string[] = [];
    const messages: ModelMessage[] = [];
    const seqs: number[] = [];
    for (let i = first; i < picked.length; i++) {
      const { event, message } = picked[i] as HistoryEntry;
      seqs.push(event.seq);
      if (message === "system") systemNotes.push(contentText(event.content));
      else if (message) messages.push(message);
    }
    return {
      messages,
      ...(summary ? { summary: { text: summary.text, throughSeq: summary.throughSeq, seq: summary.seq } } : {}),
      systemNotes,
      tokens,
      seqs,
    };
  }
}

/** The entry's token count: normally counted by `measure()`; anything taken in since is counted here. */
const costOf = (entry: HistoryEntry): number => {
  entry.cost ??= countContentTokens(entry.event.content);
  return entry.cost;
};

/**
 * A stored message event as an AI SDK `ModelMessage` (messages are stored in that shape, so this
 * is a pick). `"system"` for a system message, which the agent adds to its system prompt rather
 * than the history; `undefined` for a message a model has nothing to read in (an empty reply).
 */
export function toModelMessage(event: SessionEvent & MessagePayload): ModelMessage | "system" | undefined {
  const content = event.content as string | JsonObject[];
  if (Array.isArray(content) && content.length === 0) return undefined;
  switch (event.role) {
    case "system":
      return "system";
    case "user":
      return { role: "user", content: content as never };
    case "assistant":
      if (content === "") return undefined;
      return { role: "assistant", content: content as never };
    case "tool":
      if (!Array.isArray(content)) return undefined;
      return { role: "tool", content: content as never };
    default:
      return undefined;
  }
}

export interface SummaryPlan {
  /** `role: text` lines for the summarizer, oldest first (the previous summary's lines first). */
  transcript: string;
  /** The last seq the new summary covers. */
  throughSeq: number;
  /** Tokens of the unsummarized history that triggered it. */
  historyTokens: number;
}

/**
 * Decides whether the history needs a (new) summary: when the messages after the latest summary
 * weigh more than `thresholdTokens`, everything but the newest `keepRecent` messages is to be
 * summarized. Returns undefined when there is nothing to do.
 */
export async function planSummary(
  sessions: SessionManager<object>,
  sessionId: string,
  options: { thresholdTokens: number; keepRecent: number },
): Promise<SummaryPlan | undefined> {
  // Reads at most a few thresholds' worth: beyond that the history has long left any window.
  const events = await sessions.getMessages(sessionId, { tokenBudget: Math.ceil(options.thresholdTokens * 4) });
  let previous: SummaryEvent | undefined;
  const messages: MessageEvent[] = [];
  for (const event of events) {
    if (event.type === "summary") previous = event as SummaryEvent;
    else if (event.type === "message") messages.push(event as MessageEvent);
  }
  let historyTokens = 0;
  for (const message of messages) historyTokens += await countContentTokensAsync(message.content);
  if (historyTokens <= options.thresholdTokens || messages.length <= options.keepRecent) return undefined;
  let cut = messages.length - options.keepRecent;
  // Never keep a tool result without the call before it.
  while (cut > 0 && (messages[cut] as MessageEvent).role !== "user") cut--;
  if (cut <= 0) return undefined;
  const older = messages.slice(0, cut);
  const lines: string[] = [];
  if (previous) {
    for (const line of previous.text.split("\n")) {
      const trimmed = line.replace(/^-\s*/, "").trim();
      if (trimmed.length > 0 && !trimmed.endsWith(":")) lines.push(trimmed);
    }
  }
  for (const message of older) {
    if (message.role === "tool" || message.role === "system") continue;
    const text = collapseWhitespace(contentText(message.content as JsonObject[] | string), TRANSCRIPT_LINE_CHARS);
    if (text.length > 0) lines.push(`${message.role}: ${text}`);
  }
  return { transcript: lines.join("\n"), throughSeq: (older.at(-1) as MessageEvent).seq, historyTokens };
}

const TRANSCRIPT_LINE_CHARS = 2000;

/**
 * The first `max` characters of `text` trimmed, with every run of whitespace made one space; reads
 * only as far as it needs, so a long message costs no more than a short one.
 */
const collapseWhitespace = (text: string, max: number): string => {
  let out = "";
  let pendingSpace = false;
  for (let i = 0; i < text.length && out.length < max; i++) {
    const char = text[i] as string;
    if (isWhitespace(char.charCodeAt(0))) {
      pendingSpace = out.length > 0;
      continue;
    }
    if (pendingSpace) {
      out += " ";
      pendingSpace = false;
      if (out.length >= max) break;
    }
    out += char;
  }
  return out.slice(0, max);
};
