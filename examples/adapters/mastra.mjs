// Mastra's memory on Frontdesk: every thread is a Frontdesk session of its resource (user).
// Needs Node >= 22.13 (as @mastra/core 1.x declares) and `npm i @mastra/core @mastra/memory`.
import { Agent } from "@mastra/core/agent";
import { Memory } from "@mastra/memory";
import { MockLanguageModelV3 } from "ai/test";
import { createSessionManager } from "frontdesk";
import { FrontdeskStore } from "frontdesk/adapters/mastra";

// A scripted model stands in for a real one (`openai("gpt-4o-mini")`…), so this runs offline.
let turn = 0;
const model = new MockLanguageModelV3({
  doGenerate: async ({ prompt }) => ({
    content: [{ type: "text", text: `reply ${++turn}, after ${prompt.length - 1} messages` }],
    finishReason: { unified: "stop", raw: "stop" },
    usage: { inputTokens: { total: 1 }, outputTokens: { total: 1 } },
    warnings: [],
  }),
});

const storage = new FrontdeskStore({ store: "sqlite:./.frontdesk/mastra.db" });
const memory = new Memory({ storage, options: { lastMessages: 20 } });
const agent = new Agent({ id: "helper", name: "helper", instructions: "Be brief.", model, memory });

const thread = `trip-${Date.now()}`;
for (const text of ["Find me a hotel in Lisbon.", "Near the river, please."]) {
  const result = await agent.generate(text, { memory: { thread, resource: "alice" } });
  console.log(result.text);
}

// The same conversation, as Frontdesk sees it: a session of alice with its messages.
const sessions = (await createSessionManager({ store: "sqlite:./.frontdesk/mastra.db" })).forUser("alice");
for (const event of await sessions.readEvents(thread, { types: ["message"] })) {
  console.log(event.seq, event.role, typeof event.content === "string" ? event.content : event.content[0]?.text);
}
await sessions.store.close();
await storage.close();
