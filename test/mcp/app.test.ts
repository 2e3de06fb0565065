// The MCP routes inside the real Frontdesk server: createApp mounts registerMcpRoutes at /mcp.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESOURCE_NOT_FOUND } from "../../src/mcp/server.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { call, structured } from "./helpers.ts";

describe("/mcp in the Frontdesk server", () => {
  let server: RunningServer;
  const keys = { alice: "", bob: "" };

  beforeAll(async () => {
    const store = createMemoryStore();
    keys.alice = (await createApiKey(store, { userId: "alice" })).key;
    keys.bob = (await createApiKey(store, { userId: "bob" })).key;
    server = await startServer({ store, port: 0, logger: false });
  });

  afterAll(async () => {
    await server.close();
  });

  const connect = async (key: string) => {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    });
    const client = new Client({ name: "app-test", version: "1.0.0" });
    await client.connect(transport);
    return client;
  };

  it("answers 401 with the API's error body without a key", async () => {
    const response = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("serves each key's user, isolated from the others, and the same sessions as the HTTP API", async () => {
    const alice = await connect(keys.alice);
    const bob = await connect(keys.bob);
    await call(alice, "session_create", { session_id: "via-mcp", title: "made over MCP" });
    const got = await call(bob, "session_get", { session_id: "via-mcp" });
    expect(got.structuredContent).toMatchObject({ error: { code: "not_found" } });
    const read = await bob.readResource({ uri: "frontdesk://sessions/via-mcp" }).catch((e: unknown) => e);
    expect((read as McpError).code).toBe(RESOURCE_NOT_FOUND);
    const http = await fetch(`${server.url}/v1/sessions/via-mcp`, {
      headers: { authorization: `Bearer ${keys.alice}` },
    });
    expect(http.status).toBe(200);
    expect(((await http.json()) as { title: string }).title).toBe("made over MCP");
    expect(
      structured<{ session: { id: string } }>(await call(alice, "session_get", { session_id: "via-mcp" })).session.id,
    ).toBe("via-mcp");
    await alice.close();
    await bob.close();
  });
});
