/**
 * One conversation per framework adapter, written as an app beside `frontdesk serve` would write
 * it: through the adapter's public API and the framework's own runner, over a scripted model, into
 * the server's store, owned by one user, in the server's namespace. Each asks a question, calls a
 * tool, gets its result and answers, so the console has message bubbles and a tool card to draw.
 */
import {
  Runner as AdkRunner,
  BaseLlm,
  type BaseLlmConnection,
  createEvent,
  createEventActions,
  FunctionTool,
  LlmAgent,
  type LlmRequest,
  type LlmResponse,
} from "@google/adk";
import { Agent as MastraAgent } from "@mastra/core/agent";
import { createTool } from "@mastra/core/tools";
import { Memory } from "@mastra/memory";
import { run, setTracingDisabled } from "@openai/agents-core";
import { convertToModelMessages, stepCountIs, streamText, tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";
import { FrontdeskSessionService } from "../../src/adapters/adk/index.ts";
import { createChatStore } from "../../src/adapters/ai-sdk/index.ts";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { FrontdeskStore } from "../../src/adapters/mastra/index.ts";
import { FrontdeskSession } from "../../src/adapters/openai-agents/index.ts";
import { scriptedModel, userMessage } from "../adapters/ai-sdk-support.ts";
import { ScriptedModel as AgentsModel, weatherAgent } from "../adapters/openai-agents/scripted-model.ts";
import { chatGraph } from "../fixtures/langgraph-chat.ts";

/** What each adapter's session must show: its id, the question, the answer, the tool and a piece of its output. */
export interface WrittenSession {
  adapter: string;
  id: string;
  question: string;
  answer: string;
  tool: string;
  output: string;
}

/** The namespace `frontdesk serve` serves without a config. */
const NAMESPACE = "default";

export async function writeAiSdk(store: string, userId: string): Promise<WrittenSession> {
  const id = "ai-sdk-chat";
  const chats = createChatStore({ store, userId });
  const weather = tool({
    description: "current weather",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => ({ city, celsius: 3, sky: "snow" }),
  });
  const { model } = scriptedModel([
    { tool: "weather", toolCallId: "call-oslo", input: { city: "Oslo" } },
    { text: "It is 3 °C and snowing in Oslo." },
  ]);
  const messages = [userMessage("u1", "What is the weather in Oslo?")];
  const result = streamText({
    model,
    messages: await convertToModelMessages(messages),
    tools: { weather },
    stopWhen: stepCountIs(3),
  });
  let saved!: () => void;
  const done = new Promise<void>((resolve) => {
    saved = resolve;
  });
  const persist = chats.persistOnFinish({ id, messages });
  await result
    .toUIMessageStreamResponse({
      ...persist,
      onFinish: async (event) => {
        await persist.onFinish(event);
        saved();
      },
    })
    .text();
  await done;
  await chats.close();
  return {
    adapter: "ai-sdk",
    id,
    question: "What is the weather in Oslo?",
    answer: "It is 3 °C and snowing in Oslo.",
    tool: "weather",
    output: "snow",
  };
}

/** A StateGraph with an agent node and a tool node: "add 2 3" routes through the `add` tool. */
export async function writeLangGraph(store: string, userId: string): Promise<WrittenSession> {
  const id = "langgraph-thread";
  const saver = new FrontdeskSaver({ store, namespace: NAMESPACE });
  const graph = chatGraph(saver);
  await graph.invoke(
    { messages: [{ role: "user", content: "add 2 3" }] },
    { configurable: { thread_id: id, user_id: userId } },
  );
  await saver.close();
  return { adapter: "langgraph", id, question: "add 2 3", answer: "The sum is 5.", tool: "add", output: "5" };
}

/**
 * `run()` over the SDK's runner: a tool turn, a turn whose reply carries a reasoning item (stored
 * as an `openai-agents.item` custom event), and a turn that is popped again (an
 * `openai-agents.history` marker).
 */
export async function writeOpenAiAgents(store: string, userId: string): Promise<WrittenSession> {
  const id = "openai-agents-chat";
  setTracingDisabled(true);
  const session = new FrontdeskSession({ store, sessionId: id, userId, namespace: NAMESPACE });
  const agent = weatherAgent(new AgentsModel());
  await run(agent, "weather in Oslo", { session });
  await run(agent, "think about snow", { session });
  await run(agent, "never mind", { session });
  await session.popItem();
  await session.close();
  return {
    adapter: "openai-agents",
    id,
    question: "weather in Oslo",
    // The scripted model quotes the tool's result item as the SDK hands it over.
    answer: 'The weather is {"type":"text","text":"sunny in Oslo"}.',
    tool: "get_weather",
    output: "sunny in Oslo",
  };
}

/** Reads "add A B": a call of `add`, then the sum once the call's result comes back. */
class AdderLlm extends BaseLlm {
  constructor() {
    super({ model: "scripted-adder" });
  }

  async *generateContentAsync(request: LlmRequest): AsyncGenerator<LlmResponse, void> {
    const last = request.contents.at(-1);
    const response = last?.parts?.find((part) => part.functionResponse)?.functionResponse;
    if (response) {
      const sum = (response.response as { sum: number }).sum;
      yield { content: { role: "model", parts: [{ text: `The sum is ${sum}.` }] } };
      return;
    }
    const [a, b] = (last?.parts?.[0]?.text ?? "").split(" ").slice(1).map(Number);
    yield {
      content: { role: "model", parts: [{ text: "Adding." }, { functionCall: { name: "add", args: { a, b } } }] },
    };
  }

  connect(): Promise<BaseLlmConnection> {
    throw new Error("the scripted model has no live mode");
  }
}

/** An ADK Runner; the tool writes state, so the turn also stores a state-only `adk.event`. */
export async function writeAdk(store: string, userId: string): Promise<WrittenSession> {
  const id = "adk-session";
  const sessionService = new FrontdeskSessionService({ store });
  const add = new FunctionTool({
    name: "add",
    description: "Adds two numbers",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }, context) => {
      context?.state.set("lastSum", a + b);
      return { sum: a + b };
    },
  });
  const agent = new LlmAgent({
    name: "adder",
    model: new AdderLlm(),
    instruction: "Add numbers.",
    tools: [add],
    outputKey: "answer",
  });
  const runner = new AdkRunner({ appName: NAMESPACE, agent, sessionService });
  await sessionService.createSession({ appName: NAMESPACE, userId, sessionId: id });
  const turn = runner.runAsync({ userId, sessionId: id, newMessage: { role: "user", parts: [{ text: "add 2 3" }] } });
  for await (const _ of turn) {
    // Draining the stream runs the turn; every event is appended through the service.
  }
  // State written outside a turn, as ADK's docs show it: an event with a delta and no content.
  const session = await sessionService.getSession({ appName: NAMESPACE, userId, sessionId: id });
  if (!session) throw new Error("ADK lost the session");
  const reviewed = createEvent({ author: "user", actions: createEventActions({ stateDelta: { reviewed: true } }) });
  await sessionService.appendEvent({ session, event: reviewed });
  await sessionService.close();
  return { adapter: "adk", id, question: "add 2 3", answer: "The sum is 5.", tool: "add", output: "5" };
}

