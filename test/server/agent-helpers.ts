/**
 * Shared by the agent route tests: servers on real sockets over memory and SQLite (two instances
 * may share one store, or two handles on one SQLite file), a streaming POST that parses SSE as it
 * arrives, and a WebSocket that collects frames (both built on helpers.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/agent/config.ts";
import { type SseMessage, SseParser } from "../../src/client/sse-parser.ts";
import { FakeClock } from "../../src/core/clock.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, type StartServerOptions, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { Arrivals, type FrameSocket, openFrameSocket } from "./helpers.ts";

/** The calculator asks for approval; otherwise the default assistant on the offline model. */
export const ASK_CALCULATOR = parseConfig({
  agents: {
    assistant: {
      model: "offline",
      prompt: "assistant",
      tools: ["calculator", "clock"],
      approval: { calculator: "ask" },
    },
  },
});

export interface StoreKind {
  name: string;
  /** Opens the backing storage; `handle()` gives one store object per server instance. */
  open(): { handle(): SessionStore; cleanup(): Promise<void> };
}

export const STORE_KINDS: StoreKind[] = [
  {
    name: "memory",
    open() {
      // Instances in one process share the one memory store (a shared backend); servers never close it.
      const store = createMemoryStore();
      return { handle: () => store, cleanup: () => store.close() };
    },
  },
  {
    name: "sqlite",
    open() {
      const dir = mkdtempSync(join(tmpdir(), "frontdesk-agent-server-"));
      const handles: SessionStore[] = [];
      return {
        // Each instance opens the file itself, as separate processes would.
        handle() {
          const store = createSqliteStore({ path: join(dir, "frontdesk.db"), pollIntervalMs: 10 });
          handles.push(store);
          return store;
        },
        async cleanup() {
          await Promise.all(handles.map((store) => store.close().catch(() => undefined)));
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

export interface World {
  clock: FakeClock;
  keys: { alice: string; bob: string; admin: string };
  /** Starts a server instance on its own handle of the shared storage. */
  instance(options?: Partial<StartServerOptions>): Promise<RunningServer>;
  /** A manager bound to a user, on its own store handle (as another process would read). */
  manager(userId: string): SessionManager<object>;
  close(): Promise<void>;
}

export async function openWorld(kind: StoreKind): Promise<World> {
  const storage = kind.open();
  const clock = new FakeClock();
  const setup = storage.handle();
  const alice = (await createApiKey(setup, { userId: "alice", clock })).key;
  const bob = (await createApiKey(setup, { userId: "bob", clock })).key;
  const admin = (await createApiKey(setup, { userId: "ops", admin: true, clock })).key;
  const servers: RunningServer[] = [];
  return {
    clock,
    keys: { alice, bob, admin },
    async instance(options = {}) {
      const server = await startServer({
        store: storage.handle(),
        port: 0,
        logger: false,
        clock,
        closeStore: false,
        ...options,
        limits: { requestsPerSecond: null, ...options.limits },
      });
      servers.push(server);
      return server;
    },
    manager(userId) {
      return new SessionManager<object>(() => ({}), storage.handle(), "default", { clock }).forUser(userId);
    },
    async close() {
      await Promise.all(servers.map((server) => server.close()));
      await storage.cleanup();
    },
  };
}

export const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** A JSON request over fetch; returns the status, headers and parsed body. */
export async function api(
  server: RunningServer,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...auth(key), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? {} : JSON.parse(text) };
}

export interface TurnStream {
  status: number;
  contentType: string;
  /** Every SSE message so far. */
  messages: SseMessage[];
  /** Resolves with every message when the server ends the stream (or the connection drops). */
  ended: Promise<SseMessage[]>;
  /** Resolves with the first message matching. */
  next(predicate: (message: SseMessage) => boolean): Promise<SseMessage>;
  /** The whole body, when the server has ended it. */
  text: Promise<string>;
  /** The body received so far (comments included). */
  raw(): string;
  /** Drops the connection (the client going away). */
  abort(): void;
}

/** `POST /v1/sessions/{id}/turns` over a real socket, parsed as it streams. */
export function postTurn(server: RunningServer, key: string, sessionId: string, body: unknown): Promise<TurnStream> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = httpRequest(
      `${server.url}/v1/sessions/${sessionId}/turns`,
      {
        method: "POST",
        headers: {
          ...auth(key),
          accept: "text/event-stream",
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
      },
      (response) => {
        const parser = new SseParser();
        const arrivals = new Arrivals<SseMessage>();
        const messages = arrivals.items;
        let raw = "";
        let finish!: (messages: SseMessage[]) => void;
        let finishText!: (text: string) => void;
        const ended = new Promise<SseMessage[]>((r) => (finish = r));
        const text = new Promise<string>((r) => (finishText = r));
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          raw += chunk;
          for (const message of parser.push(chunk)) arrivals.push(message);
        });
        const done = () => {
          finish(messages);
          finishText(raw);
        };
        response.on("end", done);
        response.on("close", done);
        response.on("error", done);
        resolve({
          status: response.statusCode ?? 0,
          contentType: String(response.headers["content-type"] ?? ""),
          messages,
          ended,
          text,
          raw: () => raw,
          next: (predicate) => arrivals.next(predicate),
          abort: () => req.destroy(),
        });
      },
    );
    req.on("error", (error) => {
      if ((error as NodeJS.ErrnoException).code !== "ECONNRESET") reject(error);
    });
    req.end(payload);
  });
}

/** The persisted events of a stream (every message but `delta` and `done`), parsed. */
export const streamedEvents = (messages: readonly SseMessage[]): SessionEvent[] =>
  messages.filter((m) => m.event !== "delta" && m.event !== "done").map((m) => JSON.parse(m.data) as SessionEvent);

export const doneOf = (messages: readonly SseMessage[]): Record<string, unknown> | undefined => {
  const done = messages.find((m) => m.event === "done");
  return done ? (JSON.parse(done.data) as Record<string, unknown>) : undefined;
};

export const deltaText = (messages: readonly SseMessage[]): string =>
  messages
    .filter((m) => m.event === "delta")
    .map((m) => (JSON.parse(m.data) as { text: string }).text)
    .join("");

export type Socket = FrameSocket;

export function openSocket(server: RunningServer, key: string, path: string): Promise<Socket> {
  return openFrameSocket(`${server.url.replace("http", "ws")}${path}`, { headers: auth(key) });
}

export const isEventFrame =
  (type: string, extra: (event: Record<string, unknown>) => boolean = () => true) =>
  (frame: Record<string, unknown>): boolean =>
    frame.type === "event" &&
    (frame.event as { type: string }).type === type &&
    extra(frame.event as Record<string, unknown>);

/** Polls the event loop (not the clock) until `check` holds. */
export async function until(check: () => boolean | Promise<boolean>, what = "condition"): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`Timed out waiting for ${what}`);
}
