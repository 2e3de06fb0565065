/**
 * What only a Redis Cluster shows (issue 20): the URL form, one slot per owner, the two-phase
 * commit of the scopes outside the buckets when a process dies between its phases, and a live
 * tail that follows a session while its slot moves to another master. The conformance suite on
 * the cluster is in redis.test.ts.
 */
import { randomBytes } from "node:crypto";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createRedisStore, type RedisStoreOptions } from "../../src/stores/redis/index.ts";
import { bucketTags, createKeyspace } from "../../src/stores/redis/keys.ts";
import { openStore } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { clusterMasters, moveSlot, REDIS_CLUSTER_SEEDS, REDIS_CLUSTER_URL } from "../support/redis-cluster.ts";

const quiet = { warn: () => undefined };

describe.skipIf(!REDIS_CLUSTER_SEEDS && !process.env.CI)("redis cluster specifics", () => {
  const seeds = REDIS_CLUSTER_SEEDS ?? [];
  const seed = seeds[0] ?? { host: "127.0.0.1", port: 7001 };
  let admin: Cluster;
  const stores: SessionStore[] = [];
  const open = (options: RedisStoreOptions = {}, clock = new FakeClock()): SessionStore => {
    const store = createRedisStore({ cluster: { nodes: seeds }, logger: quiet, ...options }, { clock });
    stores.push(store);
    return store;
  };

  beforeAll(() => {
    if (!REDIS_CLUSTER_URL) throw new Error("CI runs the Cluster suites: set FRONTDESK_TEST_REDIS_CLUSTER_URL");
    admin = new Cluster(seeds);
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await admin?.quit();
  });

  it("opens from a redis+cluster URL and names a bad seed node", async () => {
    const prefix = `c${randomBytes(5).toString("hex")}`;
    const store = await openStore(`${REDIS_CLUSTER_URL}&prefix=${prefix}`, { logger: quiet });
    stores.push(store);
    const key = { namespace: "ns", userId: "u", id: "s" };
    expect(await store.readScope("ns", "user", "u")).toEqual({ state: {}, version: 0 });
    expect(await admin.get(`${prefix}:layout`)).toBe(JSON.stringify({ layout: 2, buckets: 256 }));
    expect(await store.get(key, 0)).toBeUndefined();
    await expect(openStore("redis+cluster://127.0.0.1:7001/?nodes=nowhere", {})).rejects.toMatchObject({
      code: "invalid_request",
    });
  });

  it("keeps every key of one owner in one slot, and spreads the 256 buckets evenly over the masters", async () => {
    const keys = createKeyspace("fd", 256);
    const slot = async (key: string) => Number(await admin.call("CLUSTER", "KEYSLOT", key));
    const session = keys.session({ namespace: "ns", userId: "alice", id: "s1" });
    const other = keys.session({ namespace: "ns", userId: "alice", id: "s2" });
    const user = keys.userScope("ns", "alice");
    const alice = [session.header, session.events, session.idempotency, session.channel, session.namespaceCreated];
    alice.push(session.ownerExpiry, session.expiry, other.header, user.state, user.version);
    const slots = new Set(await Promise.all(alice.map(slot)));
    expect(slots.size).toBe(1);
    // The server's own slot function agrees with the layout: bucket b is on slot ⌊b × 16384 / 256⌋.
    const tagSlots = await Promise.all(bucketTags(256).map((tag) => slot(`{${tag}}`)));
    expect(tagSlots).toEqual(Array.from({ length: 256 }, (_, b) => Math.floor((b * 16_384) / 256)));
    // redis-cli --cluster create gives three masters contiguous thirds: 85 or 86 buckets each.
    const thirds: [number, number][] = [
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ];
    const perThird = thirds.map(([a, b]) => tagSlots.filter((s) => s >= a && s <= b).length);
    expect(Math.max(...perThird) - Math.min(...perThird)).toBeLessThanOrEqual(1);
    // And whatever the live cluster's ranges are now (a test may have moved a slot), every bucket is served.
    const masters = await clusterMasters(seed);
    const served = masters.map((m) => tagSlots.filter((s) => m.slots.some(([a, b]) => s >= a && s <= b)).length);
    expect(served.reduce((a, b) => a + b, 0)).toBe(256);
  });

  it("finishes a two-phase commit left behind: rolled back past its deadline without a decision, applied once with one", async () => {
    const prefix = `c${randomBytes(5).toString("hex")}`;
    const clock = new FakeClock();
    const store = open({ keyPrefix: prefix, commandTimeoutMs: 2_000 }, clock);
    const keys = createKeyspace(prefix, 256);
    const app = keys.appScope("ns");
    const lease = keys.scopeLease(app);
    const session = { namespace: "ns", userId: "u1", id: "s1" };
    await store.readScope("ns", "app", null); // writes the layout marker

    // A process that leased the scope and died before its session commit: a reader within the
    // lease's deadline sees the state before it, and a writer is told the scope is busy.
    const dead = keys.decision(session, "dead");
    await admin.hset(lease, "#tx", "dead", "#decision", dead, "#deadline", String(clock.now() + 4_000), "f:app:x", "1");
    expect(await store.readScope("ns", "app", null)).toEqual({ state: {}, version: 0 });
    expect(await admin.exists(lease)).toBe(1);
    clock.advance(4_001);
    expect(await store.readScope("ns", "app", null)).toEqual({ state: {}, version: 0 });
    expect(await admin.exists(lease)).toBe(0);
    // The rollback is recorded where the dead commit would record its decision: it can never land now.
    expect(await admin.get(dead)).toBe("aborted");

    // One that recorded its decision and died before applying: the next reader applies it, once.
    const done = keys.decision(session, "done");
    await admin.set(done, "committed");
    await admin.hset(lease, "#tx", "done", "#decision", done, "#deadline", String(clock.now() + 4_000), "f:app:x", "2");
    expect(await store.readScope("ns", "app", null)).toEqual({ state: { "app:x": 2 }, version: 1 });
    expect(await store.readScope("ns", "app", null)).toEqual({ state: { "app:x": 2 }, version: 1 });
    expect(await admin.exists(lease)).toBe(0);
  });

  it("commits app: state with the session all or nothing, and leaves no lease behind", async () => {
    const prefix = `c${randomBytes(5).toString("hex")}`;
    const clock = new FakeClock();
    const store = open({ keyPrefix: prefix }, clock);
    const sessions = new SessionManager(() => ({}), store, "ns", { clock, defaultTtlMs: 60_000 });
    const { id } = await sessions.create({ userId: "owner" });
    const ref = { id, userId: "owner" };
    await sessions.update(ref, (state) => ({ ...state, "app:count": 1, "user:seen": true, own: 1 }));
    expect(await store.readScope("ns", "app", null)).toEqual({ state: { "app:count": 1 }, version: 1 });
    // A stale If-Match fails the session's check in phase two: the leased app: change is dropped.
    await expect(
      sessions.update(ref, (state) => ({ ...state, "app:count": 2, own: 2 }), { expectedVersion: 1 }),
    ).rejects.toMatchObject({ code: "precondition_failed" });
    expect(await store.readScope("ns", "app", null)).toEqual({ state: { "app:count": 1 }, version: 1 });
    expect(await admin.exists(createKeyspace(prefix, 256).scopeLease(createKeyspace(prefix, 256).appScope("ns")))).toBe(
      0,
    );
    expect((await sessions.get(ref)).state).toMatchObject({ own: 1, "app:count": 1 });
  });

  it("a live tail on one instance follows a session through a move of its slot to another master", async () => {
    const prefix = `c${randomBytes(5).toString("hex")}`;
    const clock = new FakeClock();
    const reader = new SessionManager(() => ({}), open({ keyPrefix: prefix }, clock), "ns", {
      clock,
      defaultTtlMs: 600_000,
    });
    const writer = new SessionManager(() => ({}), open({ keyPrefix: prefix }, clock), "ns", {
      clock,
      defaultTtlMs: 600_000,
    });
    const { id } = await writer.create({ userId: "mover" });
    const header = createKeyspace(prefix, 256).session({ namespace: "ns", userId: "mover", id }).header;
    const slot = Number(await admin.call("CLUSTER", "KEYSLOT", header));
    const received: SessionEvent[] = [];
    const subscription = reader.subscribe({ id, userId: "mover" });
    const following = (async () => {
      for await (const event of subscription) {
        received.push(event);
        if (contentOf(event) === "last") break;
      }
    })();
    const say = (content: string) => writer.addMessage({ id, userId: "mover" }, { role: "user", content });
    await say("before");
    await waitFor(() => received.some((e) => e.type === "message"));
    const masters = await clusterMasters(seed);
    const to = masters.find((m) => !m.slots.some(([a, b]) => slot >= a && slot <= b)) as (typeof masters)[number];
    // Appends while the keys are half moved (ASK, TRYAGAIN) and after the owner changed (MOVED).
    const from = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b)) as (typeof masters)[number];
    // The append sent while the slot is half moved lands once it has moved.
    let during: Promise<unknown> | undefined;
    await moveSlot(seed, slot, to, async () => {
      during = say("during");
    });
    // The cluster is shared with the other suites: the slot goes home at the end, whatever happens.
    onTestFinished(() => moveSlot(seed, slot, from));
    await during;
    for (let i = 0; i < 5; i++) await say(`after ${i}`);
    await say("last");
    await waitFor(() => received.some((e) => contentOf(e) === "last"), 15_000);
    await following;
    const seqs = received.map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => (seqs[0] as number) + i));
    const contents = received.filter((e) => e.type === "message").map(contentOf);
    expect(contents).toEqual(["before", "during", "after 0", "after 1", "after 2", "after 3", "after 4", "last"]);
    const log = await writer.readEvents({ id, userId: "mover" });
    expect(log.at(-1)?.seq).toBe(received.at(-1)?.seq);
  });
});

const contentOf = (event: SessionEvent): unknown => (event.type === "message" ? event.content : undefined);

/** Polls a condition until it holds or the deadline passes (a condition, never a fixed sleep). */
async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
