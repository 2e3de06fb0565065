/**
 * HTTP conventions (issue 15 §7): a 401 says how to authenticate, a conditional GET of an
 * unchanged session is 304, the rate-limit headers describe one bucket, the default rate suits a
 * backend, a key's own rate is kept with it, and the connection bounds are the documented ones.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { createApp, type FastifyInstance } from "../../src/server/app.ts";
import { DEFAULT_SERVER_LIMITS } from "../../src/server/limits.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { openStore } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { run, tempStore } from "../cli/harness.ts";
import { bearer, createHarness, errorCodeOf, type Harness } from "./helpers.ts";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function harness(options: Parameters<typeof createHarness>[0] = {}): Promise<Harness> {
  const h = await createHarness(options);
  closers.push(() => h.close());
  return h;
}

/** An app with the server's own default limits (the shared harness turns rate limiting off). */
async function defaultApp(store: SessionStore, clock = new FakeClock()): Promise<FastifyInstance> {
  const app = await createApp({ store, clock, logger: false });
  closers.push(() => app.close());
  return app;
}

/** `"key";q=2000;w=2` → { name: "key", q: 2000, w: 2 }: the structured-field item, parsed. */
function parseItem(field: unknown): Record<string, string | number> {
  expect(typeof field).toBe("string");
  const [name, ...params] = String(field).split(";");
  const item: Record<string, string | number> = { name: JSON.parse(name as string) as string };
  for (const param of params) {
    const [key, value] = param.split("=");
    item[key as string] = Number(value);
  }
  return item;
}

describe("401 carries WWW-Authenticate", () => {
  it("a request without a key gets the Bearer challenge; a bad key also gets error=invalid_token", async () => {
    const h = await harness();
    const none = await h.call(undefined, { method: "GET", url: "/v1/sessions" });
    expect(none.statusCode).toBe(401);
    expect(errorCodeOf(none)).toBe("unauthorized");
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="frontdesk"');

    const unknown = await h.call(`fd_${"A".repeat(43)}`, { method: "GET", url: "/v1/sessions" });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.headers["www-authenticate"]).toMatch(/^Bearer realm="frontdesk", error="invalid_token"/);

    const malformed = await h.call("not-a-key", { method: "GET", url: "/v1/sessions/s" });
    expect(malformed.statusCode).toBe(401);
    expect(malformed.headers["www-authenticate"]).toMatch(/^Bearer realm="frontdesk", error="invalid_token"/);

    const wrongScheme = await h.app.inject({ method: "GET", url: "/metrics", headers: { authorization: "Basic x" } });
    expect(wrongScheme.statusCode).toBe(401);
    expect(wrongScheme.headers["www-authenticate"]).toBe('Bearer realm="frontdesk"');

    // Other refusals do not challenge.
    const forbidden = await h.call(h.keys.alice, { method: "GET", url: "/metrics" });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers["www-authenticate"]).toBeUndefined();
  });
});

describe("If-None-Match", () => {
  it("the current ETag answers 304 without a body, in any form RFC 9110 allows; an old one gets the session", async () => {
    const h = await harness();
    const created = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions", payload: { id: "s1" } });
    const etag = created.headers.etag as string;
    expect(etag).toBe('"1"');
    const get = (ifNoneMatch?: string) =>
      h.send(
        h.keys.alice,
        "GET",
        "/v1/sessions/s1",
        undefined,
        ifNoneMatch === undefined ? {} : { "if-none-match": ifNoneMatch },
      );

    // Twice first: the second read comes from the encoded-body cache, which must not skip the check.
    expect((await get()).statusCode).toBe(200);
    expect((await get()).statusCode).toBe(200);
    for (const form of [etag, `W/${etag}`, `"9", ${etag}`, `W/"7",W/${etag}`, "*"]) {
      const notModified = await get(form);
      expect(notModified.statusCode, form).toBe(304);
      expect(notModified.body).toBe("");
      expect(notModified.headers.etag).toBe(etag);
    }

    await h.call(h.keys.alice, { method: "PATCH", url: "/v1/sessions/s1", payload: { title: "moved on" } });
    const changed = await get(etag);
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).toBe('"2"');
    expect(JSON.parse(changed.body)).toMatchObject({ id: "s1", title: "moved on", version: 2 });
    expect((await get('"2"')).statusCode).toBe(304);
    expect((await get('"3", W/"1"')).statusCode).toBe(200);
  });

  it("never reveals another user's session: a 304 needs the session to be the caller's", async () => {
    const h = await harness();
    await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions", payload: { id: "mine" } });
    const probe = await h.send(h.keys.bob, "GET", "/v1/sessions/mine", undefined, { "if-none-match": '"1"' });
    expect(probe.statusCode).toBe(404);
    const star = await h.send(h.keys.bob, "GET", "/v1/sessions/mine", undefined, { "if-none-match": "*" });
    expect(star.statusCode).toBe(404);
  });

  it("/openapi.json documents If-None-Match and the 304", async () => {
    const h = await harness();
    const doc = JSON.parse((await h.app.inject({ method: "GET", url: "/openapi.json" })).body);
    const get = doc.paths["/v1/sessions/{id}"].get;
    expect(
      get.parameters.some((p: { in: string; name: string }) => p.in === "header" && p.name === "if-none-match"),
    ).toBe(true);
    expect(get.responses["304"]).toBeDefined();
  });
});

