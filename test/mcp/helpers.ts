import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { FrontdeskError } from "../../src/core/errors.ts";
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
