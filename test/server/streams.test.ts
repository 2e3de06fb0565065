/**
 * Live streams over real sockets: SSE resume with no gap and no duplicate under random cuts,
 * bounded buffers for consumers that stop reading, the streams-per-key limit, heartbeats,
 * WebSocket framing and the drain on close.
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type SseMessage, SseParser } from "../../src/client/sse-parser.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, type StartServerOptions, startServer } from "../../src/server/listen.ts";
import { sseEventFrame, wsTransport } from "../../src/server/streams.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { seeded } from "../support/seeded.ts";
import { eventually, openFrameSocket, openStream } from "./helpers.ts";

interface Live {
  server: RunningServer;
  store: SessionStore;
  key: string;
  adminKey: string;
  manager: SessionManager;
}

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

async function live(options: Partial<StartServerOptions> = {}): Promise<Live> {
  const store = createMemoryStore();
  const { key } = await createApiKey(store, { userId: "alice" });
  const { key: adminKey } = await createApiKey(store, { userId: "ops", admin: true });
  const server = await startServer({
    store,
    port: 0,
    logger: false,
    ...options,
    limits: { requestsPerSecond: null, ...options.limits },
  });
  running.push(server);
  const manager = new SessionManager(() => ({}), store, "default").forUser("alice");
  return { server, store, key, adminKey, manager };
}

async function metric(l: Live, line: string): Promise<number> {
  const res = await fetch(`${l.server.url}/metrics`, { headers: { authorization: `Bearer ${l.adminKey}` } });
  const text = await res.text();
  const found = text.split("\n").find((row) => row.startsWith(line));
  return found ? Number(found.slice(line.length).trim()) : 0;
}

/** Reads an SSE response to its end (or until `stop` says so) into messages. */
function collect(
  response: import("node:http").IncomingMessage,
  stop: (messages: SseMessage[]) => boolean = () => false,
): Promise<SseMessage[]> {
  const parser = new SseParser();
  const messages: SseMessage[] = [];
  return new Promise((resolve) => {
    response.setEncoding("utf8");
    response.on("data", (text: string) => {
      messages.push(...parser.push(text));
      if (stop(messages)) resolve(messages);
    });
    response.on("end", () => resolve(messages));
    response.on("close", () => resolve(messages));
    response.on("error", () => resolve(messages));
  });
}

