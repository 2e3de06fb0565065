/**
 * The conversations test/adapters/redaction.test.ts writes through each framework before it edits
 * them: an ADK exchange with a function call, the log of two agent turns (as AgentSession writes
 * them: streamed pieces, a tool step, the reply), and Mastra messages.
 */
import { createEvent, type Event } from "@google/adk";
import type { MastraDBMessage } from "@mastra/core/memory";
import type { EventInput } from "../../src/index.ts";

const at = 1_700_000_000_000;

/** An ADK conversation: a user message with a state delta, a function call, its response, the answer. */
export const adkScript = (): Event[] => [
  createEvent({
    id: "ev1",
    invocationId: "inv1",
    author: "user",
    timestamp: at,
    content: { role: "user", parts: [{ text: "My card is 4111 1111 1111 1111, what is 2+3?" }] },
    actions: { stateDelta: { card: "4111" } },
  }),
  createEvent({
    id: "ev2",
    invocationId: "inv1",
    author: "calc",
    timestamp: at + 10,
    content: {
      role: "model",
      parts: [{ text: "Adding." }, { functionCall: { id: "call-1", name: "add", args: { a: 2 } } }],
    },
  }),
  createEvent({
    id: "ev3",
    invocationId: "inv1",
    author: "calc",
    timestamp: at + 20,
    content: {
      role: "user",
      parts: [{ functionResponse: { id: "call-1", name: "add", response: { result: 5 } } }],
    },
  }),
  createEvent({
    id: "ev4",
    invocationId: "inv1",
    author: "calc",
    timestamp: at + 30,
    content: { role: "model", parts: [{ text: "2+3 = 5" }] },
  }),
];

/** What an agent's turn writes: the user message, streamed pieces, a step with a tool, the reply, its end. */
export const agentTurn = (id: string, text: string, reply: string): EventInput[] =>
  [
    { type: "message", role: "user", content: text, turnId: id },
    { type: "status", status: "running", scope: "agent", previous: "ready" },
    { type: "custom", name: "turn.delta", data: { turnId: id, step: 0, part: "text", text: "Checking " } },
    { type: "tool_call", invocationId: `${id}-c`, tool: "weather", input: { city: text } },
    {
      type: "tool_result",
      invocationId: `${id}-c`,
      tool: "weather",
      status: "success",
      output: { sky: `snow in ${text}` },
    },
    {
      type: "message",
      role: "assistant",
      content: [
        { type: "text", text: "Checking " },
        { type: "tool-call", toolCallId: `${id}-c`, toolName: "weather", input: { city: text } },
      ],
      turnId: id,
    },
    {
      type: "message",
      role: "tool",
      content: [
        {
          type: "tool-result",
          toolCallId: `${id}-c`,
          toolName: "weather",
          output: { type: "json", value: { sky: `snow in ${text}` } },
        },
      ],
      turnId: id,
    },
    { type: "custom", name: "turn.delta", data: { turnId: id, step: 1, part: "text", text: reply } },
    { type: "message", role: "assistant", content: reply, turnId: id },
    { type: "status", status: "ready", scope: "agent", previous: "running" },
  ] as EventInput[];

/** A time on one day, by second. */
export const second = (at: number): Date => new Date(Date.UTC(2025, 0, 1, 0, 0, at));

/** A Mastra message of thread t1 and resource alice, saying `text` at second `at`. */
export const mastraMessage = (id: string, at: number, text: string) =>
  ({
    id,
    threadId: "t1",
    resourceId: "alice",
    role: at % 2 === 0 ? "user" : "assistant",
    createdAt: second(at),
    content: { format: 2, parts: [{ type: "text", text }], content: text },
  }) as MastraDBMessage;
