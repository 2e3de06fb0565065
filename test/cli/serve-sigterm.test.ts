import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, type CliProcess, startServe } from "./processes.ts";

/**
 * SIGTERM drains `frontdesk serve` on every store: a live SSE stream ends with its resume hint,
 * every append the server acknowledged is in the log after a restart (on the durable stores), and
 * the process exits 0. Appends keep arriving while the signal lands, so some are in flight.
 */

interface StoreCase {
  name: string;
  durable: boolean;
  /** The store URL, or why it cannot be had. */
  url(dir: string): string | { missing: string };
  cleanup?(url: string): Promise<void>;
}

const scoped = (base: string, param: string, value: string) =>
  `${base}${base.includes("?") ? "&" : "?"}${param}=${value}`;

const fromEnv = (variable: string, param: string, prefix: string) => (): string | { missing: string } => {
  const base = process.env[variable];
  if (base === undefined || base === "") return { missing: `${variable} is not set` };
  return scoped(base, param, `${prefix}${randomBytes(5).toString("hex")}`);
};

const STORES: StoreCase[] = [
  { name: "memory", durable: false, url: () => "memory:" },
  { name: "sqlite", durable: true, url: (dir) => `sqlite:${join(dir, "frontdesk.db")}` },
  { name: "file", durable: true, url: (dir) => `file:${join(dir, "sessions")}` },
  {
    name: "redis",
    durable: true,
    url: fromEnv("FRONTDESK_TEST_REDIS_URL", "prefix", "sigterm"),
    async cleanup(url) {
      const parsed = new URL(url);
      const prefix = parsed.searchParams.get("prefix") as string;
      parsed.searchParams.delete("prefix");
      const { Redis } = await import("ioredis");
      const client = new Redis(parsed.href);
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== "0");
      await client.quit();
    },
  },
  {
    name: "postgres",
    durable: true,
    url: fromEnv("FRONTDESK_TEST_POSTGRES_URL", "schema", "sigterm_"),
    async cleanup(url) {
      const parsed = new URL(url);
      const schema = parsed.searchParams.get("schema") as string;
      parsed.searchParams.delete("schema");
      const pg = await import("pg");
      const client = new pg.default.Client({ connectionString: parsed.href });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  },
];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(() => assertBuilt());

const track = (cli: CliProcess): CliProcess => {
  cleanups.push(async () => {
    if (cli.child.exitCode === null && cli.child.signalCode === null) await cli.stop("SIGKILL");
  });
  return cli;
};

interface SseFrame {
  id?: number;
  event: string;
  data: string;
  retry?: number;
}

/** Reads an SSE body to its end and splits it into frames (comments dropped). */
async function readWholeStream(body: ReadableStream<Uint8Array>, onFrame: (frame: SseFrame) => void) {
  const frames: SseFrame[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame: SseFrame = { event: "message", data: "" };
      let meaningful = false;
      for (const line of text.split("\n")) {
        if (line.startsWith(":")) continue;
        meaningful = true;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") frame.id = Number(value);
        else if (field === "event") frame.event = value;
        else if (field === "data") frame.data += value;
        else if (field === "retry") frame.retry = Number(value);
      }
      if (meaningful) {
        frames.push(frame);
        onFrame(frame);
      }
    }
  }
  return { frames, rest: buffer };
}

