/**
 * `migrateRedisLayout` and `frontdesk store migrate-redis`: a store written in the layout before
 * buckets (by raw commands, test/support/redis-v1-fixture.ts) is refused by the store until it is
 * migrated, and afterwards answers through the public store API exactly what the expected model
 * says, on 1 bucket and on 16. A migration killed with SIGKILL midway finishes when run again,
 * with every session there once.
 */
import { execFileSync } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionHeader, SessionKey } from "../../src/core/model.ts";
import { createRedisStore } from "../../src/stores/redis/index.ts";
import { createKeyspace } from "../../src/stores/redis/keys.ts";
import { type MigrateProgress, migrateRedisLayout } from "../../src/stores/redis/migrate.ts";
import { compareListPosition, listPositionOf, matchesListQuery } from "../../src/stores/shared/list-filter.ts";
import type { ListQuery, SessionStore } from "../../src/stores/types.ts";
import { codeOf } from "../../src/testing/conformance/context.ts";
import { assertBuilt, CliProcess, runCli } from "../cli/processes.ts";
import { REDIS, uniquePrefix } from "../support/backends.ts";
import { eventsInRange } from "../support/event-range.ts";
import {
  type SessionSpec,
  sessionFromSpec,
  type V1Fixture,
  type V1Scope,
  v1Keys,
  v1KeysLeft,
  writeV1,
} from "../support/redis-v1-fixture.ts";

const url = REDIS.url;
/** The store's startup warnings (appendonly on a test Redis) are not what these tests look at. */
const logger = { warn: () => {} };
const GRACE_MS = 86_400_000;
const prefixes: string[] = [];

const NAMESPACES = ["default", "team:a{1}", "ünï cøde"];
const OWNERS: (string | null)[] = [null, "alice", "bob:x{y}", "日本語 user", "#", "%41"];

/**
 * Every owner in every namespace: sessions of each expiry, removals, idempotency records, both
 * header shapes, and update times in another order than creation times.
 */
function richFixture(now: number): V1Fixture {
  const specs: SessionSpec[] = [];
  let n = 0;
  const shuffled = (): number => ((n * 7919) % 97) * 300;
  for (const namespace of NAMESPACES) {
    for (const userId of OWNERS) {
      const owner = userId ?? "none";
      specs.push(
        {
          key: { namespace, userId, id: `s${n++}` },
          created: -50_000 + n,
          updated: shuffled(),
          events: 6,
          expiry: "live",
          idempotencyKeys: 2,
          tags: ["a"],
        },
        {
          key: { namespace, userId, id: `id:with{colon}${n++}` },
          created: -40_000 + n,
          events: 8,
          expiry: "never",
          removed: [3, 5],
          headerShape: "json-only",
        },
        { key: { namespace, userId, id: `gone ${owner} ${n++}` }, created: -30_000 + n, events: 2, expiry: "expired" },
        // The newest events removed: the runs field ends past the list.
        {
          key: { namespace, userId, id: `p${n++}` },
          created: -20_000 + n,
          updated: shuffled(),
          events: 5,
          expiry: "live",
          removed: [4, 5],
        },
        // Two sessions created in the same millisecond, ordered by owner and id.
        { key: { namespace, userId, id: `same-a${n++}` }, created: -10_000, events: 0, expiry: "never" },
        {
          key: { namespace, userId, id: `same-b${n++}` },
          created: -10_000,
          updated: shuffled(),
          events: 1,
          expiry: "live",
        },
      );
    }
  }
  const userScopes: V1Scope[] = [];
  for (const namespace of NAMESPACES) {
    OWNERS.forEach((userId, i) => {
      userScopes.push({
        namespace,
        userId,
        state: { plan: `p${i}`, nested: { ok: true, list: [1, 2] } },
        version: i + 1,
      });
    });
  }
  return {
    now,
    graceMs: GRACE_MS,
    sessions: specs.map((spec) => sessionFromSpec(spec, now)),
    reclaimed: NAMESPACES.map((namespace, i) => ({
      namespace,
      userId: i === 0 ? null : "alice",
      id: `reclaimed${i}`,
      createdAt: now - 90_000_000,
      expiresAt: now - 88_000_000,
    })),
    userScopes,
    appScopes: NAMESPACES.map((namespace, i) => ({ namespace, state: { banner: `hello ${i}` }, version: 3 + i })),
  };
}

