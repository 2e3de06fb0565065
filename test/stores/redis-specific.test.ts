import { randomBytes } from "node:crypto";
import net from "node:net";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";
import { emptyStats, type SessionEvent, type SessionHeader, type SessionKey } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createRedisStore, openFromUrl, type RedisStoreOptions } from "../../src/stores/redis/index.ts";
import { createKeyspace } from "../../src/stores/redis/keys.ts";
import type { ListQuery, SessionStore } from "../../src/stores/types.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";

const url = process.env.FRONTDESK_TEST_REDIS_URL;

/** Redis Cluster's slot function: CRC16/XMODEM of the hash tag (or the whole key) mod 16384. */
const crc16 = (data: Buffer): number => {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
};
const slotOf = (key: string): number => {
  const open = key.indexOf("{");
  const close = open === -1 ? -1 : key.indexOf("}", open + 1);
  const tagged = open !== -1 && close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(tagged)) % 16384;
};

const quietLogger = () => {
  const warnings: { details: Record<string, unknown>; message: string }[] = [];
  return { warnings, warn: (details: Record<string, unknown>, message: string) => warnings.push({ details, message }) };
};

/** Version `version` holding events 1..lastSeq, stamped `at`, with a 60 s TTL; `extra` overrides. */
const headerFor = (
  key: SessionKey,
  at: number,
  version: number,
  lastSeq: number,
  extra: Partial<SessionHeader> = {},
): SessionHeader =>
  sessionHeader(key, at, {
    state: { v: version },
    version,
    lastSeq,
    ttlMs: 60_000,
    expiresAt: at + 60_000,
    ...extra,
  });
const eventAt = (seq: number, at: number): SessionEvent => customEvent(seq, at);

describe("redis key layout", () => {
  it("keys of one session share a hash slot, whatever its ids contain", () => {
    const keys = createKeyspace("fd");
    for (const key of [
      { namespace: "default", userId: "u1", id: "s1" },
      { namespace: "a:b", userId: "c}{d", id: "x:y" },
      { namespace: "n", userId: null, id: "s" },
      { namespace: "sp ace", userId: "", id: "%3A" },
    ]) {
      const k = keys.session(key);
      const slot = slotOf(k.header);
      expect(slotOf(k.events)).toBe(slot);
      expect(slotOf(k.idempotency)).toBe(slot);
    }
  });

  it("segment escaping keeps different keys apart and index members decodable", () => {
    const keys = createKeyspace("fd");
    const a = keys.session({ namespace: "a:b", userId: "c", id: "d" });
    const b = keys.session({ namespace: "a", userId: "b:c", id: "d" });
    const c = keys.session({ namespace: "a", userId: null, id: "d" });
    const d = keys.session({ namespace: "a", userId: "#", id: "d" });
    expect(new Set([a.header, b.header, c.header, d.header]).size).toBe(4);
    expect(keys.parseRef(b.ref)).toEqual({ namespace: "a", userId: "b:c", id: "d" });
    expect(keys.parseMember("a", c.member)).toEqual({ namespace: "a", userId: null, id: "d" });
    expect(keys.parseMember("a", d.member)).toEqual({ namespace: "a", userId: "#", id: "d" });
  });

  it("escaping round-trips any owner and id, unicode and controls included", () => {
    const keys = createKeyspace("fd");
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.option(fc.string({ unit: "binary" })),
        fc.string(),
        (ns, userId, id) => {
          const key = { namespace: ns, userId, id };
          const k = keys.session(key);
          expect(keys.parseRef(k.ref)).toEqual(key);
          expect(keys.parseMember(ns, k.member)).toEqual(key);
          expect([...k.header].every((ch) => ch > " " && ch !== "\x7f")).toBe(true);
          expect(slotOf(k.events)).toBe(slotOf(k.header));
        },
      ),
    );
  });

  it("a key prefix with braces is refused", () => {
    expect(() => createKeyspace("f{d}")).toThrow(/keyPrefix/);
  });
});

