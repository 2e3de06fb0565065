import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import { LruMap } from "../../src/core/lru-map.ts";
import { API_KEY_PATTERN, createApiKey, hashApiKey, listApiKeys, revokeApiKey } from "../../src/server/api-keys.ts";
import { createApp } from "../../src/server/app.ts";
import { Authenticator, credentialOf } from "../../src/server/auth.ts";
import { isLoopbackHost, startServer } from "../../src/server/listen.ts";
import { hashSessionId } from "../../src/server/logging.ts";
import { RateLimiter } from "../../src/server/rate-limit.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { bearer } from "./helpers.ts";

describe("API keys", () => {
  it("are fd_ + 256 random bits; the store keeps only the SHA-256 and a short prefix", async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const { key, record } = await createApiKey(store, { userId: "alice", label: "ci", clock });
    expect(key).toMatch(API_KEY_PATTERN);
    expect(Buffer.from(key.slice(3), "base64url")).toHaveLength(32);
    expect(record).toMatchObject({
      hash: hashApiKey(key),
      prefix: key.slice(0, 10),
      userId: "alice",
      admin: false,
      label: "ci",
      createdAt: clock.now(),
      revokedAt: null,
    });
    expect(JSON.stringify(await listApiKeys(store))).not.toContain(key);
    const other = await createApiKey(store, { userId: "alice" });
    expect(other.key).not.toBe(key);
  });

  it("refuse bad users and labels", async () => {
    const store = createMemoryStore();
    for (const input of [{ userId: "../x" }, { userId: "" }, { userId: "a", label: "two\nlines" }]) {
      await expect(createApiKey(store, input)).rejects.toMatchObject({ code: "invalid_request" });
    }
  });

  it("are revoked by id, by prefix or by the whole key; revoking twice is false", async () => {
    const store = createMemoryStore();
    const a = await createApiKey(store, { userId: "a" });
    const b = await createApiKey(store, { userId: "b" });
    const c = await createApiKey(store, { userId: "c" });
    expect(await revokeApiKey(store, a.record.id)).toBe(true);
    expect(await revokeApiKey(store, a.record.id)).toBe(false);
    expect(await revokeApiKey(store, b.record.prefix)).toBe(true);
    expect(await revokeApiKey(store, c.key)).toBe(true);
    expect(await revokeApiKey(store, "key_nothing")).toBe(false);
    const keys = await listApiKeys(store);
    expect(keys.every((key) => key.revokedAt !== null)).toBe(true);
  });
});