/** Resolves once `condition()` holds, re-checked by `poke()`; fails after `timeoutMs`. */
function waitUntil(condition: () => boolean, timeoutMs: number, what: string) {
  let poke = (): void => {};
  const reached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    poke = () => {
      if (condition()) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  return { reached, poke: () => poke() };
}

const APPENDERS = 4;

describe("frontdesk serve drains on SIGTERM", () => {
  for (const store of STORES) {
    it(`${store.name}: the SSE stream ends with its resume hint, acknowledged appends survive, exit 0`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `fd-sigterm-${store.name}-`));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const storeUrl = store.url(dir);
      if (typeof storeUrl !== "string") {
        if (process.env.CI === "true") throw new Error(`${store.name}: ${storeUrl.missing}; CI must test every store`);
        console.warn(`skipping the ${store.name} SIGTERM test: ${storeUrl.missing}`);
        return;
      }
      if (store.cleanup) cleanups.push(() => store.cleanup?.(storeUrl));
      // No rate limit: the appenders must be stopped by the drain, not by 429s.
      const config = join(dir, "frontdesk.config.json");
      writeFileSync(config, JSON.stringify({ limits: { requestsPerSecond: null } }));
      const args = ["--store", storeUrl, "--port", "0", "--config", config];
      const env = { FRONTDESK_LOG_LEVEL: "info" };

      const first = await startServe(args, env);
      const server = track(first.cli);
      const key = (await server.waitFor(/\(shown once\): (fd_\S+)/, { stream: "stderr" }))[1] as string;
      const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
      const created = await fetch(`${first.url}/v1/sessions`, {
        method: "POST",
        headers,
        body: JSON.stringify({ id: "drain" }),
      });
      expect(created.status).toBe(201);

      const streamResponse = await fetch(`${first.url}/v1/sessions/drain/events/stream`, {
        headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
      });
      expect(streamResponse.status).toBe(200);
      let streamed = 0;
      const acknowledged = new Map<number, string>();
      const statuses = new Set<number>();
      const progress = waitUntil(() => acknowledged.size >= 20 && streamed >= 5, 30_000, "appends and streamed events");
      const stream = readWholeStream(streamResponse.body as ReadableStream<Uint8Array>, (frame) => {
        if (frame.id !== undefined) streamed++;
        progress.poke();
      });

      // Each appender writes until the server stops answering: some appends are in flight when SIGTERM lands.
      const appenders = Array.from({ length: APPENDERS }, async (_, appender) => {
        for (let n = 0; ; n++) {
          const content = `appender ${appender} #${n}`;
          let response: Response;
          try {
            response = await fetch(`${first.url}/v1/sessions/drain/events`, {
              method: "POST",
              headers,
              body: JSON.stringify({ type: "message", role: "user", content }),
            });
          } catch {
            return; // the server closed its port: nothing more gets in
          }
          statuses.add(response.status);
          if (response.status !== 201) {
            await response.arrayBuffer();
            return;
          }
          const body = (await response.json()) as { seqs: number[] };
          acknowledged.set(body.seqs[0] as number, content);
          progress.poke();
        }
      });

      await progress.reached;
      const exit = server.stop("SIGTERM");
      await Promise.all(appenders);
      expect(await exit).toEqual({ code: 0, signal: null });
      expect(server.stderr).toMatch(/"reason":"SIGTERM","msg":"draining"/);
      expect(server.stderr).toMatch(/"msg":"stopped"/);
      // Only acknowledgements and the drain's 503: never another failure.
      expect([...statuses].filter((status) => status !== 201 && status !== 503)).toEqual([]);

      // (a) The stream ended, and its last frame is the shutdown hint naming the last seq it sent.
      const { frames, rest } = await stream;
      expect(rest.trim()).toBe("");
      const last = frames.at(-1) as SseFrame;
      const sent = frames.filter((frame) => frame.id !== undefined).map((frame) => frame.id as number);
      expect(last.event).toBe("shutdown");
      expect(last.retry).toBeGreaterThan(0);
      expect(JSON.parse(last.data)).toEqual({ after: sent.at(-1) });
      expect(sent).toEqual(Array.from({ length: sent.length }, (_, i) => i + 1));

      if (!store.durable) return;
      // (b) After a restart on the same store, every acknowledged append is in the log.
      const second = await startServe(args, env);
      const restarted = track(second.cli);
      const logged = new Map<number, string>();
      for (let after: number | null = 0; after !== null; ) {
        const page = await fetch(`${second.url}/v1/sessions/drain/events?after=${after}&limit=1000`, { headers });
        expect(page.status).toBe(200);
        const body = (await page.json()) as { items: { seq: number; content: string }[]; nextAfter: number | null };
        for (const event of body.items) logged.set(event.seq, event.content);
        after = body.nextAfter;
      }
      expect(acknowledged.size).toBeGreaterThanOrEqual(20);
      for (const [seq, content] of acknowledged) expect(logged.get(seq), `seq ${seq}`).toBe(content);
      expect(await restarted.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    }, 120_000);
  }
});
