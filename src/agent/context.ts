import type { ModelMessage } from "ai";
import type { JsonObject, MessagePayload, SessionEvent } from "../core/model.ts";
import type { SessionManager } from "../core/session-manager.ts";
import { contentText, countContentTokens, countTokens } from "./tokens.ts";

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
  const events = await sessions.getMessages(sessionId, {
    tokenBudget: Math.max(1, Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(budget * OVERFETCH))),
  });
  let summary: ContextWindow["summary"];
  const messages: MessageEvent[] = [];
  for (const event of events) {
    if (event.type === "summary") {
      summary = { text: (event as SummaryEvent).text, throughSeq: (event as SummaryEvent).throughSeq, seq: event.seq };
    } else if (event.type === "message") messages.push(event as MessageEvent);
  }
  let remaining = budget - (summary ? countTokens(summary.text) : 0);
  const picked: MessageEvent[] = [];
  let tokens = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as MessageEvent;
    const cost = countContentTokens(message.content);
    if (cost > remaining && picked.length > 0) break;
    remaining -= cost;
    tokens += cost;
    picked.push(message);
  }
  picked.reverse();
  while (picked.length > 1 && (picked[0] as MessageEvent).role !== "user") {
    tokens -= countContentTokens((picked.shift() as MessageEvent).content);
  }
  const systemNotes: string[] = [];
  const modelMessages: ModelMessage[] = [];
  for (const message of picked) {
    const converted = toModelMessage(message);
    if (converted === "system") systemNotes.push(contentText(message.content));
    else if (converted) modelMessages.push(converted);
  }
  return { messages: modelMessages, summary, systemNotes, tokens, seqs: picked.map((message) => message.seq) };
}

/** A stored message as an AI SDK ModelMessage (messages are stored in that shape, so this is a pick). */
export function toModelMessage(event: MessageEvent): ModelMessage | "system" | undefined {
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
  const historyTokens = messages.reduce((sum, message) => sum + countContentTokens(message.content), 0);
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
    const text = contentText(message.content as JsonObject[] | string)
      .replace(/\s+/g, " ")
      .trim();
    if (text.length > 0) lines.push(`${message.role}: ${text.slice(0, 2000)}`);
  }
  return { transcript: lines.join("\n"), throughSeq: (older.at(-1) as MessageEvent).seq, historyTokens };
}
