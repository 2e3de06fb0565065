/**
 * What the AI SDK adapter's tests share: the stores they run on, a scripted `LanguageModelV3`
 * (each call streams the next reply of a script, optionally holding mid-reply until released),
 * and chats with a tool call.
 */
import type { LanguageModelV3StreamPart } from "@ai-sdk/provider";
import type { UIMessage } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { type StoreLocation, storeLocations } from "../support/store-locations.ts";

export type StoreCase = StoreLocation;

/** Memory, SQLite, and Redis when its URL is set (test/support/store-locations.ts). */
export const STORES: StoreCase[] = storeLocations("memory", "sqlite", "redis");

const USAGE = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/** One scripted reply: text, or a tool call. */
export type Reply = { text: string } | { tool: string; toolCallId: string; input: unknown };

/**
 * A model that answers call n with `script[n]`. With `hold`, a text reply stops after its first
 * word until `release()` is called, so a test can act while the reply is still streaming.
 */
export function scriptedModel(script: Reply[], options: { hold?: boolean } = {}) {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let call = 0;
  const model = new MockLanguageModelV3({
    doStream: async () => {
      const reply = script[call++];
      if (!reply) throw new Error(`the script has no reply ${call}`);
      return {
        stream: new ReadableStream<LanguageModelV3StreamPart>({
          async start(controller) {
            controller.enqueue({ type: "stream-start", warnings: [] });
            if ("tool" in reply) {
              controller.enqueue({
                type: "tool-call",
                toolCallId: reply.toolCallId,
                toolName: reply.tool,
                input: JSON.stringify(reply.input),
              });
              controller.enqueue({
                type: "finish",
                finishReason: { unified: "tool-calls", raw: "tool_calls" },
                usage: USAGE,
              });
            } else {
              const [first, ...rest] = reply.text.split(/(?<= )/);
              controller.enqueue({ type: "text-start", id: "t" });
              controller.enqueue({ type: "text-delta", id: "t", delta: first ?? "" });
              if (options.hold) await held;
              for (const word of rest) controller.enqueue({ type: "text-delta", id: "t", delta: word });
              controller.enqueue({ type: "text-end", id: "t" });
              controller.enqueue({ type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: USAGE });
            }
            controller.close();
          },
        }),
      };
    },
  });
  return { model, release: () => release() };
}

export const userMessage = (id: string, text: string): UIMessage => ({
  id,
  role: "user",
  parts: [{ type: "text", text }],
});

/** A two-message chat whose reply called a tool and used its result. */
export const chatWithTool = (): UIMessage[] => [
  userMessage("u1", "Weather in Oslo?"),
  {
    id: "srv-a1",
    role: "assistant",
    metadata: { model: "scripted" },
    parts: [
      { type: "step-start" },
      { type: "text", text: "Let me check.", state: "done" },
      {
        type: "tool-weather",
        toolCallId: "call-1",
        state: "output-available",
        input: { city: "Oslo" },
        output: { celsius: 3, sky: "snow" },
      },
      { type: "step-start" },
      { type: "text", text: "It is 3 °C and snowing in Oslo.", state: "done" },
    ],
  },
];

/** Reads a Response body until `text` has arrived. */
export async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, text: string): Promise<string> {
  const decoder = new TextDecoder();
  let seen = "";
  while (!seen.includes(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before ${JSON.stringify(text)}`);
    seen += decoder.decode(value, { stream: true });
  }
  return seen;
}