describe("rate-limit headers", () => {
  it("RateLimit-Policy, RateLimit and the X- pair describe the same bucket, request after request", async () => {
    const h = await harness({ limits: { requestsPerSecond: 5, rateLimitBurst: 10 } });
    for (let i = 1; i <= 10; i++) {
      const ok = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions" });
      expect(ok.statusCode).toBe(200);
      const policy = parseItem(ok.headers["ratelimit-policy"]);
      const state = parseItem(ok.headers.ratelimit);
      expect(policy).toEqual({ name: "key", q: 10, w: 2 });
      expect(state.name).toBe(policy.name);
      expect(state.r).toBe(10 - i);
      expect(Number(ok.headers["x-ratelimit-limit"])).toBe(policy.q);
      expect(Number(ok.headers["x-ratelimit-remaining"])).toBe(state.r);
      expect(Number(ok.headers["x-ratelimit-remaining"])).toBeLessThanOrEqual(Number(ok.headers["x-ratelimit-limit"]));
      // t: whole seconds until the bucket is full again at 5 tokens a second.
      expect(state.t).toBe(Math.ceil(i / 5));
    }
    const refused = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions" });
    expect(refused.statusCode).toBe(429);
    expect(errorCodeOf(refused)).toBe("rate_limited");
    expect(refused.headers["retry-after"]).toBe("1");
    expect(parseItem(refused.headers.ratelimit)).toMatchObject({ name: "key", r: 0 });
    expect(refused.headers["x-ratelimit-remaining"]).toBe("0");
  });

  it("the default lets one key make 1,000 requests a second with bursts of 2,000, as documented", async () => {
    expect(DEFAULT_SERVER_LIMITS.requestsPerSecond).toBe(1_000);
    expect(DEFAULT_SERVER_LIMITS.rateLimitBurst).toBeNull();
    const store = createMemoryStore();
    const clock = new FakeClock();
    const { key } = await createApiKey(store, { userId: "backend", admin: true, clock });
    const app = await defaultApp(store, clock);
    const get = () => app.inject({ method: "GET", url: "/v1/sessions", headers: bearer(key) });
    // A backend's burst, all in the same instant: far past the old default's 200.
    for (let i = 0; i < 2_000; i++) {
      const res = await get();
      if (res.statusCode !== 200) throw new Error(`request ${i + 1} answered ${res.statusCode}`);
      if (i === 0) {
        expect(parseItem(res.headers["ratelimit-policy"])).toEqual({ name: "key", q: 2000, w: 2 });
        expect(res.headers["x-ratelimit-limit"]).toBe("2000");
        expect(res.headers["x-ratelimit-remaining"]).toBe("1999");
      }
    }
    expect((await get()).statusCode).toBe(429);
    // A sustained 1,000 a second is never refused.
    for (let second = 0; second < 3; second++) {
      clock.advance(1_000);
      for (let i = 0; i < 1_000; i++) expect((await get()).statusCode).toBe(200);
    }
  });

  it("a key's own rate, given with `keys create --rate-limit`, is kept in the store and applied by every instance", async () => {
    const temp = tempStore();
    closers.push(async () => temp.remove());
    const created = await run(["keys", "create", "--store", temp.url, "--user", "batch", "--rate-limit", "2"]);
    expect(created.code).toBe(0);
    expect(created.stderr).toMatch(/limited to 2 requests\/s/);
    const limitedKey = created.stdout.trim();
    const other = (await run(["keys", "create", "--store", temp.url, "--user", "web"])).stdout.trim();
    const listed = await run(["keys", "list", "--store", temp.url, "--json"]);
    const records = listed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { userId: string; requestsPerSecond: number | null });
    expect(records.map((r) => [r.userId, r.requestsPerSecond])).toEqual([
      ["batch", 2],
      ["web", null],
    ]);

    const clock = new FakeClock();
    for (const instance of [1, 2]) {
      const store = await openStore(temp.url);
      closers.push(() => store.close());
      const app = await defaultApp(store, clock);
      const get = (key: string) => app.inject({ method: "GET", url: "/v1/sessions", headers: bearer(key) });
      const answers: number[] = [];
      for (let i = 0; i < 5; i++) answers.push((await get(limitedKey)).statusCode);
      // Its bucket holds twice its rate: 4 at once, then 429.
      expect(answers, `instance ${instance}`).toEqual([200, 200, 200, 200, 429]);
      const first = await get(other);
      expect(first.statusCode).toBe(200);
      expect(first.headers["x-ratelimit-limit"]).toBe("2000");
    }
    // A key's own rate holds even on a server that limits no other key.
    const store = await openStore(temp.url);
    closers.push(() => store.close());
    const unlimited = await createApp({ store, clock, logger: false, limits: { requestsPerSecond: null } });
    closers.push(() => unlimited.close());
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (await unlimited.inject({ method: "GET", url: "/v1/sessions", headers: bearer(limitedKey) })).statusCode,
      );
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    const free = await unlimited.inject({ method: "GET", url: "/v1/sessions", headers: bearer(other) });
    expect(free.headers["ratelimit-policy"]).toBeUndefined();
  });

  it("refuses a rate that is not a positive number, in the CLI and the library, and stores nothing", async () => {
    const temp = tempStore();
    closers.push(async () => temp.remove());
    for (const bad of ["0", "-1", "fast", "1e9"]) {
      const refused = await run(["keys", "create", "--store", temp.url, "--user", "u", "--rate-limit", bad]);
      expect(refused.code, bad).toBe(2);
      expect(refused.stdout).toBe("");
    }
    const store = createMemoryStore();
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2e6]) {
      const error = await createApiKey(store, { userId: "u", requestsPerSecond: bad }).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe("invalid_request");
    }
    expect(await store.listApiKeys()).toEqual([]);
  });
});

