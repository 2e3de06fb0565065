import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { type McpError, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { FakeClock, SYSTEM_CLOCK } from "../../src/core/clock.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { type McpRoutes, registerMcpRoutes } from "../../src/mcp/http.ts";
import { RESOURCE_NOT_FOUND } from "../../src/mcp/server.ts";
import { trackSessions } from "../../src/mcp/track.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { Authenticator, credentialOf } from "../../src/server/auth.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { call, eventually, resourceJson, structured } from "./helpers.ts";

interface Harness {
  app: FastifyInstance;
  url: string;
  store: SessionStore;
  routes: McpRoutes;
  clock: FakeClock;
  keys: { alice: string; bob: string; admin: string };
}

/** Fastify with only the MCP routes, authenticated exactly as the HTTP API does (store keys, hashed). */
async function startHarness(options: { maxSessionsPerUser?: number; maxSessions?: number } = {}): Promise<Harness> {
  const store = createMemoryStore();
  const clock = new FakeClock(Date.now());
  const keys = {
    alice: (await createApiKey(store, { userId: "alice" })).key,
    bob: (await createApiKey(store, { userId: "bob" })).key,
    admin: (await createApiKey(store, { userId: "root", admin: true })).key,
  };
  const auth = new Authenticator({ store, clock: SYSTEM_CLOCK });
  const app = Fastify({ logger: false });
  const routes = await registerMcpRoutes(app, {
    store,
    clock,
    authenticate: (request) => auth.authenticate(credentialOf(request.headers, false)),
    idleTimeoutMs: 60_000,
    ...options,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/mcp`;
  return { app, url, store, routes, clock, keys };
}

async function connectHttp(url: string, key: string, headers: Record<string, string> = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${key}`, ...headers } },
  });
  const client = new Client({ name: "http-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
  });