describe("redis store outage", () => {
  it("an unreachable Redis fails fast with unavailable and no secret in the message", async () => {
    const logger = quietLogger();
    const store = createRedisStore({ url: "redis://:s3cret-pw@127.0.0.1:1/0", logger });
    const started = Date.now();
    let caught: unknown;
    try {
      await store.get({ namespace: "n", userId: "u", id: "s" }, Date.now());
    } catch (error) {
      caught = error;
    }
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(isFrontdeskError(caught, "unavailable")).toBe(true);
    expect(String((caught as Error).message)).not.toMatch(/s3cret|127\.0\.0\.1|redis:/);
    // A second call while reconnecting in the background fails just as fast.
    const again = Date.now();
    await expect(
      store.list({ namespace: "n", orderBy: "createdAt", order: "asc", limit: 1, now: 0 }),
    ).rejects.toMatchObject({ code: "unavailable" });
    expect(Date.now() - again).toBeLessThan(2_000);
    expect(JSON.stringify(logger.warnings)).not.toMatch(/s3cret/);
    await store.close();
    await store.close();
  });
});

describe.skipIf(!url)("redis store specifics", () => {
  let admin: Redis;
  const opened: SessionStore[] = [];
  const open = (options: RedisStoreOptions = {}): SessionStore => {
    const store = createRedisStore({
      url,
      logger: quietLogger(),
      keyPrefix: `t${randomBytes(5).toString("hex")}`,
      ...options,
    });
    opened.push(store);
    return store;
  };
  beforeAll(() => {
    admin = new Redis(url as string);
  });
  afterAll(async () => {
    await admin.quit();
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };

  it("a commit with a stale version writes nothing", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix });
    const now = Date.UTC(2026, 0, 1);
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, now, 1, 1), events: [eventAt(1, now)], now });
    await store.commit({ key, expectedVersion: 1, header: headerFor(key, now, 2, 2), events: [eventAt(2, now)], now });
    const k = createKeyspace(prefix).session(key);
    const before = await admin.hgetall(k.header);
    const error = await store
      .commit({
        key,
        expectedVersion: 1,
        header: headerFor(key, now + 5, 2, 2, { title: "stale" }),
        events: [eventAt(2, now + 5)],
        scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:x": 1 } }],
        idempotency: { key: "idem", fingerprint: "f", firstSeq: 2, lastSeq: 2, version: 2, at: now },
        now,
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "conflict", details: { currentVersion: 2 } });
    expect(await admin.hgetall(k.header)).toEqual(before);
    expect(await admin.llen(k.events)).toBe(2);
    expect(await admin.exists(k.idempotency)).toBe(0);
    const user = createKeyspace(prefix).userScope("ns", "u1");
    expect(await admin.exists(user.state, user.version)).toBe(0);
  });

  it("a plain append is one script call; a state change takes the header read and the commit", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const client = new Redis(url as string, { lazyConnect: true, enableOfflineQueue: false });
    const sent: string[] = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }) => {
      sent.push(command.name);
      return send(command as never);
    }) as typeof client.sendCommand;
    const store = open({ client, keyPrefix: prefix });
    const clock = new FakeClock();
    const sessions = new SessionManager(() => ({}), store, "ns", { clock, defaultTtlMs: 60_000 });
    const { id } = await sessions.create();
    // Both scripts run once first: on a Redis that has not cached them yet, a first call is EVALSHA then EVAL.
    await sessions.addMessage(id, { role: "user", content: "warm" });
    await sessions.appendEvents(id, [{ type: "custom", name: "warm", stateDelta: { warm: true } }]);
    sent.length = 0;
    const event = await sessions.addMessage(id, { role: "user", content: "hi", usage: { costUsd: 0.1 } });
    expect(sent).toEqual(["evalsha"]);
    sent.length = 0;
    await sessions.appendEvents(id, [{ type: "custom", name: "x", stateDelta: { topic: "t" } }]);
    expect(sent).toEqual(["hmget", "evalsha"]);
    expect((await sessions.readEvents(id))[2]).toEqual(event);
    await store.close();
    await client.quit();
  });

  it("a one-step append sets the reclaim PEXPIRE, and a refused one writes nothing", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix, reclaimGraceMs: 1_000 });
    const clock = new FakeClock();
    const sessions = new SessionManager(() => ({}), store, "ns", { clock, defaultTtlMs: 60_000 });
    const { id, version } = await sessions.create();
    const k = createKeyspace(prefix).session({ namespace: "ns", userId: null, id });
    await admin.persist(k.header);
    await sessions.addMessage(id, { role: "user", content: "hi" }, { idempotencyKey: "idem" });
    for (const redisKey of [k.header, k.events, k.idempotency]) {
      const ttl = await admin.pttl(redisKey);
      expect(ttl).toBeGreaterThan(60_000);
      expect(ttl).toBeLessThanOrEqual(61_000);
    }
    expect(await admin.zscore(k.expiry, k.ref)).toBe(String(clock.now() + 60_000));
    const before = await admin.hgetall(k.header);
    const refused = await sessions
      .addMessage(id, { role: "user", content: "again" }, { expectedVersion: version })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "precondition_failed", details: { currentVersion: version + 1 } });
    expect(await admin.hgetall(k.header)).toEqual(before);
    expect(await admin.llen(k.events)).toBe(1);
    expect(await admin.hkeys(k.idempotency)).toEqual(["idem"]);
    const record = JSON.parse((await admin.hget(k.idempotency, "idem")) as string);
    expect(record).toEqual(await store.findIdempotency({ namespace: "ns", userId: null, id }, "idem"));
    expect(record).toMatchObject({ key: "idem", firstSeq: 1, lastSeq: 1, version: version + 1, at: clock.now() });
  });

  it("a one-step append finds the index members and the hint channel of a key whose segments are escaped", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const writer = open({ keyPrefix: prefix });
    const listener = open({ keyPrefix: prefix });
    // The script derives member, ref and channel from the header key: segments with `:`, braces,
    // `#`, `%`, spaces and unicode must land on exactly the names keys.ts builds.
    const tricky: SessionKey = { namespace: "n:s{1}", userId: "u:#{x} %", id: "i d:}{é" };
    const k = createKeyspace(prefix).session(tricky);
    await writer.commit({ key: tricky, expectedVersion: 0, header: headerFor(tricky, 1, 1, 0), events: [], now: 1 });
    const hints: number[] = [];
    const unsubscribe = await listener.subscribe(tricky, (seq) => hints.push(seq));
    const outcome = await writer.append?.({
      key: tricky,
      events: [{ id: "e1", at: 500, type: "custom", name: "n", data: 1 } as Omit<SessionEvent, "seq">],
      stats: { ...emptyStats(), tools: [], inputTokens: [], outputTokens: [], costUsd: [], durationMs: [] },
      maxEventsPerSession: 10,
      now: 500,
    });
    expect(outcome).toEqual({ outcome: "appended", version: 2, lastSeq: 1 });
    expect(await admin.zscore(k.namespaceUpdated, k.member)).toBe("500");
    expect(await admin.zscore(k.ownerUpdated, k.member)).toBe("500");
    expect(await admin.zscore(k.ownerExpiry, k.member)).toBe("60500");
    expect(await admin.zscore(k.expiry, k.ref)).toBe("60500");
    // Nothing else was added to the indexes (a wrong derivation would add a second member).
    expect(await admin.zcard(k.namespaceUpdated)).toBe(1);
    expect(await admin.zcard(k.ownerExpiry)).toBe(1);
    await expect.poll(() => hints, { timeout: 2_000 }).toContain(1);
    await unsubscribe();
  });

  it("a one-step append runs when the server has no cached copy of the script (NOSCRIPT)", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const client = new Redis(url as string, { lazyConnect: true, enableOfflineQueue: false });
    const sent: string[] = [];
    const send = client.sendCommand.bind(client);
    let refuse = true;
    client.sendCommand = ((command: { name: string; reject: (e: Error) => void }) => {
      sent.push(command.name);
      if (command.name === "evalsha" && refuse) {
        refuse = false;
        command.reject(new Error("NOSCRIPT No matching script. Please use EVAL."));
        return (command as unknown as { promise: Promise<unknown> }).promise;
      }
      return send(command as never);
    }) as typeof client.sendCommand;
    const store = open({ client, keyPrefix: prefix });
    const sessions = new SessionManager(() => ({}), store, "ns", { clock: new FakeClock(), defaultTtlMs: 60_000 });
    const { id } = await sessions.create();
    await sessions.addMessage(id, { role: "user", content: "warm" });
    refuse = true;
    sent.length = 0;
    const event = await sessions.addMessage(id, { role: "user", content: "hi" });
    expect(sent).toEqual(["evalsha", "eval"]);
    expect(await sessions.readEvents(id)).toHaveLength(2);
    expect((await sessions.readEvents(id))[1]).toEqual(event);
    await store.close();
    await client.quit();
  });

  it("a one-step append to an events list out of step with lastSeq is refused and changes nothing", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix });
    const clock = new FakeClock();
    const sessions = new SessionManager(() => ({}), store, "ns", { clock, defaultTtlMs: 60_000 });
    const { id } = await sessions.create();
    await sessions.addMessage(id, { role: "user", content: "one" });
    await sessions.addMessage(id, { role: "user", content: "two" });
    const k = createKeyspace(prefix).session({ namespace: "ns", userId: null, id });
    const header = await admin.hgetall(k.header);
    const events = await admin.lrange(k.events, 0, -1);
    const ttl = await admin.pttl(k.events);
    for (const [damage, left] of [
      [() => admin.rpop(k.events), events.slice(0, 1)], // one short: the list is left one short
      [() => admin.rpush(k.events, "stray"), [...events, "stray"]], // one too many
      [() => admin.del(k.events), []], // gone (evicted): nothing is left behind
    ] as const) {
      await admin.del(k.events);
      await admin.rpush(k.events, ...events);
      await admin.pexpire(k.events, ttl);
      await damage();
      for (const batch of [
        [{ type: "custom", name: "x" }],
        [
          { type: "custom", name: "x" },
          { type: "custom", name: "y" },
        ],
      ]) {
        const error = await sessions.appendEvents(id, batch).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: "invalid_request" });
        expect(await admin.hgetall(k.header)).toEqual(header);
        expect(await admin.lrange(k.events, 0, -1)).toEqual(left);
        if (left.length > 0) expect(await admin.pttl(k.events)).toBeGreaterThan(0);
        else expect(await admin.exists(k.events)).toBe(0);
      }
    }
    await store.close();
  });

  it("a header written before the field layout reads back, and its first append rewrites it", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix });
    const clock = new FakeClock();
    const sessions = new SessionManager(() => ({}), store, "ns", { clock, defaultTtlMs: null });
    const legacyKey: SessionKey = { namespace: "ns", userId: null, id: "legacy" };
    const now = clock.now();
    const header = headerFor(legacyKey, now, 1, 1, {
      ttlMs: null,
      expiresAt: null,
      state: {},
      stats: { ...emptyStats(), messages: 0, toolCalls: 1, toolsUsed: ["old"] },
    });
    const k = createKeyspace(prefix).session(legacyKey);
    // Exactly what the previous COMMIT stored: the JSON and v, s, x, a only.
    await admin.hset(k.header, { j: JSON.stringify(header), v: "1", s: "1", x: "", a: String(now) });
    await admin.rpush(k.events, JSON.stringify(eventAt(1, now)));
    expect(await store.get(legacyKey, now)).toEqual(header);
    clock.advance(5);
    const appended = await sessions.appendEvents("legacy", [
      { type: "tool_call", invocationId: "i", tool: "new" },
      { type: "message", role: "user", content: "hi" },
    ]);
    expect(appended.events.map((e) => e.seq)).toEqual([2, 3]);
    const after = await store.get(legacyKey, clock.now());
    expect(after).toMatchObject({ version: 2, lastSeq: 3, updatedAt: clock.now() });
    expect(after?.stats).toMatchObject({ messages: 1, toolCalls: 2, toolsUsed: ["old", "new"] });
    expect(await admin.hget(k.header, "t")).toBe("");
    clock.advance(5);
    await sessions.addMessage("legacy", { role: "user", content: "again" });
    expect(await store.get(legacyKey, clock.now())).toMatchObject({ version: 3, lastSeq: 4, updatedAt: clock.now() });
  });

  it("startup warning names appendonly when it is off", async () => {
    const logger = quietLogger();
    const store = open({ logger });
    await store.get(key, 0);
    const [, appendonly] = (await admin.call("CONFIG", "GET", "appendonly")) as string[];
    const named = logger.warnings.some((w) => w.details.setting === "appendonly" && w.message.includes("appendonly"));
    expect(named).toBe(appendonly === "no");
    await store.get(key, 0);
    expect(logger.warnings.filter((w) => w.details.setting === "appendonly").length).toBe(appendonly === "no" ? 1 : 0);
  });

  it("PEXPIRE only reclaims space: expiresAt plus the grace, relative to the caller's clock", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix, reclaimGraceMs: 10_000 });
    // A fake clock far in the past must not make Redis drop a live session.
    const now = Date.UTC(2001, 0, 1);
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, now, 1, 1), events: [eventAt(1, now)], now });
    const k = createKeyspace(prefix).session(key);
    const ttl = await admin.pttl(k.header);
    expect(ttl).toBeGreaterThan(65_000);
    expect(ttl).toBeLessThanOrEqual(70_000);
    expect(await admin.pttl(k.events)).toBeGreaterThan(65_000);
    expect(await store.get(key, now + 59_999)).toBeDefined();
    expect(await store.get(key, now + 60_000)).toBeUndefined();
    await store.commit({
      key,
      expectedVersion: 1,
      header: headerFor(key, now, 2, 1, { expiresAt: null, ttlMs: null }),
      events: [],
      now,
    });
    expect(await admin.pttl(k.header)).toBe(-1);
    expect(await admin.pttl(k.events)).toBe(-1);
  });

  it("create over an expired session removes its old events and idempotency records", async () => {
    const store = open();
    const clock = new FakeClock();
    const now = clock.now();
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, now, 1, 2),
      events: [eventAt(1, now), eventAt(2, now)],
      idempotency: { key: "k1", fingerprint: "f", firstSeq: 1, lastSeq: 2, version: 1, at: now },
      now,
    });
    const later = clock.advance(60_000);
    await expect(store.touch(key, { expiresAt: later + 60_000, lastAccessedAt: later }, later)).resolves.toBe(false);
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, later, 1, 1),
      events: [eventAt(1, later)],
      now: later,
    });
    const events = await store.readEvents(key, {});
    expect(events.map((e) => [e.seq, e.at])).toEqual([[1, later]]);
    expect(await store.findIdempotency(key, "k1")).toBeUndefined();
  });

  it("a caller-owned client is used and left open; the URL's prefix query names the keys", async () => {
    const client = new Redis(url as string, { enableOfflineQueue: false });
    const store = open({ client });
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1, 0), events: [], now: 1 });
    await store.close();
    expect(client.status).toBe("ready");
    await client.quit();

    const prefix = `t${randomBytes(5).toString("hex")}`;
    const target = new URL(url as string);
    target.searchParams.set("prefix", prefix);
    const fromUrl = openFromUrl(target, {});
    opened.push(fromUrl);
    await fromUrl.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1, 0), events: [], now: 1 });
    expect(await admin.exists(createKeyspace(prefix).session(key).header)).toBe(1);
  });

  it("a commit on a peer reaches a subscriber through pub/sub", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const a = open({ keyPrefix: prefix });
    const b = open({ keyPrefix: prefix });
    const hints: number[] = [];
    const unsubscribe = await a.subscribe(key, (seq) => hints.push(seq));
    await b.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1, 1), events: [eventAt(1, 1)], now: 1 });
    await expect.poll(() => hints, { timeout: 2_000 }).toContain(1);
    await unsubscribe();
    await b.commit({ key, expectedVersion: 1, header: headerFor(key, 1, 2, 2), events: [eventAt(2, 1)], now: 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hints).not.toContain(2);
  });

  it("list pages like the memory reference store, ties on the order field included", async () => {
    const redis = open();
    const memory = createMemoryStore();
    const now = Date.UTC(2026, 0, 1);
    const users = ["u1", "u2", null, "u1:x"];
    for (let i = 0; i < 60; i++) {
      const k: SessionKey = { namespace: "ns", userId: users[i % users.length] ?? null, id: `s${(i * 7) % 60}` };
      const at = now + Math.floor(i / 5) * 1_000;
      const header = headerFor(k, at, 1, 0, {
        updatedAt: at + (i % 3) * 1_000,
        status: i % 4 === 0 ? "completed" : "active",
        tags: i % 2 === 0 ? ["even"] : [],
        title: i % 5 === 0 ? `Title ${i}` : null,
        expiresAt: i % 11 === 0 ? now + 500 : null,
      });
      for (const store of [redis, memory]) await store.commit({ key: k, expectedVersion: 0, header, events: [], now });
    }
    const queries: Omit<ListQuery, "now" | "limit">[] = [
      { namespace: "ns", orderBy: "createdAt", order: "asc" },
      { namespace: "ns", orderBy: "updatedAt", order: "desc" },
      { namespace: "ns", userId: "u1", orderBy: "createdAt", order: "desc" },
      { namespace: "ns", userId: null, orderBy: "updatedAt", order: "asc" },
      { namespace: "ns", tags: ["even"], status: ["active"], orderBy: "createdAt", order: "asc" },
      {
        namespace: "ns",
        text: "TITLE",
        createdAfter: now + 1_000,
        updatedBefore: now + 9_000,
        orderBy: "updatedAt",
        order: "desc",
      },
    ];
    const pages = async (store: SessionStore, base: Omit<ListQuery, "now" | "limit">, limit: number) => {
      const seen: string[] = [];
      let after: ListQuery["after"];
      for (let page = 0; page < 100; page++) {
        const result = await store.list({ ...base, limit, now: now + 1_000, ...(after ? { after } : {}) });
        seen.push(...result.items.map((h) => `${h.userId}/${h.id}`), `|${result.hasMore}`);
        const last = result.items.at(-1);
        if (!result.hasMore || !last) break;
        after = { value: last[base.orderBy], userId: last.userId, id: last.id };
      }
      return seen;
    };
    for (const base of queries) {
      for (const limit of [1, 4, 100]) {
        expect(await pages(redis, base, limit), JSON.stringify({ base, limit })).toEqual(
          await pages(memory, base, limit),
        );
      }
    }
    const at = fc.integer({ min: now - 1_000, max: now + 14_000 });
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            userId: fc.constantFrom("u1", "u2", null, "u1:x", "nobody"),
            status: fc.constantFrom(["active" as const], ["completed" as const], []),
            tags: fc.constantFrom(["even"], [], ["none"]),
            text: fc.constantFrom("title 1", "e", "x"),
            createdAfter: at,
            createdBefore: at,
            updatedAfter: at,
            updatedBefore: at,
          },
          { requiredKeys: [] },
        ),
        fc.constantFrom("createdAt" as const, "updatedAt" as const),
        fc.constantFrom("asc" as const, "desc" as const),
        fc.integer({ min: 1, max: 7 }),
        async (filters, orderBy, order, limit) => {
          const base = { namespace: "ns", ...filters, orderBy, order };
          expect(await pages(redis, base, limit), JSON.stringify(base)).toEqual(await pages(memory, base, limit));
        },
      ),
      { numRuns: 150 },
    );
    expect(await redis.count("ns", "u1", now + 1_000)).toBe(await memory.count("ns", "u1", now + 1_000));
  });

  it("readEvents returns what the memory reference store returns for any range", async () => {
    const redis = open();
    const memory = createMemoryStore();
    const events: SessionEvent[] = Array.from({ length: 23 }, (_, i) =>
      i % 3 === 0
        ? { seq: i + 1, id: `e${i + 1}`, at: 1, type: "state", stateDelta: { i } }
        : { seq: i + 1, id: `e${i + 1}`, at: 1, type: "custom", name: "n", data: i },
    );
    for (const store of [redis, memory]) {
      await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1, 23), events, now: 1 });
    }
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            after: fc.integer({ min: -2, max: 26 }),
            before: fc.integer({ min: -2, max: 30 }),
            limit: fc.integer({ min: 0, max: 26 }),
            types: fc.constantFrom([], ["state"], ["custom"], ["state", "custom"], ["message"]),
            order: fc.constantFrom("asc" as const, "desc" as const),
          },
          { requiredKeys: [] },
        ),
        async (range) => {
          const seqs = async (store: SessionStore) => (await store.readEvents(key, range)).map((e) => e.seq);
          expect(await seqs(redis), JSON.stringify(range)).toEqual(await seqs(memory));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("sweep deletes expired sessions with their events and index entries", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix });
    const now = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 5; i++) await createOneEvent(store, { ...key, id: `s${i}` }, now);
    const keep = { ...key, id: "s0" };
    await store.touch(keep, { expiresAt: now + 120_000, lastAccessedAt: now }, now);
    expect(await store.sweep(now + 60_000, 2)).toBe(2);
    expect(await store.sweep(now + 60_000, 100)).toBe(2);
    expect(await store.sweep(now + 60_000, 100)).toBe(0);
    expect(await store.get(keep, now + 60_000)).toBeDefined();
    const keys = createKeyspace(prefix);
    expect(await admin.exists(keys.session({ ...key, id: "s1" }).events)).toBe(0);
    expect(await admin.zcard(keys.expiries[0] as string)).toBe(1);
    expect(await admin.zcard(keys.listIndexes("ns", undefined, "createdAt")[0] as string)).toBe(1);
  });

  it("limited sweeps over several buckets reach every bucket, each call within its limit", async () => {
    const prefix = `t${randomBytes(5).toString("hex")}`;
    const store = open({ keyPrefix: prefix, buckets: 7 });
    const now = Date.UTC(2026, 0, 1);
    const owners = Array.from({ length: 30 }, (_, i) => `owner-${i}`);
    for (const userId of owners) await createOneEvent(store, { namespace: "ns", userId, id: "s" }, now);
    const keys = createKeyspace(prefix, 7);
    const buckets = new Set(owners.map((userId) => keys.session({ namespace: "ns", userId, id: "s" }).expiry));
    expect(buckets.size).toBeGreaterThan(3);
    const swept: number[] = [];
    for (let round = 0; round < 20; round++) {
      const n = await store.sweep(now + 60_000, 4);
      if (n === 0) break;
      swept.push(n);
    }
    expect(Math.max(...swept)).toBeLessThanOrEqual(4);
    expect(swept.reduce((a, b) => a + b, 0)).toBe(30);
    for (const expiry of keys.expiries) expect(await admin.zcard(expiry)).toBe(0);
    expect(await store.count("ns", "owner-0", now)).toBe(0);
  });

  it("recovers by itself when Redis comes back after an outage", async () => {
    const target = new URL(url as string);
    const sockets = new Set<net.Socket>();
    let server = net.createServer();
    const listen = (port: number) =>
      new Promise<number>((resolve) => {
        server = net.createServer((socket) => {
          const upstream = net.connect(Number(target.port || 6379), target.hostname);
          sockets.add(socket).add(upstream);
          socket.pipe(upstream).pipe(socket);
          const drop = () => {
            socket.destroy();
            upstream.destroy();
          };
          socket.on("error", drop).on("close", drop);
          upstream.on("error", drop).on("close", drop);
        });
        server.listen(port, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
      });
    const port = await listen(0);
    const proxied = new URL(url as string);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(port);
    const store = open({ url: proxied.href });
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 1, 0), events: [], now: 1 });

    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await expect(store.get(key, 1)).rejects.toMatchObject({ code: "unavailable" });
    expect(Date.now() - started).toBeLessThan(2_000);

    await listen(port);
    try {
      await expect
        .poll(
          () =>
            store
              .get(key, 1)
              .then((h) => h?.version)
              .catch(() => "down"),
          { timeout: 5_000, interval: 100 },
        )
        .toBe(1);
    } finally {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await done;
    }
  });
});

/** Creates a session with one event, expiring a minute after `now`. */
const createOneEvent = (store: SessionStore, k: SessionKey, now: number) =>
  store.commit({ key: k, expectedVersion: 0, header: headerFor(k, now, 1, 1), events: [eventAt(1, now)], now });
