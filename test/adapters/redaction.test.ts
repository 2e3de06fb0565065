/**
 * Every adapter and protocol view reads back a log that Frontdesk edited (docs/privacy.md): write
 * through the framework's own classes, redact or prune through a SessionManager on the same store,
 * read back through the adapter. Nothing throws, a redacted item reads as a placeholder of the
 * same kind (calls and results still paired), the notices the edits append and the marker a prune
 * leaves are skipped, and everything else comes back as it was.
 */
import { createEvent } from "@google/adk";
import { AIMessage } from "@langchain/core/messages";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import type { MastraDBMessage } from "@mastra/core/memory";
import { run, setTracingDisabled } from "@openai/agents-core";
import { convertToModelMessages, streamText, validateUIMessages } from "ai";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { FrontdeskSessionService } from "../../src/adapters/adk/index.ts";
import { createChatStore, toModelMessages } from "../../src/adapters/ai-sdk/index.ts";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { FrontdeskMemoryStorage } from "../../src/adapters/mastra/index.ts";
import { FrontdeskSession } from "../../src/adapters/openai-agents/index.ts";
import { createSessionManager, isFrontdeskError, type SessionManager } from "../../src/index.ts";
import { ThreadFold } from "../../src/server/protocols/ag-ui.ts";
import { uiMessagesOf } from "../../src/server/protocols/ui-message-stream.ts";
import { chatGraph, transcript, userTurn } from "../fixtures/langgraph-chat.ts";
import { storeLocations } from "../support/store-locations.ts";
import { chatWithTool, scriptedModel, userMessage } from "./ai-sdk-support.ts";
import { ScriptedModel, weatherAgent } from "./openai-agents/scripted-model.ts";
import { adkScript, agentTurn, mastraMessage, second } from "./redaction-fixtures.ts";

const STORES = storeLocations("memory", "sqlite");
const REDACTED = "[redacted]";
const config = { configurable: { thread_id: "t1" } };
const why = { reason: "pasted by mistake" };

beforeAll(() => setTracingDisabled(true));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An opened store of this kind, shared by the adapter under test and the manager that edits. */
async function openShared(
  store: (typeof STORES)[number],
  retention?: { keepLastEvents: number; onlySummarized: false },
): Promise<SessionManager> {
  const { url, cleanup } = store.open();
  const sessions = await createSessionManager({ store: url, defaultTtlMs: null, ...(retention ? { retention } : {}) });
  cleanups.push(async () => {
    await sessions.store.close();
    await cleanup();
  });
  return sessions;
}

/** The seq of the first event matching `test`. */
async function seqOf(sessions: SessionManager, id: string, test: (event: Record<string, unknown>) => boolean) {
  const event = (await sessions.readEvents(id)).find((candidate) => test(candidate as Record<string, unknown>));
  if (!event) throw new Error("no such event");
  return event.seq;
}