const live = (header: SessionHeader, now: number): boolean => header.expiresAt === null || header.expiresAt > now;

/** The page `list` must return for `query` over the model's sessions. */
function expectedList(fixture: V1Fixture, query: ListQuery): SessionKey[] {
  const sorted = fixture.sessions
    .map((s) => s.header)
    .filter((h) => matchesListQuery(h, query))
    .sort((a, b) => compareListPosition(listPositionOf(a, query.orderBy), listPositionOf(b, query.orderBy)))
    .map(keyOf);
  if (query.order === "desc") sorted.reverse();
  return sorted.slice(0, query.limit);
}

const keyOf = ({ namespace, userId, id }: SessionKey): SessionKey => ({ namespace, userId, id });

/** Every read of the public store API, compared with the model. Sweep goes last: it deletes. */
async function expectModel(store: SessionStore, fixture: V1Fixture): Promise<void> {
  const { now } = fixture;
  for (const session of fixture.sessions) {
    const { header } = session;
    expect(await store.get(keyOf(header), now)).toEqual(live(header, now) ? header : undefined);
    expect(await store.readEvents(keyOf(header), {})).toEqual(session.events);
    for (const range of [{ after: 3 }, { after: 1, before: 7, limit: 2 }, { order: "desc", limit: 2 }] as const) {
      expect(await store.readEvents(keyOf(header), range)).toEqual(eventsInRange(session.events, range));
    }
    for (const record of session.idempotency) {
      expect(await store.findIdempotency(keyOf(header), record.key)).toEqual(record);
    }
    expect(await store.findIdempotency(keyOf(header), "never-used")).toBeUndefined();
  }
  for (const gone of fixture.reclaimed) expect(await store.get(keyOf(gone), now)).toBeUndefined();
  for (const namespace of NAMESPACES) {
    for (const userId of [undefined, ...OWNERS]) {
      // Short pages: the walk follows the index scores, so a wrong score shows as a wrong page.
      for (const [orderBy, order, limit, range] of [
        ["createdAt", "asc", 1000, {}],
        ["updatedAt", "desc", 1000, {}],
        ["createdAt", "desc", 3, {}],
        ["updatedAt", "asc", 2, {}],
        ["updatedAt", "desc", 3, { updatedAfter: now - 35_000 }],
        ["updatedAt", "asc", 2, { updatedAfter: now - 35_000 }],
        ["createdAt", "desc", 2, { createdBefore: now - 45_000 }],
        ["createdAt", "asc", 2, { createdAfter: now - 30_000 }],
      ] as const) {
        const query: ListQuery = {
          namespace,
          ...(userId === undefined ? {} : { userId }),
          ...range,
          orderBy,
          order,
          limit,
          now,
        };
        const page = await store.list(query);
        expect(page.items.map(keyOf)).toEqual(expectedList(fixture, query));
      }
      if (userId !== undefined) {
        const expected = fixture.sessions.filter(
          (s) => s.header.namespace === namespace && s.header.userId === userId && live(s.header, now),
        ).length;
        expect(await store.count(namespace, userId, now)).toBe(expected);
      }
    }
    for (const scope of fixture.userScopes.filter((s) => s.namespace === namespace)) {
      expect(await store.readScope(namespace, "user", scope.userId)).toEqual({
        state: scope.state,
        version: scope.version,
      });
    }
    const app = fixture.appScopes.find((s) => s.namespace === namespace);
    expect(await store.readScope(namespace, "app", null)).toEqual({ state: app?.state, version: app?.version });
    expect(await store.readScope(namespace, "user", "nobody")).toEqual({ state: {}, version: 0 });
  }
  const expired = fixture.sessions.filter((s) => !live(s.header, now)).length;
  let swept = 0;
  for (let round = 0; round < 100; round++) {
    const n = await store.sweep(now, 1000);
    if (n === 0) break;
    swept += n;
  }
  expect(swept).toBe(expired);
  for (const session of fixture.sessions.filter((s) => !live(s.header, now))) {
    expect(await store.readEvents(keyOf(session.header), {})).toEqual([]);
  }
}

