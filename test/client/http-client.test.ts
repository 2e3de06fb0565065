import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createMergePatch, FrontdeskClient } from "../../src/client/http-client.ts";
import { SseParser } from "../../src/client/sse-parser.ts";
import { FrontdeskError, isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(): Promise<{ server: RunningServer; key: string; manager: SessionManager }> {
  const store = createMemoryStore();
  const { key } = await createApiKey(store, { userId: "alice" });
  const server = await startServer({ store, port: 0, logger: false, limits: { requestsPerSecond: null } });
  cleanups.push(() => server.close());
  return { server, key, manager: new SessionManager(() => ({}), store, "default").forUser("alice") };
}

/** A TCP proxy that cuts every connection after a random number of bytes from the server. */
async function cuttingProxy(target: string, seed: number): Promise<{ url: string; cuts: () => number }> {
  let state = seed >>> 0;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let cuts = 0;
  const proxy: Server = createServer((client) => {
    const server = connect(Number(upstream.port), upstream.hostname);
    sockets.add(client);
    sockets.add(server);
    let budget = 200 + Math.floor(rand() * 20_000);
    client.on("data", (chunk) => server.write(chunk));
    server.on("data", (chunk: Buffer) => {
      if (chunk.length < budget) {
        budget -= chunk.length;
        client.write(chunk);
        return;
      }
      client.write(chunk.subarray(0, budget));
      cuts++;
      client.destroy();
      server.destroy();
    });
    const drop = () => {
      client.destroy();
      server.destroy();
    };
    client.on("error", drop);
    server.on("error", drop);
    client.on("close", drop);
    server.on("close", drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => resolve());
      }),
  );
  const address = proxy.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, cuts: () => cuts };
}