describe("authentication", () => {
  it("takes keys only from Authorization: Bearer (and, on WebSocket upgrades, the bearer subprotocol)", () => {
    expect(credentialOf({ authorization: "Bearer abc" }, false)).toBe("abc");
    expect(credentialOf({ authorization: "bearer abc" }, false)).toBe("abc");
    expect(credentialOf({}, false)).toBeUndefined();
    expect(() => credentialOf({ authorization: "Token abc" }, false)).toThrow();
    const protocols = { "sec-websocket-protocol": "frontdesk.v1, frontdesk.bearer.k1" };
    expect(credentialOf(protocols, true)).toBe("k1");
    expect(credentialOf(protocols, false)).toBeUndefined();
  });

  it("a key revoked through the store stops working on a second instance within the cache time", async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const { key, record } = await createApiKey(store, { userId: "alice", clock });
    const options = { store, clock, logger: false as const, limits: { requestsPerSecond: null } };
    const first = await createApp(options);
    const second = await createApp(options);
    const get = (app: typeof first) => app.inject({ method: "GET", url: "/v1/sessions", headers: bearer(key) });
    expect((await get(first)).statusCode).toBe(200);
    expect((await get(second)).statusCode).toBe(200);
    // Revoked elsewhere (the CLI, another instance) while both instances have it cached.
    expect(await revokeApiKey(store, record.id, clock)).toBe(true);
    clock.advance(499);
    expect((await get(second)).statusCode).toBe(200);
    clock.advance(2);
    expect((await get(second)).statusCode).toBe(401);
    expect((await get(first)).statusCode).toBe(401);
    await first.close();
    await second.close();
  });

  it("the authenticator caches hits and misses for at most cacheTtlMs, and does not remember outages", async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    let lookups = 0;
    let failing = false;
    const counting = {
      ...store,
      findApiKey: async (hash: string) => {
        lookups++;
        if (failing) throw new Error("down");
        return store.findApiKey(hash);
      },
    };
    const auth = new Authenticator({ store: counting, clock, cacheTtlMs: 500 });
    const { key } = await createApiKey(store, { userId: "alice" });
    expect((await auth.authenticate(key)).userId).toBe("alice");
    await auth.authenticate(key);
    expect(lookups).toBe(1);
    clock.advance(500);
    await auth.authenticate(key);
    expect(lookups).toBe(2);
    const unknown = `fd_${"B".repeat(43)}`;
    await expect(auth.authenticate(unknown)).rejects.toMatchObject({ code: "unauthorized" });
    await expect(auth.authenticate(unknown)).rejects.toMatchObject({ code: "unauthorized" });
    expect(lookups).toBe(3);
    // A malformed key never reaches the store.
    await expect(auth.authenticate("nope")).rejects.toMatchObject({ code: "unauthorized" });
    expect(lookups).toBe(3);
    clock.advance(1000);
    failing = true;
    await expect(auth.authenticate(key)).rejects.toMatchObject({ code: "unavailable" });
    failing = false;
    expect((await auth.authenticate(key)).userId).toBe("alice");
  });

  it("fail closed on a record that is not the presented key's, revoked, or malformed", async () => {
    const store = createMemoryStore();
    const clock = new FakeClock();
    const alice = await createApiKey(store, { userId: "alice" });
    const bob = await createApiKey(store, { userId: "bob" });
    const answering = (record: object) =>
      new Authenticator({ store: { ...store, findApiKey: async () => ({ ...alice.record, ...record }) }, clock });
    // The lookup went by bob's hash but the store answered with alice's record: refused, not alice.
    await expect(answering({}).authenticate(bob.key)).rejects.toMatchObject({ code: "unauthorized" });
    expect((await answering({}).authenticate(alice.key)).userId).toBe("alice");
    const flipped = `${alice.record.hash.slice(0, 63)}${alice.record.hash.endsWith("0") ? "1" : "0"}`;
    for (const record of [
      { hash: flipped },
      { hash: alice.record.hash.toUpperCase() },
      { hash: alice.record.hash.slice(1) },
      { revokedAt: clock.now() },
      { userId: "../root" },
    ]) {
      await expect(answering(record).authenticate(alice.key), JSON.stringify(record)).rejects.toMatchObject({
        code: "unauthorized",
      });
    }
  });

  it("scope a request to its key's user when the store answers with a thenable that is not a Promise", async () => {
    const store = createMemoryStore();
    const alice = await createApiKey(store, { userId: "alice" });
    // Like another promise library's: `then` answers with its own kind of object, not a Promise.
    const thenable = <T>(promise: Promise<T>): PromiseLike<T> => ({
      // biome-ignore lint/suspicious/noThenProperty: the point is an object that is only a thenable
      then: (onFulfilled, onRejected) => thenable(promise.then(onFulfilled, onRejected)),
    });
    const app = await createApp({
      store: { ...store, findApiKey: (hash: string) => thenable(store.findApiKey(hash)) as never },
    });
    await app.inject({ method: "POST", url: "/v1/sessions", headers: bearer(alice.key), payload: { id: "mine" } });
    const listed = await app.inject({ method: "GET", url: "/v1/sessions", headers: bearer(alice.key) });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items.map((s: { id: string; userId: string }) => [s.id, s.userId])).toEqual([
      ["mine", "alice"],
    ]);
    const unknown = await app.inject({ method: "GET", url: "/v1/sessions", headers: bearer(`fd_${"C".repeat(43)}`) });
    expect(unknown.statusCode).toBe(401);
    await app.close();
  });

  it("evicts the least recently used entry, whichever was touched last", () => {
    const lru = new LruMap<string, number>(3);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("c", 3);
    lru.get("a"); // order: b c a
    lru.get("a"); // touching the newest again changes nothing
    lru.set("d", 4); // evicts b
    expect(lru.get("b")).toBeUndefined();
    lru.get("c"); // order: a d c
    lru.delete("c"); // order: a d
    lru.get("a"); // order: d a
    lru.set("e", 5);
    lru.set("f", 6); // evicts d
    expect([lru.get("d"), lru.get("a"), lru.get("e"), lru.get("f")]).toEqual([undefined, 1, 5, 6]);
    const withUndefinedKey = new LruMap<string | undefined, number>(2);
    withUndefinedKey.set("x", 1);
    withUndefinedKey.set(undefined, 2);
    withUndefinedKey.get("x");
    withUndefinedKey.get(undefined); // order: x undefined
    withUndefinedKey.set("y", 3); // evicts x
    expect([withUndefinedKey.get("x"), withUndefinedKey.get(undefined)]).toEqual([undefined, 2]);
  });

  it("keeps its bookkeeping bounded", () => {
    const lru = new LruMap<number, number>(3);
    for (let i = 0; i < 10; i++) lru.set(i, i);
    expect(lru.size).toBe(3);
    expect(lru.get(9)).toBe(9);
    expect(lru.get(0)).toBeUndefined();
    const clock = new FakeClock();
    const limiter = new RateLimiter(10, 10, clock, 2);
    for (let i = 0; i < 100; i++) limiter.take(`key-${i}`);
    const decisions = Array.from({ length: 11 }, () => limiter.take("k"));
    expect(decisions.filter((d) => d?.allowed)).toHaveLength(10);
    expect(decisions.at(-1)?.retryAfterSeconds).toBe(1);
    clock.advance(100);
    expect(limiter.take("k")?.allowed).toBe(true);
  });
});

