import type { LanguageModelV3Prompt, LanguageModelV3ToolResultOutput } from "@ai-sdk/provider";
import type { Json } from "../../core/model.ts";
import { CALCULATOR_CONSTANTS, CALCULATOR_FUNCTIONS } from "../tools/calculator.ts";
import { isWhitespace } from "../whitespace.ts";

/**
 * The offline model's rules. It is a deterministic stand-in for an LLM, not a language model: it
 * looks at the last message of the prompt and follows the first rule that matches.
 *
 * 1. A system prompt starting with {@link SUMMARY_INSTRUCTION} → a summary made of the first
 *    sentence of each line of the transcript.
 * 2. The last message holds tool results → an answer that states each result.
 * 3. The last user message asks for a tool, and that tool is offered in this call:
 *    (checked in this order)
 *    - "run `cmd`"                                → shell `{ command: "cmd" }`
 *    - "use the NAME tool [with {json}]", "call NAME with {json}" → that tool, with that input
 *    - "what time is it", "current time/date", "what's the date", "today's date"  → clock
 *    - "compute|calculate|evaluate|what is <arithmetic>" (a digit and an operator or a function) → calculator
 *    - "recall X", "remember X", "do you remember X"  → recall `{ query: X }`
 *    When the wanted tool is not offered, it says so instead of calling it.
 * 4. Anything else → a fixed reply that quotes the message.
 */

export const SUMMARY_INSTRUCTION = "Summarize the conversation transcript below";

export interface OfflineToolCall {
  toolName: string;
  input: Json;
}

export interface OfflinePlan {
  text: string;
  toolCall?: OfflineToolCall;
}

type Message = LanguageModelV3Prompt[number];

export function planOfflineReply(prompt: LanguageModelV3Prompt, offered: readonly string[]): OfflinePlan {
  const system = prompt
    .filter((m): m is Message & { role: "system" } => m.role === "system")
    .map((m) => m.content)
    .join("\n");
  const last = prompt.at(-1);
  if (system.trimStart().startsWith(SUMMARY_INSTRUCTION)) {
    return { text: summarize(last ? messageText(last) : "") };
  }
  if (!last) return { text: "Hello. What can I do for you?" };
  if (last.role === "tool") return { text: answerFromResults(prompt, last) };
  if (last.role !== "user") return { text: "Go on." };
  return planForRequest(messageText(last), offered);
}

export function planForRequest(text: string, offered: readonly string[]): OfflinePlan {
  const wants = (toolName: string, input: Json, lead: string): OfflinePlan =>
    offered.includes(toolName)
      ? { text: lead, toolCall: { toolName, input } }
      : { text: `I would use the ${toolName} tool for that, but it is not available to me right now.` };

  const command = /\brun\s+`([^`]+)`/i.exec(text);
  if (command) return wants("shell", { command: (command[1] as string).trim() }, `Running \`${command[1]}\`.`);

  const generic = toolRequestIn(text);
  if (generic) {
    const { name, json } = generic;
    let input: Json = {};
    if (json !== undefined) {
      try {
        input = JSON.parse(json) as Json;
      } catch {
        return { text: `The input for the ${name} tool is not valid JSON.` };
      }
    }
    return wants(name, input, `Calling the ${name} tool.`);
  }

  if (
    /\b(what(?:'s| is) the (?:time|date)|what time|current (?:time|date)|today's date|what day is it|time is it)\b/i.test(
      text,
    )
  ) {
    return wants("clock", {}, "Let me check the clock.");
  }

  const expression = arithmeticIn(text);
  if (expression !== undefined) return wants("calculator", { expression }, "Let me calculate that.");

  const recall = /\b(?:do you\s+)?(?:recall|remember)\b(?:\s+(?:about|what|when|that|the))?\s+(.+)/i.exec(text);
  if (recall) {
    const query = trimEndOf(trimEndOf(recall[1] as string, isWhitespace), isSentenceEnd).trim();
    if (query.length > 0) {
      return wants("recall", { query: query.slice(0, 200) }, "Let me look through your earlier conversations.");
    }
  }

  const quoted = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return {
    text:
      `You said: "${quoted}". I am Frontdesk's offline model, a deterministic stand-in for a real LLM. ` +
      'I can tell the time, calculate ("compute 2+3*4"), recall earlier conversations ("recall invoices") ' +
      'and run commands ("run `ls`") when those tools are enabled.',
  };
}