describe("MCP over streamable HTTP", () => {
  let h: Harness;
  const clients: Client[] = [];

  beforeEach(async () => {
    h = await startHarness();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close().catch(() => undefined);
    await h.app.close();
    await h.store.close();
  });

  const open = async (key: string, headers?: Record<string, string>) => {
    const connected = await connectHttp(h.url, key, headers);
    clients.push(connected.client);
    return connected;
  };

  it("refuses requests without a valid key with the API's 401 error body", async () => {
    for (const headers of [{}, { authorization: "Bearer fd_nope" }, { authorization: "Basic abc" }] as Record<
      string,
      string
    >[]) {
      const response = await post(h.url, initialize, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    }
    const get = await fetch(h.url, { headers: { accept: "text/event-stream" } });
    expect(get.status).toBe(401);
    expect(h.routes.size()).toBe(0);
  });

  it("serves tools and resources to a client with a key, and keeps bad input from hurting it", async () => {
    const { client } = await open(h.keys.alice);
    const { tools } = await client.listTools();
    expect(tools.length).toBe(10);
    const created = structured<{ session: { id: string; userId: string } }>(
      await call(client, "session_create", { session_id: "web", title: "over http" }),
    );
    expect(created.session).toMatchObject({ id: "web", userId: "alice" });
    await call(client, "session_add_message", { session_id: "web", role: "user", content: "hi" });
    const bad = await call(client, "session_add_message", { session_id: "web", role: "robot", content: 1 });
    expect(bad.isError).toBe(true);
    const read = await client.readResource({ uri: "frontdesk://sessions/web/events" });
    expect(resourceJson<{ items: unknown[] }>(read).items).toHaveLength(1);
    expect(h.routes.size()).toBe(1);
    // Written for alice in the shared store.
    const sessions = new SessionManager(() => ({}), h.store);
    expect((await sessions.forUser("alice").getStatistics("web")).messages).toBe(1);
  });

  it("keeps users apart: tools, resources and MCP sessions of one key are closed to another", async () => {
    const a = await open(h.keys.alice);
    const b = await open(h.keys.bob);
    await call(a.client, "session_create", { session_id: "private", title: "alice only" });
    const got = await call(b.client, "session_get", { session_id: "private" });
    expect(got.structuredContent).toMatchObject({ error: { code: "not_found" } });
    expect(structured<{ items: unknown[] }>(await call(b.client, "session_list", {})).items).toEqual([]);
    expect(structured<{ items: unknown[] }>(await call(b.client, "session_search", { query: "alice" })).items).toEqual(
      [],
    );
    const read = await b.client.readResource({ uri: "frontdesk://sessions/private" }).catch((e: unknown) => e);
    expect((read as McpError).code).toBe(RESOURCE_NOT_FOUND);
    expect((await b.client.listResources()).resources).toEqual([]);

    // Bob's key with Alice's MCP session id: as unknown as a made-up one.
    const aliceMcpSession = a.transport.sessionId as string;
    expect(aliceMcpSession).toBeTruthy();
    const list = { jsonrpc: "2.0", id: 7, method: "tools/list", params: {} };
    const hijack = await post(h.url, list, {
      authorization: `Bearer ${h.keys.bob}`,
      "mcp-session-id": aliceMcpSession,
      "mcp-protocol-version": "2025-06-18",
    });
    const madeUp = await post(h.url, list, {
      authorization: `Bearer ${h.keys.bob}`,
      "mcp-session-id": "00000000-0000-0000-0000-000000000000",
      "mcp-protocol-version": "2025-06-18",
    });
    expect(hijack.status).toBe(404);
    expect(madeUp.status).toBe(404);
    expect(await hijack.json()).toEqual(await madeUp.json());
    // Alice's own session still works.
    expect(
      structured<{ session: { id: string } }>(await call(a.client, "session_get", { session_id: "private" })).session
        .id,
    ).toBe("private");
  });

  it("lets an admin key act for a named user, and refuses that to other keys", async () => {
    const a = await open(h.keys.alice);
    await call(a.client, "session_create", { session_id: "shared-view" });
    const admin = await open(h.keys.admin, { "x-frontdesk-user": "alice" });
    expect(
      structured<{ session: { userId: string } }>(
        await call(admin.client, "session_get", { session_id: "shared-view" }),
      ).session.userId,
    ).toBe("alice");
    const refused = await post(h.url, initialize, {
      authorization: `Bearer ${h.keys.bob}`,
      "x-frontdesk-user": "alice",
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("forbidden");
  });

  it("asks for an initialize first, ends a session on DELETE, and sends subscription updates on the GET stream", async () => {
    const stray = await post(
      h.url,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { authorization: `Bearer ${h.keys.alice}` },
    );
    expect(stray.status).toBe(400);

    const { client, transport } = await open(h.keys.alice);
    await call(client, "session_create", { session_id: "watched" });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    await client.subscribeResource({ uri: "frontdesk://sessions/watched" });
    await new SessionManager(() => ({}), h.store)
      .forUser("alice")
      .addMessage("watched", { role: "user", content: "x" });
    await eventually(() => (updates.includes("frontdesk://sessions/watched") ? true : undefined));

    expect(h.routes.size()).toBe(1);
    await transport.terminateSession();
    expect(h.routes.size()).toBe(0);
  });
});

describe("MCP HTTP session bounds", () => {
  it("closes a user's least recently used MCP session beyond the user's cap", async () => {
    const h = await startHarness({ maxSessionsPerUser: 2 });
    try {
      const first = await connectHttp(h.url, h.keys.alice);
      const second = await connectHttp(h.url, h.keys.alice);
      await call(second.client, "session_list", {});
      const third = await connectHttp(h.url, h.keys.alice);
      expect(h.routes.size()).toBe(2);
      // The first (least recently used) is gone: its next request is refused as an unknown session.
      await expect(first.client.listTools()).rejects.toThrow();
      await call(second.client, "session_list", {});
      await call(third.client, "session_list", {});
      // Another user's sessions do not count against alice's cap.
      const bob = await connectHttp(h.url, h.keys.bob);
      expect(h.routes.size()).toBe(3);
      for (const c of [first, second, third, bob]) await c.client.close().catch(() => undefined);
    } finally {
      await h.app.close();
      await h.store.close();
    }
  });

  it("closes MCP sessions idle past the timeout, but not one with an open stream", async () => {
    const h = await startHarness();
    try {
      const auth = { authorization: `Bearer ${h.keys.alice}` };
      const opened: string[] = [];
      for (let i = 0; i < 2; i++) {
        const response = await post(h.url, initialize, auth);
        expect(response.status).toBe(200);
        await response.text();
        opened.push(response.headers.get("mcp-session-id") as string);
      }
      // The SDK client keeps a GET stream open for server notifications: that is not idle.
      const bob = await connectHttp(h.url, h.keys.bob);
      await eventually(() => (h.routes.size() === 3 && h.routes.active() === 1 ? true : undefined));
      h.clock.advance(30_000);
      expect(await h.routes.sweep()).toBe(0);
      h.clock.advance(40_000);
      expect(await h.routes.sweep()).toBe(2);
      expect(h.routes.size()).toBe(1);
      const expired = await post(
        h.url,
        { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
        { ...auth, "mcp-session-id": opened[0] as string, "mcp-protocol-version": "2025-06-18" },
      );
      expect(expired.status).toBe(404);
      await call(bob.client, "session_list", {});
      await bob.client.close();
    } finally {
      await h.app.close();
      await h.store.close();
    }
  });

  it("refuses a new MCP session when every slot is busy with a request", async () => {
    const h = await startHarness({ maxSessions: 1 });
    try {
      const busy = await connectHttp(h.url, h.keys.alice);
      // An open GET stream keeps the session busy; the SDK client opens one after initialize.
      await eventually(() => (h.routes.active() === 1 ? true : undefined));
      const response = await post(h.url, initialize, { authorization: `Bearer ${h.keys.bob}` });
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: { data: { code: string } } }).error.data.code).toBe("unavailable");
      // Alice's session was not touched.
      await call(busy.client, "session_list", {});
      await busy.client.close();
    } finally {
      await h.app.close();
      await h.store.close();
    }
  });
});

describe("MCP HTTP shutdown", () => {
  it("closes open MCP sessions and their streams when the app closes", async () => {
    const h = await startHarness();
    const { client } = await connectHttp(h.url, h.keys.alice);
    await eventually(() => (h.routes.active() === 1 ? true : undefined));
    const started = Date.now();
    await h.app.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(h.routes.size()).toBe(0);
    await client.close().catch(() => undefined);
    await h.store.close();
  });
});

describe("a tracked tool server over streamable HTTP", () => {
  let server: Server;
  let sessions: SessionManager;

  beforeEach(async () => {
    sessions = new SessionManager(() => ({}), createMemoryStore());
    const transports = new Map<string, StreamableHTTPServerTransport>();
    server = createServer(async (req, res) => {
      const id = req.headers["mcp-session-id"];
      let transport = typeof id === "string" ? transports.get(id) : undefined;
      if (!transport) {
        const mcp = new McpServer({ name: "demo", version: "1.0.0" });
        mcp.registerTool("slow_echo", { inputSchema: { text: z.string() } }, async ({ text }) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return { content: [{ type: "text", text }] };
        });
        trackSessions(mcp, { sessions });
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          onsessioninitialized: (sid) => {
            transports.set(sid, created);
          },
        });
        await mcp.connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("records calls without session_id in the MCP connection's session, with their durations", async () => {
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
    const transport = new StreamableHTTPClientTransport(url);
    const client = new Client({ name: "c", version: "1" });
    await client.connect(transport);
    await call(client, "slow_echo", { text: "one" });
    await call(client, "slow_echo", { text: "two", session_id: "named" });
    const connection = transport.sessionId as string;
    const results = (await sessions.readEvents(connection)).filter((e) => e.type === "tool_result") as (SessionEvent & {
      type: "tool_result";
    })[];
    expect(results.map((r) => [r.tool, r.input, r.status])).toEqual([["slow_echo", { text: "one" }, "success"]]);
    expect(results[0]?.durationMs).toBeGreaterThanOrEqual(15);
    expect((await sessions.getStatistics("named")).toolCalls).toBe(1);
    await client.close();
  });
});
