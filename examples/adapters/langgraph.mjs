import { FakeListChatModel } from "@langchain/core/utils/testing";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { FrontdeskSaver } from "frontdesk/adapters/langgraph";

// Any chat model works; this one answers from a list, so the example runs offline.
const model = new FakeListChatModel({ responses: ["Lisbon is hilly, with old trams.", "Take tram 28."] });
const checkpointer = new FrontdeskSaver({ store: "sqlite:./.frontdesk/langgraph.db" });
const graph = new StateGraph(MessagesAnnotation)
  .addNode("agent", async ({ messages }) => ({ messages: [await model.invoke(messages)] }))
  .addEdge(START, "agent")
  .addEdge("agent", END)
  .compile({ checkpointer });

// user_id beside thread_id names the owner: one saver serves many users, never mixing them.
const config = { configurable: { thread_id: "trip", user_id: "alice" } };
await graph.invoke({ messages: [{ role: "user", content: "What is Lisbon like?" }] }, config);
const { messages } = await graph.invoke({ messages: [{ role: "user", content: "How do I get around?" }] }, config);
console.log(messages.map((m) => m.content).join(" | "));

// The thread is an ordinary Frontdesk session: the console, SSE and exports show its messages.
const session = await (await checkpointer.manager("alice")).get("trip");
console.log(session.title, session.stats.messages); // What is Lisbon like? 4
await checkpointer.close();
