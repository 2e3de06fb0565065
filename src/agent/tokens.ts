import { countTokens as countBpeTokens } from "gpt-tokenizer";
import type { Json } from "../core/model.ts";

/**
 * Token counting with a real BPE tokenizer (gpt-tokenizer, o200k_base). Other providers tokenize
 * differently, so counts are a close estimate for them; windows keep a margin for that.
 */
export const countTokens = (text: string): number => {
  if (text.length === 0) return 0;
  if (text.length > MEMO_MAX_TEXT) return countBpeTokens(text);
  const known = memo.get(text);
  if (known !== undefined) return known;
  const count = countBpeTokens(text);
  // Every turn re-measures the whole history window; its messages never change, so their counts are
  // kept (bounded, oldest dropped first) instead of being tokenized again on each turn.
  if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value as string);
  memo.set(text, count);
  return count;
};

const MEMO_ENTRIES = 20_000;
const MEMO_MAX_TEXT = 8_192;
const memo = new Map<string, number>();

/** Per-message overhead of chat formats (role markers, separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** The text a message's content contributes to the prompt: text parts, tool calls and results as JSON. */
export const contentText = (content: string | readonly Json[] | readonly Record<string, unknown>[]): string => {
  if (typeof content === "string") return content;
  const pieces: string[] = [];
  for (const raw of content) {
    const part = raw as Record<string, unknown> | null;
    if (part === null || typeof part !== "object") continue;
    if (part.type === "text" || part.type === "reasoning") pieces.push(String(part.text ?? ""));
    else if (part.type === "tool-call") pieces.push(`${String(part.toolName)} ${JSON.stringify(part.input ?? null)}`);
    else if (part.type === "tool-result") pieces.push(JSON.stringify(part.output ?? null));
    else pieces.push(JSON.stringify(part));
  }
  return pieces.join("\n");
};

export const countContentTokens = (content: string | readonly Json[] | readonly Record<string, unknown>[]): number =>
  countTokens(contentText(content)) + MESSAGE_OVERHEAD_TOKENS;
