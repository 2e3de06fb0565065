/**
 * Chats after Frontdesk redacted some of their events (docs/privacy.md): what a tombstone still says
 * is rebuilt into UIMessages and ModelMessages that the AI SDK accepts (`validateUIMessages`,
 * `streamText`), and nothing of the redacted content comes back.
 *
 * A saved UIMessage is kept whole on its first event (`ui`) and its other model messages are
 * events of their own (`uiMessageId`). A redaction drops both fields, so which message a tombstone
 * belonged to is read from its place: the events after a redacted first event still name their
 * message; a redacted `tool` message, or an assistant one right after an assistant message's
 * events, was one of that message's events. Either way the whole UIMessage reads redacted, every
 * later copy of it too, since each copy holds what was redacted.
 */
import { isToolUIPart, type ModelMessage, type ToolResultPart, type UIMessage } from "ai";
import type { JsonObject, SessionEvent } from "../../index.ts";
import { REDACTED_TEXT } from "../shared/redaction.ts";

type Part = JsonObject;

/** A tool part whose input and output are gone: an error part needs neither, and validates against any tool. */
const redactedToolPart = (type: string, toolCallId: string, toolName?: string): Part => ({
  type,
  ...(type === "dynamic-tool" ? { toolName: toolName ?? "tool" } : {}),
  toolCallId,
  state: "output-error",
  input: {},
  errorText: REDACTED_TEXT,
});

const text = (): Part => ({ type: "text", text: REDACTED_TEXT });

/** A stored UIMessage with its content redacted: its id, role, steps and tool call ids stay. */
export function redactedCopy(message: JsonObject & { id: string; role: string; parts: Part[] }): UIMessage {
  const parts: Part[] = [];
  let said = false;
  for (const part of message.parts) {
    if (part.type === "step-start") parts.push(part);
    else if (isToolUIPart(part as never)) {
      parts.push(redactedToolPart(String(part.type), String(part.toolCallId), part.toolName as string | undefined));
    } else if (!said) {
      parts.push(text());
      said = true;
    }
  }
  if (!said) parts.push(text());
  return { id: message.id, role: message.role, parts } as unknown as UIMessage;
}

/** The UIMessage a redacted first event stood for, its tool calls named by the `tool_call` events after it. */
export function redactedMessage(
  id: string,
  role: UIMessage["role"],
  calls: readonly { invocationId: string; tool: string }[],
): UIMessage {
  const parts: Part[] = role === "assistant" ? [{ type: "step-start" }, text()] : [text()];
  for (const call of calls) parts.push(redactedToolPart(`tool-${call.tool}`, call.invocationId));
  return { id, role, parts } as unknown as UIMessage;
}

/** The `tool_call` events after position `from`, up to the next message event. */
export function callsAfter(events: readonly SessionEvent[], from: number): { invocationId: string; tool: string }[] {
  const calls: { invocationId: string; tool: string }[] = [];
  for (let i = from + 1; i < events.length; i++) {
    const event = events[i] as SessionEvent;
    if (event.type === "message") break;
    if (event.type === "tool_call") calls.push({ invocationId: event.invocationId, tool: event.tool });
  }
  return calls;
}

/** Tool parts left waiting for a result that a redacted tool message held: they end as redacted errors. */
export function closeRedactedResults(toolParts: Map<string, JsonObject>): void {
  for (const [id, part] of toolParts) {
    if (part.state !== "input-available") continue;
    Object.assign(part, { state: "output-error", errorText: REDACTED_TEXT });
    toolParts.delete(id);
  }
}

/**
 * Model messages as a model accepts them after redactions or a prune: a redacted assistant message
 * lost its tool calls (and a prune may have removed them), so results answering calls no message
 * makes are dropped; a redacted tool message lost its results, so every call still waiting at its
 * place gets a "[redacted]" result. A history with neither comes back unchanged.
 */
export function pairToolResults(messages: readonly (ModelMessage | typeof REDACTED_TOOL)[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  const called = new Set<string>();
  const waiting = new Map<string, string>();
  for (const message of messages) {
    if (message === REDACTED_TOOL) {
      if (waiting.size === 0) continue;
      const content: ToolResultPart[] = [...waiting].map(([toolCallId, toolName]) => ({
        type: "tool-result",
        toolCallId,
        toolName,
        output: { type: "text", value: REDACTED_TEXT },
      }));
      waiting.clear();
      out.push({ role: "tool", content });
      continue;
    }
    if (message.role === "assistant" && Array.isArray(message.content)) {
      for (const part of message.content) {
        if (part.type !== "tool-call") continue;
        called.add(part.toolCallId);
        if (!part.providerExecuted) waiting.set(part.toolCallId, part.toolName);
      }
    }
    if (message.role !== "tool") {
      out.push(message);
      continue;
    }
    const content = message.content.filter((part) => {
      if (part.type !== "tool-result") return true;
      waiting.delete(part.toolCallId);
      return called.has(part.toolCallId);
    });
    if (content.length > 0) out.push(content.length === message.content.length ? message : { ...message, content });
  }
  return out;
}

/** Where a redacted tool message stood among the model messages. */
export const REDACTED_TOOL = "redacted-tool";