describe.each(STORES)("on $name", (store) => {
  describe("ADK: FrontdeskSessionService", () => {
    const KEY = { appName: "calc-app", userId: "ada", sessionId: "s1" };
    async function written() {
      const sessions = await openShared(store);
      const service = new FrontdeskSessionService({ sessions });
      const session = await service.createSession(KEY);
      for (const event of adkScript()) await service.appendEvent({ session, event });
      const calc = sessions.forNamespace("calc-app").forUser("ada");
      return { service, calc, before: (await service.getSession(KEY))?.events ?? [] };
    }

    it("reads redacted events as ADK events saying [redacted], their calls and responses still paired", async () => {
      const { service, calc, before } = await written();
      for (const role of ["user", "assistant", "tool"]) {
        await calc.redactEvent("s1", await seqOf(calc, "s1", (e) => e.type === "message" && e.role === role), why);
      }
      const got = await service.getSession(KEY);
      const events = got?.events ?? [];
      expect(events).toHaveLength(4);
      expect(events[0]).toMatchObject({
        author: "user",
        invocationId: "inv1",
        content: { role: "user", parts: [{ text: REDACTED }] },
        actions: { stateDelta: {} },
      });
      expect(events[1]).toMatchObject({
        author: "calc",
        invocationId: "inv1",
        content: {
          role: "model",
          parts: [{ text: REDACTED }, { functionCall: { id: "call-1", name: "add", args: {} } }],
        },
      });
      expect(events[2]).toMatchObject({
        author: "calc",
        content: {
          role: "user",
          parts: [{ functionResponse: { id: "call-1", name: "add", response: { result: REDACTED } } }],
        },
      });
      expect(events[3]).toEqual(before[3]);
      expect(JSON.stringify(events)).not.toContain("4111 1111");
      // The state is the session's own, which a redaction leaves as it is.
      expect(got?.state).toMatchObject({ card: "4111" });
      // The newest events read backwards give the same placeholders.
      expect((await service.getSession({ ...KEY, config: { numRecentEvents: 3 } }))?.events).toEqual(events.slice(1));
    });

    it("appends after a redaction and after hideLastEvents, on the session object read since", async () => {
      const { service, calc } = await written();
      await calc.hideLastEvents("s1", 2, { reason: "rewind" });
      const session = (await service.getSession(KEY)) as NonNullable<Awaited<ReturnType<typeof service.getSession>>>;
      expect(session.events.at(-1)?.content?.parts).toEqual([{ text: REDACTED }]);
      const next = createEvent({ id: "ev5", invocationId: "inv2", author: "user", timestamp: Date.now() });
      await service.appendEvent({ session, event: { ...next, content: { role: "user", parts: [{ text: "again" }] } } });
      const events = (await service.getSession(KEY))?.events ?? [];
      expect(events.map((event) => event.id).slice(0, 2)).toEqual(["ev1", "ev2"]);
      expect(events.at(-1)).toMatchObject({ id: "ev5", content: { parts: [{ text: "again" }] } });

      // An event without content (a state change) comes back without content, and without its delta.
      const change = createEvent({
        id: "ev6",
        invocationId: "inv2",
        author: "calc",
        actions: { stateDelta: { mood: "ok" } },
      });
      await service.appendEvent({ session, event: change });
      await calc.hideLastEvents("s1", 1, { reason: "rewind" });
      const got = await service.getSession(KEY);
      expect(got?.events.at(-1)).toMatchObject({ author: "calc", invocationId: "inv2", actions: { stateDelta: {} } });
      expect(got?.events.at(-1)?.content).toBeUndefined();
      expect(got?.state).toMatchObject({ mood: "ok" });
    });

    it("reads a pruned session from the marker on, never starting with a response to a call that is gone", async () => {
      const { service, calc, before } = await written();
      // Keep the response's carrier and what follows: its call is pruned.
      const cut = (await seqOf(calc, "s1", (e) => e.type === "message" && e.role === "tool")) - 1;
      const { lastSeq } = await calc.get("s1");
      await calc.prune("s1", { keepLastEvents: lastSeq - cut, onlySummarized: false });
      expect((await service.getSession(KEY))?.events).toEqual([before[3]]);
      expect((await service.getSession({ ...KEY, config: { numRecentEvents: 10 } }))?.events.at(-1)).toEqual(before[3]);
    });
  });

  describe("AI SDK: createChatStore and toModelMessages", () => {
    async function saved() {
      const sessions = await openShared(store);
      const chats = createChatStore({ sessions, userId: "alice" });
      await chats.saveChat({ id: "chat-1", messages: chatWithTool() });
      return { chats, alice: sessions.forUser("alice") };
    }
    const redactedAssistant = {
      id: "srv-a1",
      role: "assistant",
      parts: [
        { type: "step-start" },
        { type: "text", text: REDACTED },
        { type: "tool-weather", toolCallId: "call-1", state: "output-error", input: {}, errorText: REDACTED },
        { type: "step-start" },
      ],
    };

    it("loads a message whose first event was redacted as [redacted], keeping its id and tool call ids", async () => {
      const { chats, alice } = await saved();
      await alice.redactEvent("chat-1", await seqOf(alice, "chat-1", (e) => e.role === "assistant"), why);
      const loaded = await chats.loadChat("chat-1");
      expect(loaded).toEqual([
        chatWithTool()[0],
        {
          id: "srv-a1",
          role: "assistant",
          parts: [{ type: "step-start" }, { type: "text", text: REDACTED }, redactedAssistant.parts[2]],
        },
      ]);
      expect(await validateUIMessages({ messages: loaded })).toEqual(loaded);
      expect(JSON.stringify(loaded)).not.toMatch(/snow|Let me check/);
    });

    it("reads the whole message redacted when one of its other events was, and continues after a reload", async () => {
      const { chats, alice } = await saved();
      await alice.redactEvent("chat-1", await seqOf(alice, "chat-1", (e) => e.role === "tool"), why);
      const loaded = await chats.loadChat("chat-1");
      expect(loaded[1]).toEqual(redactedAssistant);
      expect(await validateUIMessages({ messages: loaded })).toEqual(loaded);
      expect(JSON.stringify(loaded)).not.toMatch(/snow/);

      // A client still holding the old messages is told to reload; after the reload it goes on.
      const stale = await chats
        .saveChat({ id: "chat-1", messages: [...chatWithTool(), userMessage("u2", "Bergen?")] })
        .catch((error) => error);
      expect(isFrontdeskError(stale, "conflict")).toBe(true);
      await chats.saveChat({ id: "chat-1", messages: [...loaded, userMessage("u2", "Bergen?")] });
      expect((await chats.loadChat("chat-1")).map((message) => message.id)).toEqual(["u1", "srv-a1", "u2"]);

      // The model messages pair the call with a "[redacted]" result, which streamText accepts.
      const messages = toModelMessages(await alice.getMessages("chat-1"));
      expect(messages.find((message) => message.role === "tool")?.content).toEqual([
        { type: "tool-result", toolCallId: "call-1", toolName: "weather", output: { type: "text", value: REDACTED } },
      ]);
      const { model } = scriptedModel([{ text: "Fine." }]);
      expect(await streamText({ model, messages }).text).toBe("Fine.");
      expect(await convertToModelMessages(loaded)).toBeDefined();
    });

    it("loads the messages a prune left, and saves both from a client that holds them all and one that reloaded", async () => {
      const { chats, alice } = await saved();
      const all = [...chatWithTool(), userMessage("u2", "Bergen?")];
      await chats.saveChat({ id: "chat-1", messages: all });
      await alice.prune("chat-1", { keepLastEvents: 3, onlySummarized: false });
      const loaded = await chats.loadChat("chat-1");
      expect(loaded).toEqual([userMessage("u2", "Bergen?")]);
      expect(await validateUIMessages({ messages: loaded })).toEqual(loaded);
      // The open page still holds the pruned messages: only what is new is stored.
      await chats.saveChat({ id: "chat-1", messages: [...all, userMessage("u3", "Thanks")] });
      // A page that reloaded holds only what is left.
      await chats.saveChat({
        id: "chat-1",
        messages: [...loaded, userMessage("u3", "Thanks"), userMessage("u4", "Bye")],
      });
      expect((await chats.loadChat("chat-1")).map((message) => message.id)).toEqual(["u2", "u3", "u4"]);
    });
  });

  describe("the AI SDK chat view and the AG-UI view of an agent's log", () => {
    async function agentLog() {
      const sessions = await openShared(store);
      await sessions.create({ sessionId: "s" });
      await sessions.appendEvents("s", agentTurn("t1", "Oslo", "Snowing in Oslo."));
      await sessions.appendEvents("s", agentTurn("t2", "Bergen", "Rain in Bergen."));
      return sessions;
    }

    it("shows redacted messages, calls and results as [redacted], pieces of a redacted reply included", async () => {
      const sessions = await agentLog();
      const events = await sessions.readEvents("s");
      const t1 = events.filter((event) => event.seq <= 10);
      for (const event of t1) {
        if (event.type === "message" || event.type === "tool_call" || event.type === "tool_result") {
          await sessions.redactEvent("s", event.seq, why);
        }
      }
      const log = await sessions.readEvents("s");
      const messages = await uiMessagesOf(log, undefined);
      expect(await validateUIMessages({ messages })).toEqual(messages);
      expect(JSON.stringify(messages)).not.toMatch(/Oslo/);
      // The redacted user message named the turn: its reply is still one message, named after its first event.
      expect(messages.map((message) => message.id)).toEqual([log[0]?.id, `msg_${log[1]?.id}`, log[10]?.id, "t2"]);
      expect(messages[0]?.parts).toEqual([{ type: "text", text: REDACTED }]);
      const texts = messages[1]?.parts.flatMap((part) => (part.type === "text" ? [part.text] : []));
      expect(texts).toEqual([REDACTED, REDACTED]);
      expect(messages[1]?.parts).toContainEqual(
        expect.objectContaining({ toolCallId: "t1-c", state: "output-available", input: {}, output: REDACTED }),
      );
      expect(JSON.stringify(messages[3])).toContain("Rain in Bergen.");

      const fold = new ThreadFold();
      for (const event of log) fold.observe(event);
      const thread = fold.snapshot();
      expect(JSON.stringify(thread)).not.toMatch(/Oslo/);
      expect(thread[0]).toMatchObject({ role: "user", content: REDACTED });
      expect(thread.find((message) => message.role === "tool")).toMatchObject({
        toolCallId: "t1-c",
        content: REDACTED,
      });
      expect(thread.filter((message) => message.role === "assistant").map((message) => message.content)).toEqual([
        REDACTED,
        REDACTED,
        "Checking ",
        "Rain in Bergen.",
      ]);
    });

    it("folds a pruned log from its marker, skipping the marker and the notices", async () => {
      const sessions = await agentLog();
      await sessions.prune("s", { keepLastEvents: 10, onlySummarized: false });
      const log = await sessions.readEvents("s");
      expect(log[0]).toMatchObject({ type: "custom", name: "frontdesk.pruned" });
      const messages = await uiMessagesOf(log, undefined);
      expect(await validateUIMessages({ messages })).toEqual(messages);
      expect(messages.map((message) => message.role)).toEqual(["user", "assistant"]);
      const fold = new ThreadFold();
      for (const event of log) fold.observe(event);
      expect(fold.snapshot().map((message) => message.role)).toEqual(["user", "assistant", "tool", "assistant"]);
    });
  });

  describe("LangGraph: FrontdeskSaver", () => {
    async function thread() {
      const sessions = await openShared(store);
      const saver = new FrontdeskSaver({ sessions });
      const graph = chatGraph(saver);
      for (const n of [1, 5]) await graph.invoke({ messages: [userTurn(n)] }, config);
      const before = transcript((await graph.getState(config)).values.messages);
      return { sessions, saver, graph, before };
    }
    const placeholder = (type: string, extra: Record<string, unknown> = {}) => ({
      type,
      content: REDACTED,
      toolCalls: [],
      toolCallId: undefined,
      ...extra,
    });

    it("loads redacted messages as placeholders of the same kind, calls and results paired, in the saver that cached them", async () => {
      const { sessions, graph, before } = await thread();
      const events = await sessions.readEvents("t1");
      // The first user message, the AI message that calls the tool, and the tool's result.
      const redact = events.filter(
        (e) =>
          e.type === "message" && (e.seq === 2 || e.role === "tool" || JSON.stringify(e.content).includes("tool-call")),
      );
      for (const event of redact) await sessions.redactEvent("t1", event.seq, why);
      const [human, ai, tool] = redact.map((event) => `redacted:${event.id}`);
      // The same saver, which held those messages decoded, reads them again.
      const after = transcript((await graph.getState(config)).values.messages);
      expect(after).toEqual([
        placeholder("human", { id: human }),
        before[1],
        before[2],
        placeholder("ai", { id: ai, toolCalls: [{ id: "call-3", name: "add", args: {}, type: "tool_call" }] }),
        placeholder("tool", { id: tool, toolCallId: "call-3" }),
        before[5],
      ]);
      // The graph runs on: the model is handed the placeholders, and the new turn is stored after them.
      const next = transcript((await graph.invoke({ messages: [userTurn(6)] }, config)).messages);
      expect(next.slice(0, 6)).toEqual(after);
      expect(next).toHaveLength(8);
      const stored = JSON.stringify(await graph.getState(config));
      expect(stored).not.toContain('"a":5');
      expect(stored).not.toContain('"content":"15"');
    });

    it("answers nothing for a redacted checkpoint, and goes on from the newest one left", async () => {
      const { sessions, saver, graph, before } = await thread();
      const newest = (await graph.getState(config)).config.configurable?.checkpoint_id as string;
      await sessions.hideLastEvents("t1", 1, { reason: "rewind" });
      expect(await saver.getTuple({ configurable: { ...config.configurable, checkpoint_id: newest } })).toBeUndefined();
      const state = await graph.getState(config);
      expect(state.config.configurable?.checkpoint_id).not.toBe(newest);
      expect(transcript(state.values.messages)).toEqual(before);
      const listed = [];
      for await (const tuple of saver.list(config)) listed.push(tuple.config.configurable?.checkpoint_id);
      expect(listed).not.toContain(newest);
      // As after a time travel: the step the hidden checkpoint closed is run again from its parent.
      const next = transcript((await graph.invoke({ messages: [userTurn(6)] }, config)).messages);
      expect(next.slice(0, 5)).toEqual(before.slice(0, 5));
      expect(next.map((message) => message.id)).toContain("h-6");
      expect((await graph.getState(config)).config.configurable?.checkpoint_id).not.toBe(newest);
    });

    it("loads a pruned thread: older checkpoints are not listed, messages start after the marker", async () => {
      const { sessions, saver, graph, before } = await thread();
      const toolSeq = await seqOf(sessions, "t1", (e) => e.role === "tool");
      const { lastSeq } = await sessions.get("t1");
      // The cut falls between the tool call and its result: the result is dropped with its call.
      await sessions.prune("t1", { keepLastEvents: lastSeq - toolSeq + 1, onlySummarized: false });
      const state = await graph.getState(config);
      expect(transcript(state.values.messages)).toEqual([before[5]]);
      const listed: number[] = [];
      for await (const tuple of saver.list(config)) {
        listed.push((tuple.checkpoint.channel_values.messages as unknown[] | undefined)?.length ?? 0);
      }
      // The two checkpoints put after the cut; the older one's messages were all pruned or answered pruned calls.
      expect(listed).toEqual([1, 0]);
      const next = transcript((await graph.invoke({ messages: [userTurn(6)] }, config)).messages);
      expect(next.slice(0, 1)).toEqual([before[5]]);
      expect(next.slice(1).map((message) => message.type)).toEqual(["human", "ai"]);
      // A fresh saver reads the same.
      const fresh = chatGraph(new FrontdeskSaver({ sessions }));
      expect(transcript((await fresh.getState(config)).values.messages)).toEqual(next);
    });
  });

  it("LangGraph under a retention policy: pruned while it runs, the thread stays bounded and no message is stored twice", async () => {
    const sessions = await openShared(store, { keepLastEvents: 40, onlySummarized: false });
    // Ids unique across the thread (the chat fixture's repeat once a prune shortens the history).
    let replies = 0;
    const graph = new StateGraph(MessagesAnnotation)
      .addNode("agent", ({ messages }) => ({
        messages: [new AIMessage({ id: `ai-${++replies}`, content: `seen ${messages.length}` })],
      }))
      .addEdge(START, "agent")
      .addEdge("agent", END)
      .compile({ checkpointer: new FrontdeskSaver({ sessions }) });
    for (let n = 1; n <= 60; n += 1) {
      const { messages } = await graph.invoke({ messages: [userTurn(n)] }, config);
      expect(messages.at(-1)?.id).toBe(`ai-${n}`);
    }
    expect((await sessions.get("t1")).stats.messages).toBe(120);
    expect((await sessions.readEvents("t1")).length).toBeLessThan(40 + 64 + 16);
    const kept = (await new FrontdeskSaver({ sessions }).getTuple(config))?.checkpoint.channel_values.messages;
    expect((kept as AIMessage[]).at(-1)?.id).toBe("ai-60");
  });

  describe("Mastra: FrontdeskMemoryStorage", () => {
    const texts = (messages: MastraDBMessage[]) => messages.map((stored) => [stored.id, stored.content.content]);

    async function thread() {
      const sessions = await openShared(store);
      const storage = new FrontdeskMemoryStorage({ sessions });
      await storage.saveThread({
        thread: { id: "t1", resourceId: "alice", createdAt: second(1), updatedAt: second(1) },
      });
      await storage.saveMessages({
        messages: [
          mastraMessage("m1", 10, "my card is 4111"),
          mastraMessage("m2", 11, "noted"),
          mastraMessage("m3", 12, "three"),
        ],
      });
      await storage.saveMessages({ messages: [mastraMessage("m2", 11, "noted, revised")] });
      return { storage, alice: sessions.forUser("alice") };
    }

    it("reads redacted messages as [redacted], revised ones under their id, and takes new versions after", async () => {
      const { storage, alice } = await thread();
      const [m1, m2] = (await alice.readEvents("t1")).filter((event) => event.type === "message");
      await alice.redactEvent("t1", m1?.seq as number, why);
      await alice.redactEvent("t1", m2?.seq as number, why);
      const { messages, total } = await storage.listMessages({ threadId: "t1" });
      expect(total).toBe(3);
      expect(texts(messages)).toEqual([
        [`redacted:${m1?.id}`, REDACTED],
        ["m2", REDACTED],
        ["m3", "three"],
      ]);
      expect(messages[1]).toMatchObject({
        role: "assistant",
        threadId: "t1",
        resourceId: "alice",
        createdAt: second(11),
      });
      expect(texts((await storage.listMessagesById({ messageIds: ["m2", "m3"] })).messages)).toEqual([
        ["m2", REDACTED],
        ["m3", "three"],
      ]);
      const newest = await storage.listMessages({ threadId: "t1", perPage: 2, orderBy: { direction: "DESC" } });
      expect(texts(newest.messages)).toEqual([
        ["m3", "three"],
        ["m2", REDACTED],
      ]);
      // A version written after the redaction is the message's new content.
      await storage.saveMessages({ messages: [mastraMessage("m2", 11, "written again")] });
      expect(texts((await storage.listMessages({ threadId: "t1" })).messages)[1]).toEqual(["m2", "written again"]);
      // A redacted revision reads as [redacted] too.
      const revisions = (await alice.readEvents("t1")).filter(
        (e) => e.type === "custom" && e.name === "mastra.message.revised",
      );
      await alice.redactEvent("t1", revisions.at(-1)?.seq as number, why);
      expect(texts((await storage.listMessages({ threadId: "t1" })).messages)[1]).toEqual(["m2", REDACTED]);
    });

    it("reads a pruned thread from the marker on", async () => {
      const { storage, alice } = await thread();
      // m1 goes; m2's place and its revision stay.
      await alice.prune("t1", { keepLastEvents: 3, onlySummarized: false });
      const { messages, total, hasMore } = await storage.listMessages({ threadId: "t1" });
      expect(texts(messages)).toEqual([
        ["m2", "noted, revised"],
        ["m3", "three"],
      ]);
      expect([total, hasMore]).toEqual([2, false]);
      await storage.saveMessages({ messages: [mastraMessage("m4", 14, "four")] });
      expect(
        texts((await storage.listMessages({ threadId: "t1", perPage: 1, orderBy: { direction: "DESC" } })).messages),
      ).toEqual([["m4", "four"]]);
    });
  });

  describe("OpenAI Agents: FrontdeskSession", () => {
    async function conversation() {
      const sessions = await openShared(store);
      const session = new FrontdeskSession({ sessions, sessionId: "chat-1" });
      const model = new ScriptedModel();
      await run(weatherAgent(model), "hello there", { session });
      await run(weatherAgent(model), "weather in Lisbon", { session });
      return { sessions, session, model, id: session.frontdeskSessionId };
    }

    it("reads a redacted message, call and result as placeholders of the same kind, still paired", async () => {
      const { sessions, session, id } = await conversation();
      const before = await session.getItems();
      await sessions.redactEvent(id, await seqOf(sessions, id, (e) => e.role === "user"), why);
      await sessions.redactEvent(id, await seqOf(sessions, id, (e) => e.type === "tool_call"), why);
      await sessions.redactEvent(id, await seqOf(sessions, id, (e) => e.type === "tool_result"), why);
      await sessions.redactEvent(id, await seqOf(sessions, id, (e) => e.role === "assistant"), why);

      const call = before[3] as { type: string; callId: string; name: string };
      expect(call.type).toBe("function_call");
      expect(await session.getItems()).toEqual([
        { type: "message", role: "user", content: REDACTED },
        { type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: REDACTED }] },
        before[2],
        { type: "function_call", callId: call.callId, name: call.name, arguments: "{}" },
        {
          type: "function_call_result",
          callId: call.callId,
          name: call.name,
          status: "completed",
          output: { type: "text", text: REDACTED },
        },
        before[5],
      ]);
    });

    it("runs on after a redaction: the model is handed the placeholder, and new items land after the notice", async () => {
      const { sessions, session, id } = await conversation();
      await sessions.redactEvent(id, await seqOf(sessions, id, (e) => e.role === "user"), why);
      const model = new ScriptedModel();
      const result = await run(weatherAgent(model), "and now?", { session });
      expect(result.finalOutput).toMatch(/^echo and now\? after/);
      expect(model.inputs[0]?.[0]).toEqual({ type: "message", role: "user", content: REDACTED });
      const items = await session.getItems();
      expect(items.at(-2)).toMatchObject({ role: "user", content: "and now?" });
      expect(await session.popItem()).toMatchObject({ role: "assistant" });
      expect((await session.getItems()).length).toBe(items.length - 1);
    });

    it("pops, adds and reads after hideLastEvents, also when it hides the adapter's own pop marker", async () => {
      const { sessions, session, id } = await conversation();
      const before = await session.getItems();
      const { hidden } = await sessions.hideLastEvents(id, 2, { reason: "rewind" });
      expect(hidden).toHaveLength(2);
      const items = await session.getItems();
      expect(items).toHaveLength(before.length);
      expect(items.slice(-2).every((item) => JSON.stringify(item).includes(REDACTED))).toBe(true);
      expect(items.slice(0, -2)).toEqual(before.slice(0, -2));

      expect(await session.popItem()).toEqual(items.at(-1));
      await session.addItems([{ role: "user", content: "again" }]);
      expect(await session.getItems()).toEqual([...items.slice(0, -1), { role: "user", content: "again" }]);

      // The newest event is now an item; after a pop it is the adapter's marker, which holds no item.
      await session.popItem();
      await sessions.hideLastEvents(id, 1, { reason: "rewind" });
      // The marker said where the history beneath it went on; redacted, the history ends there.
      expect(await session.getItems()).toEqual([]);
      expect(await session.popItem()).toBeUndefined();
      await session.addItems([{ role: "user", content: "fresh start" }]);
      expect(await session.getItems()).toEqual([{ role: "user", content: "fresh start" }]);
    });

    it("runs under a retention policy that prunes the session while it runs", async () => {
      const sessions = await openShared(store, { keepLastEvents: 30, onlySummarized: false });
      const session = new FrontdeskSession({ sessions, sessionId: "chat-1" });
      for (let turn = 0; turn < 40; turn++) {
        const result = await run(
          weatherAgent(new ScriptedModel()),
          turn % 4 === 1 ? `weather in c${turn}` : `hi ${turn}`,
          {
            session,
          },
        );
        expect(result.finalOutput).toBeTruthy();
      }
      expect((await sessions.readEvents(session.frontdeskSessionId)).length).toBeLessThan(30 + 64 + 8);
      expect((await session.getItems()).at(-1)).toMatchObject({ role: "assistant" });
    });

    it("reads a pruned history from the first item after the marker", async () => {
      const { sessions, session, id } = await conversation();
      const before = await session.getItems();
      const { lastSeq } = await sessions.get(id);
      const { prunedThrough } = await sessions.prune(id, { keepLastEvents: 3, onlySummarized: false });
      expect(prunedThrough).toBe(lastSeq - 3);
      const kept = await session.getItems();
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(before.length);
      expect(kept).toEqual(before.slice(-kept.length));
      expect(await session.getItems(1)).toEqual(before.slice(-1));
      // Popping past what is left answers nothing rather than failing.
      for (let i = 0; i < kept.length; i++) expect(await session.popItem()).toEqual(kept.at(-1 - i));
      expect(await session.popItem()).toBeUndefined();
      await session.addItems([{ role: "user", content: "after the prune" }]);
      expect(await session.getItems()).toEqual([{ role: "user", content: "after the prune" }]);
    });
  });
});