describe.skipIf(!url && process.env.CI !== "true")("redis layout migration", () => {
  let admin: Redis;
  beforeAll(() => {
    if (!url) throw new Error(`${REDIS.variable} is not set: CI must test the migration against a real Redis`);
    admin = new Redis(url);
  });
  afterAll(async () => {
    for (const prefix of prefixes) await REDIS.cleanup(url as string, prefix);
    await admin?.quit();
  });

  describe.each([1, 16])("to %i bucket(s)", (buckets) => {
    it("the store refuses the old layout; once migrated it answers exactly what was there", async () => {
      const prefix = uniquePrefix("mig");
      prefixes.push(prefix);
      const fixture = richFixture(Date.now());
      await writeV1(admin, prefix, fixture);
      // An index entry no session backs (a stale leftover): deleted with the old indexes.
      await admin.zadd(`${prefix}:{n:stale}:created`, "1", "#:ghost");

      const before = createRedisStore({ url, keyPrefix: prefix, buckets, logger });
      try {
        const first = fixture.sessions[0]?.header as SessionHeader;
        expect(await codeOf(before.get(keyOf(first), fixture.now))).toBe("unavailable");
      } finally {
        await before.close();
      }

      const progress: MigrateProgress[] = [];
      const result = await migrateRedisLayout({
        url: url as string,
        keyPrefix: prefix,
        buckets,
        batch: 7,
        onProgress: (p) => progress.push(p),
      });
      const owned = fixture.userScopes.filter((s) => s.userId !== null).length;
      expect(result).toEqual({
        finished: true,
        alreadyMigrated: false,
        buckets,
        sessions: fixture.sessions.length,
        reclaimed: fixture.reclaimed.length,
        scopes: owned,
        staleIndexes: 1,
      });
      expect(progress.length).toBeGreaterThan(fixture.sessions.length / 7 - 1);
      expect(progress.at(-1)?.remaining).toBe(0);
      expect(progress.map((p) => p.migrated)).toEqual([...progress.map((p) => p.migrated)].sort((a, b) => a - b));
      expect(await v1KeysLeft(admin, prefix)).toEqual([]);
      expect(JSON.parse((await admin.get(`${prefix}:layout`)) as string)).toEqual({ layout: 2, buckets });

      // The keys moved with their TTLs: a session that never expires has none, the others keep Redis's.
      const keys = createKeyspace(prefix, buckets);
      for (const { header } of fixture.sessions) {
        const ttl = await admin.pttl(keys.session(header).header);
        if (header.expiresAt === null) expect(ttl).toBe(-1);
        else {
          // As the fixture set it (the time to expiry plus the grace), less the test's own run time.
          const set = Math.max(0, header.expiresAt - fixture.now) + GRACE_MS;
          expect(ttl).toBeGreaterThan(set - 60_000);
          expect(ttl).toBeLessThanOrEqual(set);
        }
      }

      const store = createRedisStore({ url, keyPrefix: prefix, buckets, logger });
      try {
        await expectModel(store, fixture);
      } finally {
        await store.close();
      }
      // Opened without the option, the store takes the marker's count.
      const unnamed = createRedisStore({ url, keyPrefix: prefix, logger });
      try {
        const alice = fixture.sessions.filter(
          (s) => s.header.namespace === "default" && s.header.userId === "alice" && live(s.header, fixture.now),
        );
        expect(await unnamed.count("default", "alice", fixture.now)).toBe(alice.length);
      } finally {
        await unnamed.close();
      }

      const again = await migrateRedisLayout({ url: url as string, keyPrefix: prefix, buckets });
      expect(again).toMatchObject({ finished: true, alreadyMigrated: true, sessions: 0 });
      expect(await codeOf(migrateRedisLayout({ url: url as string, keyPrefix: prefix, buckets: buckets + 1 }))).toBe(
        "invalid_request",
      );
    }, 60_000);
  });

  it("sessions an old server wrote after a migration are moved by the next run", async () => {
    const prefix = uniquePrefix("mig");
    prefixes.push(prefix);
    const now = Date.now();
    const first = sessionFromSpec(
      { key: { namespace: "n", userId: "u", id: "a" }, created: -1, events: 2, expiry: "never" },
      now,
    );
    const late = sessionFromSpec(
      { key: { namespace: "n", userId: "u", id: "b" }, created: 0, events: 1, expiry: "never" },
      now,
    );
    const base = { now, graceMs: GRACE_MS, reclaimed: [], userScopes: [], appScopes: [] };
    await writeV1(admin, prefix, { ...base, sessions: [first] });
    expect(await migrateRedisLayout({ url: url as string, keyPrefix: prefix, buckets: 4 })).toMatchObject({
      sessions: 1,
    });
    await writeV1(admin, prefix, { ...base, sessions: [late] });
    // No --buckets: the marker's count.
    expect(await migrateRedisLayout({ url: url as string, keyPrefix: prefix })).toMatchObject({
      finished: true,
      alreadyMigrated: false,
      buckets: 4,
      sessions: 1,
    });
    const store = createRedisStore({ url, keyPrefix: prefix, logger });
    try {
      const page = await store.list({
        namespace: "n",
        userId: "u",
        orderBy: "createdAt",
        order: "asc",
        limit: 10,
        now,
      });
      expect(page.items).toEqual([first.header, late.header]);
    } finally {
      await store.close();
    }
    expect(await v1KeysLeft(admin, prefix)).toEqual([]);
  });

  it("refuses a Cluster URL and a prefix that would break hash tags, before connecting", async () => {
    expect(await codeOf(migrateRedisLayout({ url: "redis+cluster://127.0.0.1:1/", keyPrefix: "fd" }))).toBe(
      "invalid_request",
    );
    expect(await codeOf(migrateRedisLayout({ url: "http://127.0.0.1:1/", keyPrefix: "fd" }))).toBe("invalid_request");
    expect(await codeOf(migrateRedisLayout({ url: url as string, keyPrefix: "a{b}" }))).toBe("invalid_request");
    expect(await codeOf(migrateRedisLayout({ url: url as string, keyPrefix: "fd", buckets: 0 }))).toBe(
      "invalid_request",
    );
  });

  describe("frontdesk store migrate-redis", () => {
    const SESSIONS = 3000;
    beforeAll(() => assertBuilt());

    it("killed midway with SIGKILL, stopped with SIGINT, then run again: every session there once, with its events", async () => {
      const prefix = uniquePrefix("migk");
      prefixes.push(prefix);
      const now = Date.now();
      const sessions = Array.from({ length: SESSIONS }, (_, i) =>
        sessionFromSpec(
          {
            key: { namespace: "default", userId: i % 7 === 0 ? null : `user ${i % 41}`, id: `k${i}` },
            created: -SESSIONS + i,
            events: 3,
            expiry: i % 2 === 0 ? "live" : "never",
            idempotencyKeys: i % 10 === 0 ? 1 : 0,
          },
          now,
        ),
      );
      const fixture: V1Fixture = {
        now,
        graceMs: GRACE_MS,
        sessions,
        reclaimed: [],
        userScopes: Array.from({ length: 41 }, (_, i) => ({
          namespace: "default",
          userId: `user ${i}`,
          state: { n: i },
          version: 1,
        })),
        appScopes: [],
      };
      await writeV1(admin, prefix, fixture);
      const expiry = v1Keys(prefix).expiry;
      const args = ["store", "migrate-redis", url as string, "--prefix", prefix, "--buckets", "16", "--batch", "20"];

      const left = (): number => Number(execFileSync("redis-cli", ["-u", url as string, "ZCARD", expiry]).toString());
      /** Runs the CLI and sends `signal` once it moved a batch or two; resolves with how it ended. */
      const interrupt = async (signal: NodeJS.Signals) => {
        const before = left();
        const migrator = new CliProcess(args);
        try {
          // A synchronous poll, so nothing in this process can delay it: the signal lands as soon
          // as sessions left the index (which also holds the run's guard member), long before the end.
          const deadline = Date.now() + 60_000;
          while (left() >= before - 1 && Date.now() < deadline) {}
          migrator.child.kill(signal);
          const exit = await migrator.exited;
          return { ...exit, stderr: migrator.stderr, stdout: migrator.stdout };
        } finally {
          await migrator.kill();
        }
      };

      expect((await interrupt("SIGKILL")).signal).toBe("SIGKILL");
      const afterKill = (await admin.zcard(expiry)) - 1;
      expect(afterKill).toBeGreaterThan(0);
      expect(afterKill).toBeLessThan(SESSIONS);
      expect(await admin.get(`${prefix}:layout`)).toBeNull();
      // Half-migrated: the store still refuses to open it.
      const early = createRedisStore({ url, keyPrefix: prefix, buckets: 16, logger });
      try {
        expect(await codeOf(early.count("default", null, now))).toBe("unavailable");
      } finally {
        await early.close();
      }

      // SIGINT stops it between two batches, with the usual exit code and a hint.
      const stopped = await interrupt("SIGINT");
      expect(stopped.code).toBe(130);
      expect(stopped.stdout).toBe("");
      expect(stopped.stderr).toMatch(/^frontdesk: stopped: moved \d+ sessions .*; run it again to finish\n$/);
      const remaining = (await admin.zcard(expiry)) - 1;
      expect(remaining).toBeGreaterThan(0);
      expect(remaining).toBeLessThan(afterKill);

      const rerun = await runCli(args);
      expect(rerun.stderr).toBe("");
      expect(rerun.code).toBe(0);
      const moved = /^migrated prefix \S+, layout 2 with 16 buckets: moved (\d+) sessions and 41 user: scopes/.exec(
        rerun.stdout,
      );
      expect(moved).not.toBeNull();
      expect(Number(moved?.[1])).toBeGreaterThanOrEqual(remaining);
      expect(Number(moved?.[1])).toBeLessThan(SESSIONS);

      expect(await v1KeysLeft(admin, prefix)).toEqual([]);
      const store = createRedisStore({ url, keyPrefix: prefix, buckets: 16, logger });
      try {
        const page = await store.list({
          namespace: "default",
          orderBy: "createdAt",
          order: "asc",
          limit: SESSIONS + 1,
          now,
        });
        expect(page.items.map((h) => h.id)).toEqual(sessions.map((s) => s.header.id));
        expect(page.items).toEqual(sessions.map((s) => s.header));
        const events = await Promise.all(sessions.map((s) => store.readEvents(keyOf(s.header), {})));
        expect(events).toEqual(sessions.map((s) => s.events));
        expect(await store.readScope("default", "user", "user 40")).toEqual({ state: { n: 40 }, version: 1 });
      } finally {
        await store.close();
      }
      const headers = createKeyspace(prefix, 16).expiries;
      const indexed = await Promise.all(headers.map((index) => admin.zcard(index)));
      expect(indexed.reduce((a, b) => a + b, 0)).toBe(SESSIONS);

      const third = await runCli(args);
      expect(third.code).toBe(0);
      expect(third.stdout).toBe(`nothing to migrate: prefix ${prefix}, layout 2 with 16 buckets\n`);
    }, 120_000);

    it("a bucket count other than the store's is a usage error (exit 2)", async () => {
      const prefix = uniquePrefix("migu");
      prefixes.push(prefix);
      await admin.set(`${prefix}:layout`, JSON.stringify({ layout: 2, buckets: 4 }));
      const wrong = await runCli(["store", "migrate-redis", `${url}?prefix=${prefix}`, "--buckets", "8"]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/^frontdesk: invalid_request: .*buckets=4, not 8/);
      const clash = await runCli(["store", "migrate-redis", `${url}?prefix=${prefix}`, "--prefix", "other"]);
      expect(clash.code).toBe(2);
    });
  });
});
