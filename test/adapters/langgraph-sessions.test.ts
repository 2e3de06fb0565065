/**
 * A thread written through FrontdeskSaver is an ordinary Frontdesk session: the HTTP API lists it
 * under its owner with a recognisable title and metadata, serves its conversation as messages with
 * tool-call and tool-result parts (what the console draws as tool cards), streams and exports it,
 * and keeps its state to one small key per checkpoint namespace however long the thread grows.
 */

import { describe, expect, it, onTestFinished } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import type { JsonObject } from "../../src/index.ts";
import { createSessionManager } from "../../src/index.ts";
import { chatGraph, userTurn } from "../fixtures/langgraph-chat.ts";
import { createHarness } from "../server/helpers.ts";

describe("a LangGraph thread as a Frontdesk session", () => {
  it("is listed, read as messages and tool parts, streamed and exported by the server, with a bounded state", async () => {
    const harness = await createHarness();
    onTestFinished(() => harness.close());
    const sessions = await createSessionManager({ store: harness.store, clock: harness.clock, defaultTtlMs: null });
    const saver = new FrontdeskSaver({ sessions, userId: "alice" });
    const graph = chatGraph(saver);
    const config = { configurable: { thread_id: "support-chat" } };
    const stateBytes: number[] = [];
    for (let n = 1; n <= 30; n += 1) {
      await graph.invoke({ messages: [userTurn(n)] }, config);
      stateBytes.push(JSON.stringify((await sessions.forUser("alice").get("support-chat")).state).length);
    }
    // One key for the root namespace, whose size stays put as the thread grows (only seqs gain digits).
    const session = await sessions.forUser("alice").get("support-chat");
    expect(Object.keys(session.state)).toEqual(["langgraph.ns."]);
    expect(Math.max(...stateBytes)).toBeLessThanOrEqual((stateBytes[0] as number) + 8);

    const list = await harness.send(harness.keys.alice, "GET", "/v1/sessions");
    expect(list.statusCode).toBe(200);
    const items = (JSON.parse(list.body) as { items: JsonObject[] }).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      id: "support-chat",
      title: "message number 1",
      metadata: { framework: "langgraph", threadId: "support-chat" },
      tags: ["langgraph"],
    });
    expect((await harness.send(harness.keys.bob, "GET", "/v1/sessions/support-chat")).statusCode).toBe(404);

    const messages = await harness.send(harness.keys.alice, "GET", "/v1/sessions/support-chat/messages");
    const conversation = (JSON.parse(messages.body) as { items: JsonObject[] }).items;
    const final = (await graph.getState(config)).values.messages as unknown[];
    expect(conversation).toHaveLength(final.length);
    expect(conversation.map((m) => m.role).slice(0, 2)).toEqual(["user", "assistant"]);
    expect(conversation[0]).toMatchObject({ type: "message", role: "user", content: "message number 1" });
    const call = conversation.find(
      (m) => Array.isArray(m.content) && (m.content as JsonObject[])[1]?.type === "tool-call",
    );
    expect(call).toMatchObject({
      role: "assistant",
      content: [
        { type: "text", text: "Let me add those." },
        { type: "tool-call", toolCallId: "call-9", toolName: "add", input: { a: 5, b: 10 } },
      ],
    });
    const result = conversation.find((m) => m.role === "tool");
    expect(result).toMatchObject({
      toolCallId: "call-9",
      content: [{ type: "tool-result", toolCallId: "call-9", toolName: "add", output: { type: "text", value: "15" } }],
    });

    const exported = await harness.send(harness.keys.alice, "GET", "/v1/sessions/support-chat/export");
    expect(exported.statusCode).toBe(200);
    const lines = exported.body.trim().split("\n");
    expect(lines).toHaveLength(1 + session.lastSeq);
    expect(lines.filter((line) => line.includes('"type":"message"'))).toHaveLength(final.length);

    const stream = sessions.forUser("alice").subscribe("support-chat", { after: session.lastSeq - 3 });
    const streamed: number[] = [];
    for await (const event of stream) {
      streamed.push(event.seq);
      if (event.seq === session.lastSeq) break;
    }
    await stream.close();
    expect(streamed).toEqual([session.lastSeq - 2, session.lastSeq - 1, session.lastSeq]);
  });
});
