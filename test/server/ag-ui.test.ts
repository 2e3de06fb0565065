/**
 * AG-UI over a real server, driven by `@ag-ui/client`'s own HttpAgent, unchanged: a turn with a
 * tool call, state deltas and an approval (the run ends on an interrupt; the next run's `resume`
 * answers it and streams the rest); a run cut midway and a new run on the thread whose snapshots
 * equal the log; the client's messages checked against the log; bad input; and, on Redis, a reply
 * started on one instance and loaded on another.
 */
import { type BaseEvent, EventType, HttpAgent, type Message } from "@ag-ui/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { openStore } from "../../src/stores/registry.ts";
import { POSTGRES, REDIS, uniquePrefix } from "../support/backends.ts";
import { PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import { ASK_CALCULATOR, api, openWorld, STORE_KINDS, until, type World } from "./agent-helpers.ts";

type Event = BaseEvent & Record<string, unknown>;

const agentOf = (server: RunningServer, key: string, threadId: string) =>
  new HttpAgent({ url: `${server.url}/v1/ag-ui`, headers: { Authorization: `Bearer ${key}` }, threadId });

/** Runs the agent, recording every event it receives. */
async function run(agent: HttpAgent, parameters: Parameters<HttpAgent["runAgent"]>[0] = {}, seen: Event[] = []) {
  await agent.runAgent(parameters, { onEvent: ({ event }) => void seen.push(event as Event) });
  return seen;
}

const typesOf = (events: readonly Event[]) => events.map((event) => event.type);
const snapshotOf = (events: readonly Event[]) =>
  events.find((event) => event.type === EventType.MESSAGES_SNAPSHOT)?.messages as Message[];
const finishedOf = (events: readonly Event[]) => events.find((event) => event.type === EventType.RUN_FINISHED);

/** The log's messages as a reader of GET /events sees them (no streamed pieces). */
async function storedEvents(server: RunningServer, key: string, id: string): Promise<SessionEvent[]> {
  const items = (await api(server, key, "GET", `/v1/sessions/${id}/events?limit=1000`)).body.items as SessionEvent[];
  return items.filter((event) => !turnDeltaOf(event));
}

const postRun = (server: RunningServer, key: string, body: unknown) =>
  fetch(`${server.url}/v1/ag-ui`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
  });

const PACED_CONFIG = (url: string) =>
  parseConfig({
    models: { paced: pacedModelConfig(url) },
    agents: { assistant: { model: "paced", persistDeltas: QUICK_PIECES, prompt: "assistant", tools: [] } },
  });

