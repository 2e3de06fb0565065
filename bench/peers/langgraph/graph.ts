/**
 * The one graph every LangGraph saver runs: a single "agent" node calling a scripted chat model on
 * the whole conversation, with the messages channel either LangGraph's default (the full list is
 * serialized into every checkpoint) or the opt-in DeltaChannel (each step stores what it added).
 */
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import {
  type BaseCheckpointSaver,
  END,
  MessagesAnnotation,
  MessagesDeltaValue,
  START,
  StateGraph,
  StateSchema,
} from "@langchain/langgraph";
import { BENCH_USER, messageText } from "../backends.ts";

export type MessagesChannel = "default" | "delta";

/** What the harness drives: one turn, a read of the state, and a bulk seed. */
export interface ConversationGraph {
  turn(threadId: string, text: string): Promise<unknown>;
  state(threadId: string): Promise<BaseMessage[]>;
  /** Adds messages as one state update (one checkpoint), the fastest path a graph offers. */
  seed(threadId: string, messages: BaseMessage[]): Promise<void>;
}

/** The assistant's scripted replies: deterministic, the same for every saver. */
const SCRIPT = Array.from({ length: 16 }, (_, i) => `Reply ${i}: ${messageText(i + 500)}`);

const configOf = (threadId: string) => ({ configurable: { thread_id: threadId, user_id: BENCH_USER } });

export function conversationGraph(channel: MessagesChannel, checkpointer: BaseCheckpointSaver): ConversationGraph {
  const model = new FakeListChatModel({ responses: SCRIPT });
  const agent = async (state: { messages: BaseMessage[] }) => ({ messages: [await model.invoke(state.messages)] });
  // Two literal graphs rather than one generic builder: StateGraph's types follow the state schema.
  const graph =
    channel === "delta"
      ? new StateGraph(new StateSchema({ messages: MessagesDeltaValue }))
          .addNode("agent", agent)
          .addEdge(START, "agent")
          .addEdge("agent", END)
          .compile({ checkpointer })
      : new StateGraph(MessagesAnnotation)
          .addNode("agent", agent)
          .addEdge(START, "agent")
          .addEdge("agent", END)
          .compile({ checkpointer });
  return {
    turn: (threadId, text) => graph.invoke({ messages: [new HumanMessage(text)] }, configOf(threadId)),
    state: async (threadId) =>
      ((await graph.getState(configOf(threadId))).values as { messages: BaseMessage[] }).messages,
    seed: async (threadId, messages) => {
      await graph.updateState(configOf(threadId), { messages }, "agent");
    },
  };
}

/** Seed messages i…i+n−1: alternating user and assistant turns with the scripted texts. */
export function seedMessages(from: number, n: number): BaseMessage[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return i % 2 === 0 ? new HumanMessage(messageText(i)) : new AIMessage(SCRIPT[i % SCRIPT.length] as string);
  });
}
