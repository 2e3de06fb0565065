/**
 * The agent routes' edges through `app.inject()`: validation before anything is written, the
 * config (a whole frontdesk.config.json through agentConfigFrom), `agents: false`, rate limits
 * counting turns and WebSocket agent messages, and the OpenAPI document.
 */
import { afterEach, describe, expect, it } from "vitest";
import { agentConfigFrom } from "../../src/agent/config.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { createApp } from "../../src/server/app.ts";
import { startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { openSocket } from "./agent-helpers.ts";
import { createHarness, errorCodeOf, type Harness } from "./helpers.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const turn = (harness: Harness, payload: unknown, url = "/v1/sessions/s1/turns") =>
  harness.call(harness.keys.alice, { method: "POST", url, payload: payload as Record<string, unknown> });

async function withSession(options: Parameters<typeof createHarness>[0] = {}): Promise<Harness> {
  h = await createHarness(options);
  const created = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions", payload: { id: "s1" } });
  expect(created.statusCode).toBe(201);
  return h;
}

const eventCount = async (harness: Harness): Promise<number> =>
  JSON.parse((await harness.call(harness.keys.alice, { method: "GET", url: "/v1/sessions/s1/events" })).body).items
    .length;

describe("POST turns: refusals before anything is written", () => {
  it("a bad body, an unknown agent or a missing session is a JSON error and writes nothing", async () => {
    const harness = await withSession();
    for (const payload of [
      {},
      { message: "" },
      { message: "   " },
      { message: [] },
      { message: [{ text: "no type" }] },
      { message: 42 },
      { message: "hi", extra: true },
      { message: "hi", agent: "not a name!" },
    ]) {
      const res = await turn(harness, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorCodeOf(res)).toBe("invalid_request");
    }
    const unknown = await turn(harness, { message: "hi", agent: "ghost" });
    expect(unknown.statusCode).toBe(400);
    expect(JSON.parse(unknown.body).error.message).toContain('Unknown agent "ghost"');
    const missing = await turn(harness, { message: "hi" }, "/v1/sessions/absent/turns");
    expect(missing.statusCode).toBe(404);
    const tooLong = await turn(harness, { message: "word ".repeat(20_000) });
    expect(tooLong.statusCode).toBe(400);
    // The too-long message reached the runtime, which initialized the agent but wrote no turn.
    const events = JSON.parse(
      (await harness.call(harness.keys.alice, { method: "GET", url: "/v1/sessions/s1/events" })).body,
    ).items as { type: string }[];
    expect(events.filter((event) => event.type !== "status")).toEqual([]);
  });

  it("unauthenticated turns are 401", async () => {
    const harness = await withSession();
    const res = await harness.call(undefined, {
      method: "POST",
      url: "/v1/sessions/s1/turns",
      payload: { message: "hi" },
    });
    expect(res.statusCode).toBe(401);
    expect(await eventCount(harness)).toBe(0);
  });
});

describe("config", () => {
  const wholeFile = {
    store: "sqlite:./.frontdesk/frontdesk.db",
    port: 7420,
    limits: { maxBodyBytes: 1_000_000 },
    logLevel: "info",
    defaultAgent: "helper",
    agents: {
      helper: { model: "offline", systemPrompt: "You help.", tools: ["calculator"] },
    },
  };

  it("runs agents from a whole frontdesk.config.json (server keys skipped), by name or the default", async () => {
    const harness = await withSession({ agents: { config: agentConfigFrom(wholeFile, {}) } });
    const res = await turn(harness, { message: "compute 2+2" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("2+2 = 4");
    expect(res.body).toContain('"status":"completed"');
    const session = JSON.parse(
      (await harness.call(harness.keys.alice, { method: "GET", url: "/v1/sessions/s1" })).body,
    );
    expect(session.state.agent).toMatchObject({ name: "helper", phase: "idle" });
    const other = await turn(harness, { message: "what time is it", agent: "assistant" });
    expect(other.statusCode).toBe(200);
    expect(other.body).toContain("The current time is");
  });

  it("a raw config is validated when the app is built; bad options are refused", async () => {
    await expect(
      createApp({ store: createMemoryStore(), agents: { config: { agents: { a: { model: "gpt9" } } } } }),
    ).rejects.toMatchObject({ code: "invalid_request", message: expect.stringContaining("agents.a.model") });
    await expect(createApp({ store: createMemoryStore(), agents: { turnTimeoutMs: 0 } })).rejects.toMatchObject({
      code: "invalid_request",
    });
  });

  it("agents: false: turns are 404 and WebSocket agent messages answer not_found; approvals and cancel still answer", async () => {
    const harness = await withSession({ agents: false });
    const res = await turn(harness, { message: "hi" });
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.message).toBe("no agent runtime is configured");
    const cancel = await harness.call(harness.keys.alice, { method: "POST", url: "/v1/sessions/s1/cancel" });
    expect(cancel.statusCode).toBe(409);
    const approve = await harness.call(harness.keys.alice, {
      method: "POST",
      url: "/v1/sessions/s1/approvals/apr_x",
      payload: { decision: "approve" },
    });
    expect(approve.statusCode).toBe(404);
  });
});

describe("rate limits", () => {
  it("a turn takes a token of the key's bucket like any request", async () => {
    const harness = await withSession({ limits: { requestsPerSecond: 1, rateLimitBurst: 2 } });
    // Creating the session took the first token; the turn takes the second.
    const first = await turn(harness, { message: "hello" });
    expect(first.statusCode).toBe(200);
    expect(first.headers["x-ratelimit-remaining"]).toBe("0");
    const second = await turn(harness, { message: "hello" });
    expect(second.statusCode).toBe(429);
    expect(errorCodeOf(second)).toBe("rate_limited");
    expect(second.headers["retry-after"]).toBeDefined();
    // The FakeClock refills it.
    harness.clock.advance(1000);
    expect((await turn(harness, { message: "hello" })).statusCode).toBe(200);
  });

  it("WebSocket agent messages count too; pings do not", async () => {
    const store = createMemoryStore();
    const { key } = await createApiKey(store, { userId: "alice" });
    const server = await startServer({
      store,
      port: 0,
      logger: false,
      limits: { requestsPerSecond: 0.001, rateLimitBurst: 3 },
    });
    try {
      await fetch(`${server.url}/v1/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ id: "s1" }),
      });
      const ws = await openSocket(server, key, "/v1/sessions/s1/ws"); // the upgrade took the second token
      ws.send({ type: "ping" });
      await ws.next((frame) => frame.type === "pong");
      ws.send({ type: "user_message", content: "hello" }); // the third
      expect(await ws.next((frame) => frame.type === "turn")).toMatchObject({ status: "completed" });
      ws.send({ type: "user_message", content: "hello" });
      const refused = await ws.next((frame) => frame.type === "error");
      expect(refused.error).toMatchObject({ code: "rate_limited" });
      ws.socket.close();
    } finally {
      await server.close();
    }
  });
});

describe("OpenAPI", () => {
  it("documents the agent routes with their bodies", async () => {
    h = await createHarness();
    const doc = JSON.parse((await h.app.inject({ method: "GET", url: "/openapi.json" })).body);
    const paths = doc.paths as Record<string, Record<string, { tags?: string[]; requestBody?: unknown }>>;
    expect(paths["/v1/sessions/{id}/turns"]?.post?.tags).toEqual(["agent"]);
    expect(JSON.stringify(paths["/v1/sessions/{id}/turns"]?.post?.requestBody)).toContain("message");
    expect(paths["/v1/sessions/{id}/approvals/{approvalId}"]?.post).toBeDefined();
    expect(JSON.stringify(paths["/v1/sessions/{id}/approvals/{approvalId}"]?.post?.requestBody)).toContain("decision");
    expect(paths["/v1/sessions/{id}/approvals"]?.get).toBeDefined();
    expect(paths["/v1/sessions/{id}/cancel"]?.post).toBeDefined();
    expect(doc.components.schemas.TurnCancel).toBeDefined();
    expect(doc.components.schemas.ApprovalAnswer).toBeDefined();
    expect(doc.tags.map((tag: { name: string }) => tag.name)).toContain("agent");
  });
});
