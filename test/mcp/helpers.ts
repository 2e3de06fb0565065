import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { FrontdeskError } from "../../src/core/errors.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { openStore } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";

/** A client connected to `server` through the SDK's in-memory transport pair. */
export async function connect(server: McpServer, name = "test-client"): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** The text of a result's first content part. */
export const textOf = (result: CallToolResult): string => {
  const first = result.content?.[0];
  return first && first.type === "text" ? first.text : "";
};

/** Structured content of a successful call; fails the test with the error text otherwise. */
export function structured<T = Record<string, unknown>>(result: CallToolResult): T {
  if (result.isError) throw new Error(`tool failed: ${textOf(result)}`);
  return result.structuredContent as T;
}

/** A scratch directory removed by the returned function. */
export function scratch(prefix = "fd-mcp-"): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A store whose writes (or every call) fail with `unavailable` while `down` is true. */
export function flakyStore(store: SessionStore): { store: SessionStore; setDown(down: boolean): void } {
  let down = false;
  const failing = new Set(["commit", "get", "readEvents", "list"]);
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (down && failing.has(String(property))) {
          return Promise.reject(new FrontdeskError("unavailable", "store down (test)"));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, setDown: (value) => (down = value) };
}

/** Waits until `check` returns a value other than undefined (polling every few ms). */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The JSON in a resource read's first content. */
export function resourceJson<T = Record<string, unknown>>(result: { contents: unknown[] }): T {
  const first = result.contents[0] as { text?: unknown } | undefined;
  if (typeof first?.text !== "string") throw new Error("the resource has no text content");
  return JSON.parse(first.text) as T;
}

export type StoreFactory = () => Promise<{ store: SessionStore; close(): Promise<void> }>;

/**
 * Every store the MCP layer is run against: memory, SQLite and the filesystem always; Redis and
 * PostgreSQL when FRONTDESK_TEST_REDIS_URL / FRONTDESK_TEST_POSTGRES_URL name a server.
 */
export function testStores(): [string, StoreFactory][] {
  const onDisk =
    (scheme: "sqlite" | "file"): StoreFactory =>
    async () => {
      const dir = scratch();
      const store = await openStore(scheme === "sqlite" ? `sqlite:${dir.dir}/t.db` : `file:${dir.dir}/sessions`);
      return {
        store,
        close: async () => {
          await store.close();
          dir.remove();
        },
      };
    };
  const stores: [string, StoreFactory][] = [
    ["memory", async () => ({ store: createMemoryStore(), close: async () => {} })],
    ["sqlite", onDisk("sqlite")],
    ["fs", onDisk("file")],
  ];
  const unique = () => `mcp${randomBytes(6).toString("hex")}`;
  const redis = process.env.FRONTDESK_TEST_REDIS_URL;
  if (redis) {
    stores.push([
      "redis",
      async () => {
        const { createRedisStore } = await import("../../src/stores/redis/index.ts");
        const store = createRedisStore({ url: redis, keyPrefix: unique(), logger: { warn: () => undefined } });
        return { store, close: () => store.close() };
      },
    ]);
  }
  const postgres = process.env.FRONTDESK_TEST_POSTGRES_URL;
  if (postgres) {
    stores.push([
      "postgres",
      async () => {
        const { createPostgresStore } = await import("../../src/stores/postgres/index.ts");
        const schema = `fd_${unique()}`;
        const store = createPostgresStore({ url: postgres, schema, maxConnections: 4 });
        return {
          store,
          close: async () => {
            await store.close();
            const pg = (await import("pg")).default;
            const admin = new pg.Pool({ connectionString: postgres, max: 1 });
            await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
          },
        };
      },
    ]);
  }
  return stores;
}
