import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { emptyStats, type SessionEvent, type SessionHeader, type SessionKey } from "../../src/core/model.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createRedisStore, type RedisStoreOptions } from "../../src/stores/redis/index.ts";
import { createKeyspace } from "../../src/stores/redis/keys.ts";
import type { AppendRequest, Commit, EventRange, SessionStore } from "../../src/stores/types.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";

const url = process.env.FRONTDESK_TEST_REDIS_URL;

const headerFor = (key: SessionKey, at: number, version: number, lastSeq: number): SessionHeader =>
  sessionHeader(key, at, { version, lastSeq, ttlMs: 60_000, expiresAt: at + 60_000 });

/** Events of two types, so `types` reads skip some. */
const eventAt = (seq: number, at: number, data = `canary-${seq}-x`): SessionEvent =>
  seq % 3 === 0 ? { seq, id: `e${seq}`, at, type: "state", stateDelta: { data } } : customEvent(seq, at, data);

const appendRequest = (key: SessionKey, count: number, now: number): AppendRequest => ({
  key,
  events: Array.from({ length: count }, (_, i) => ({
    id: `a${now}-${i}`,
    at: now,
    type: "custom",
    name: "n",
    data: i,
  })),
  stats: { ...emptyStats(), tools: [], inputTokens: [], outputTokens: [], costUsd: [], durationMs: [] },
  maxEventsPerSession: 1_000_000,
  now,
});