describe("SSE", () => {
  it("a reader cut at random points that resumes with Last-Event-ID receives the log exactly, while appends run", async () => {
    const l = await live({ heartbeatMs: 25 });
    await l.manager.create({ sessionId: "live" });
    const rand = seeded(20260301);
    const TOTAL = 400;
    const writer = (async () => {
      let n = 0;
      while (n < TOTAL) {
        const size = Math.min(1 + Math.floor(rand() * 6), TOTAL - n);
        const batch = Array.from({ length: size }, (_, i) => ({
          type: "custom",
          name: "tick",
          data: { n: n + i + 1, pad: "x".repeat(Math.floor(rand() * 3000)) },
        }));
        await l.manager.appendEvents("live", batch);
        n += size;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    const received: SessionEvent[] = [];
    let last = 0;
    let connections = 0;
    while (last < TOTAL && connections < 2_000) {
      connections++;
      const cutAfter = 1 + Math.floor(rand() * 30_000);
      const { response, destroy } = await openStream(`${l.server.url}/v1/sessions/live/events/stream`, {
        authorization: `Bearer ${l.key}`,
        "last-event-id": String(last),
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers["content-type"]).toContain("text/event-stream");
      const parser = new SseParser();
      let bytes = 0;
      await new Promise<void>((resolve) => {
        response.on("data", (chunk: Buffer) => {
          const take = Math.min(chunk.length, cutAfter - bytes);
          bytes += take;
          // Everything is ASCII, so a cut never splits a character.
          for (const message of parser.push(chunk.subarray(0, take).toString("latin1"))) {
            const event = JSON.parse(message.data) as SessionEvent;
            expect(message.id).toBe(String(event.seq));
            expect(message.event).toBe(event.type);
            received.push(event);
            last = event.seq;
          }
          if (bytes >= cutAfter || last >= TOTAL) {
            destroy();
            resolve();
          }
        });
        response.on("close", () => resolve());
        response.on("error", () => resolve());
      });
    }
    await writer;
    expect(connections).toBeGreaterThan(5);
    expect(received.map((event) => event.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    expect(received).toEqual(JSON.parse(JSON.stringify(await l.manager.readEvents("live"))));
  });

  it("?after= resumes like Last-Event-ID, and Last-Event-ID wins when both are given", async () => {
    const l = await live();
    await l.manager.create({ sessionId: "s" });
    await l.manager.appendEvents(
      "s",
      [1, 2, 3, 4].map((n) => ({ type: "custom", name: `e${n}` })),
    );
    const first = async (query: string, headers: Record<string, string> = {}) => {
      const { response, destroy } = await openStream(`${l.server.url}/v1/sessions/s/events/stream${query}`, {
        authorization: `Bearer ${l.key}`,
        ...headers,
      });
      const messages = await collect(response, (m) => m.length > 0);
      destroy();
      return messages[0]?.id;
    };
    expect(await first("?after=2")).toBe("3");
    expect(await first("?after=1", { "last-event-id": "3" })).toBe("4");
    expect(await first("")).toBe("1");
  });

  it("sends heartbeat comments while idle", async () => {
    const l = await live({ heartbeatMs: 20 });
    await l.manager.create({ sessionId: "idle" });
    const { response, destroy } = await openStream(`${l.server.url}/v1/sessions/idle/events/stream`, {
      authorization: `Bearer ${l.key}`,
    });
    let text = "";
    await new Promise<void>((resolve) => {
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
        if (text.includes(": heartbeat")) resolve();
      });
    });
    destroy();
    expect(text).toContain(": heartbeat\n\n");
  });

  it("ends with event: end when the session is deleted", async () => {
    const l = await live();
    await l.manager.create({ sessionId: "gone" });
    await l.manager.appendEvents("gone", [{ type: "custom", name: "x" }]);
    const { response } = await openStream(`${l.server.url}/v1/sessions/gone/events/stream`, {
      authorization: `Bearer ${l.key}`,
    });
    const done = collect(response);
    await eventually(async () => (await metric(l, 'frontdesk_open_streams{kind="sse"}')) === 1);
    await l.manager.delete("gone");
    const messages = await done;
    expect(messages.map((m) => m.event)).toEqual(["custom", "end"]);
    expect(JSON.parse(messages[1]?.data ?? "{}")).toEqual({ reason: "gone", after: 1 });
  });

  it("a consumer that stops reading is closed with a resume hint once its buffer bound is passed", async () => {
    const l = await live({ limits: { streamBufferBytes: 256 * 1024 }, streamGraceMs: 60_000 });
    await l.manager.create({ sessionId: "slow" });
    const url = new URL(l.server.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `GET /v1/sessions/slow/events/stream HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${l.key}\r\n` +
        "Accept: text/event-stream\r\n\r\n",
    );
    socket.pause();
    const TOTAL = 400;
    const pad = "y".repeat(100 * 1024);
    for (let i = 0; i < TOTAL; i += 10) {
      await l.manager.appendEvents(
        "slow",
        Array.from({ length: 10 }, (_, j) => ({ type: "custom", name: "big", data: { n: i + j + 1, pad } })),
      );
    }
    await eventually(
      async () => (await metric(l, 'frontdesk_streams_ended_total{kind="sse",reason="overflow"}')) === 1,
    );
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve) => {
      socket.on("close", () => resolve());
      socket.resume();
    });
    const text = Buffer.concat(chunks).toString("latin1");
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    // The body is chunked (transfer-encoding); strip the chunk framing before parsing.
    const messages = new SseParser().push(dechunk(body));
    const events = messages.filter((m) => m.event === "custom");
    const final = messages.at(-1);
    expect(final?.event).toBe("overflow");
    const hint = JSON.parse(final?.data ?? "{}") as { after: number };
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThan(TOTAL);
    expect(hint.after).toBe(Number(events.at(-1)?.id));
    expect(events.map((m) => Number(m.id))).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    await eventually(async () => (await metric(l, 'frontdesk_open_streams{kind="sse"}')) === 0);
    // Resuming from the hint continues with the next event.
    const { response, destroy } = await openStream(`${l.server.url}/v1/sessions/slow/events/stream`, {
      authorization: `Bearer ${l.key}`,
      "last-event-id": String(hint.after),
    });
    const next = await collect(response, (m) => m.length > 0);
    destroy();
    expect(next[0]?.id).toBe(String(hint.after + 1));
  });

  it("refuses a stream past maxStreamsPerKey with 429 rate_limited, and accepts again once one closes", async () => {
    const l = await live({ limits: { maxStreamsPerKey: 2 } });
    await l.manager.create({ sessionId: "s" });
    const open = () => openStream(`${l.server.url}/v1/sessions/s/events/stream`, { authorization: `Bearer ${l.key}` });
    const a = await open();
    const b = await open();
    expect([a.response.statusCode, b.response.statusCode]).toEqual([200, 200]);
    const c = await open();
    expect(c.response.statusCode).toBe(429);
    expect(c.response.headers["retry-after"]).toBe("1");
    const body = await new Promise<string>((resolve) => {
      let text = "";
      c.response.setEncoding("utf8");
      c.response.on("data", (chunk: string) => {
        text += chunk;
      });
      c.response.on("end", () => resolve(text));
    });
    expect(JSON.parse(body).error.code).toBe("rate_limited");
    const ws = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${l.server.url.replace("http", "ws")}/v1/sessions/s/ws`, {
        headers: { authorization: `Bearer ${l.key}` },
      });
      socket.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      socket.on("open", () => resolve(101));
      socket.on("error", () => undefined);
    });
    expect(ws).toBe(429);
    a.destroy();
    await eventually(async () => (await metric(l, 'frontdesk_open_streams{kind="sse"}')) === 1);
    const d = await open();
    expect(d.response.statusCode).toBe(200);
    b.destroy();
    d.destroy();
  });
});

/** Removes HTTP/1.1 chunked framing from a (possibly truncated) body. */
function dechunk(body: string): string {
  let out = "";
  let i = 0;
  while (i < body.length) {
    const eol = body.indexOf("\r\n", i);
    if (eol === -1) break;
    const size = Number.parseInt(body.slice(i, eol), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out += body.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
  return out;
}

/** A WebSocket to the live server, as its user unless `headers` says otherwise. */
const openWs = (l: Live, path: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}) =>
  openFrameSocket(`${l.server.url.replace("http", "ws")}${path}`, {
    protocols: options.protocols,
    headers: options.headers ?? { authorization: `Bearer ${l.key}` },
  });

describe("WebSocket", () => {
  it("streams {type:'event'} frames, answers pings and unknown messages, and ends when the session is deleted", async () => {
    const l = await live({ agents: false });
    await l.manager.create({ sessionId: "w" });
    await l.manager.appendEvents("w", [{ type: "custom", name: "before" }]);
    const ws = await openWs(l, "/v1/sessions/w/ws");
    const first = await ws.next((f) => f.type === "event");
    expect((first.event as SessionEvent).seq).toBe(1);
    await l.manager.appendEvents("w", [{ type: "message", role: "user", content: "live" }]);
    const second = await ws.next((f) => f.type === "event" && (f.event as SessionEvent).seq === 2);
    expect((second.event as { content: string }).content).toBe("live");
    ws.socket.send(JSON.stringify({ type: "ping" }));
    expect(await ws.next((f) => f.type === "pong")).toEqual({ type: "pong" });
    ws.socket.send("not json");
    const bad = await ws.next((f) => f.type === "error");
    expect((bad.error as { code: string }).code).toBe("invalid_request");
    ws.socket.send(JSON.stringify({ type: "user_message", content: "hello agent" }));
    const agent = await ws.next((f) => f.type === "error" && (f.error as { code: string }).code === "not_found");
    expect((agent.error as { message: string }).message).toBe("no agent runtime is configured");
    await l.manager.delete("w");
    expect(await ws.next((f) => f.type === "end")).toEqual({ type: "end", reason: "gone", after: 2 });
    expect((await ws.closed).code).toBe(1000);
  });

  it("takes the key from the frontdesk.bearer subprotocol, answers frontdesk.v1, and resumes with ?after=", async () => {
    const l = await live();
    await l.manager.create({ sessionId: "w" });
    await l.manager.appendEvents(
      "w",
      [1, 2, 3].map((n) => ({ type: "custom", name: `e${n}` })),
    );
    const ws = await openWs(l, "/v1/sessions/w/ws?after=2", {
      headers: {},
      protocols: ["frontdesk.v1", `frontdesk.bearer.${l.key}`],
    });
    expect(ws.socket.protocol).toBe("frontdesk.v1");
    const first = await ws.next((f) => f.type === "event");
    expect((first.event as SessionEvent).seq).toBe(3);
    ws.socket.close();
    await expect(openWs(l, "/v1/sessions/w/ws", { headers: {} })).rejects.toThrow("HTTP 401");
    await expect(openWs(l, `/v1/sessions/w/ws?key=${l.key}`, { headers: {} })).rejects.toThrow("HTTP 401");
  });

  it("a consumer that stops reading is closed with code 4008 and a resume hint in its last frame", async () => {
    const l = await live({ limits: { streamBufferBytes: 256 * 1024 }, streamGraceMs: 60_000 });
    await l.manager.create({ sessionId: "slow" });
    const ws = await openWs(l, "/v1/sessions/slow/ws");
    ws.socket.pause();
    const TOTAL = 400;
    const pad = "z".repeat(100 * 1024);
    for (let i = 0; i < TOTAL; i += 10) {
      await l.manager.appendEvents(
        "slow",
        Array.from({ length: 10 }, (_, j) => ({ type: "custom", name: "big", data: { n: i + j + 1, pad } })),
      );
    }
    await eventually(async () => (await metric(l, 'frontdesk_streams_ended_total{kind="ws",reason="overflow"}')) === 1);
    ws.socket.resume();
    const { code, reason } = await ws.closed;
    expect(code).toBe(4008);
    const events = ws.frames.filter((f) => f.type === "event").map((f) => (f.event as SessionEvent).seq);
    const last = ws.frames.at(-1) as { type: string; after: number };
    expect(last.type).toBe("overflow");
    expect(events.length).toBeLessThan(TOTAL);
    expect(last.after).toBe(events.at(-1));
    expect(JSON.parse(reason)).toEqual({ after: last.after });
    expect(events).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
  });
});

describe("drain", () => {
  it("while streams drain, new requests get 503 unavailable with Retry-After and Connection: close", async () => {
    const l = await live({ streamGraceMs: 60_000, limits: { streamBufferBytes: 64 * 1024 * 1024 } });
    await l.manager.create({ sessionId: "d" });
    const url = new URL(l.server.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `GET /v1/sessions/d/events/stream HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${l.key}\r\n\r\n`,
    );
    socket.pause();
    const pad = "q".repeat(100 * 1024);
    for (let i = 0; i < 200; i += 10) {
      await l.manager.appendEvents(
        "d",
        Array.from({ length: 10 }, () => ({ type: "custom", name: "big", data: { pad } })),
      );
    }
    await eventually(async () => (await metric(l, 'frontdesk_open_streams{kind="sse"}')) === 1);
    running.splice(running.indexOf(l.server), 1);
    const closing = l.server.close();
    // The stream cannot flush its shutdown frame while its reader is paused, so the drain is still on.
    let refused: Response | undefined;
    await eventually(async () => {
      refused = await fetch(`${l.server.url}/v1/sessions`, { headers: { authorization: `Bearer ${l.key}` } });
      return refused.status === 503;
    });
    expect(refused?.headers.get("retry-after")).toBe("1");
    expect(refused?.headers.get("connection")).toBe("close");
    expect(await refused?.json()).toEqual({ error: { code: "unavailable", message: "The server is shutting down" } });
    socket.on("data", () => undefined);
    socket.resume();
    await closing;
    socket.destroy();
  });

  it("close() ends live streams with a resume hint, then closes the store", async () => {
    const l = await live();
    await l.manager.create({ sessionId: "d" });
    await l.manager.appendEvents("d", [{ type: "custom", name: "one" }]);
    const { response } = await openStream(`${l.server.url}/v1/sessions/d/events/stream`, {
      authorization: `Bearer ${l.key}`,
    });
    const sse = collect(response);
    const ws = await openWs(l, "/v1/sessions/d/ws");
    await eventually(() => ws.frames.length === 1);
    await eventually(async () => (await metric(l, 'frontdesk_open_streams{kind="sse"}')) === 1);
    running.splice(running.indexOf(l.server), 1);
    await l.server.close();
    const messages = await sse;
    expect(messages.map((m) => m.event)).toEqual(["custom", "shutdown"]);
    expect(JSON.parse(messages[1]?.data ?? "{}")).toEqual({ after: 1 });
    expect((await ws.closed).code).toBe(1012);
    expect(ws.frames.at(-1)).toEqual({ type: "shutdown", after: 1 });
    await expect(l.store.get({ namespace: "default", userId: "alice", id: "d" }, Date.now())).rejects.toMatchObject({
      code: "unavailable",
    });
    // close() is idempotent.
    await l.server.close();
  });
});

describe("frames of a shared event", () => {
  const event = Object.freeze({
    seq: 7,
    id: "e7",
    at: 1,
    type: "message",
    role: "user",
    content: 'quote " and \u2028 line',
  }) as unknown as SessionEvent;

  it("are serialized once and identical for every subscriber, on SSE and WebSocket", () => {
    const expectedSse = `id: 7\nevent: message\ndata: ${JSON.stringify(event)}\n\n`;
    expect(sseEventFrame(event)).toBe(expectedSse);
    expect(sseEventFrame(event)).toBe(expectedSse);
    const sent: string[] = [];
    const socket = {
      OPEN: 1,
      readyState: 1,
      send(text: string, done: () => void) {
        sent.push(text);
        done();
      },
    };
    for (let i = 0; i < 2; i++) wsTransport(socket as unknown as WebSocket).send(event, () => undefined);
    expect(sent).toEqual([JSON.stringify({ type: "event", event }), JSON.stringify({ type: "event", event })]);
  });

  it("of an unfrozen event reflect its current content", () => {
    const mutable = { seq: 1, id: "e1", at: 1, type: "message", role: "user", content: "a" };
    expect(sseEventFrame(mutable as unknown as SessionEvent)).toContain('"content":"a"');
    mutable.content = "b";
    expect(sseEventFrame(mutable as unknown as SessionEvent)).toContain('"content":"b"');
  });
});
