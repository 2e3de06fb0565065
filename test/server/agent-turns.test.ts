/**
 * Agent turns over HTTP on real sockets, on memory and SQLite: a streamed tool turn, approvals
 * answered by a second request (on the same or another instance), deny, cancel by the client going
 * away and by the cancel route (locally and across instances), the turn lock across instances,
 * per-user isolation, the server's time bound (moved by a FakeClock), and the drain on close.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import {
  ASK_CALCULATOR,
  api,
  deltaText,
  doneOf,
  openWorld,
  postTurn,
  STORE_KINDS,
  streamedEvents,
  type TurnStream,
  until,
  type World,
} from "./agent-helpers.ts";

const ofType = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.type === type);
type MessageEvent = Extract<SessionEvent, { type: "message" }> & { finish?: string };
const assistantMessages = (events: readonly SessionEvent[]): MessageEvent[] =>
  events.filter((event): event is MessageEvent => event.type === "message" && event.role === "assistant");

describe.each(STORE_KINDS)("agent turns over HTTP ($name store)", (kind) => {
  let world: World;
  beforeEach(async () => {
    world = await openWorld(kind);
  });
  afterEach(async () => {
    await world.close();
  });

  const createSession = async (server: RunningServer, key: string, id = "s1") => {
    const res = await api(server, key, "POST", "/v1/sessions", { id });
    expect(res.status).toBe(201);
  };
  /** The log without the reply's streamed pieces, which a turn's stream carries as `delta` frames instead. */
  const eventsOf = async (server: RunningServer, key = world.keys.alice, id = "s1") =>
    ((await api(server, key, "GET", `/v1/sessions/${id}/events?limit=1000`)).body.items as SessionEvent[]).filter(
      (event) => !turnDeltaOf(event),
    );
  const pausedOnApproval = async (stream: TurnStream) =>
    JSON.parse((await stream.next((m) => m.event === "approval_request")).data) as { approvalId: string; seq: number };

  it("keeps the AgentSession between turns: the next turn reads what was appended since, not the history", async () => {
    const handle = world.manager("alice").store;
    let eventsRead = 0;
    const counted = new Proxy(handle, {
      get(target, prop, receiver) {
        if (prop === "readEvents") {
          return async (...args: Parameters<SessionStore["readEvents"]>) => {
            const events = await target.readEvents(...args);
            eventsRead += events.length;
            return events;
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    // Summarization off: its threshold check reads recent messages on every turn by design.
    const server = await world.instance({ store: counted, agents: { config: { summarization: { enabled: false } } } });
    await createSession(server, world.keys.alice);
    const history = Array.from({ length: 80 }, (_, i) => ({
      type: "message",
      role: i % 2 ? "assistant" : "user",
      content: `earlier message ${i}`,
    }));
    expect((await api(server, world.keys.alice, "POST", "/v1/sessions/s1/events", { events: history })).status).toBe(
      201,
    );
    const first = await (await postTurn(server, world.keys.alice, "s1", { message: "hello" })).ended;
    expect(doneOf(first)).toMatchObject({ status: "completed" });
    expect(eventsRead).toBeGreaterThanOrEqual(80);
    // Another writer between turns: the kept window reads it, and only it.
    await api(server, world.keys.alice, "POST", "/v1/sessions/s1/events", {
      type: "message",
      role: "user",
      content: "a note written elsewhere",
    });
    const before = eventsRead;
    const second = await (await postTurn(server, world.keys.alice, "s1", { message: "hello again" })).ended;
    expect(doneOf(second)).toMatchObject({ status: "completed" });
    // The second request's stream has its own turn's events, none of the first turn's.
    const streamedTypes = streamedEvents(second).map((event) => event.type);
    expect(streamedTypes).toEqual(["message", "status", "message", "status"]);
    expect(eventsRead - before).toBeLessThan(20);
  });

  it("streams a calculator turn: deltas, every persisted event once with its seq, done; the log and stats agree", async () => {
    const server = await world.instance();
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "compute 2+3*4" });
    expect(stream.status).toBe(200);
    expect(stream.contentType).toContain("text/event-stream");
    const messages = await stream.ended;

    expect(doneOf(messages)).toEqual({ status: "completed", turnId: expect.stringMatching(/^turn_/) });
    expect(messages.at(-1)?.event).toBe("done");
    expect(deltaText(messages)).toContain("2+3*4 = 14");
    const streamed = streamedEvents(messages);
    // Framing as the events stream: id = seq, event = type.
    for (const message of messages.filter((m) => m.event !== "delta" && m.event !== "done")) {
      const event = JSON.parse(message.data) as SessionEvent;
      expect(message.id).toBe(String(event.seq));
      expect(message.event).toBe(event.type);
    }
    expect(streamed.map((event) => event.type)).toEqual([
      "status", // initializing
      "status", // ready
      "message", // user
      "status", // running
      "tool_call",
      "tool_result",
      "message", // assistant: text + tool-call
      "message", // tool result
      "message", // assistant: the answer
      "status", // idle
    ]);
    // Exactly the log, each event once.
    const log = await eventsOf(server);
    expect(streamed.map((event) => event.seq)).toEqual(log.map((event) => event.seq));
    expect(ofType(log, "tool_result")[0]).toMatchObject({
      tool: "calculator",
      status: "success",
      output: { result: 14 },
    });
    expect(assistantMessages(log).at(-1)).toMatchObject({ content: "2+3*4 = 14", finish: "complete" });

    const stats = (await api(server, world.keys.alice, "GET", "/v1/sessions/s1/stats")).body;
    expect(stats).toMatchObject({ messages: 4, toolCalls: 1, toolErrors: 0, toolsUsed: ["calculator"] });
    expect(stats.inputTokens as number).toBeGreaterThan(0);
    expect(stats.outputTokens as number).toBeGreaterThan(0);

    // A second turn attaches to the ready agent: no lifecycle events before its user message.
    const second = await postTurn(server, world.keys.alice, "s1", { message: "what time is it" });
    const secondEvents = streamedEvents(await second.ended);
    expect(secondEvents[0]).toMatchObject({ type: "message", role: "user", content: "what time is it" });
    expect(doneOf(second.messages)?.status).toBe("completed");
    const session = (await api(server, world.keys.alice, "GET", "/v1/sessions/s1")).body;
    expect((session.state as { agent: { phase: string; turn?: unknown } }).agent).toMatchObject({ phase: "idle" });
    expect(session.state).not.toHaveProperty(["process:agent"]);

    const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${world.keys.admin}` } });
    expect(await metrics.text()).toContain('frontdesk_agent_turns_total{status="completed"} 2');
  });

  it("content parts are accepted as the message", async () => {
    const server = await world.instance();
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", {
      message: [{ type: "text", text: "compute 6*7" }],
    });
    const messages = await stream.ended;
    expect(doneOf(messages)?.status).toBe("completed");
    expect(deltaText(messages)).toContain("6*7 = 42");
  });

  it("approval over HTTP: the stream shows the request, a second request approves it, the stream runs to done", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    // While it waits: heartbeats aside, nothing else; the pending list shows it.
    const pending = await api(server, world.keys.alice, "GET", "/v1/sessions/s1/approvals");
    expect(pending.body.items).toEqual([
      expect.objectContaining({ approvalId: request.approvalId, tool: "calculator", input: { expression: "6*7" } }),
    ]);

    const answer = await api(server, world.keys.alice, "POST", `/v1/sessions/s1/approvals/${request.approvalId}`, {
      decision: "approve",
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ approvalId: request.approvalId, decision: "approve", seq: expect.any(Number) });

    const messages = await stream.ended;
    expect(doneOf(messages)?.status).toBe("completed");
    const streamed = streamedEvents(messages);
    const types = streamed.map((event) => event.type);
    expect(types.slice(types.indexOf("tool_call"), types.indexOf("tool_result") + 1)).toEqual([
      "tool_call",
      "approval_request",
      "approval_response",
      "tool_result",
    ]);
    expect(streamed.find((event) => event.type === "approval_response")?.seq).toBe(answer.body.seq);
    expect(assistantMessages(streamed).at(-1)).toMatchObject({ content: "6*7 = 42" });
    const log = await eventsOf(server);
    expect(streamed.map((event) => event.seq)).toEqual(log.map((event) => event.seq));

    // Answered: a second answer is 409, an unknown approval 404, nothing pending.
    const again = await api(server, world.keys.alice, "POST", `/v1/sessions/s1/approvals/${request.approvalId}`, {
      decision: "deny",
    });
    expect(again.status).toBe(409);
    expect((again.body.error as { code: string }).code).toBe("conflict");
    const unknown = await api(server, world.keys.alice, "POST", "/v1/sessions/s1/approvals/apr_nope", {
      decision: "approve",
    });
    expect(unknown.status).toBe(404);
    expect((await api(server, world.keys.alice, "GET", "/v1/sessions/s1/approvals")).body.items).toEqual([]);
  });

  it("an approval answered on another instance resumes the turn", async () => {
    const first = await world.instance({ agents: { config: ASK_CALCULATOR } });
    const second = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(first, world.keys.alice);
    const stream = await postTurn(first, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    const answer = await api(second, world.keys.alice, "POST", `/v1/sessions/s1/approvals/${request.approvalId}`, {
      decision: "approve",
    });
    expect(answer.status).toBe(200);
    const messages = await stream.ended;
    expect(doneOf(messages)?.status).toBe("completed");
    expect(deltaText(messages)).toContain("6*7 = 42");
  });

  it("deny: the tool does not run, its result is denied, the model carries on to done", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    const answer = await api(server, world.keys.alice, "POST", `/v1/sessions/s1/approvals/${request.approvalId}`, {
      decision: "deny",
      reason: "not now",
    });
    expect(answer.body).toMatchObject({ decision: "deny" });
    const messages = await stream.ended;
    expect(doneOf(messages)?.status).toBe("completed");
    const streamed = streamedEvents(messages);
    expect(ofType(streamed, "approval_response")[0]).toMatchObject({ decision: "deny", reason: "not now" });
    expect(ofType(streamed, "tool_result")).toEqual([
      expect.objectContaining({ status: "denied", error: expect.objectContaining({ code: "denied" }) }),
    ]);
    expect(assistantMessages(streamed).at(-1)?.content).toMatch(/^I did not run the calculator tool/);
    const stats = (await api(server, world.keys.alice, "GET", "/v1/sessions/s1/stats")).body;
    expect(stats.toolCalls).toBe(1);
  });

  it("the client going away cancels the turn: the partial reply is kept once, marked cancelled", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    await pausedOnApproval(stream);
    stream.abort();
    await until(async () => {
      const session = (await api(server, world.keys.alice, "GET", "/v1/sessions/s1")).body;
      return (session.state as { agent: { phase: string } }).agent.phase === "idle";
    }, "the turn to end");
    const log = await eventsOf(server);
    expect(assistantMessages(log)).toEqual([
      expect.objectContaining({ finish: "cancelled", content: "Let me calculate that." }),
    ]);
    expect(ofType(log, "tool_result")).toEqual([expect.objectContaining({ status: "cancelled" })]);
    expect(ofType(log, "status").at(-1)).toMatchObject({ status: "idle", reason: "cancelled" });
    expect(new Set(log.map((event) => event.id)).size).toBe(log.length);
    // The next turn runs and does not repeat the cancelled reply.
    const next = await postTurn(server, world.keys.alice, "s1", { message: "hello" });
    expect(doneOf(await next.ended)?.status).toBe("completed");
    expect(assistantMessages(await eventsOf(server)).filter((m) => m.finish === "cancelled")).toHaveLength(1);
  });

  it("POST cancel stops a turn running on this instance: 202 local, done cancelled; then 409 with none running", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    await pausedOnApproval(stream);
    const cancel = await api(server, world.keys.alice, "POST", "/v1/sessions/s1/cancel");
    expect(cancel.status).toBe(202);
    expect(cancel.body).toEqual({ turnId: doneOf(await stream.ended)?.turnId, local: true });
    expect(doneOf(stream.messages)?.status).toBe("cancelled");
    const streamed = streamedEvents(stream.messages);
    expect(assistantMessages(streamed)).toEqual([
      expect.objectContaining({ finish: "cancelled", content: "Let me calculate that." }),
    ]);
    expect(assistantMessages(await eventsOf(server))).toHaveLength(1);
    const none = await api(server, world.keys.alice, "POST", "/v1/sessions/s1/cancel", {});
    expect(none.status).toBe(409);
    expect((none.body.error as { code: string }).code).toBe("conflict");
  });

  it("POST cancel on another instance writes turn.cancel; the instance running the turn stops it", async () => {
    const first = await world.instance({ agents: { config: ASK_CALCULATOR } });
    const second = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(first, world.keys.alice);
    const stream = await postTurn(first, world.keys.alice, "s1", { message: "calculate 6*7" });
    await pausedOnApproval(stream);
    const cancel = await api(second, world.keys.alice, "POST", "/v1/sessions/s1/cancel", { reason: "stop" });
    expect(cancel.status).toBe(202);
    expect(cancel.body.local).toBe(false);
    const messages = await stream.ended;
    expect(doneOf(messages)).toMatchObject({ status: "cancelled", turnId: cancel.body.turnId });
    const log = await eventsOf(first);
    expect(ofType(log, "custom")).toEqual([
      expect.objectContaining({ name: "turn.cancel", data: { turnId: cancel.body.turnId, reason: "stop" } }),
    ]);
    expect(assistantMessages(log)).toEqual([expect.objectContaining({ finish: "cancelled" })]);
    expect(ofType(log, "tool_result")).toEqual([expect.objectContaining({ status: "cancelled" })]);
  });

  it("a second turn while one runs is 409 before any stream, on this instance and on another; nothing is written", async () => {
    const first = await world.instance({ agents: { config: ASK_CALCULATOR } });
    const second = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(first, world.keys.alice);
    const stream = await postTurn(first, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    const before = (await eventsOf(first)).length;
    for (const server of [first, second]) {
      const refused = await postTurn(server, world.keys.alice, "s1", { message: "compute 1+1" });
      expect(refused.status).toBe(409);
      expect(refused.contentType).toContain("application/json");
      expect(JSON.parse(await refused.text).error).toMatchObject({ code: "conflict" });
    }
    expect(await eventsOf(first)).toHaveLength(before);
    await api(first, world.keys.alice, "POST", `/v1/sessions/s1/approvals/${request.approvalId}`, {
      decision: "approve",
    });
    expect(doneOf(await stream.ended)?.status).toBe("completed");
    // Exactly one user message and one turn.
    expect((await eventsOf(first)).filter((e) => e.type === "message" && e.role === "user")).toHaveLength(1);
  });

  it("two turns started at once on two instances: exactly one runs, the other is 409", async () => {
    const first = await world.instance();
    const second = await world.instance();
    await createSession(first, world.keys.alice);
    const [a, b] = await Promise.all([
      postTurn(first, world.keys.alice, "s1", { message: "compute 1+2" }),
      postTurn(second, world.keys.alice, "s1", { message: "compute 3+4" }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? a : b;
    expect(doneOf(await winner.ended)?.status).toBe("completed");
    expect((await eventsOf(first)).filter((e) => e.type === "message" && e.role === "user")).toHaveLength(1);
  });

  it("isolation: bob can neither run a turn, list, approve nor cancel in alice's session: 404 like an absent one", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    const before = (await eventsOf(server)).length;

    const onAlice = await postTurn(server, world.keys.bob, "s1", { message: "hi" });
    const onNothing = await postTurn(server, world.keys.bob, "absent", { message: "hi" });
    expect(onAlice.status).toBe(404);
    expect(await onAlice.text).toBe(await onNothing.text);
    for (const [method, path, body] of [
      ["GET", "/approvals", undefined],
      ["POST", `/approvals/${request.approvalId}`, { decision: "approve" }],
      ["POST", "/cancel", undefined],
    ] as const) {
      const a = await api(server, world.keys.bob, method, `/v1/sessions/s1${path}`, body);
      const n = await api(server, world.keys.bob, method, `/v1/sessions/absent${path}`, body);
      expect(a.status, `${method} ${path}`).toBe(404);
      expect(a.body).toEqual(n.body);
    }
    // Alice's turn is untouched and still waiting; an admin acting for alice may answer.
    expect(await eventsOf(server)).toHaveLength(before);
    const admin = await api(
      server,
      world.keys.admin,
      "POST",
      `/v1/sessions/s1/approvals/${request.approvalId}?userId=alice`,
      { decision: "approve" },
    );
    expect(admin.status).toBe(200);
    expect(doneOf(await stream.ended)?.status).toBe("completed");
  });

  it("a turn running past the server's time bound is cancelled (the FakeClock moves, nothing sleeps)", async () => {
    const server = await world.instance({
      agents: { config: ASK_CALCULATOR, turnTimeoutMs: 60_000 },
      heartbeatMs: 20,
    });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    await pausedOnApproval(stream);
    world.clock.advance(59_000);
    // Heartbeat comments keep arriving while it waits; the turn is still running.
    await until(() => stream.raw().includes(": heartbeat\n\n"), "a heartbeat comment");
    expect(doneOf(stream.messages)).toBeUndefined();
    world.clock.advance(1_001);
    const messages = await stream.ended;
    expect(doneOf(messages)).toMatchObject({ status: "cancelled", message: expect.stringContaining("limit (60 s)") });
    expect(assistantMessages(await eventsOf(server))).toEqual([expect.objectContaining({ finish: "cancelled" })]);
  });

  it("closing the server cancels running turns cleanly (partial reply kept, lock released) before the store closes", async () => {
    const server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    await createSession(server, world.keys.alice);
    const stream = await postTurn(server, world.keys.alice, "s1", { message: "calculate 6*7" });
    await pausedOnApproval(stream);
    await server.close();
    const messages = await stream.ended;
    expect(doneOf(messages)).toMatchObject({ status: "cancelled", message: "The server is shutting down" });
    const alice = world.manager("alice");
    const log = await alice.readEvents("s1");
    expect(assistantMessages(log)).toEqual([
      expect.objectContaining({ finish: "cancelled", content: "Let me calculate that." }),
    ]);
    expect(ofType(log, "tool_result")).toEqual([expect.objectContaining({ status: "cancelled" })]);
    const state = (await alice.get("s1")).state as { agent: { phase: string } };
    expect(state.agent.phase).toBe("idle");
    expect(state).not.toHaveProperty(["process:agent"]);
  });
});