describe.skipIf(!url)("redis store: removed and rewritten events", () => {
  let admin: Redis;
  const opened: SessionStore[] = [];
  const open = (options: RedisStoreOptions = {}): SessionStore => {
    const store = createRedisStore({ url, logger: { warn: () => undefined }, ...options });
    opened.push(store);
    return store;
  };
  const newPrefix = () => `t${randomBytes(5).toString("hex")}`;
  beforeAll(() => {
    admin = new Redis(url as string);
  });
  afterAll(async () => {
    await admin.quit();
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  /** Every value stored under the prefix, read the way its type reads. */
  const everyValue = async (prefix: string): Promise<Map<string, string>> => {
    const values = new Map<string, string>();
    let cursor = "0";
    do {
      const [next, keys] = await admin.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const type = await admin.type(key);
        const value =
          type === "string"
            ? await admin.get(key)
            : type === "hash"
              ? await admin.hgetall(key)
              : type === "list"
                ? await admin.lrange(key, 0, -1)
                : type === "zset"
                  ? await admin.zrange(key, 0, -1, "WITHSCORES")
                  : type === "set"
                    ? await admin.smembers(key)
                    : `unread type ${type}`;
        values.set(key, JSON.stringify(value));
      }
    } while (cursor !== "0");
    return values;
  };

  it("reads after removals, rewrites and appends match the memory reference store", async () => {
    const redis = open({ keyPrefix: newPrefix() });
    const memory = createMemoryStore();
    const range: fc.Arbitrary<EventRange> = fc.record(
      {
        after: fc.integer({ min: -1, max: 60 }),
        before: fc.integer({ min: -1, max: 64 }),
        limit: fc.integer({ min: 0, max: 30 }),
        types: fc.constantFrom([], ["state"], ["custom"], ["message"]),
        order: fc.constantFrom("asc" as const, "desc" as const),
      },
      { requiredKeys: [] },
    );
    const op = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), count: fc.integer({ min: 1, max: 6 }), append: fc.boolean() }),
      fc.record({
        kind: fc.constant("remove" as const),
        after: fc.nat(),
        span: fc.nat(),
        count: fc.integer({ min: 0, max: 2 }),
        picks: fc.array(fc.nat(), { maxLength: 3 }),
      }),
      fc.record({ kind: fc.constant("rewrite" as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op, reads: fc.array(range, { maxLength: 4 }) }), { maxLength: 10 }),
        async (steps) => {
          const key: SessionKey = { namespace: "ns", userId: "u1", id: `s${run++}` };
          const now = 1_000;
          let version = 1;
          let lastSeq = 0;
          for (const store of [redis, memory]) {
            await store.commit({ key, expectedVersion: 0, header: headerFor(key, now, 1, 0), events: [], now });
          }
          for (const [index, { op, reads }] of steps.entries()) {
            const added = op.kind === "add" ? op.count : op.kind === "remove" ? op.count : 0;
            if (op.kind === "add" && op.append) {
              const request = appendRequest(key, op.count, now + index);
              const outcome = await redis.append?.(request);
              expect(outcome).toEqual({ outcome: "appended", version: version + 1, lastSeq: lastSeq + op.count });
              const events = request.events.map((event, i) => ({ seq: lastSeq + i + 1, ...event }) as SessionEvent);
              await memory.commit({
                key,
                expectedVersion: version,
                header: headerFor(key, now, version + 1, lastSeq + op.count),
                events,
                now,
              });
            } else {
              // Ranges anywhere, empty ones and ones past the end included.
              const removeAfter = op.kind === "remove" ? op.after % (lastSeq + 2) : 0;
              const removeEvents =
                op.kind === "remove"
                  ? { after: removeAfter, before: removeAfter + 1 + (op.span % (lastSeq + 3)) }
                  : undefined;
              const picks = op.kind === "add" ? [] : op.picks;
              const rewrites =
                lastSeq === 0
                  ? []
                  : picks
                      .map((pick) => 1 + (pick % lastSeq))
                      .filter((seq) => !removeEvents || seq <= removeEvents.after || seq >= removeEvents.before)
                      .map((seq) => customEvent(seq, now, `rewritten-${seq}-${index}`));
              const commit: Commit = {
                key,
                expectedVersion: version,
                header: headerFor(key, now, version + 1, lastSeq + added),
                events: Array.from({ length: added }, (_, i) => eventAt(lastSeq + i + 1, now)),
                ...(removeEvents ? { removeEvents } : {}),
                rewrites,
                now,
              };
              for (const store of [redis, memory]) await store.commit(commit);
            }
            version++;
            lastSeq += added;
            for (const r of [{}, { order: "desc" as const, limit: 2 }, ...reads]) {
              expect(await redis.readEvents(key, r), JSON.stringify({ r, steps })).toEqual(
                await memory.readEvents(key, r),
              );
            }
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it("after a removal or rewrite no Redis value holds the old content", async () => {
    const prefix = newPrefix();
    const store = open({ keyPrefix: prefix });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    const now = 1_000;
    const events = Array.from({ length: 40 }, (_, i) => eventAt(i + 1, now));
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, now, 1, 40),
      events,
      idempotency: { key: "idem", fingerprint: "f", firstSeq: 1, lastSeq: 40, version: 1, at: now },
      now,
    });
    const before = [...(await everyValue(prefix)).values()].join("\n");
    for (let seq = 1; seq <= 40; seq++) expect(before).toContain(`canary-${seq}-x`);
    // A middle range (the events before it are set aside and put back), two rewrites, then the
    // newest events (the next append starts a run of its own).
    await store.commit({
      key,
      expectedVersion: 1,
      header: headerFor(key, now, 2, 40),
      events: [],
      removeEvents: { after: 2, before: 30 },
      rewrites: [customEvent(1, now, "tombstone"), customEvent(35, now, "tombstone")],
      now,
    });
    await store.commit({
      key,
      expectedVersion: 2,
      header: headerFor(key, now, 3, 41),
      events: [eventAt(41, now)],
      removeEvents: { after: 36, before: 41 },
      now,
    });
    expect(await store.append?.(appendRequest(key, 1, now))).toMatchObject({ outcome: "appended", lastSeq: 42 });
    const kept = [2, 30, 31, 32, 33, 34, 36, 41];
    expect((await store.readEvents(key, {})).map((e) => e.seq)).toEqual([1, 2, 30, 31, 32, 33, 34, 35, 36, 41, 42]);
    const after = [...(await everyValue(prefix)).values()].join("\n");
    for (let seq = 1; seq <= 41; seq++) {
      if (kept.includes(seq)) expect(after).toContain(`canary-${seq}-x`);
      else expect(after, `event ${seq}`).not.toContain(`canary-${seq}-x`);
    }
  });

  it("a removal of 100,000 events is one small script call, and the log stays readable and appendable", async () => {
    const prefix = newPrefix();
    const client = new Redis(url as string, { enableOfflineQueue: false });
    const sent: { name: string; args: number }[] = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string; args: unknown[] }) => {
      sent.push({ name: command.name, args: command.args.length });
      return send(command as never);
    }) as typeof client.sendCommand;
    const store = open({ client, keyPrefix: prefix });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "big" };
    const now = 1_000;
    const total = 100_000;
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, now, 1, total),
      events: Array.from({ length: total }, (_, i) => customEvent(i + 1, now)),
      now,
    });
    sent.length = 0;
    // Keep the first event, as the marker, and the newest 1,000.
    await store.commit({
      key,
      expectedVersion: 1,
      header: headerFor(key, now, 2, total),
      events: [],
      removeEvents: { after: 1, before: total - 999 },
      rewrites: [customEvent(1, now, "pruned")],
      now,
    });
    expect(sent.map((s) => s.name)).toEqual(["evalsha"]);
    expect(sent[0]?.args).toBeLessThan(60);
    const k = createKeyspace(prefix).session(key);
    expect(await admin.llen(k.events)).toBe(1_001);
    const seqs = async (range: EventRange) => (await store.readEvents(key, range)).map((e) => e.seq);
    expect(await seqs({ limit: 3 })).toEqual([1, total - 999, total - 998]);
    expect(await seqs({ after: 1, before: total - 998 })).toEqual([total - 999]);
    expect(await seqs({ order: "desc", limit: 2 })).toEqual([total, total - 1]);
    expect(await seqs({ order: "desc", before: total - 998, limit: 5 })).toEqual([total - 999, 1]);
    expect((await store.readEvents(key, { limit: 1 }))[0]).toMatchObject({ data: "pruned" });
    sent.length = 0;
    expect(await store.append?.(appendRequest(key, 2, now))).toEqual({
      outcome: "appended",
      version: 3,
      lastSeq: total + 2,
    });
    expect(sent.map((s) => s.name)).toEqual(["evalsha"]);
    expect(await seqs({ order: "desc", limit: 3 })).toEqual([total + 2, total + 1, total]);
    await store.close();
    await client.quit();
  }, 60_000);

  it("a create over an expired, pruned session starts a gapless log", async () => {
    const prefix = newPrefix();
    const store = open({ keyPrefix: prefix });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    const now = 1_000;
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, now, 1, 10),
      events: Array.from({ length: 10 }, (_, i) => eventAt(i + 1, now)),
      now,
    });
    await store.commit({
      key,
      expectedVersion: 1,
      header: headerFor(key, now, 2, 10),
      events: [],
      removeEvents: { after: 0, before: 8 },
      now,
    });
    const later = now + 60_000;
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, later, 1, 2),
      events: [eventAt(1, later), eventAt(2, later)],
      now: later,
    });
    expect(await admin.hmget(createKeyspace(prefix).session(key).header, "g", "p")).toEqual([null, null]);
    expect(await store.append?.(appendRequest(key, 1, later))).toMatchObject({ outcome: "appended", lastSeq: 3 });
    expect((await store.readEvents(key, {})).map((e) => [e.seq, e.at])).toEqual([
      [1, later],
      [2, later],
      [3, later],
    ]);
  });

  it("a rewrite past the end of the log is refused with nothing changed, a removal's own rewrite too", async () => {
    const prefix = newPrefix();
    const store = open({ keyPrefix: prefix });
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
    const now = 1_000;
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, now, 1, 5),
      events: Array.from({ length: 5 }, (_, i) => eventAt(i + 1, now)),
      now,
    });
    const stored = await everyValue(prefix);
    for (const extra of [
      { removeEvents: { after: 0, before: 3 }, rewrites: [customEvent(6, now, "x")] },
      { removeEvents: { after: 0, before: 3 }, rewrites: [customEvent(2, now, "x")] },
      { removeEvents: { after: 0.5, before: 3 } },
      { rewrites: [customEvent(0, now, "x")] },
    ]) {
      const error = await store
        .commit({
          key,
          expectedVersion: 1,
          header: headerFor(key, now, 2, 6),
          events: [eventAt(6, now)],
          scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:x": 1 } }],
          ...extra,
          now,
        })
        .catch((e: unknown) => e);
      expect(error, JSON.stringify(extra)).toMatchObject({ code: "invalid_request" });
      expect(await everyValue(prefix)).toEqual(stored);
    }
  });

  it("a session whose header Redis reclaimed leaves no key or index entry behind: list and delete clear them", async () => {
    const prefix = newPrefix();
    const store = open({ keyPrefix: prefix });
    const keys = createKeyspace(prefix);
    const now = 1_000;
    const create = async (id: string, ttl: boolean) => {
      const key: SessionKey = { namespace: "ns", userId: "u1", id };
      await store.commit({
        key,
        expectedVersion: 0,
        header: ttl ? headerFor(key, now, 1, 1) : sessionHeader(key, now, { lastSeq: 1 }),
        events: [eventAt(1, now)],
        idempotency: { key: "idem", fingerprint: "f", firstSeq: 1, lastSeq: 1, version: 1, at: now },
        now,
      });
      return key;
    };
    const reclaimedByList = await create("a", true);
    const reclaimedThenDeleted = await create("b", true);
    const expiredButStored = await create("c", true);
    const live = await create("d", false);
    // What PEXPIRE does first: the header goes (its events and records would follow).
    await admin.del(keys.session(reclaimedByList).header, keys.session(reclaimedThenDeleted).header);
    expect(await store.delete(reclaimedThenDeleted)).toBe(false);
    const query = { namespace: "ns", userId: "u1", orderBy: "createdAt", order: "asc", limit: 10 } as const;
    const listed = await store.list({ ...query, now: 0 });
    expect(listed.items.map((h) => h.id)).toEqual(["c", "d"]);
    expect((await store.list({ ...query, now: now + 60_000 })).items.map((h) => h.id)).toEqual(["d"]);
    const left = [...(await everyValue(prefix)).entries()].join("\n");
    for (const gone of [reclaimedByList, reclaimedThenDeleted]) {
      const k = keys.session(gone);
      expect(await admin.exists(k.events, k.idempotency)).toBe(0);
      expect(left).not.toContain(`"${k.member}"`);
      expect(left).not.toContain(`"${k.ref}"`);
    }
    for (const kept of [expiredButStored, live]) expect(left).toContain(`"${keys.session(kept).member}"`);
    expect(await store.count("ns", "u1", now)).toBe(2);
  });

  it("eraseScope removes the owner's scope keys and only them", async () => {
    const prefix = newPrefix();
    const store = open({ keyPrefix: prefix });
    const keys = createKeyspace(prefix);
    for (const userId of ["u1", "u2"]) {
      const key: SessionKey = { namespace: "ns", userId, id: "s" };
      await store.commit({
        key,
        expectedVersion: 0,
        header: headerFor(key, 1, 1, 0),
        events: [],
        scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:name": `${userId}-name` } }],
        now: 1,
      });
    }
    const u1 = keys.userScope("ns", "u1");
    const u2 = keys.userScope("ns", "u2");
    expect(await admin.exists(u1.state, u1.version, u2.state, u2.version)).toBe(4);
    expect(await store.eraseScope("ns", "u1")).toBe(true);
    expect(await admin.exists(u1.state, u1.version)).toBe(0);
    expect(await admin.exists(u2.state, u2.version)).toBe(2);
    expect([...(await everyValue(prefix)).values()].join("\n")).not.toContain("u1-name");
    expect(await store.eraseScope("ns", "u1")).toBe(false);
  });
});
