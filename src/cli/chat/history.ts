// What a resumed conversation shows of its past: the latest messages drawn as the live turns drew
// them, each tool call with its result under it. The log does not link a result to its call, so
// pairing them up is this file's work.
import type { Json, SessionEvent } from "../../core/model.ts";
import { type AgentBackend, calledTools, compactJson, contentText, describeCall, describeResult } from "../agents.ts";
import { terminalText } from "../render.ts";
import { truncate } from "../table.ts";
import type { ChatScreen } from "./screen.ts";

/** How many of the latest messages a resumed conversation shows. */
const RESUME_MESSAGES = 6;
/** How many of the latest message, summary and tool-result events are read to show them. */
const RESUME_EVENTS = 80;

/**
 * The latest messages of the conversation (before seq `before`, when given), as the turns showed them: each tool call the
 * assistant made with its result under it (from the session's `tool_result` events, or the
 * tool message when that event is older than what was read).
 */
export async function showHistory(
  screen: ChatScreen,
  workspace: AgentBackend,
  sessionId: string,
  options: { before?: number } = {},
): Promise<void> {
  const read = await workspace.sessions.readEvents(sessionId, {
    last: RESUME_EVENTS,
    types: ["message", "summary", "tool_result"],
  });
  // A turn still running is followed live after the history: its events are not history yet.
  const before = options.before;
  const events = before === undefined ? read : read.filter((event) => event.seq < before);
  const shown = new Set(
    events
      .filter((event) => event.type === "summary" || (event.type === "message" && event.role !== "tool"))
      .slice(-RESUME_MESSAGES),
  );
  if (shown.size === 0) return;
  const results = resultsOfCalls(events);
  const { palette } = screen;
  screen.line(palette.dim("── earlier in this conversation ──"));
  for (const event of events) {
    if (!shown.has(event)) continue;
    if (event.type === "summary") {
      screen.paragraph(palette.dim("(summary) "), 10, truncate(event.text.replace(/\s+/g, " "), 200), {
        style: palette.dim,
      });
      continue;
    }
    if (event.type !== "message") continue;
    const text = truncate(contentText(event.content).trim(), 1000);
    if (event.role === "user") {
      screen.paragraph(`${palette.dim(">")} `, 2, text);
    } else if (event.role === "assistant") {
      if (text !== "") {
        // Which agent wrote an earlier message is not recorded on it: the label stays neutral.
        const label = `${palette.bold("assistant")} ${palette.dim("›")} `;
        screen.paragraph(label, "assistant › ".length, text, { cancelled: event.finish === "cancelled" });
      }
      const answers = results.get(event) ?? [];
      for (const [index, call] of calledTools(event.content).entries()) {
        screen.line(palette.dim(`  → ${terminalText(describeCall(call.tool, call.input))}`));
        const result = answers[index];
        if (result) {
          const line = `  ← ${terminalText(`${call.tool}: ${result.text}`)}`;
          screen.line(result.ok ? palette.dim(line) : palette.yellow(line));
        }
      }
    } else {
      screen.paragraph(palette.dim(`${event.role}: `), event.role.length + 2, text, { style: palette.dim });
    }
  }
  screen.line(palette.dim("──"));
}

type ToolResultEvent = Extract<SessionEvent, { type: "tool_result" }>;
type ShownResult = { ok: boolean; text: string };
type ToolOutputPart = { type?: unknown; value?: unknown; reason?: unknown };

/** A tool message's result part (AI SDK `ToolResultOutput`), said as the live view says a result. */
function describeOutputPart(output: ToolOutputPart | undefined): ShownResult {
  const value = (output?.value ?? null) as Json;
  switch (output?.type) {
    case "execution-denied":
      return {
        ok: false,
        text: `denied${typeof output.reason === "string" ? `: ${truncate(output.reason, 100)}` : ""}`,
      };
    case "error-text":
    case "error-json":
      return {
        ok: false,
        text: `failed: ${typeof value === "string" ? truncate(value, 100) : compactJson(value, 100)}`,
      };
    default:
      return { ok: true, text: compactJson(value, 100) };
  }
}

/**
 * What each tool call of each assistant message in `events` gave, by message and call index.
 * Within a turn (from one user message to the next) calls and `tool_result` events pair up in
 * order, by tool and input (the result event carries no call id); a call whose result event was
 * not read falls back to the tool message's part with the call's id.
 */
function resultsOfCalls(events: readonly SessionEvent[]): Map<SessionEvent, (ShownResult | undefined)[]> {
  const answers = new Map<SessionEvent, (ShownResult | undefined)[]>();
  const parts = new Map<string, ToolOutputPart | undefined>();
  type Call = { message: SessionEvent; index: number; tool: string; input: string; id: unknown };
  let pool: { event: ToolResultEvent; input: string }[] = [];
  let calls: Call[] = [];
  const settle = () => {
    for (const call of calls) {
      let at = pool.findIndex((result) => result.event.tool === call.tool && result.input === call.input);
      if (at === -1) at = pool.findIndex((result) => result.event.tool === call.tool);
      const shown = answers.get(call.message) as (ShownResult | undefined)[];
      if (at !== -1) {
        shown[call.index] = describeResult((pool[at] as { event: ToolResultEvent }).event);
        pool.splice(at, 1);
      } else if (typeof call.id === "string" && parts.has(call.id)) {
        shown[call.index] = describeOutputPart(parts.get(call.id));
      }
    }
    pool = [];
    calls = [];
  };
  for (const event of events) {
    if (event.type === "tool_result") {
      pool.push({ event, input: JSON.stringify(event.input ?? null) });
      continue;
    }
    if (event.type !== "message" || !Array.isArray(event.content)) {
      if (event.type === "message" && event.role === "user") settle();
      continue;
    }
    if (event.role === "user") settle();
    const content = event.content as {
      type?: unknown;
      toolCallId?: unknown;
      toolName?: unknown;
      input?: unknown;
      output?: unknown;
    }[];
    if (event.role === "tool") {
      for (const part of content) {
        if (part?.type === "tool-result" && typeof part.toolCallId === "string") {
          parts.set(part.toolCallId, part.output as ToolOutputPart | undefined);
        }
      }
    } else if (event.role === "assistant") {
      const made = content.filter((part) => part?.type === "tool-call");
      if (made.length === 0) continue;
      answers.set(event, []);
      for (const [index, part] of made.entries()) {
        calls.push({
          message: event,
          index,
          tool: String(part.toolName),
          input: JSON.stringify(part.input ?? null),
          id: part.toolCallId,
        });
      }
    }
  }
  settle();
  return answers;
}
