import { convertToModelMessages, stepCountIs, streamText, tool, type UIMessage, validateUIMessages } from "ai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type ChatStore, createChatStore, toModelMessages } from "../../src/adapters/ai-sdk/index.ts";
import { createSessionManager, isFrontdeskError, type SessionManager } from "../../src/index.ts";
import { chatWithTool, readUntil, STORES, scriptedModel, userMessage } from "./ai-sdk-support.ts";

for (const store of STORES) {
  describe(`ai-sdk chats on ${store.name}`, () => {
    let opened: ReturnType<(typeof STORES)[number]["open"]>;
    let sessions: SessionManager;
    let chats: ChatStore;

    beforeEach(async () => {
      opened = store.open();
      sessions = await createSessionManager({ store: opened.url });
      chats = createChatStore({ sessions, userId: "alice" });
    });
    afterEach(async () => {
      await sessions.store.close();
      await opened.cleanup();
    });

    const alice = () => sessions.forUser("alice");

    it("saveChat then loadChat returns the messages deep-equal, as message, tool_call and tool_result events", async () => {
      const messages = chatWithTool();
      await chats.saveChat({ id: "chat-1", messages });
      expect(await chats.loadChat("chat-1")).toStrictEqual(messages);

      const events = await alice().readEvents("chat-1");
      expect(events.map((event) => (event.type === "message" ? `${event.type}:${event.role}` : event.type))).toEqual([
        "message:user",
        "message:assistant",
        "tool_call",
        "tool_result",
        "message:tool",
        "message:assistant",
      ]);
      const call = events.find((event) => event.type === "tool_call");
      const result = events.find((event) => event.type === "tool_result");
      expect(call).toMatchObject({ invocationId: "call-1", tool: "weather", input: { city: "Oslo" } });
      expect(result).toMatchObject({ invocationId: "call-1", status: "success", output: { celsius: 3, sky: "snow" } });
      const session = await alice().get("chat-1");
      expect(session).toMatchObject({ userId: "alice", tags: ["ai-sdk"], title: "Weather in Oslo?" });
      expect(session.stats).toMatchObject({ messages: 4, toolCalls: 1 });
    });

    it("the stored events read as the ModelMessages convertToModelMessages makes of the chat", async () => {
      const messages = chatWithTool();
      await chats.saveChat({ id: "chat-1", messages });
      expect(toModelMessages(await alice().getMessages("chat-1"))).toEqual(await convertToModelMessages(messages));
    });

    it("saveChat with the full list appends only the new messages, and the same list again writes nothing", async () => {
      const messages = chatWithTool();
      await chats.saveChat({ id: "chat-1", messages });
      const before = await alice().get("chat-1");
      await chats.saveChat({ id: "chat-1", messages });
      expect((await alice().get("chat-1")).version).toBe(before.version);

      const longer = [...messages, userMessage("u2", "And tomorrow?")];
      await chats.saveChat({ id: "chat-1", messages: longer });
      const after = await alice().get("chat-1");
      expect(after.lastSeq).toBe(before.lastSeq + 1);
      expect(await chats.loadChat("chat-1")).toStrictEqual(longer);
    });

    it("a list that drops or rewrites a stored message is refused with conflict and writes nothing", async () => {
      const messages = [...chatWithTool(), userMessage("u2", "And tomorrow?")];
      await chats.saveChat({ id: "chat-1", messages });
      const before = await alice().get("chat-1");

      const dropped = chats.saveChat({ id: "chat-1", messages: messages.slice(1) });
      await expect(dropped).rejects.toSatisfy((error) => isFrontdeskError(error, "conflict"));
      const rewritten = [userMessage("u1", "Weather in Bergen?"), ...messages.slice(1), userMessage("u3", "x")];
      const rewrite = chats.saveChat({ id: "chat-1", messages: rewritten });
      await expect(rewrite).rejects.toMatchObject({ code: "conflict", details: { reason: "rewritten" } });
      const changedLast = [...messages.slice(0, 2), userMessage("u2", "Or Sunday?")];
      await expect(chats.saveChat({ id: "chat-1", messages: changedLast })).rejects.toMatchObject({ code: "conflict" });

      expect((await alice().get("chat-1")).version).toBe(before.version);
      expect(await chats.loadChat("chat-1")).toStrictEqual(messages);
    });

    it("bad input is invalid_request and writes nothing", async () => {
      const bad = [{ id: "", role: "user", parts: [] }] as unknown as UIMessage[];
      await expect(chats.saveChat({ id: "chat-1", messages: bad })).rejects.toMatchObject({ code: "invalid_request" });
      const twice = [userMessage("u1", "a"), userMessage("u1", "b")];
      await expect(chats.saveChat({ id: "chat-1", messages: twice })).rejects.toMatchObject({
        code: "invalid_request",
      });
      await expect(chats.saveChat({ id: "", messages: [] })).rejects.toMatchObject({ code: "invalid_request" });
      expect(await chats.loadChat("chat-1")).toEqual([]);
    });

    it("the chat id is the session, owned by the adapter's userId or the call's; users never see each other's chats", async () => {
      await chats.saveChat({ id: "shared-id", messages: [userMessage("a1", "alice's secret")] });
      await chats.saveChat({ id: "shared-id", messages: [userMessage("b1", "bob's secret")], userId: "bob" });
      const bobs = createChatStore({ sessions, userId: "bob" });

      expect(await chats.loadChat("shared-id")).toEqual([userMessage("a1", "alice's secret")]);
      expect(await bobs.loadChat("shared-id")).toEqual([userMessage("b1", "bob's secret")]);
      expect(await chats.loadChat("shared-id", { userId: "carol" })).toEqual([]);
      // Bob's full list is not a continuation of Alice's chat: each is checked against its own owner's history.
      await bobs.saveChat({
        id: "shared-id",
        messages: [userMessage("b1", "bob's secret"), userMessage("b2", "more")],
      });
      expect(await chats.loadChat("shared-id")).toHaveLength(1);
      const owners = (await sessions.listSessions({})).items.map((session) => session.userId).sort();
      expect(owners).toEqual(["alice", "bob"]);
    });

    // Bounded: without the adapter's consumeSseStream nothing finishes the reply and `done` never comes.
    it("persistOnFinish saves the whole reply when the client goes away mid-stream", { timeout: 10_000 }, async () => {
      const { model, release } = scriptedModel([{ text: "Hello there, this reply outlives its reader." }], {
        hold: true,
      });
      const messages = [userMessage("u1", "Hi")];
      let saved!: () => void;
      const done = new Promise<void>((resolve) => {
        saved = resolve;
      });
      const persist = chats.persistOnFinish({ id: "chat-2", messages });
      const result = streamText({ model, messages: await convertToModelMessages(messages) });
      const response = result.toUIMessageStreamResponse({
        ...persist,
        generateMessageId: () => "srv-reply-1",
        onFinish: async (event) => {
          await persist.onFinish(event);
          saved();
        },
      });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      await readUntil(reader, "Hello");
      await reader.cancel(); // the browser tab closed
      release();
      await done;

      const stored = await chats.loadChat("chat-2");
      expect(stored).toHaveLength(2);
      expect(stored[1]).toMatchObject({
        id: "srv-reply-1",
        role: "assistant",
        parts: [
          { type: "step-start" },
          { type: "text", text: "Hello there, this reply outlives its reader.", state: "done" },
        ],
      });
    });

    it("a stored chat reloads into validateUIMessages unchanged and continues with streamText", async () => {
      const weather = tool({
        description: "current weather",
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => ({ city, celsius: -2 }),
      });
      const first = chatWithTool();
      await chats.saveChat({ id: "chat-3", messages: first });

      const loaded = await chats.loadChat("chat-3");
      const validated = await validateUIMessages({ messages: loaded, tools: { weather } as never });
      expect(validated).toStrictEqual(first);

      const next = [...validated, userMessage("u2", "And in Tromsø?")];
      const { model } = scriptedModel([
        { tool: "weather", toolCallId: "call-2", input: { city: "Tromsø" } },
        { text: "Minus two in Tromsø." },
      ]);
      const result = streamText({
        model,
        messages: await convertToModelMessages(next, { tools: { weather } }),
        tools: { weather },
        stopWhen: stepCountIs(3),
      });
      let saved!: () => void;
      const done = new Promise<void>((resolve) => {
        saved = resolve;
      });
      const persist = chats.persistOnFinish({ id: "chat-3", messages: next });
      const response = result.toUIMessageStreamResponse({
        ...persist,
        generateMessageId: () => "srv-reply-2",
        onFinish: async (event) => {
          await persist.onFinish(event);
          saved();
        },
      });
      await response.text();
      await done;

      // The model saw the stored history: the first tool call and its result came back from the store.
      const prompt = JSON.stringify(model.doStreamCalls[0]?.prompt);
      expect(prompt).toContain("call-1");
      expect(prompt).toContain("snow");
      const stored = await chats.loadChat("chat-3");
      expect(stored.map((message) => message.id)).toEqual(["u1", "srv-a1", "u2", "srv-reply-2"]);
      expect(stored[3]?.parts).toContainEqual(
        expect.objectContaining({ type: "tool-weather", toolCallId: "call-2", state: "output-available" }),
      );
      const results = await alice().readEvents("chat-3", { types: ["tool_result"] });
      expect(results.map((event) => event.type === "tool_result" && event.output)).toEqual([
        { celsius: 3, sky: "snow" },
        { city: "Tromsø", celsius: -2 },
      ]);
    });

    it("a reply continued after a client-side tool result replaces the stored one and adds only its result", async () => {
      const locate = tool({ description: "where the user is", inputSchema: z.object({}) }); // runs in the browser
      const messages = [userMessage("u1", "Where am I?")];
      const { model } = scriptedModel([
        { tool: "locate", toolCallId: "call-loc", input: {} },
        { text: "You are in Oslo." },
      ]);
      const run = async (history: UIMessage[]) => {
        const result = streamText({
          model,
          messages: await convertToModelMessages(history, { tools: { locate } }),
          tools: { locate },
        });
        let saved!: () => void;
        const done = new Promise<void>((resolve) => {
          saved = resolve;
        });
        const persist = chats.persistOnFinish({ id: "chat-4", messages: history });
        await result
          .toUIMessageStreamResponse({
            ...persist,
            generateMessageId: () => "srv-reply-loc",
            onFinish: async (event) => {
              await persist.onFinish(event);
              saved();
            },
          })
          .text();
        await done;
      };
      await run(messages);
      const waiting = await chats.loadChat("chat-4");
      expect(waiting[1]?.parts).toContainEqual(
        expect.objectContaining({ type: "tool-locate", state: "input-available" }),
      );

      // The browser adds the tool's output to the same message and sends the chat back.
      const answered = structuredClone(waiting);
      const part = answered[1]?.parts.find((p) => p.type === "tool-locate") as Record<string, unknown>;
      Object.assign(part, { state: "output-available", output: { city: "Oslo" } });
      await run(answered);

      const stored = await chats.loadChat("chat-4");
      expect(stored.map((message) => message.id)).toEqual(["u1", "srv-reply-loc"]);
      expect(stored[1]?.parts.at(-1)).toMatchObject({ type: "text", text: "You are in Oslo." });
      const events = await alice().readEvents("chat-4");
      expect(events.filter((event) => event.type === "tool_call")).toHaveLength(1);
      expect(events.filter((event) => event.type === "tool_result")).toMatchObject([{ output: { city: "Oslo" } }]);
      expect(toModelMessages(await alice().getMessages("chat-4"))).toEqual(
        await convertToModelMessages(stored, { tools: { locate } }),
      );
    });
  });
}

describe("ai-sdk saveChat's cost", () => {
  it("reads one header and no events to add messages to a long chat", async () => {
    const sessions = await createSessionManager({ store: "memory:" });
    let eventReads = 0;
    const readEvents = sessions.store.readEvents.bind(sessions.store);
    sessions.store.readEvents = (...args) => {
      eventReads++;
      return readEvents(...args);
    };
    const chats = createChatStore({ sessions });
    const messages: UIMessage[] = [];
    for (let i = 0; i < 200; i++) messages.push(userMessage(`m${i}`, `message ${i}`));
    await chats.saveChat({ id: "long", messages });
    eventReads = 0;
    await chats.saveChat({ id: "long", messages: [...messages, userMessage("m200", "one more")] });
    expect(eventReads).toBe(0);
    expect(await chats.loadChat("long")).toHaveLength(201);
    await sessions.store.close();
  });
});
