import { request as httpRequest, type IncomingMessage } from "node:http";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import { FakeClock } from "../../src/core/clock.ts";
import { FrontdeskError } from "../../src/core/errors.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type AppOptions, createApp } from "../../src/server/app.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";

export interface Harness {
  app: FastifyInstance;
  store: SessionStore;
  clock: FakeClock;
  keys: { alice: string; bob: string; admin: string };
  /** Injects with the given key (or none). */
  call(key: string | undefined, options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

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
  return {
    app,
    store,
    clock,
    keys: { alice, bob, admin },
    call(key, inject) {
      const headers = { ...(inject.headers ?? {}), ...(key === undefined ? {} : bearer(key)) };
      return app.inject({ ...inject, headers });
    },
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
