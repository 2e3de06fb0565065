import { Agent, run, setTracingDisabled, tool, Usage } from "@openai/agents-core";
import { FrontdeskSession } from "frontdesk/adapters/openai-agents";
import { z } from "zod";

// A stand-in for a real model, so that this runs offline: it calls the tool, then answers with its result.
const model = {
  async getResponse({ input }) {
    const last = input.at(-1);
    const reply = (output) => ({ usage: new Usage(), output: [output] });
    if (last.type === "function_call_result") {
      const text = `It is ${last.output.text}.`;
      return reply({
        type: "message",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text }],
      });
    }
    const args = JSON.stringify({ city: "Lisbon" });
    return reply({ type: "function_call", callId: `call_${input.length}`, name: "get_weather", arguments: args });
  },
  getStreamedResponse() {
    throw new Error("this example does not stream");
  },
};
setTracingDisabled(true);

const getWeather = tool({
  name: "get_weather",
  description: "The weather in a city",
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});
const agent = new Agent({ name: "forecaster", instructions: "Answer about the weather.", model, tools: [getWeather] });

// The one line that changes: the conversation lives in Frontdesk (here an SQLite file), per user.
const session = new FrontdeskSession({
  store: "sqlite:./.frontdesk/agents.db",
  sessionId: "chat-42",
  userId: "alice",
});

const result = await run(agent, "What is the weather in Lisbon?", { session });
console.log(result.finalOutput); // It is sunny in Lisbon.
console.log((await session.getItems()).map((item) => item.type ?? item.role)); // [ 'message', 'function_call', 'function_call_result', 'message' ]

// Undo the answer: even with other writers on the session, a pop removes and returns exactly one item.
const popped = await session.popItem();
console.log("popped:", popped.content[0].text); // popped: It is sunny in Lisbon.
console.log("left:", (await session.getItems()).length); // left: 3
await session.close();
