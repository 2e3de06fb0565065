/**
 * Tool calls of a LangGraph thread as Frontdesk tool events: each AI tool call is a `tool_call`
 * event and each tool message a `tool_result` event, committed with their message, so
 * `stats.toolCalls`, `toolErrors` and `toolsUsed` count them and the console draws one card per
 * call. The events interleaved with the message events change nothing LangGraph reads back: a
 * cold saver, which also names a nameless tool result after the call it answers, gives
 * MemorySaver's transcript. Runs on all five stores.
 */
import { type AIMessage, type BaseMessage, ToolMessage } from "@langchain/core/messages";
import {
  type BaseCheckpointSaver,
  END,
  MemorySaver,
  MessagesAnnotation,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { describe, expect, it, onTestFinished } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import type { SessionEvent } from "../../src/index.ts";
import { messageToolCalls } from "../../src/web/session/framework-events.ts";
import { ScriptedChatModel, transcript, userTurn } from "../fixtures/langgraph-chat.ts";
import { STORES } from "./langgraph-stores.ts";

/** Adding 10 fails; the result of adding 15 names no tool (its call does); every other result does. */
function toolGraph(checkpointer: BaseCheckpointSaver, interruptBeforeTools = false) {
  const model = new ScriptedChatModel({});
  const agent = async ({ messages }: { messages: BaseMessage[] }) => ({ messages: [await model.invoke(messages)] });
  const tools = async ({ messages }: { messages: BaseMessage[] }) => ({
    messages: ((messages.at(-1) as AIMessage).tool_calls ?? []).map((call) => {
      const a = Number(call.args.a);
      const fields = { id: `tool-${call.id}`, tool_call_id: call.id as string };
      if (a === 10) return new ToolMessage({ ...fields, name: call.name, content: "cannot add 10", status: "error" });
      const content = String(a + Number(call.args.b));
      return new ToolMessage(a === 15 ? { ...fields, content } : { ...fields, name: call.name, content });
    }),
  });
  const route = ({ messages }: { messages: BaseMessage[] }) =>
    ((messages.at(-1) as AIMessage).tool_calls?.length ?? 0) > 0 ? "tools" : END;
  return new StateGraph(MessagesAnnotation)
    .addNode("agent", agent)
    .addNode("tools", tools)
    .addEdge(START, "agent")
    .addConditionalEdges("agent", route, ["tools", END])
    .addEdge("tools", "agent")
    .compile({ checkpointer, ...(interruptBeforeTools ? { interruptBefore: ["tools"] } : {}) });
}

const TURNS = 15;

async function reference() {
  const graph = toolGraph(new MemorySaver());
  const config = { configurable: { thread_id: "reference" } };
  let messages: BaseMessage[] = [];
  for (let n = 1; n <= TURNS; n += 1) messages = (await graph.invoke({ messages: [userTurn(n)] }, config)).messages;
  return transcript(messages);
}

describe.each(STORES.map((store) => [store.name, store] as const))("LangGraph tool calls on %s", (_, store) => {
  it.skipIf(!store.available)(
    "are tool_call and tool_result events beside their messages, and a cold saver reads the thread as MemorySaver",
    async () => {
      const expected = await reference();
      const opened = await store.open();
      onTestFinished(() => opened.close());
      const config = { configurable: { thread_id: "tools-1", user_id: "alice" } };
      const first = new FrontdeskSaver({ sessions: opened.sessions });
      const warm = toolGraph(first);
      for (let n = 1; n < TURNS; n += 1) await warm.invoke({ messages: [userTurn(n)] }, config);
      // The last turn stops before its tool runs; a fresh saver runs the tool, so the nameless result
      // is named from a call this process only read back.
      await toolGraph(first, true).invoke({ messages: [userTurn(TURNS)] }, config);
      const cold = toolGraph(new FrontdeskSaver({ sessions: opened.sessions }));
      const resumed = await cold.invoke(null, config);
      expect(transcript(resumed.messages)).toEqual(expected);
      const reread = toolGraph(new FrontdeskSaver({ sessions: opened.sessions }));
      expect(transcript((await reread.getState(config)).values.messages as BaseMessage[])).toEqual(expected);

      const sessions = opened.sessions.forUser("alice");
      const session = await sessions.get("tools-1");
      expect(session.stats).toMatchObject({
        messages: expected.length,
        toolCalls: 3,
        toolErrors: 1,
        toolsUsed: ["add"],
      });
      const events = await sessions.readEvents("tools-1", { limit: 1000 });
      const tools = events.filter((event) => event.type === "tool_call" || event.type === "tool_result");
      expect(tools.map(({ seq, id, at, ...rest }) => rest)).toEqual([
        { type: "tool_call", invocationId: "call-9", tool: "add", input: { a: 5, b: 10 } },
        { type: "tool_result", invocationId: "call-9", tool: "add", output: "15", status: "success" },
        { type: "tool_call", invocationId: "call-21", tool: "add", input: { a: 10, b: 20 } },
        {
          type: "tool_result",
          invocationId: "call-21",
          tool: "add",
          output: "cannot add 10",
          status: "error",
          error: { message: "cannot add 10" },
        },
        { type: "tool_call", invocationId: "call-33", tool: "add", input: { a: 15, b: 30 } },
        { type: "tool_result", invocationId: "call-33", tool: "add", output: "45", status: "success" },
      ]);
      // Each tool event directly follows the message it stands beside.
      const bySeq = new Map(events.map((event) => [event.seq, event]));
      for (const tool of tools) {
        const message = bySeq.get(tool.seq - 1) as SessionEvent & { content: { toolCallId?: string }[] };
        expect(message.type).toBe("message");
        expect(
          message.content.some((part) => part.toolCallId === (tool as { invocationId: string }).invocationId),
        ).toBe(true);
      }
      // The console draws each call from its tool_call event, never again from the message's parts.
      expect(messageToolCalls(events).size).toBe(0);
    },
  );
});
