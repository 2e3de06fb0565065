/**
 * A deterministic model for the OpenAI Agents SDK's runner: it answers from the request alone, so
 * two runs of one script over two sessions get the same replies exactly when the histories they
 * are handed are the same. Every request's input is recorded, so a test compares what the model
 * received, turn by turn.
 */
import {
  Agent,
  type AgentInputItem,
  type Model,
  type ModelRequest,
  type ModelResponse,
  tool,
  Usage,
} from "@openai/agents-core";
import { z } from "zod";

/** What one scripted model was handed on each call, in order. */
export type ModelInputs = AgentInputItem[][];

const lastUserText = (items: readonly AgentInputItem[]): string => {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i] as { role?: string; content?: unknown };
    if (item.role !== "user") continue;
    if (typeof item.content === "string") return item.content;
    if (Array.isArray(item.content)) {
      return item.content.map((part: { text?: string }) => part.text ?? "").join("");
    }
  }
  return "";
};

/**
 * Replies to "weather in X" with a `get_weather` call, then, seeing the tool's result, with the
 * answer; to "think about X" with a reasoning item and a reply; to anything else with an echo that
 * counts the history it was given (so a history that differs shows in the replies too).
 */
export class ScriptedModel implements Model {
  readonly inputs: ModelInputs = [];
  private calls = 0;

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const input: AgentInputItem[] =
      typeof request.input === "string" ? [{ role: "user", content: request.input }] : request.input;
    this.inputs.push(structuredClone(input));
    this.calls++;
    const n = this.calls;
    const last = input.at(-1) as { type?: string; output?: unknown } | undefined;
    const usage = new Usage({ requests: 1, inputTokens: input.length, outputTokens: 5, totalTokens: input.length + 5 });
    const say = (text: string): ModelResponse => ({
      usage,
      responseId: `resp_${n}`,
      output: [
        {
          type: "message",
          id: `msg_${n}`,
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text }],
        },
      ],
    });
    if (last?.type === "function_call_result") return say(`The weather is ${JSON.stringify(last.output)}.`);
    const text = lastUserText(input);
    const city = /^weather in (.+)$/.exec(text)?.[1];
    if (city) {
      return {
        usage,
        responseId: `resp_${n}`,
        output: [
          {
            type: "function_call",
            id: `fc_${n}`,
            callId: `call_${n}`,
            name: "get_weather",
            arguments: JSON.stringify({ city }),
            status: "completed",
          },
        ],
      };
    }
    const topic = /^think about (.+)$/.exec(text)?.[1];
    if (topic) {
      const reply = say(`Thought about ${topic}.`);
      return {
        ...reply,
        output: [
          { type: "reasoning", id: `rs_${n}`, content: [{ type: "input_text", text: `pondering ${topic}` }] },
          ...reply.output,
        ],
      };
    }
    if (text === "compact now") {
      // As a Responses model with server-side compaction: the history before is replaced.
      const reply = say(`Compacted ${input.length} items.`);
      return {
        ...reply,
        output: [
          { type: "compaction", id: `cmp_${n}`, encrypted_content: `summary of ${input.length}` },
          ...reply.output,
        ],
      };
    }
    return say(`echo ${text} after ${input.length} items`);
  }

  // biome-ignore lint/correctness/useYield: the runner under test never streams
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("the scripted model does not stream");
  }
}

/** An agent with one tool, on the given model. */
export const weatherAgent = (model: Model): Agent =>
  new Agent({
    name: "forecaster",
    instructions: "Answer about the weather.",
    model,
    tools: [
      tool({
        name: "get_weather",
        description: "The weather in a city",
        parameters: z.object({ city: z.string() }),
        execute: async ({ city }) => `sunny in ${city}`,
      }),
    ],
  });

/** The script both sessions run: plain turns, tool turns, and a reasoning turn, repeated. */
export const scriptTurns = (count: number): string[] =>
  Array.from({ length: count }, (_, i) =>
    i % 3 === 1
      ? `weather in city${i}`
      : i % 5 === 4
        ? `think about topic${i}`
        : i % 17 === 15
          ? "compact now"
          : `hello ${i}`,
  );