describe("AG-UI over HTTP (memory store)", () => {
  let world: World;
  let model: PacedModel | undefined;
  beforeEach(async () => {
    world = await openWorld(STORE_KINDS[0] as (typeof STORE_KINDS)[number]);
  });
  afterEach(async () => {
    await world.close();
    await model?.stop();
    model = undefined;
  });

  it("runs a turn with a tool call and state deltas, ends on an approval interrupt, and resume streams the rest", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    const agent = agentOf(server, world.keys.alice, "thread-1");
    agent.addMessage({ id: "mine-1", role: "user", content: "compute 2+3*4" });

    const first = await run(agent);
    expect(typesOf(first).slice(0, 3)).toEqual([
      EventType.RUN_STARTED,
      EventType.MESSAGES_SNAPSHOT,
      EventType.STATE_SNAPSHOT,
    ]);
    // The thread did not exist: it was created for alice, empty.
    expect(snapshotOf(first)).toEqual([]);
    expect(typesOf(first)).toContain(EventType.STATE_DELTA);
    const call = first.find((event) => event.type === EventType.TOOL_CALL_START);
    expect(call).toMatchObject({ toolCallName: "calculator" });
    const args = first.find((event) => event.type === EventType.TOOL_CALL_ARGS);
    expect(JSON.parse(String(args?.delta))).toEqual({ expression: "2+3*4" });
    const finished = finishedOf(first);
    expect(finished?.outcome).toMatchObject({
      type: "interrupt",
      interrupts: [{ reason: "tool_approval", toolCallId: call?.toolCallId, metadata: { tool: "calculator" } }],
    });
    expect(first.at(-1)?.type).toBe(EventType.RUN_FINISHED);
    expect(agent.pendingInterrupts).toHaveLength(1);
    // The client's own user message was replaced by the stored one, under its stored id.
    const stored = await storedEvents(server, world.keys.alice, "thread-1");
    const userEvent = stored.find((event) => event.type === "message" && event.role === "user");
    expect(agent.messages[0]).toEqual({ id: userEvent?.id, role: "user", content: "compute 2+3*4" });
    // The state the client holds is the stored state, built by the snapshot and the JSON Patches.
    const waiting = (await api(server, world.keys.alice, "GET", "/v1/sessions/thread-1")).body;
    expect(agent.state).toEqual(waiting.state);
    expect((agent.state as { agent: { phase: string } }).agent.phase).toBe("running");

    const interrupt = agent.pendingInterrupts[0];
    const second = await run(agent, {
      resume: [{ interruptId: String(interrupt?.id), status: "resolved", payload: { approved: true } }],
    });
    expect(typesOf(second).slice(0, 3)).toEqual([
      EventType.RUN_STARTED,
      EventType.MESSAGES_SNAPSHOT,
      EventType.STATE_SNAPSHOT,
    ]);
    const result = second.find((event) => event.type === EventType.TOOL_CALL_RESULT);
    expect(result).toMatchObject({ toolCallId: call?.toolCallId });
    expect(JSON.parse(String(result?.content))).toEqual({ expression: "2+3*4", result: 14 });
    const text = second
      .filter((event) => event.type === EventType.TEXT_MESSAGE_CONTENT)
      .map((event) => event.delta)
      .join("");
    expect(text).toContain("2+3*4 = 14");
    expect(finishedOf(second)?.outcome).toEqual({ type: "success" });
    expect(agent.pendingInterrupts).toEqual([]);

    // Loading the thread from a fresh client (no messages, no new input) runs nothing and gives the same thread.
    const logBefore = await storedEvents(server, world.keys.alice, "thread-1");
    const fresh = agentOf(server, world.keys.alice, "thread-1");
    const load = await run(fresh);
    expect(typesOf(load)).toEqual([
      EventType.RUN_STARTED,
      EventType.MESSAGES_SNAPSHOT,
      EventType.STATE_SNAPSHOT,
      EventType.RUN_FINISHED,
    ]);
    expect(fresh.messages).toEqual(agent.messages);
    const done = (await api(server, world.keys.alice, "GET", "/v1/sessions/thread-1")).body;
    expect(fresh.state).toEqual(done.state);
    expect(agent.state).toEqual(done.state);
    expect(await storedEvents(server, world.keys.alice, "thread-1")).toEqual(logBefore);

    // The snapshot is the log: user message, the reply with its tool call, the result, the final reply.
    const log = await storedEvents(server, world.keys.alice, "thread-1");
    const toolResult = log.find((event) => event.type === "tool_result");
    const replies = log.filter((event) => event.type === "message" && event.role === "assistant");
    expect(fresh.messages.map((message) => message.role)).toEqual(["user", "assistant", "tool", "assistant"]);
    expect(fresh.messages[1]).toMatchObject({
      content: "Let me calculate that.",
      toolCalls: [
        {
          id: toolResult?.type === "tool_result" ? toolResult.invocationId : "",
          function: { name: "calculator", arguments: '{"expression":"2+3*4"}' },
        },
      ],
    });
    expect(fresh.messages[2]).toMatchObject({ id: toolResult?.id, role: "tool" });
    expect(fresh.messages[3]).toMatchObject({
      role: "assistant",
      content: (replies.at(-1) as { content: string }).content,
    });
  });

  it("a cut run leaves the turn running; a new run on the thread gets snapshots equal to the log and the rest", async () => {
    model = await new PacedModel().start();
    model.script = () => ({ text: "one two three four five six seven eight" });
    const server = await world.instance({ agents: { config: PACED_CONFIG(model.url) } });
    const writer = agentOf(server, world.keys.alice, "thread-2");
    writer.addMessage({ id: "mine-2", role: "user", content: "count" });
    const cutEvents: Event[] = [];
    let streamed = "";
    let replyId: string | undefined;
    const cut = writer.runAgent(
      {},
      {
        onEvent: ({ event }) => {
          cutEvents.push(event as Event);
          const e = event as Event;
          if (e.type === EventType.TEXT_MESSAGE_START && e.role === "assistant") replyId = String(e.messageId);
          if (e.type === EventType.TEXT_MESSAGE_CONTENT && e.messageId === replyId) streamed += String(e.delta);
        },
      },
    );
    model.release(3);
    // Pieces may be joined in the log (one write in flight at a time), but all three arrive.
    await until(() => streamed.endsWith("three "), "the first three pieces of the reply");
    writer.abortRun();
    await cut;
    expect(finishedOf(cutEvents)).toBeUndefined();

    // The reply goes on being written: 2 more pieces, then a reader loads the thread mid-reply.
    model.release(2);
    const piecesInLog = async () =>
      (
        (await api(server, world.keys.alice, "GET", "/v1/sessions/thread-2/events?limit=1000")).body
          .items as SessionEvent[]
      )
        .flatMap((event) => turnDeltaOf(event)?.text ?? [])
        .join("");
    await until(async () => (await piecesInLog()) === "one two three four five ", "five pieces in the log");
    const reader = agentOf(server, world.keys.alice, "thread-2");
    const readerEvents: Event[] = [];
    const reading = run(reader, {}, readerEvents);
    await until(() => readerEvents.some((event) => event.type === EventType.STATE_SNAPSHOT), "the snapshots");
    const partial = snapshotOf(readerEvents);
    expect(partial.map((message) => message.role)).toEqual(["user", "assistant"]);
    expect(partial[1]?.content).toBe(await piecesInLog());
    expect(partial[1]?.content).toBe("one two three four five ");

    model.free();
    await reading;
    expect(finishedOf(readerEvents)?.outcome).toEqual({ type: "success" });
    const final = (await storedEvents(server, world.keys.alice, "thread-2")).filter(
      (event) => event.type === "message",
    );
    expect(reader.messages).toEqual([
      { id: final[0]?.id, role: "user", content: "count" },
      { id: partial[1]?.id, role: "assistant", content: "one two three four five six seven eight" },
    ]);

    // The cut client holds a stale prefix of the thread: loading brings it level with the log.
    const writerLoad = await run(writer);
    expect(snapshotOf(writerLoad)).toEqual(reader.messages);
    expect(writer.messages).toEqual(reader.messages);
    const state = (await api(server, world.keys.alice, "GET", "/v1/sessions/thread-2")).body.state;
    expect(writer.state).toEqual(state);
    expect(reader.state).toEqual(state);
  });

  it("checks the client's messages against the log and never stores its messages or state", async () => {
    const server = await world.instance();
    const agent = agentOf(server, world.keys.alice, "thread-3");
    agent.addMessage({ id: "mine-3", role: "user", content: "hello" });
    await run(agent);
    const thread = structuredClone(agent.messages) as { id: string; role: string; content?: string }[];
    expect(thread.map((message) => message.role)).toEqual(["user", "assistant"]);
    const before = await storedEvents(server, world.keys.alice, "thread-3");
    const stateBefore = (await api(server, world.keys.alice, "GET", "/v1/sessions/thread-3")).body.state;
    const input = (messages: unknown[], extra: Record<string, unknown> = {}) => ({
      threadId: "thread-3",
      runId: "r",
      messages,
      ...extra,
    });
    const refused = async (body: unknown, status: number, code: string, text: RegExp) => {
      const res = await postRun(server, world.keys.alice, body);
      expect(res.status).toBe(status);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe(code);
      expect(error.message).toMatch(text);
    };
    const [user, reply] = thread as unknown as [{ id: string }, { id: string }];
    // Rewriting a stored message.
    await refused(input([{ ...user, content: "goodbye" }, reply]), 409, "conflict", /messages\[0\].*rewrites/);
    // Dropping one: a new message from a client that has not seen the whole thread.
    await refused(
      input([user, { id: "new", role: "user", content: "next" }]),
      409,
      "conflict",
      /has 2 stored messages.*sent 1/,
    );
    // Reordering, or inventing one in the middle.
    await refused(input([reply, user]), 409, "conflict", /messages\[0\].*out of place/);
    await refused(
      input([user, { id: "made-up", role: "assistant", content: "sure" }, reply]),
      409,
      "conflict",
      /messages\[1\].*not in the stored thread/,
    );
    // Client state is ignored, and a load run writes nothing.
    const load = await postRun(server, world.keys.alice, input(thread, { state: { agent: "hacked", extra: 1 } }));
    expect(load.status).toBe(200);
    const body = await load.text();
    expect(body).toContain('"type":"RUN_FINISHED"');
    expect(await storedEvents(server, world.keys.alice, "thread-3")).toEqual(before);
    expect((await api(server, world.keys.alice, "GET", "/v1/sessions/thread-3")).body.state).toEqual(stateBefore);

    // Bad input names the field.
    await refused({ runId: "r", messages: [] }, 400, "invalid_request", /threadId/);
    await refused(input([{ id: "x", role: "robot", content: "hi" }]), 400, "invalid_request", /messages/);
    await refused(
      input([], { resume: [{ interruptId: "apr_x", status: "resolved", payload: { yes: 1 } }] }),
      400,
      "invalid_request",
      /resume\[0\]\.payload/,
    );
    await refused({ threadId: "../etc", runId: "r", messages: [] }, 400, "invalid_request", /threadId|session ids/);
    await refused(
      input([], { resume: [{ interruptId: "apr_none", status: "resolved", payload: true }] }),
      404,
      "not_found",
      /apr_none/,
    );
    // Another user's thread answers like a missing one would be created: bob gets his own, empty thread.
    const bob = await postRun(server, world.keys.bob, input([]));
    expect(await bob.text()).toContain('"messages":[]');
  });

  it("refuses a new message while a turn runs (409), and a load run attaches to that turn", async () => {
    model = await new PacedModel().start();
    model.script = () => ({ text: "alpha beta gamma" });
    const server = await world.instance({ agents: { config: PACED_CONFIG(model.url) } });
    const agent = agentOf(server, world.keys.alice, "thread-4");
    agent.addMessage({ id: "m1", role: "user", content: "go" });
    const events: Event[] = [];
    const running = run(agent, {}, events);
    await model.until((m) => m.requests.length === 1, "the model call");
    const snapshot = await postRun(server, world.keys.alice, { threadId: "thread-4", runId: "x", messages: [] });
    const reader = snapshot.body?.getReader();
    const first = new TextDecoder().decode((await reader?.read())?.value);
    expect(first).toContain("RUN_STARTED");
    await reader?.cancel();
    // The client holds the thread up to now (user message); a second message is refused while the turn runs.
    await until(() => agent.messages.length >= 1, "the user message");
    const second = await postRun(server, world.keys.alice, {
      threadId: "thread-4",
      runId: "y",
      messages: [...agent.messages, { id: "m2", role: "user", content: "again" }],
    });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe("conflict");
    model.free();
    await running;
    expect(finishedOf(events)?.outcome).toEqual({ type: "success" });
    expect(agent.messages.at(-1)).toMatchObject({ role: "assistant", content: "alpha beta gamma" });
  });
  it("a cancelled turn ends the run with a cancelled outcome, keeping the partial reply as stored", async () => {
    model = await new PacedModel().start();
    model.script = () => ({ text: "first second third fourth" });
    const server = await world.instance({ agents: { config: PACED_CONFIG(model.url) } });
    const agent = agentOf(server, world.keys.alice, "thread-5");
    agent.addMessage({ id: "m1", role: "user", content: "go" });
    const events: Event[] = [];
    const running = run(agent, {}, events);
    model.release(2);
    await until(
      () => events.filter((event) => event.type === EventType.TEXT_MESSAGE_CONTENT).length >= 2,
      "the first piece",
    );
    const cancel = await api(server, world.keys.alice, "POST", "/v1/sessions/thread-5/cancel", {});
    expect(cancel.status).toBe(202);
    await running;
    expect(finishedOf(events)?.outcome).toEqual({ type: "cancelled" });
    const reply = (await storedEvents(server, world.keys.alice, "thread-5")).find(
      (event) => event.type === "message" && event.role === "assistant",
    );
    expect(reply).toMatchObject({ finish: "cancelled", content: "first second " });
    expect(agent.messages.at(-1)).toMatchObject({ role: "assistant", content: "first second " });
    const fresh = agentOf(server, world.keys.alice, "thread-5");
    await run(fresh);
    expect(fresh.messages).toEqual(agent.messages);
  });
});

