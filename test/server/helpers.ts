import { request as httpRequest, type IncomingMessage } from "node:http";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import WebSocket from "ws";
import { FakeClock } from "../../src/core/clock.ts";
import { FrontdeskError } from "../../src/core/errors.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type AppOptions, createApp } from "../../src/server/app.ts";
import { type RunningServer, type StartServerOptions, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";

export interface Harness {
  app: FastifyInstance;
  store: SessionStore;
  clock: FakeClock;
  keys: { alice: string; bob: string; admin: string };
  /** Injects with the given key (or none). */
  call(key: string | undefined, options: InjectOptions): Promise<LightMyRequestResponse>;
  /** `call` for the common request: a method and URL, with a payload and headers when given. */
  send(
    key: string | undefined,
    method: Method,
    url: string,
    payload?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

export const bearer = (key: string): { authorization: string } => ({ authorization: `Bearer ${key}` });

export async function createHarness(options: Partial<AppOptions> = {}): Promise<Harness> {
  const store = options.store ?? createMemoryStore();
  const clock = (options.clock as FakeClock | undefined) ?? new FakeClock();
  const alice = (await createApiKey(store, { userId: "alice", clock })).key;
  const bob = (await createApiKey(store, { userId: "bob", clock })).key;
  const admin = (await createApiKey(store, { userId: "root", admin: true, clock })).key;
  const app = await createApp({
    logger: false,
    ...options,
    store,
    clock,
    limits: { requestsPerSecond: null, ...options.limits },
  });
  const call: Harness["call"] = (key, inject) => {
    const headers = { ...(inject.headers ?? {}), ...(key === undefined ? {} : bearer(key)) };
    return app.inject({ ...inject, headers });
  };
  return {
    app,
    store,
    clock,
    keys: { alice, bob, admin },
    call,
    send: (key, method, url, payload, headers) =>
      call(key, {
        method,
        url,
        ...(payload === undefined ? {} : { payload: payload as InjectOptions["payload"] }),
        ...(headers ? { headers } : {}),
      }),
    async close() {
      await app.close();
      await store.close();
    },
  };
}

/** Asserts the error body of docs/http-api.md and returns its code. */
export function errorCodeOf(response: LightMyRequestResponse): string {
  const body = JSON.parse(response.body) as { error?: { code?: unknown; message?: unknown } };
  if (typeof body.error?.code !== "string" || typeof body.error.message !== "string") {
    throw new Error(`Not an error body: ${response.body.slice(0, 200)}`);
  }
  return body.error.code;
}

/** A store whose every call fails the way a backend outage (or a bug) does. */
export function failingStore(base: SessionStore, failure: () => Error): SessionStore & { failing: boolean } {
  const wrapped = { failing: false } as SessionStore & { failing: boolean };
  for (const key of Object.keys(base) as (keyof SessionStore)[]) {
    const value = base[key];
    if (typeof value === "function") {
      (wrapped as unknown as Record<string, unknown>)[key] = (...args: unknown[]) =>
        wrapped.failing && key !== "close" && key !== "findApiKey" && key !== "listApiKeys"
          ? Promise.reject(failure())
          : (value as (...a: unknown[]) => unknown).apply(base, args);
    } else {
      (wrapped as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return wrapped;
}

export const outage = (): Error =>
  new FrontdeskError("unavailable", "connect ECONNREFUSED postgres://app:s3cret@db:5432/x");

/** Waits for a condition by polling a few ms at a time, at most `tries` times (no fixed sleeps). */
export async function eventually(check: () => boolean | Promise<boolean>, tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("condition not reached");
}

/** A raw GET that hands back the response stream (for SSE over a real socket). */
export function openStream(
  url: string,
  headers: Record<string, string>,
): Promise<{ response: IncomingMessage; destroy(): void }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: "text/event-stream", ...headers } }, (response) => {
      resolve({ response, destroy: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

/** What arrives over time (SSE messages, WebSocket frames), with a wait for the first that matches. */
export class Arrivals<T> {
  readonly items: T[] = [];
  private readonly waiters: { predicate: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(item)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(item);
      }
    }
  }

  /** The first item matching, whether it already arrived or is still to come. */
  next(predicate: (item: T) => boolean): Promise<T> {
    const found = this.items.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }
}

export type Frame = Record<string, unknown>;

export interface FrameSocket {
  socket: WebSocket;
  /** Every frame so far, parsed. */
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  /** Sends a frame as JSON (a string is sent as it is, to send what is not JSON). */
  send(frame: unknown): void;
  next(predicate: (frame: Frame) => boolean): Promise<Frame>;
}

/** Opens a WebSocket and collects its JSON frames; a refused upgrade rejects with `HTTP <status>`. */
export async function openFrameSocket(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<FrameSocket> {
  const socket = new WebSocket(url, options.protocols, { headers: options.headers });
  const arrivals = new Arrivals<Frame>();
  socket.on("message", (data) => arrivals.push(JSON.parse(String(data)) as Frame));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return {
    socket,
    frames: arrivals.items,
    closed,
    send: (frame) => socket.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    next: (predicate) => arrivals.next(predicate),
  };
}

/**
 * A real listening server on a memory store (for what only a socket shows: timeouts, slow
 * clients), with alice's key and one session of hers already created.
 */
export async function listeningWithSession(
  options: Omit<StartServerOptions, "store" | "port" | "logger">,
  sessionId: string,
): Promise<{ server: RunningServer; key: string }> {
  const store = createMemoryStore();
  const key = (await createApiKey(store, { userId: "alice" })).key;
  const server = await startServer({ ...options, store, port: 0, logger: false });
  const created = await fetch(`${server.url}/v1/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ id: sessionId }),
  });
  if (created.status !== 201) throw new Error(`creating ${sessionId} answered ${created.status}`);
  return { server, key };
}
