/**
 * The cross-user matrix: user B's key against every route (and both stream kinds) for user A's
 * session answers byte for byte like the same request for a session that does not exist.
 */
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { FakeClock } from "../../src/core/clock.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { createApp } from "../../src/server/app.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { bearer } from "./helpers.ts";

const TARGET = "target";
const START = Date.UTC(2026, 2, 1);

interface World {
  /** A's session "target" exists here. */
  withA: { store: SessionStore; inject: (o: InjectOptions) => Promise<LightMyRequestResponse> };
  /** No session at all here. */
  empty: { store: SessionStore; inject: (o: InjectOptions) => Promise<LightMyRequestResponse> };
  keys: { alice: string; bob: string };
  exported: string;
  close(): Promise<void>;
}

/** Two apps on two stores holding the same API keys, on clocks that read the same. */
async function world(): Promise<World> {
  const storeA = createMemoryStore();
  const storeB = createMemoryStore();
  const clock = new FakeClock(START);
  const alice = await createApiKey(storeA, { userId: "alice", clock });
  const bob = await createApiKey(storeA, { userId: "bob", clock });
  await storeB.putApiKey(alice.record);
  await storeB.putApiKey(bob.record);
  const options = { logger: false as const, limits: { requestsPerSecond: null } };
  const appA = await createApp({ ...options, store: storeA, clock: new FakeClock(START) });
  const appB = await createApp({ ...options, store: storeB, clock: new FakeClock(START) });
  const asAlice = (o: InjectOptions) => appA.inject({ ...o, headers: { ...o.headers, ...bearer(alice.key) } });
  expect(
    (await asAlice({ method: "POST", url: "/v1/sessions", payload: { id: TARGET, state: { secret: 1 } } })).statusCode,
  ).toBe(201);
  await asAlice({
    method: "POST",
    url: `/v1/sessions/${TARGET}/events`,
    payload: {
      events: [
        { type: "message", role: "user", content: "private" },
        { type: "approval_request", approvalId: "apr_1", invocationId: "inv_1", tool: "calculator" },
      ],
    },
  });
  const exported = (await asAlice({ method: "GET", url: `/v1/sessions/${TARGET}/export` })).body;
  return {
    withA: { store: storeA, inject: (o) => appA.inject(o) },
    empty: { store: storeB, inject: (o) => appB.inject(o) },
    keys: { alice: alice.key, bob: bob.key },
    exported,
    async close() {
      await appA.close();
      await appB.close();
    },
  };
}

const VOLATILE_HEADERS = new Set(["date", "connection", "keep-alive"]);
const comparable = (response: LightMyRequestResponse) => ({
  status: response.statusCode,
  headers: Object.fromEntries(Object.entries(response.headers).filter(([name]) => !VOLATILE_HEADERS.has(name))),
  body: response.body,
});

const at = `/v1/sessions/${TARGET}`;
const CASES: Record<string, InjectOptions> = {
  "GET session": { method: "GET", url: at },
  "PATCH session": { method: "PATCH", url: at, payload: { state: { secret: 2 }, title: "mine" } },
  "PATCH session with If-Match": { method: "PATCH", url: at, headers: { "if-match": '"2"' }, payload: { title: "x" } },
  "DELETE session": { method: "DELETE", url: at },
  "DELETE session with If-Match": { method: "DELETE", url: at, headers: { "if-match": '"2"' } },
  "POST events": { method: "POST", url: `${at}/events`, payload: { type: "message", role: "user", content: "x" } },
  "POST events with Idempotency-Key": {
    method: "POST",
    url: `${at}/events`,
    headers: { "idempotency-key": "k1" },
    payload: { type: "custom", name: "n" },
  },
  "POST events with If-Match": {
    method: "POST",
    url: `${at}/events`,
    headers: { "if-match": '"2"' },
    payload: { type: "custom", name: "n" },
  },
  "GET events": { method: "GET", url: `${at}/events` },
  "GET events last": { method: "GET", url: `${at}/events?last=1&type=message` },
  "GET events/stream (SSE)": { method: "GET", url: `${at}/events/stream` },
  "GET events/stream (SSE) with Last-Event-ID": {
    method: "GET",
    url: `${at}/events/stream`,
    headers: { "last-event-id": "1" },
  },
  "GET messages": { method: "GET", url: `${at}/messages?last=5` },
  "GET stats": { method: "GET", url: `${at}/stats` },
  "POST fork": { method: "POST", url: `${at}/fork`, payload: { atSeq: 1 } },
  "GET export": { method: "GET", url: `${at}/export` },
  "POST turns": { method: "POST", url: `${at}/turns`, payload: {} },
  "POST turns with a message": { method: "POST", url: `${at}/turns`, payload: { message: "hello" } },
  "GET approvals": { method: "GET", url: `${at}/approvals` },
  "POST approvals/{approvalId}": {
    method: "POST",
    url: `${at}/approvals/apr_1`,
    payload: { decision: "approve" },
  },
  "POST cancel": { method: "POST", url: `${at}/cancel` },
  "GET ws without upgrade": { method: "GET", url: `${at}/ws` },
  "GET list": { method: "GET", url: "/v1/sessions" },
  "GET list filtered": { method: "GET", url: "/v1/sessions?q=target&tag=a&status=active" },
  "POST create with the same id": { method: "POST", url: "/v1/sessions", payload: { id: TARGET } },
  "POST create with the same id, ifExists=return": {
    method: "POST",
    url: "/v1/sessions?ifExists=return",
    payload: { id: TARGET },
  },
};