describe.each([REDIS, POSTGRES])("AG-UI across two instances on $name", (backend) => {
  const backendUrl = backend.url;
  const cleanups: (() => Promise<void>)[] = [];
  let model: PacedModel;
  afterEach(async () => {
    await model?.stop();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it.skipIf(!backendUrl && !process.env.CI)(
    "a reply started on one instance is loaded mid-reply on the other, with snapshots equal to the log",
    async () => {
      if (!backendUrl) throw new Error(`${backend.variable} is not set`);
      const prefix = uniquePrefix("agui");
      const url = backend.scoped(backendUrl, prefix);
      cleanups.push(() => backend.cleanup(backendUrl, prefix));
      model = await new PacedModel().start();
      model.script = () => ({ text: "red green blue cyan magenta" });
      const config = PACED_CONFIG(model.url);
      const servers: RunningServer[] = [];
      for (let i = 0; i < 2; i++) {
        servers.push(
          await startServer({
            store: await openStore(url),
            port: 0,
            logger: false,
            agents: { config },
            limits: { requestsPerSecond: null },
          }),
        );
      }
      cleanups.push(async () => {
        await Promise.all(servers.map((server) => server.close()));
      });
      const [one, two] = servers as [RunningServer, RunningServer];
      const setup = await openStore(url);
      const key = (await createApiKey(setup, { userId: "carol" })).key;
      await setup.close();

      const writer = agentOf(one, key, "shared-thread");
      writer.addMessage({ id: "c1", role: "user", content: "colors" });
      const writing = run(writer);
      model.release(2);
      await model.until((m) => m.written >= 2, "two pieces");
      await until(async () => {
        const log = (await api(two, key, "GET", "/v1/sessions/shared-thread/events?limit=1000")).body.items as
          | SessionEvent[]
          | undefined;
        return (log ?? []).filter((event) => turnDeltaOf(event)).length >= 2;
      }, "two pieces in the log");

      const reader = agentOf(two, key, "shared-thread");
      const events: Event[] = [];
      const reading = run(reader, {}, events);
      await until(() => events.some((event) => event.type === EventType.STATE_SNAPSHOT), "the snapshots");
      expect(snapshotOf(events).map((message) => message.content)).toEqual(["colors", "red green "]);
      model.free();
      await Promise.all([writing, reading]);
      expect(finishedOf(events)?.outcome).toEqual({ type: "success" });
      const log = (await storedEvents(two, key, "shared-thread")).filter((event) => event.type === "message");
      expect(reader.messages.map((message) => message.content)).toEqual(
        log.map((event) => (event.type === "message" ? event.content : "")),
      );
      expect(reader.messages).toEqual(writer.messages);
      expect(reader.state).toEqual((await api(two, key, "GET", "/v1/sessions/shared-thread")).body.state);
    },
  );
});