describe("startServer", () => {
  it("refuses a host beyond loopback while the store has no live API key", async () => {
    const store = createMemoryStore();
    const refused = await startServer({ store, host: "0.0.0.0", port: 0, logger: false }).catch((e: unknown) => e);
    expect(isFrontdeskError(refused, "invalid_request")).toBe(true);
    const { record } = await createApiKey(store, { userId: "ops" });
    await revokeApiKey(store, record.id);
    const stillRefused = await startServer({ store, host: "0.0.0.0", port: 0, logger: false }).catch((e: unknown) => e);
    expect(isFrontdeskError(stillRefused, "invalid_request")).toBe(true);
    await createApiKey(store, { userId: "ops" });
    const server = await startServer({ store, host: "0.0.0.0", port: 0, logger: false });
    expect(server.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    await server.close();
  });

  it("listens on 127.0.0.1 by default, with port 0 picking a free port", async () => {
    const server = await startServer({ store: createMemoryStore(), port: 0, logger: false });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server.url}/healthz`);
    expect(await res.json()).toEqual({ status: "ok" });
    await server.close();
  });

  it("a taken port is unavailable, not a crash", async () => {
    const first = await startServer({ store: createMemoryStore(), port: 0, logger: false });
    const port = Number(new URL(first.url).port);
    const second = await startServer({ store: createMemoryStore(), port, logger: false }).catch((e: unknown) => e);
    expect(isFrontdeskError(second, "unavailable")).toBe(true);
    await first.close();
  });

  it("knows loopback hosts", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.com", "192.168.1.1"]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe("logs", () => {
  /** An app at log `level` whose lines are kept, over a memory store (as `wrap` changes it) holding a key of alice's. */
  async function loggingApp(level: "debug" | "info", wrap: (store: SessionStore) => SessionStore = (store) => store) {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const store = createMemoryStore();
    const { key } = await createApiKey(store, { userId: "alice" });
    const app = await createApp({ store: wrap(store), logger: { level, stream } });
    return { lines, key, app };
  }

  it("carry the route template and a hashed session id, never a key, a raw session id or a stack", async () => {
    const { lines, key, app } = await loggingApp("debug");
    const secretId = "customer-42-private";
    await app.inject({ method: "POST", url: "/v1/sessions", headers: bearer(key), payload: { id: secretId } });
    await app.inject({ method: "GET", url: `/v1/sessions/${secretId}?userId=alice`, headers: bearer(key) });
    await app.inject({ method: "GET", url: `/v1/sessions/${secretId}/nothing`, headers: bearer(key) });
    await app.inject({ method: "GET", url: "/v1/sessions/%ZZ", headers: bearer(key) });
    await app.inject({
      method: "GET",
      url: `/v1/sessions/${secretId}/ws`,
      headers: { upgrade: "websocket", "sec-websocket-protocol": `frontdesk.bearer.${key}` },
    });
    await app.close();
    const text = lines.join("");
    expect(text).toContain('"route":"/v1/sessions/:id"');
    expect(text).toMatch(/"session":"[0-9a-f]{12}"/);
    expect(text).not.toContain(secretId);
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(3, 20));
    expect(text).not.toContain("Bearer");
    expect(text).not.toMatch(/\n\s+at /);
  });

  it("bind each request's own hashed session id, and only to that request's lines", async () => {
    const { lines, key, app } = await loggingApp("info");
    for (const id of ["first-id", "second-id", "first-id"]) {
      await app.inject({ method: "GET", url: `/v1/sessions/${id}`, headers: bearer(key) });
    }
    await app.inject({ method: "GET", url: "/v1/sessions", headers: { authorization: "Bearer nope" } });
    await app.close();
    const refused = lines.map((line) => JSON.parse(line)).filter((line) => line.msg === "request refused");
    expect(refused.map((line) => line.session)).toEqual([
      hashSessionId("first-id"),
      hashSessionId("second-id"),
      hashSessionId("first-id"),
      undefined,
    ]);
    // One binding per line: a second request never stacks its id onto the first's logger.
    for (const line of lines) expect(line.match(/"session":/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it("of unexpected failures carry a scrubbed message and no stack", async () => {
    const { lines, key, app } = await loggingApp("info", (base) => ({
      ...base,
      get: async () => {
        throw new Error("connect failed postgres://app:hunter2@db.internal/prod");
      },
    }));
    const res = await app.inject({ method: "GET", url: "/v1/sessions/s", headers: bearer(key) });
    expect(res.statusCode).toBe(500);
    await app.close();
    const text = lines.join("");
    expect(text).toContain("request failed");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain('"stack"');
  });
});