let current: World | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe("another user's session is indistinguishable from an absent one", () => {
  for (const [name, request] of Object.entries(CASES)) {
    it(`${name}: B on A's session answers exactly like B on no session`, async () => {
      current = await world();
      const asBob = { ...request, headers: { ...request.headers, ...bearer(current.keys.bob) } };
      const onA = await current.withA.inject(asBob);
      const onNothing = await current.empty.inject(asBob);
      expect(comparable(onA)).toEqual(comparable(onNothing));
      expect(onA.body).not.toContain("private");
      expect(onA.body).not.toContain("secret");
      // A's session is untouched.
      const mine = await current.withA.inject({ method: "GET", url: at, headers: bearer(current.keys.alice) });
      expect(JSON.parse(mine.body)).toMatchObject({ version: 2, lastSeq: 3, state: { secret: 1 }, title: null });
    });
  }

  it("POST import under A's id: B gets their own session, exactly as with no session", async () => {
    current = await world();
    const request: InjectOptions = {
      method: "POST",
      url: `/v1/sessions/import?id=${TARGET}`,
      headers: { ...bearer(current.keys.bob), "content-type": "application/x-ndjson" },
      payload: current.exported,
    };
    const onA = await current.withA.inject(request);
    const onNothing = await current.empty.inject(request);
    expect(onA.statusCode).toBe(201);
    expect(comparable(onA)).toEqual(comparable(onNothing));
    expect(JSON.parse(onA.body).userId).toBe("bob");
  });
});

describe("streams over real sockets", () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function serve(store: SessionStore): Promise<string> {
    const server = await startServer({ store, port: 0, logger: false, closeStore: false });
    servers.push(server);
    return server.url;
  }

  /** The HTTP answer to a WebSocket upgrade that is refused. */
  function refusedUpgrade(url: string, headers: Record<string, string>, protocols?: string[]) {
    return new Promise<{ status: number; body: string; contentType: string | undefined }>((resolve, reject) => {
      const socket = new WebSocket(url, protocols, { headers });
      socket.on("open", () => {
        socket.close();
        reject(new Error("the upgrade was accepted"));
      });
      socket.on("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, contentType: res.headers["content-type"] }));
      });
      socket.on("error", () => undefined);
    });
  }

  it("WebSocket: B's upgrade to A's session is refused exactly like one to an absent session", async () => {
    current = await world();
    const withA = await serve(current.withA.store);
    const empty = await serve(current.empty.store);
    const path = `/v1/sessions/${TARGET}/ws`;
    const headers = bearer(current.keys.bob);
    const onA = await refusedUpgrade(`${withA.replace("http", "ws")}${path}`, headers);
    const onNothing = await refusedUpgrade(`${empty.replace("http", "ws")}${path}`, headers);
    expect(onA.status).toBe(404);
    expect(onA).toEqual(onNothing);
    const viaProtocol = await refusedUpgrade(`${withA.replace("http", "ws")}${path}`, {}, [
      "frontdesk.v1",
      `frontdesk.bearer.${current.keys.bob}`,
    ]);
    expect(viaProtocol).toEqual(onNothing);
  });

  it("SSE: B's stream of A's session is refused exactly like one of an absent session", async () => {
    current = await world();
    const withA = await serve(current.withA.store);
    const empty = await serve(current.empty.store);
    const get = async (base: string) => {
      const res = await fetch(`${base}/v1/sessions/${TARGET}/events/stream`, {
        headers: { ...bearer(current!.keys.bob), accept: "text/event-stream" },
      });
      return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
    };
    const onA = await get(withA);
    expect(onA.status).toBe(404);
    expect(onA).toEqual(await get(empty));
  });
});
