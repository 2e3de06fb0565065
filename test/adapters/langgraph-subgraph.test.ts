/**
 * A graph with a subgraph that interrupts for approval, resumed with `Command`: FrontdeskSaver
 * answers as MemorySaver does (interrupt values, subgraph state, transcripts), keeps the subgraph's
 * checkpoints in the thread's session under their own namespaces, and stores each root message once
 * even when the subgraph hands back copies of its parent's messages.
 */
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import {
  type BaseCheckpointSaver,
  Command,
  END,
  interrupt,
  MemorySaver,
  MessagesAnnotation,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { describe, expect, it, onTestFinished } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { STORES } from "./langgraph-stores.ts";

function approvalGraph(checkpointer: BaseCheckpointSaver) {
  const inner = new StateGraph(MessagesAnnotation)
    .addNode("inner", async ({ messages }: { messages: BaseMessage[] }) => {
      const answer = interrupt(`approve after ${messages.length} messages?`);
      return { messages: [new AIMessage({ id: `sub-${messages.length}`, content: `approved: ${String(answer)}` })] };
    })
    .addEdge(START, "inner")
    .addEdge("inner", END)
    .compile();
  return new StateGraph(MessagesAnnotation)
    .addNode("outer", async ({ messages }: { messages: BaseMessage[] }) => ({
      messages: [new AIMessage({ id: `out-${messages.length}`, content: `outer saw ${messages.length}` })],
    }))
    .addNode("sub", inner)
    .addEdge(START, "outer")
    .addEdge("outer", "sub")
    .addEdge("sub", END)
    .compile({ checkpointer });
}

async function script(checkpointer: BaseCheckpointSaver) {
  const graph = approvalGraph(checkpointer);
  const config = { configurable: { thread_id: "approvals" } };
  const seen: unknown[] = [];
  for (let n = 1; n <= 3; n += 1) {
    const paused = await graph.invoke(
      { messages: [new HumanMessage({ id: `h-${n}`, content: `request ${n}` })] },
      config,
    );
    seen.push((paused as { __interrupt__?: { value: unknown }[] }).__interrupt__?.map((i) => i.value));
    const state = await graph.getState(config, { subgraphs: true });
    seen.push(
      state.tasks.map((task) => [
        task.name,
        (task.state as { values?: { messages?: unknown[] } })?.values?.messages?.length,
      ]),
    );
    const done = await graph.invoke(new Command({ resume: `yes ${n}` }), config);
    seen.push(done.messages.map((m: BaseMessage) => [m.id, m.content]));
  }
  return seen;
}

const sqlite = STORES.find((store) => store.name === "sqlite");

describe.skipIf(!sqlite?.available)("a subgraph with interrupts on FrontdeskSaver", () => {
  it("resumes and reports state as MemorySaver does, storing each root message once", async () => {
    const opened = await (sqlite as NonNullable<typeof sqlite>).open();
    onTestFinished(() => opened.close());
    const expected = await script(new MemorySaver());
    expect(await script(new FrontdeskSaver({ sessions: opened.sessions }))).toEqual(expected);
    const session = await opened.sessions.get("approvals");
    expect(session.stats.messages).toBe(9);
    const namespaces = Object.keys(session.state).filter((key) => key.startsWith("langgraph.ns.sub:"));
    expect(namespaces).toHaveLength(3);
  });
});
