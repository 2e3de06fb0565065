import { createHash } from "node:crypto";
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Content,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
  LanguageModelV3Usage,
} from "@ai-sdk/provider";
import { yieldToEventLoop } from "../../core/event-loop.ts";
import { countTokensAsync, MESSAGE_OVERHEAD_TOKENS } from "../tokens.ts";
import { type OfflinePlan, planOfflineReply } from "./offline-rules.ts";

export interface OfflineModelOptions {
  /** @default "frontdesk-offline-1" */
  modelId?: string;
  /** Words per streamed text delta. @default 3 */
  wordsPerDelta?: number;
}

/**
 * Frontdesk's built-in offline model: an AI SDK `LanguageModelV3` that needs no network. It is a
 * deterministic stand-in, not an LLM: the same prompt always gives the same reply, following the
 * rules in `offline-rules.ts` (tools on request, answers from tool results, summaries). It streams
 * its reply in several text deltas, yielding to the event loop between chunks so a turn can be
 * cancelled mid-reply, and reports usage counted with a real tokenizer.
 */
export class OfflineLanguageModel implements LanguageModelV3 {
  readonly specificationVersion = "v3" as const;
  readonly provider = "frontdesk.offline";
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]> = {};
  private readonly wordsPerDelta: number;

  constructor(options: OfflineModelOptions = {}) {
    this.modelId = options.modelId ?? "frontdesk-offline-1";
    this.wordsPerDelta = Math.max(1, options.wordsPerDelta ?? 3);
  }

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    options.abortSignal?.throwIfAborted();
    const { plan, usage, callId } = await this.plan(options);
    const content: LanguageModelV3Content[] = [];
    if (plan.text.length > 0) content.push({ type: "text", text: plan.text });
    if (plan.toolCall) {
      content.push({
        type: "tool-call",
        toolCallId: callId,
        toolName: plan.toolCall.toolName,
        input: JSON.stringify(plan.toolCall.input),
      });
    }
    return {
      content,
      finishReason: { unified: plan.toolCall ? "tool-calls" : "stop", raw: plan.toolCall ? "tool_calls" : "stop" },
      usage,
      warnings: [],
      response: { id: `offline-${callId}`, modelId: this.modelId },
    };
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    options.abortSignal?.throwIfAborted();
    const { plan, usage, callId } = await this.plan(options);
    const parts: LanguageModelV3StreamPart[] = [
      { type: "stream-start", warnings: [] },
      { type: "response-metadata", id: `offline-${callId}`, modelId: this.modelId },
    ];
    if (plan.text.length > 0) {
      parts.push({ type: "text-start", id: "text-0" });
      for (const delta of chunkWords(plan.text, this.wordsPerDelta))
        parts.push({ type: "text-delta", id: "text-0", delta });
      parts.push({ type: "text-end", id: "text-0" });
    }
    if (plan.toolCall) {
      const input = JSON.stringify(plan.toolCall.input);
      parts.push({ type: "tool-input-start", id: callId, toolName: plan.toolCall.toolName });
      parts.push({ type: "tool-input-delta", id: callId, delta: input });
      parts.push({ type: "tool-input-end", id: callId });
      parts.push({ type: "tool-call", toolCallId: callId, toolName: plan.toolCall.toolName, input });
    }
    parts.push({
      type: "finish",
      usage,
      finishReason: { unified: plan.toolCall ? "tool-calls" : "stop", raw: plan.toolCall ? "tool_calls" : "stop" },
    });
    const signal = options.abortSignal;
    let next = 0;
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      async pull(controller) {
        // Yield between chunks, as a network stream would, so an abort can land mid-reply.
        await yieldToEventLoop();
        if (signal?.aborted) {
          controller.error(signal.reason ?? new DOMException("The operation was aborted", "AbortError"));
          return;
        }
        const part = parts[next++];
        if (part) controller.enqueue(part);
        else controller.close();
      },
    });
    return { stream };
  }

  private async plan(options: LanguageModelV3CallOptions): Promise<{
    plan: OfflinePlan;
    usage: LanguageModelV3Usage;
    callId: string;
  }> {
    const offered = (options.tools ?? []).filter((tool) => tool.type === "function").map((tool) => tool.name);
    if (options.toolChoice?.type === "none") offered.length = 0;
    const plan = planOfflineReply(options.prompt, offered);
    const toolsText = JSON.stringify(options.tools ?? []);
    const prompt = await readPrompt(options.prompt);
    const inputTokens = prompt.tokens + (options.tools?.length ? await countTokensAsync(toolsText) : 0);
    const outputTokens =
      (await countTokensAsync(plan.text)) + (plan.toolCall ? await countTokensAsync(JSON.stringify(plan.toolCall)) : 0);
    const callId = `call_${prompt.digest.slice(0, 20)}`;
    return {
      plan,
      callId,
      usage: {
        inputTokens: { total: inputTokens, noCache: inputTokens, cacheRead: 0, cacheWrite: 0 },
        outputTokens: { total: outputTokens, text: outputTokens, reasoning: 0 },
      },
    };
  }
}

/**
 * The prompt's tokens as a chat model reads it (each message's text, tool calls and results as
 * JSON, and its framing) and a digest of it (the same prompt always gets the same call id). Read
 * part by part, giving the event loop a turn every few milliseconds: the prompt holds the whole
 * history window, megabytes of it at worst. Its texts are the same strings turn after turn, so
 * their counts are known after the first turn.
 */
const readPrompt = async (
  prompt: LanguageModelV3CallOptions["prompt"],
): Promise<{ tokens: number; digest: string }> => {
  const hash = createHash("sha256");
  let tokens = 0;
  let sliceEnd = performance.now() + PROMPT_SLICE_MS;
  const read = async (text: string): Promise<void> => {
    hash.update(text);
    tokens += await countTokensAsync(text);
    if (performance.now() > sliceEnd) {
      await yieldToEventLoop();
      sliceEnd = performance.now() + PROMPT_SLICE_MS;
    }
  };
  for (const message of prompt) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    hash.update(`\u0000${message.role}\u0000`);
    if (typeof message.content === "string") {
      await read(message.content);
      continue;
    }
    for (const part of message.content) {
      await read(part.type === "text" || part.type === "reasoning" ? part.text : JSON.stringify(part));
    }
  }
  return { tokens, digest: hash.digest("hex") };
};

const PROMPT_SLICE_MS = 4;

/** Splits text into deltas of a few words each, keeping every character (spaces, newlines). */
export const chunkWords = (text: string, words: number): string[] => {
  const tokens = text.match(/\S+\s*|\s+/g) ?? [text];
  const chunks: string[] = [];
  for (let i = 0; i < tokens.length; i += words) chunks.push(tokens.slice(i, i + words).join(""));
  return chunks;
};
