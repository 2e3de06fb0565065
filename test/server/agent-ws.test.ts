/**
 * Agent messages on the session WebSocket, on memory and SQLite: user_message runs a turn
 * (deltas, the turn's events as event frames, then a turn frame after its last event), approve,
 * deny, cancel, refusals as error frames on a socket that stays open, and a closed socket
 * cancelling its turn.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import {
  ASK_CALCULATOR,
  api,
  isEventFrame,
  openSocket,
  openWorld,
  type Socket,
  STORE_KINDS,
  until,
  type World,
} from "./agent-helpers.ts";

const eventFrames = (socket: Socket): SessionEvent[] =>
  socket.frames.filter((frame) => frame.type === "event").map((frame) => frame.event as SessionEvent);
const errorCode = (frame: Record<string, unknown>): string => (frame.error as { code: string }).code;

describe.each(STORE_KINDS)("agent messages on the WebSocket ($name store)", (kind) => {
  let world: World;
  let server: RunningServer;
  beforeEach(async () => {
    world = await openWorld(kind);
    server = await world.instance({ agents: { config: ASK_CALCULATOR } });
    expect((await api(server, world.keys.alice, "POST", "/v1/sessions", { id: "s1" })).status).toBe(201);
  });
  afterEach(async () => {
    await world.close();
  });

  it("user_message runs a turn: delta frames, its events as event frames, then the turn frame after the last one", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "what time is it" });
    const turn = await ws.next((frame) => frame.type === "turn");
    expect(turn).toEqual({ type: "turn", status: "completed", turnId: expect.stringMatching(/^turn_/) });
    const deltas = ws.frames.filter((frame) => frame.type === "delta").map((frame) => frame.text as string);
    expect(deltas.join("")).toContain("The current time is 2026-01-01T00:00:00.000Z");
    // Every event of the log came once, in seq order, and all of them before the turn frame.
    const log = (await api(server, world.keys.alice, "GET", "/v1/sessions/s1/events")).body.items as SessionEvent[];
    expect(eventFrames(ws).map((event) => event.seq)).toEqual(log.map((event) => event.seq));
    const turnIndex = ws.frames.indexOf(turn);
    const lastEventIndex = ws.frames.findLastIndex((frame) => frame.type === "event");
    expect(lastEventIndex).toBeLessThan(turnIndex);
    expect(log.at(-1)).toMatchObject({ type: "status", status: "idle" });
    ws.socket.close();
  });

  it("approve: the turn waits on approval_request and completes once approved over the same socket", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "calculate 6*7" });
    const request = (await ws.next(isEventFrame("approval_request"))).event as { approvalId: string };
    ws.send({ type: "approve", approvalId: request.approvalId });
    expect(await ws.next((frame) => frame.type === "turn")).toMatchObject({ status: "completed" });
    const events = eventFrames(ws);
    expect(events.find((event) => event.type === "approval_response")).toMatchObject({ decision: "approve" });
    expect(events.filter((event) => event.type === "message" && event.role === "assistant").at(-1)).toMatchObject({
      content: "6*7 = 42",
    });
    // Answering again is refused with an error frame; the socket stays open.
    ws.send({ type: "approve", approvalId: request.approvalId });
    expect(errorCode(await ws.next((frame) => frame.type === "error"))).toBe("conflict");
    ws.send({ type: "ping" });
    expect(await ws.next((frame) => frame.type === "pong")).toEqual({ type: "pong" });
  });

  it("deny: the tool is denied and the turn still completes", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "calculate 6*7" });
    const request = (await ws.next(isEventFrame("approval_request"))).event as { approvalId: string };
    ws.send({ type: "deny", approvalId: request.approvalId, reason: "no" });
    expect(await ws.next((frame) => frame.type === "turn")).toMatchObject({ status: "completed" });
    expect(eventFrames(ws).find((event) => event.type === "tool_result")).toMatchObject({ status: "denied" });
  });

  it("cancel: the turn ends cancelled with its partial reply kept once", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "calculate 6*7" });
    await ws.next(isEventFrame("approval_request"));
    ws.send({ type: "cancel" });
    expect(await ws.next((frame) => frame.type === "turn")).toMatchObject({ status: "cancelled" });
    const assistant = eventFrames(ws).filter((event) => event.type === "message" && event.role === "assistant");
    expect(assistant).toEqual([expect.objectContaining({ finish: "cancelled", content: "Let me calculate that." })]);
    // Nothing left to cancel.
    ws.send({ type: "cancel" });
    expect(errorCode(await ws.next((frame) => frame.type === "error"))).toBe("conflict");
  });

  it("bad and refused messages get error frames and the socket stays open", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    const errors = async (frame: unknown): Promise<Record<string, unknown>> => {
      const before = ws.frames.filter((f) => f.type === "error").length;
      ws.send(frame);
      await until(() => ws.frames.filter((f) => f.type === "error").length > before, "an error frame");
      return ws.frames.filter((f) => f.type === "error").at(-1) as Record<string, unknown>;
    };
    for (const bad of [
      { type: "user_message" },
      { type: "user_message", content: "   " },
      { type: "user_message", content: [] },
      { type: "user_message", content: "hi", agent: "no such agent!" },
      { type: "approve" },
      { type: "deny", approvalId: 7 },
      { type: "cancel", reason: { no: 1 } },
    ]) {
      const frame = await errors(bad);
      expect(frame.error, JSON.stringify(bad)).toMatchObject({ code: "invalid_request", message: expect.any(String) });
    }
    expect(errorCode(await errors({ type: "user_message", content: "hi", agent: "ghost" }))).toBe("invalid_request");
    expect(errorCode(await errors({ type: "approve", approvalId: "apr_unknown" }))).toBe("not_found");
    expect(errorCode(await errors({ type: "cancel" }))).toBe("conflict");
    expect(errorCode(await errors({ type: "message", content: "old name" }))).toBe("invalid_request");
    // A second turn while one runs (from this socket or another) is a conflict.
    ws.send({ type: "user_message", content: "calculate 6*7" });
    await ws.next(isEventFrame("approval_request"));
    expect(errorCode(await errors({ type: "user_message", content: "compute 1+1" }))).toBe("conflict");
    const other = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    other.send({ type: "user_message", content: "compute 1+1" });
    expect(errorCode(await other.next((frame) => frame.type === "error"))).toBe("conflict");
    // The second socket can answer the first socket's approval.
    const request = eventFrames(ws).find((event) => event.type === "approval_request") as { approvalId: string };
    other.send({ type: "approve", approvalId: request.approvalId });
    expect(await ws.next((frame) => frame.type === "turn")).toMatchObject({ status: "completed" });
    expect(ws.socket.readyState).toBe(ws.socket.OPEN);
    other.socket.close();
  });

  it("closing the socket cancels the turn it started", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "calculate 6*7" });
    await ws.next(isEventFrame("approval_request"));
    ws.socket.close();
    const alice = world.manager("alice");
    await until(async () => {
      const state = (await alice.get("s1")).state as { agent?: { phase: string } };
      return state.agent?.phase === "idle";
    }, "the turn to end");
    const log = await alice.readEvents("s1");
    expect(log.filter((event) => event.type === "tool_result")).toEqual([
      expect.objectContaining({ status: "cancelled" }),
    ]);
  });

  it("isolation: bob's socket cannot open on alice's session, and his own socket cannot reach her approvals", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "calculate 6*7" });
    const request = (await ws.next(isEventFrame("approval_request"))).event as { approvalId: string };
    await expect(openSocket(server, world.keys.bob, "/v1/sessions/s1/ws")).rejects.toThrow("HTTP 404");
    expect((await api(server, world.keys.bob, "POST", "/v1/sessions", { id: "s1" })).status).toBe(201);
    const bob = await openSocket(server, world.keys.bob, "/v1/sessions/s1/ws");
    bob.send({ type: "approve", approvalId: request.approvalId });
    expect(errorCode(await bob.next((frame) => frame.type === "error"))).toBe("not_found");
    bob.send({ type: "cancel" });
    expect(errorCode(await bob.next((frame) => frame.type === "error" && errorCode(frame) === "conflict"))).toBe(
      "conflict",
    );
    // Alice's turn is still waiting.
    ws.send({ type: "approve", approvalId: request.approvalId });
    expect(await ws.next((frame) => frame.type === "turn")).toMatchObject({ status: "completed" });
    bob.socket.close();
  });

  it("closing the server ends a socket's turn cancelled, then the stream with shutdown", async () => {
    const ws = await openSocket(server, world.keys.alice, "/v1/sessions/s1/ws");
    ws.send({ type: "user_message", content: "calculate 6*7" });
    await ws.next(isEventFrame("approval_request"));
    await server.close();
    expect((await ws.closed).code).toBe(1012);
    const turn = ws.frames.find((frame) => frame.type === "turn");
    expect(turn).toMatchObject({ status: "cancelled", message: "The server is shutting down" });
    expect(ws.frames.indexOf(turn as Record<string, unknown>)).toBeLessThan(
      ws.frames.findIndex((frame) => frame.type === "shutdown"),
    );
  });
});