const MASTRA_USAGE = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 2, text: 2, reasoning: undefined },
};

/** A Mastra Agent with Memory: the model calls `add`, then answers from its result. */
export async function writeMastra(store: string, userId: string): Promise<WrittenSession> {
  const id = "mastra-thread";
  let calls = 0;
  const model = new MockLanguageModelV3({
    doGenerate: async ({ prompt }) => {
      calls += 1;
      const last = prompt[prompt.length - 1];
      if (last?.role === "tool") {
        return {
          content: [{ type: "text" as const, text: "The sum is 5." }],
          finishReason: { unified: "stop" as const, raw: "stop" },
          usage: MASTRA_USAGE,
          warnings: [],
        };
      }
      return {
        content: [{ type: "tool-call" as const, toolCallId: `call-${calls}`, toolName: "add", input: '{"a":2,"b":3}' }],
        finishReason: { unified: "tool-calls" as const, raw: "tool_calls" },
        usage: MASTRA_USAGE,
        warnings: [],
      };
    },
  });
  const add = createTool({
    id: "add",
    description: "adds two numbers",
    inputSchema: z.object({ a: z.number(), b: z.number() }),
    execute: async ({ a, b }) => ({ sum: a + b }),
  });
  const storage = new FrontdeskStore({ store, namespace: NAMESPACE });
  const memory = new Memory({ storage, options: { lastMessages: 20, generateTitle: false } });
  const agent = new MastraAgent({
    id: "helper",
    name: "helper",
    instructions: "Be brief.",
    model,
    memory,
    tools: { add },
  });
  await agent.generate("please add 2 and 3", { memory: { thread: id, resource: userId } });
  // A person rates the answer: Mastra saves the message again, a `mastra.message.revised` event.
  const { messages } = await memory.recall({ threadId: id, resourceId: userId });
  const answer = messages.find((message) => message.role === "assistant");
  if (!answer) throw new Error("Mastra recalled no answer");
  await memory.updateMessages({ messages: [{ id: answer.id, content: { metadata: { rating: "helpful" } } as never }] });
  await storage.close();
  return { adapter: "mastra", id, question: "please add 2 and 3", answer: "The sum is 5.", tool: "add", output: "5" };
}

/** Every adapter's conversation, one after the other (they share the store's writer). */
export async function writeEveryAdapter(store: string, userId: string): Promise<WrittenSession[]> {
  const written: WrittenSession[] = [];
  for (const write of [writeAiSdk, writeLangGraph, writeOpenAiAgents, writeAdk, writeMastra]) {
    written.push(await write(store, userId));
  }
  return written;
}