/**
 * "use the NAME tool [with {json}]" or "call NAME with {json}": the tool's name and the JSON text
 * (from the first `{` after "with" to the last `}` of the text), else undefined. The braces are found
 * with indexOf rather than a `\{[\s\S]*\}` pattern, which rescans the rest of the text at every
 * "call … with {" and so costs the square of the length of a text full of them.
 */
function toolRequestIn(text: string): { name: string; json?: string } | undefined {
  const lastBrace = text.lastIndexOf("}");
  const named = /\b(?:use|call)\s+(?:the\s+)?([A-Za-z][\w-]*)\s+tool\b(?:\s+with\s+\{)?/i.exec(text);
  if (named) {
    const open = named[0].endsWith("{") ? named.index + named[0].length - 1 : -1;
    const name = named[1] as string;
    return open >= 0 && lastBrace > open ? { name, json: text.slice(open, lastBrace + 1) } : { name };
  }
  // Only the first "call NAME with {" can match: any later one has no more closing braces after it.
  const call = /\bcall\s+([A-Za-z][\w-]*)\s+with\s+\{/i.exec(text);
  if (!call) return undefined;
  const open = call.index + call[0].length - 1;
  return lastBrace > open ? { name: call[1] as string, json: text.slice(open, lastBrace + 1) } : undefined;
}

/** `text` without the characters at its end that `drop` picks; linear, unlike `/[…]+$/`. */
const trimEndOf = (text: string, drop: (code: number) => boolean): string => {
  let end = text.length;
  while (end > 0 && drop(text.charCodeAt(end - 1))) end--;
  return text.slice(0, end);
};

const isSentenceEnd = (code: number): boolean => code === 63 || code === 46 || code === 33; // ? . !

const CALC_WORDS = [...CALCULATOR_FUNCTIONS, ...CALCULATOR_CONSTANTS].sort((a, b) => b.length - a.length).join("|");
const EXPRESSION_PREFIX = new RegExp(`^(?:[\\d\\s.+\\-*/^%()×÷!,]|(?:${CALC_WORDS})(?![a-z]))+`, "i");

/** "compute 2+3*4 please", "calculate (1+2)/3", "what is 7 * 6?" → the expression; else undefined. */
export function arithmeticIn(text: string): string | undefined {
  const match = /\b(?:compute|calculate|calc|evaluate|eval|what(?:'s| is))\s*:?\s+(.+)$/is.exec(text.trim());
  if (!match) return undefined;
  const prefix = EXPRESSION_PREFIX.exec(match[1] as string);
  if (!prefix) return undefined;
  const expression = trimEndOf(
    prefix[0],
    (code) => isWhitespace(code) || code === 46 || code === 44 || code === 33,
  ).trim();
  if (!/\d/.test(expression)) return undefined;
  if (!/[-+*/^%×÷!]|[a-z]+\s*\(/i.test(expression)) return undefined;
  return expression;
}

const messageText = (message: Message): string => {
  if (typeof message.content === "string") return message.content;
  return message.content
    .map((part) => (part.type === "text" ? part.text : ""))
    .filter((text) => text.length > 0)
    .join("\n");
};

function answerFromResults(prompt: LanguageModelV3Prompt, toolMessage: Message & { role: "tool" }): string {
  const inputs = new Map<string, unknown>();
  for (const message of prompt) {
    if (message.role !== "assistant") continue;
    for (const part of message.content) if (part.type === "tool-call") inputs.set(part.toolCallId, part.input);
  }
  const lines: string[] = [];
  for (const part of toolMessage.content) {
    if (part.type !== "tool-result") continue;
    lines.push(describeResult(part.toolName, part.output, inputs.get(part.toolCallId)));
  }
  return lines.length > 0 ? lines.join("\n") : "Done.";
}

function describeResult(tool: string, output: LanguageModelV3ToolResultOutput, input: unknown): string {
  switch (output.type) {
    case "execution-denied":
      return `I did not run the ${tool} tool: ${output.reason ?? "it was denied"}.`;
    case "error-text":
      return `The ${tool} tool failed: ${output.value}`;
    case "error-json":
      return `The ${tool} tool failed: ${JSON.stringify(output.value)}`;
    case "text":
      return `The ${tool} tool returned: ${output.value}`;
    case "json":
      return describeJson(tool, output.value as Json, input);
    default:
      return `The ${tool} tool finished.`;
  }
}

function describeJson(tool: string, value: Json, input: unknown): string {
  const object = value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  if (tool === "calculator" && object && typeof object.result === "number") {
    const expression = typeof object.expression === "string" ? object.expression : String(input);
    return `${expression} = ${object.result}`;
  }
  if (tool === "clock" && object && typeof object.iso === "string") {
    return `The current time is ${object.iso} (${String(object.local ?? "")}).`;
  }
  if (tool === "recall" && object && Array.isArray(object.matches)) {
    const query = String(object.query ?? "");
    if (object.matches.length === 0) return `I found nothing about "${query}" in your earlier conversations.`;
    const items = object.matches.map((match) => {
      const m = match as { role?: string; excerpt?: string; sessionId?: string };
      return `- ${m.role}: ${m.excerpt} (session ${m.sessionId})`;
    });
    return `I found ${object.matches.length} earlier message${object.matches.length === 1 ? "" : "s"} about "${query}":\n${items.join("\n")}`;
  }
  if (tool === "shell" && object && typeof object.command === "string") {
    const out = String(object.stdout ?? "").trimEnd();
    const err = String(object.stderr ?? "").trimEnd();
    const body = [out, err ? `stderr: ${err}` : ""].filter(Boolean).join("\n");
    return `\`${object.command}\` exited with code ${String(object.exitCode)}${body ? `:\n${body}` : "."}`;
  }
  return `The ${tool} tool returned: ${JSON.stringify(value)}`;
}

const MAX_SUMMARY_POINTS = 40;

/** The first sentence of each transcript line (`role: text`), as a bulleted summary. */
export function summarize(transcript: string): string {
  const lines = transcript
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const bullets = lines.map((line) => {
    const colon = line.indexOf(": ");
    const role = colon > 0 && colon < 20 ? line.slice(0, colon) : "";
    const text = role ? line.slice(colon + 2) : line;
    return `- ${role ? `${role}: ` : ""}${firstSentence(text)}`;
  });
  if (bullets.length === 0) return "Nothing to summarize.";
  // A stand-in cannot condense: it keeps the newest points so summaries stay bounded.
  const kept = bullets.length > MAX_SUMMARY_POINTS ? bullets.slice(-MAX_SUMMARY_POINTS) : bullets;
  return `Earlier in this conversation:\n${kept.join("\n")}`;
}

export const firstSentence = (text: string): string => {
  const trimmed = text.trim();
  const match = /^[\s\S]*?[.!?](?=\s|$)/.exec(trimmed);
  // Only the first 200 characters are kept: whitespace is folded that far, not over a whole long line.
  const sentence = foldWhitespace(match ? match[0] : trimmed, 201);
  return sentence.length > 200 ? `${sentence.slice(0, 199)}…` : sentence;
};

/** The first `max` characters of `text` with each run of whitespace made one space, reading no further. */
const foldWhitespace = (text: string, max: number): string => {
  let out = "";
  for (let i = 0; i < text.length && out.length < max; i++) {
    const code = text.charCodeAt(i);
    if (!isWhitespace(code)) out += text[i];
    else if (!out.endsWith(" ")) out += " ";
  }
  return out;
};
