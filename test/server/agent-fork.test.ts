/**
 * A fork, export or import taken while a turn runs carries none of that turn: on two server
 * instances sharing one store (memory, and two handles on one SQLite file), the copy has no lock and
 * no pending approvals, its cancel is a 409, a turn on it runs at once, and the original turn,
 * running on the other instance, is untouched.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import {
  ASK_CALCULATOR,
  api,
  auth,
  deltaText,
  doneOf,
  openWorld,
  postTurn,
  STORE_KINDS,
  type TurnStream,
  type World,
} from "./agent-helpers.ts";

const pausedOnApproval = async (stream: TurnStream) =>
  JSON.parse((await stream.next((m) => m.event === "approval_request")).data) as { approvalId: string; seq: number };

describe.each(STORE_KINDS)("a copy never inherits a running turn ($name store)", (kind) => {
  let world: World;
  let first: RunningServer;
  let second: RunningServer;
  beforeEach(async () => {
    world = await openWorld(kind);
    first = await world.instance({ agents: { config: ASK_CALCULATOR } });
    second = await world.instance({ agents: { config: ASK_CALCULATOR } });
    expect((await api(first, world.keys.alice, "POST", "/v1/sessions", { id: "s1" })).status).toBe(201);
  });
  afterEach(async () => {
    await world.close();
  });

  const alice = (server: RunningServer, method: string, path: string, body?: unknown) =>
    api(server, world.keys.alice, method, path, body);

  /** The copy is free on both instances: no lock in its state, nothing pending, cancel refused, a turn runs. */
  const expectFree = async (id: string, copiedApprovalId: string) => {
    for (const server of [first, second]) {
      const copy = (await alice(server, "GET", `/v1/sessions/${id}`)).body;
      expect(copy.state).not.toHaveProperty(["process:agent"]);
      expect((await alice(server, "GET", `/v1/sessions/${id}/approvals`)).body).toEqual({ items: [] });
      const answer = await alice(server, "POST", `/v1/sessions/${id}/approvals/${copiedApprovalId}`, {
        decision: "approve",
      });
      expect(answer.status).toBe(409);
      expect(answer.body.error).toEqual({
        code: "conflict",
        message: `Approval "${copiedApprovalId}" is no longer pending: no turn is waiting for it`,
      });
      const cancel = await alice(server, "POST", `/v1/sessions/${id}/cancel`);
      expect(cancel.status).toBe(409);
      expect(cancel.body.error).toEqual({ code: "conflict", message: "No turn is running in this session" });
    }
    const turn = await postTurn(second, world.keys.alice, id, { message: "hello" });
    expect(turn.status).toBe(200);
    const messages = await turn.ended;
    expect(doneOf(messages)?.status).toBe("completed");
    // The invocation the copy caught waiting is closed as interrupted by the copy's first turn.
    const log = (await alice(second, "GET", `/v1/sessions/${id}/events?type=tool_result`)).body.items as SessionEvent[];
    expect(log).toEqual([
      expect.objectContaining({
        type: "tool_result",
        status: "cancelled",
        error: expect.objectContaining({ code: "interrupted" }),
      }),
    ]);
  };

  /** The original turn, still waiting on the first instance, is answered from the second and completes. */
  const finishOriginal = async (stream: TurnStream, approvalId: string) => {
    expect((await alice(second, "GET", "/v1/sessions/s1/approvals")).body.items).toEqual([
      expect.objectContaining({ approvalId }),
    ]);
    const answer = await alice(second, "POST", `/v1/sessions/s1/approvals/${approvalId}`, { decision: "approve" });
    expect(answer.status).toBe(200);
    const messages = await stream.ended;
    expect(doneOf(messages)?.status).toBe("completed");
    expect(deltaText(messages)).toContain("6*7 = 42");
  };

  it("fork at a seq taken mid-turn, on the other instance", async () => {
    const stream = await postTurn(first, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    const source = (await alice(second, "GET", "/v1/sessions/s1")).body;
    expect(source.state).toHaveProperty(["process:agent", "turn", "id"]);

    const fork = await alice(second, "POST", "/v1/sessions/s1/fork", { atSeq: request.seq, id: "fork1" });
    expect(fork.status).toBe(201);
    expect(fork.body).toMatchObject({
      id: "fork1",
      lastSeq: request.seq,
      parent: { sessionId: "s1", seq: request.seq },
    });
    expect(fork.body.state).toMatchObject({ agent: { name: "assistant" } });
    await expectFree("fork1", request.approvalId);
    await finishOriginal(stream, request.approvalId);
  });

  it("export taken mid-turn and imported on the other instance", async () => {
    const stream = await postTurn(first, world.keys.alice, "s1", { message: "calculate 6*7" });
    const request = await pausedOnApproval(stream);
    const exported = await fetch(`${second.url}/v1/sessions/s1/export`, { headers: auth(world.keys.alice) });
    expect(exported.status).toBe(200);
    const text = await exported.text();
    const header = JSON.parse(text.split("\n")[0] as string) as { session: { state: Record<string, unknown> } };
    expect(header.session.state).not.toHaveProperty(["process:agent"]);

    const imported = await fetch(`${second.url}/v1/sessions/import?id=copy1`, {
      method: "POST",
      headers: { ...auth(world.keys.alice), "content-type": "application/x-ndjson" },
      body: text,
    });
    expect(imported.status).toBe(201);
    await expectFree("copy1", request.approvalId);
    await finishOriginal(stream, request.approvalId);
  });
});
