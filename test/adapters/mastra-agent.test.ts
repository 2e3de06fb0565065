/**
 * A real Mastra `Agent` with `Memory` (from @mastra/memory) over a scripted model, several turns
 * with a tool call: on Frontdesk the model receives the same history, turn by turn, as on Mastra's
 * own in-memory storage, and a fresh storage on the same store recalls it.
 */
import { Agent } from "@mastra/core/agent";
import type { MastraCompositeStore } from "@mastra/core/storage";
import { InMemoryStore } from "@mastra/core/storage";
import { createTool } from "@mastra/core/tools";
import { Memory } from "@mastra/memory";
import { MockLanguageModelV3 } from "ai/test";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { FrontdeskStore } from "../../src/adapters/mastra/index.ts";
import { createSessionManager, openStore } from "../../src/index.ts";
import { testStores } from "./mastra-stores.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const TURNS = ["hello", "please add 2 and 3", "what did I ask first?", "thanks", "bye"];
const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 2, text: 2, reasoning: undefined },
};

/** A model that calls `add` when asked to, else answers with the turn's number; it records every prompt. */
function scriptedModel(prompts: unknown[]) {
  let calls = 0;
  return new MockLanguageModelV3({
    doGenerate: async ({ prompt }) => {
      calls += 1;
      prompts.push(prompt);
      const last = prompt[prompt.length - 1];
      if (last?.role === "user" && JSON.stringify(last).includes("add")) {
        return {
          content: [
            { type: "tool-call" as const, toolCallId: `call-${calls}`, toolName: "add", input: '{"a":2,"b":3}' },
          ],
          finishReason: { unified: "tool-calls" as const, raw: "tool_calls" },
          usage,
          warnings: [],
        };
      }
      return {
        content: [{ type: "text", text: `answer ${calls}` }],
        finishReason: { unified: "stop", raw: "stop" },
        usage,
        warnings: [],
      };
    },
  });
}

const add = createTool({
  id: "add",
  description: "adds two numbers",
  inputSchema: z.object({ a: z.number(), b: z.number() }),
  execute: async ({ a, b }) => ({ sum: a + b }),
});

/** The prompts the model saw and the answers, over the script, with `storage` behind the agent's memory. */
async function run(storage: MastraCompositeStore, turns = TURNS) {
  const prompts: unknown[] = [];
  const memory = new Memory({ storage, options: { lastMessages: 20, generateTitle: false } });
  const agent = new Agent({
    id: "helper",
    name: "helper",
    instructions: "Be brief.",
    model: scriptedModel(prompts),
    memory,
    tools: { add },
  });
  const answers: string[] = [];
  for (const text of turns) {
    const result = await agent.generate(text, { memory: { thread: "chat-1", resource: "alice" } });
    answers.push(result.text);
  }
  // Times are the clock's, different in each run; everything else must be identical.
  return { answers, prompts: JSON.parse(JSON.stringify(prompts).replace(/"createdAt":\d+/g, '"createdAt":0')) };
}

describe.each(testStores())("a Mastra Agent with Memory on FrontdeskStore ($name)", (testStore) => {
  it("recalls the history stored through Frontdesk exactly as on Mastra's in-memory storage, and from a fresh storage", async () => {
    const { url, cleanup } = testStore.open();
    cleanups.push(cleanup);
    // A memory store lives in its process: the "other process" shares the opened store instead.
    const store = url === "memory:" ? await openStore(url) : url;
    const expected = await run(new InMemoryStore());
    const storage = new FrontdeskStore({ store, manager: { defaultTtlMs: null } });
    cleanups.push(() => storage.close());
    const actual = await run(storage);
    expect(actual.answers).toEqual(expected.answers);
    expect(actual.prompts).toEqual(expected.prompts);
    // The last prompt carries the whole conversation, tool call and result included.
    expect(JSON.stringify(actual.prompts.at(-1))).toContain('"sum":5');
    expect(JSON.stringify(actual.prompts.at(-1))).toContain("hello");

    // Another process: a new storage on the same store sees the thread and continues it.
    const again = new FrontdeskStore({ store, manager: { defaultTtlMs: null } });
    cleanups.push(() => again.close());
    const resumed = await run(again, ["one more"]);
    expect(JSON.stringify(resumed.prompts[0])).toContain("what did I ask first?");

    // It is a first-class Frontdesk session of alice: messages and a tool card in its log.
    const sessions = (await createSessionManager({ store })).forUser("alice");
    if (typeof store === "string") cleanups.push(() => sessions.store.close());
    const events = await sessions.readEvents("chat-1");
    expect(events.filter((event) => event.type === "message").map((event) => event.role)).toEqual([
      ...TURNS.flatMap(() => ["user", "assistant"]),
      "user",
      "assistant",
    ]);
    expect(events.filter((event) => event.type === "tool_result")).toMatchObject([{ tool: "add", output: { sum: 5 } }]);
  });
});