describe("connection bounds", () => {
  it("default to the documented values, each configurable through limits", async () => {
    expect(DEFAULT_SERVER_LIMITS).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      minBodyBytesPerSecond: 65_536,
      keepAliveTimeoutMs: 5_000,
      idleTimeoutMs: 120_000,
    });
    const app = await defaultApp(createMemoryStore());
    const server = app.server as typeof app.server & { connectionsCheckingInterval: number };
    expect(server.headersTimeout).toBe(10_000);
    // Node's own bound is the largest body's (a 64 MiB import at 64 KiB/s after the 30 s); each
    // request with a body is held to its own size's bound (test/isolated/slow-bodies.test.ts).
    expect(server.requestTimeout).toBe(30_000 + 1_024_000);
    expect(server.keepAliveTimeout).toBe(5_000);
    expect(server.timeout).toBe(120_000);
    // Node polls for expired requests; its 30 s default would let a slow client outlive its bound.
    expect(server.connectionsCheckingInterval).toBe(1_000);

    const tuned = await createApp({
      store: createMemoryStore(),
      logger: false,
      limits: {
        headersTimeoutMs: 2_000,
        requestTimeoutMs: 4_000,
        keepAliveTimeoutMs: 1_000,
        idleTimeoutMs: 9_000,
        maxBodyBytes: 1_000,
        maxImportBytes: 8_000,
        minBodyBytesPerSecond: 1_000,
      },
    });
    closers.push(() => tuned.close());
    const s = tuned.server as typeof server;
    expect([s.headersTimeout, s.requestTimeout, s.keepAliveTimeout, s.timeout]).toEqual([2_000, 12_000, 1_000, 9_000]);
    expect(s.connectionsCheckingInterval).toBe(250);
  });

  it("refuses bounds that cannot work", async () => {
    for (const limits of [{ headersTimeoutMs: 0 }, { requestTimeoutMs: 1.5 }, { headersTimeoutMs: 40_000 }]) {
      const error = await createApp({ store: createMemoryStore(), logger: false, limits }).catch((e: unknown) => e);
      expect((error as { code?: string }).code, JSON.stringify(limits)).toBe("invalid_request");
    }
  });
});

describe("app.inject()", () => {
  it("leaves no body timer that throws once its bound passes, for a request refused before its body was read", async () => {
    // The body bound is a real timer (it guards connections, not session time), so Vitest's fake
    // timers run it past its bound here instead of waiting 30 s.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const h = await harness();
      const refused = await h.send(undefined, "POST", "/v1/sessions", { title: "unread" });
      expect(refused.statusCode).toBe(401);
      const created = await h.send(h.keys.alice, "POST", "/v1/sessions", { title: "read" });
      expect(created.statusCode).toBe(201);
      // Past the bound of both bodies: the refused one never ended, as its stream was never read.
      expect(() => vi.advanceTimersByTime(10 * 60_000)).not.toThrow();
      const listed = await h.send(h.keys.alice, "GET", "/v1/sessions");
      expect(listed.statusCode).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });
});
