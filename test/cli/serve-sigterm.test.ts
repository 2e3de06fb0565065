import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { POSTGRES, REDIS, type SharedBackend, uniquePrefix } from "../support/backends.ts";
import { assertBuilt, type CliProcess, startServe } from "./processes.ts";

/**
 * SIGTERM drains `frontdesk serve` on every store: a live SSE stream ends with its resume hint,
 * every append the server acknowledged is in the log after a restart (on the durable stores), and
 * the process exits 0. Appends keep arriving while the signal lands, so some are in flight.
 */

interface StoreCase {
  name: string;
  durable: boolean;
  /** The store URL and what removes its data, or why it cannot be had. */
  open(dir: string): { url: string; cleanup?(): Promise<void> } | { missing: string };
}

/** A store of its own on the shared backend's test server, if the environment names one. */
const onBackend = (backend: SharedBackend, label: string) => (): ReturnType<StoreCase["open"]> => {
  const base = backend.url;
  if (base === undefined || base === "") return { missing: `${backend.variable} is not set` };
  const prefix = uniquePrefix(label);
  return { url: backend.scoped(base, prefix), cleanup: () => backend.cleanup(base, prefix) };
};

const STORES: StoreCase[] = [
  { name: "memory", durable: false, open: () => ({ url: "memory:" }) },
  { name: "sqlite", durable: true, open: (dir) => ({ url: `sqlite:${join(dir, "frontdesk.db")}` }) },
  { name: "file", durable: true, open: (dir) => ({ url: `file:${join(dir, "sessions")}` }) },
  { name: "redis", durable: true, open: onBackend(REDIS, "sigterm") },
  { name: "postgres", durable: true, open: onBackend(POSTGRES, "sigterm_") },
];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(() => assertBuilt());

const track = (cli: CliProcess): CliProcess => {
  cleanups.push(() => cli.kill());
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
      const opened = store.open(dir);
      if ("missing" in opened) {
        if (process.env.CI === "true") throw new Error(`${store.name}: ${opened.missing}; CI must test every store`);
        console.warn(`skipping the ${store.name} SIGTERM test: ${opened.missing}`);
        return;
      }
      const { url: storeUrl, cleanup } = opened;
      if (cleanup) cleanups.push(cleanup);
      // No rate limit: the appenders must be stopped by the drain, not by 429s.
      const config = join(dir, "frontdesk.config.json");
      writeFileSync(config, JSON.stringify({ limits: { requestsPerSecond: null } }));
      const args = ["--store", storeUrl, "--port", "0", "--config", config];
      const env = { FRONTDESK_LOG_LEVEL: "info" };

      const first = await startServe(args, env);
      const server = track(first.cli);
      const key = await server.adminKey();
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