describe("subscribe", () => {
  it("resumes with Last-Event-ID across connections cut at random points: no gap, no duplicate", async () => {
    const { server, key, manager } = await serve();
    await manager.create({ sessionId: "live" });
    const proxy = await cuttingProxy(server.url, 7);
    const client = new FrontdeskClient({ baseUrl: proxy.url, apiKey: key, maxReconnects: 50 });
    const TOTAL = 300;
    const writer = (async () => {
      for (let n = 0; n < TOTAL; n += 5) {
        await manager.appendEvents(
          "live",
          Array.from({ length: 5 }, (_, i) => ({
            type: "custom",
            name: "tick",
            data: { n: n + i + 1, pad: "p".repeat(900) },
          })),
        );
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const received: SessionEvent[] = [];
    const subscription = client.subscribe("live");
    for await (const event of subscription) {
      received.push(event);
      if (event.seq === TOTAL) break;
    }
    await writer;
    expect(proxy.cuts()).toBeGreaterThan(3);
    expect(received.map((event) => event.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    expect(received).toEqual(JSON.parse(JSON.stringify(await manager.readEvents("live"))));
  });

  it("ends when the session is deleted, and throws not_found for a missing one", async () => {
    const { server, key, manager } = await serve();
    await manager.create({ sessionId: "s" });
    await manager.appendEvents("s", [{ type: "custom", name: "a" }]);
    const client = new FrontdeskClient({ baseUrl: server.url, apiKey: key });
    const seen: number[] = [];
    for await (const event of client.subscribe("s")) {
      seen.push(event.seq);
      await manager.delete("s");
    }
    expect(seen).toEqual([1]);
    const missing = client.subscribe("nope")[Symbol.asyncIterator]().next();
    await expect(missing).rejects.toMatchObject({ code: "not_found" });
  });

  it("gives up with unavailable when the server is gone", async () => {
    const client = new FrontdeskClient({ baseUrl: "http://127.0.0.1:9", apiKey: "k", maxReconnects: 2 });
    await expect(client.subscribe("s")[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: "unavailable" });
  });
});

describe("errors", () => {
  const fake = (status: number, body: string, headers: Record<string, string> = {}): typeof fetch =>
    (async () => new Response(body, { status, headers })) as typeof fetch;

  it("take the code and message from the error body", async () => {
    const client = new FrontdeskClient({
      baseUrl: "http://x.test",
      apiKey: "k",
      fetch: fake(
        412,
        JSON.stringify({ error: { code: "precondition_failed", message: "m", details: { currentVersion: 3 } } }),
      ),
    });
    const error = await client.get("s").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrontdeskError);
    expect(error).toMatchObject({ code: "precondition_failed", message: "m", details: { currentVersion: 3 } });
  });

  it("fall back to the status when the body is not ours, and carry Retry-After", async () => {
    const proxyPage = new FrontdeskClient({
      baseUrl: "http://x.test",
      apiKey: "k",
      fetch: fake(502, "<html>bad gateway</html>"),
    });
    expect(await proxyPage.get("s").catch((e: FrontdeskError) => e.code)).toBe("internal");
    const busy = new FrontdeskClient({
      baseUrl: "http://x.test",
      apiKey: "k",
      fetch: fake(429, "{}", { "retry-after": "3" }),
    });
    const error = await busy.get("s").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "rate_limited", details: { retryAfterSeconds: 3 } });
  });

  it("a network failure is unavailable", async () => {
    const client = new FrontdeskClient({
      baseUrl: "http://x.test",
      apiKey: "k",
      fetch: (async () => {
        throw new TypeError("fetch failed");
      }) as typeof fetch,
    });
    expect(isFrontdeskError(await client.get("s").catch((e: unknown) => e), "unavailable")).toBe(true);
  });

  it("sends the key only in the Authorization header, and refuses credentials in the URL", async () => {
    const seen: { url: string; headers: Headers }[] = [];
    const client = new FrontdeskClient({
      baseUrl: "http://x.test/",
      apiKey: "fd_secret",
      fetch: (async (url: URL, init: RequestInit) => {
        seen.push({ url: String(url), headers: new Headers(init.headers) });
        return new Response(JSON.stringify({ items: [], nextCursor: null }), { status: 200 });
      }) as unknown as typeof fetch,
    });
    await client.list({ tags: ["a", "b"], status: ["active"], limit: 5 });
    expect(seen[0]?.url).toBe("http://x.test/v1/sessions?status=active&tag=a&tag=b&limit=5");
    expect(seen[0]?.url).not.toContain("fd_secret");
    expect(seen[0]?.headers.get("authorization")).toBe("Bearer fd_secret");
    expect(() => new FrontdeskClient({ baseUrl: "http://u:p@x.test", apiKey: "k" })).toThrow(FrontdeskError);
    expect(() => new FrontdeskClient({ baseUrl: "ftp://x.test", apiKey: "k" })).toThrow(FrontdeskError);
    await expect(
      new FrontdeskClient({ baseUrl: "http://x.test", apiKey: "k" }).create({ ttlMs: 1500 }),
    ).rejects.toMatchObject({ code: "invalid_request" });
  });
});

describe("createMergePatch", () => {
  it("is the RFC 7396 patch from one state to another", () => {
    const before = { a: { x: 1, y: 2 }, b: [1, 2], c: "same", gone: true };
    const after = { a: { x: 1, z: 3 }, b: [1], c: "same", added: { n: null } };
    const patch = createMergePatch(before, after as never);
    expect(patch).toEqual({ a: { y: null, z: 3 }, b: [1], gone: null, added: { n: null } });
  });
});

describe("SseParser", () => {
  it("parses any chunking and line ending", () => {
    const text = 'retry: 1000\r\n\r\n: comment\nid: 1\nevent: custom\ndata: {"a":1}\n\nid: 2\rdata: x\rdata: y\r\r';
    for (const size of [1, 2, 3, 7, 1000]) {
      const parser = new SseParser();
      const messages = [];
      for (let i = 0; i < text.length; i += size) messages.push(...parser.push(text.slice(i, i + size)));
      expect(messages).toEqual([
        { id: "1", event: "custom", data: '{"a":1}' },
        { id: "2", event: "message", data: "x\ny" },
      ]);
    }
  });
});
