import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FrontdeskError, isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../../src/core/model.ts";
import { createSqliteStore, openFromUrl } from "../../src/stores/sqlite/index.ts";
import { SCHEMA_VERSION } from "../../src/stores/sqlite/migrations.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { sessionHeader } from "../../src/testing/conformance/records.ts";

const NOW = Date.UTC(2026, 0, 1);

const headerOf = (key: SessionKey, changes: Partial<SessionHeader> = {}): SessionHeader =>
  sessionHeader(key, NOW, changes);

const eventOf = (seq: number, type: "custom" | "state" = "custom"): SessionEvent =>
  type === "custom"
    ? { seq, id: `e${seq}`, at: NOW, type: "custom", name: "n", data: { seq } }
    : { seq, id: `e${seq}`, at: NOW, type: "state", stateDelta: { seq } };

/** Creates `key` and appends `count` events to it, one commit each. */
async function seed(store: SessionStore, key: SessionKey, count: number, changes: Partial<SessionHeader> = {}) {
  await store.commit({ key, expectedVersion: 0, header: headerOf(key, changes), events: [], now: NOW });
  for (let seq = 1; seq <= count; seq++) {
    await appendEvent(store, key, eventOf(seq, seq % 3 === 0 ? "state" : "custom"), changes);
  }
}

/** Commits `event` as the next one of `key`, as `seed` does: version seq + 1 over version seq. */
function appendEvent(store: SessionStore, key: SessionKey, event: SessionEvent, changes: Partial<SessionHeader> = {}) {
  const seq = event.seq;
  return store.commit({
    key,
    expectedVersion: seq,
    header: headerOf(key, { ...changes, version: seq + 1, lastSeq: seq }),
    events: [event],
    now: NOW,
  });
}

async function errorOf(promise: Promise<unknown>): Promise<FrontdeskError> {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return error;
    throw error;
  }
  throw new Error("expected a FrontdeskError, but the call succeeded");
}

/** Waits for the next microtasks and timers so queued hints have run. */
const settle = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

describe("sqlite store", () => {
  let dir = "";
  let file = "";
  let opened: SessionStore[] = [];
  let raw: Database.Database[] = [];
  const open = (options: Partial<Parameters<typeof createSqliteStore>[0]> = {}): SessionStore => {
    const store = createSqliteStore({ path: file, ...options });
    opened.push(store);
    return store;
  };
  const inspect = (): Database.Database => {
    const db = new Database(file);
    raw.push(db);
    return db;
  };
  const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "frontdesk-sqlite-specific-"));
    file = path.join(dir, "nested", "folder", "store.db");
  });
  afterEach(async () => {
    for (const db of raw) db.close();
    for (const store of opened) await store.close();
    raw = [];
    opened = [];
    await rm(dir, { recursive: true, force: true });
  });

  describe("read cache", () => {
    it("a header read again is served without a query, and is the same frozen value", async () => {
      const store = open();
      await seed(store, key, 2);
      const first = await store.get(key, NOW);
      // A second query would parse a new object; the cache hands out the one it froze.
      expect(await store.get(key, NOW)).toBe(first);
      expect(Object.isFrozen(first) && Object.isFrozen(first?.state) && Object.isFrozen(first?.stats)).toBe(true);
    });

    it("a commit by another connection or process is seen by the next read", async () => {
      const store = open();
      const other = open();
      await seed(store, key, 1);
      expect((await store.get(key, NOW))?.version).toBe(2);
      expect((await store.readScope("ns", "user", "u1")).version).toBe(0);
      await other.commit({
        key,
        expectedVersion: 2,
        header: headerOf(key, { version: 3, lastSeq: 2, state: { seen: true } }),
        events: [eventOf(2)],
        scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:theme": "dark" } }],
        now: NOW,
      });
      expect(await store.get(key, NOW)).toMatchObject({ version: 3, lastSeq: 2, state: { seen: true } });
      expect(await store.readScope("ns", "user", "u1")).toEqual({ state: { "user:theme": "dark" }, version: 1 });
      // A raw write (another program) moves data_version the same way.
      inspect().prepare("DELETE FROM sessions").run();
      expect(await store.get(key, NOW)).toBeUndefined();
    });

    it("this store's own writes are seen by its next read: commit, touch, delete, sweep", async () => {
      const store = open();
      await seed(store, key, 1, { ttlMs: 60_000, expiresAt: NOW + 60_000 });
      expect((await store.get(key, NOW))?.version).toBe(2);
      await store.commit({
        key,
        expectedVersion: 2,
        header: headerOf(key, { version: 3, lastSeq: 1, ttlMs: 60_000, expiresAt: NOW + 60_000 }),
        events: [],
        scoped: [{ scope: "app", expectedVersion: 0, delta: { "app:mode": "x" } }],
        now: NOW,
      });
      expect((await store.get(key, NOW))?.version).toBe(3);
      expect((await store.readScope("ns", "app", null)).state).toEqual({ "app:mode": "x" });
      await store.touch(key, { expiresAt: NOW + 120_000, lastAccessedAt: NOW + 1 }, NOW);
      expect(await store.get(key, NOW)).toMatchObject({ expiresAt: NOW + 120_000, lastAccessedAt: NOW + 1 });
      // Expiry is decided per read, against the caller's now, even for a cached header.
      expect(await store.get(key, NOW + 120_000)).toBeUndefined();
      expect(await store.sweep(NOW + 120_000, 10)).toBe(1);
      expect(await store.get(key, NOW)).toBeUndefined();
      await seed(store, key, 0);
      expect((await store.get(key, NOW))?.version).toBe(1);
      expect(await store.delete(key)).toBe(true);
      expect(await store.get(key, NOW)).toBeUndefined();
    });
  });

  describe("opening", () => {
    it("creates the parent folder and puts the file in WAL mode", async () => {
      const store = open();
      expect(await store.get(key, NOW)).toBeUndefined();
      expect(inspect().pragma("journal_mode", { simple: true })).toBe("wal");
    });

    it("migrates once: reopening keeps the data and the schema version", async () => {
      const first = open();
      await seed(first, key, 2);
      await first.close();
      const db = inspect();
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      const second = open();
      expect((await second.get(key, NOW))?.lastSeq).toBe(2);
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    });

    it("refuses a database from a newer schema with unavailable", async () => {
      await open().get(key, NOW);
      inspect().pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      expect((await errorOf(open().get(key, NOW))).code).toBe("unavailable");
    });

    it("a file that is not a database is unavailable, with no path in the message", async () => {
      const bad = path.join(dir, "not-a-db.db");
      await writeFile(bad, "x".repeat(4096));
      const store = createSqliteStore({ path: bad });
      opened.push(store);
      const error = await errorOf(store.get(key, NOW));
      expect(error.code).toBe("unavailable");
      expect(error.message).not.toContain(dir);
      expect(error.cause).toBeDefined();
    });

    it("rejects invalid options with invalid_request", () => {
      for (const options of [
        { path: "" },
        { path: file, durability: "off" as never },
        { path: file, busyTimeoutMs: -1 },
        { path: file, pollIntervalMs: 0 },
      ]) {
        expect(() => createSqliteStore(options)).toThrowError(expect.objectContaining({ code: "invalid_request" }));
      }
    });

    it("close is idempotent and every later call is unavailable", async () => {
      const store = open();
      await seed(store, key, 1);
      await store.close();
      await store.close();
      expect((await errorOf(store.get(key, NOW))).code).toBe("unavailable");
      expect(
        (await errorOf(store.commit({ key, expectedVersion: 0, header: headerOf(key), events: [], now: NOW }))).code,
      ).toBe("unavailable");
    });
  });

  describe("URLs", () => {
    it("opens relative and absolute paths, creating folders, and :memory:", async () => {
      const cwd = process.cwd();
      process.chdir(dir);
      try {
        const relative = openFromUrl(new URL("sqlite:./rel/dir/a.db?durability=normal"), {});
        opened.push(relative);
        await seed(relative, key, 1);
      } finally {
        process.chdir(cwd);
      }
      const absolute = openFromUrl(new URL(`sqlite:${path.join(dir, "rel", "dir", "a.db")}`), {});
      opened.push(absolute);
      expect((await absolute.get(key, NOW))?.lastSeq).toBe(1);
      expect(absolute.capabilities.shared).toBe(true);

      const memory = openFromUrl(new URL("sqlite::memory:"), {});
      opened.push(memory);
      expect(memory.capabilities.shared).toBe(false);
      expect(await memory.get(key, NOW)).toBeUndefined();
    });

    it("rejects a host, an unknown parameter and a bad durability with invalid_request", () => {
      for (const url of ["sqlite://host/x.db", "sqlite:./x.db?mode=rw", "sqlite:./x.db?durability=off"]) {
        expect(() => openFromUrl(new URL(url), {})).toThrowError(expect.objectContaining({ code: "invalid_request" }));
      }
    });
  });

  describe("transactions", () => {
    it("a driver error after the header was written leaves nothing and no lock: another connection writes at once", async () => {
      const store = open();
      await seed(store, key, 2);
      // A row planted where seq 3 goes makes the event insert fail after the header update.
      const db = inspect();
      db.prepare("INSERT INTO events (eid, type, body) SELECT (rid << 32) + 3, 'custom', '{}' FROM sessions").run();
      const failed = store.commit({
        key,
        expectedVersion: 3,
        header: headerOf(key, { version: 4, lastSeq: 3, title: "half" }),
        events: [eventOf(3)],
        now: NOW,
      });
      const error = await errorOf(failed);
      expect(error.code).toBe("unavailable");
      expect(error.cause).toBeDefined();
      const header = await store.get(key, NOW);
      expect(header?.version).toBe(3);
      expect(header?.title).toBeNull();

      db.prepare("DELETE FROM events WHERE seq = 3").run();
      const other = open({ busyTimeoutMs: 0 });
      await appendEvent(other, key, eventOf(3));
      await store.commit({
        key,
        expectedVersion: 4,
        header: headerOf(key, { version: 5, lastSeq: 3 }),
        events: [],
        now: NOW,
      });
      expect((await store.get(key, NOW))?.version).toBe(5);
      expect((await store.readEvents(key, {})).map((e) => e.seq)).toEqual([1, 2, 3]);
    });

    it("a malformed commit is invalid_request and writes nothing; a stale one is still conflict", async () => {
      const store = open();
      await seed(store, key, 2);
      const next = { key, expectedVersion: 3, now: NOW };
      const malformed = [
        { ...next, header: headerOf({ ...key, id: "other" }, { version: 4, lastSeq: 3 }), events: [eventOf(3)] },
        { ...next, header: headerOf(key, { version: 5, lastSeq: 3 }), events: [eventOf(3)] },
        { ...next, header: headerOf(key, { version: 4, lastSeq: 4 }), events: [eventOf(4)] },
        { ...next, header: headerOf(key, { version: 4, lastSeq: 4 }), events: [eventOf(3), eventOf(3)] },
        { ...next, header: headerOf(key, { version: 4, lastSeq: 2 }), events: [eventOf(3)] },
        {
          key: { ...key, id: "new" },
          expectedVersion: 0,
          now: NOW,
          header: headerOf({ ...key, id: "new" }, { lastSeq: 1 }),
          events: [eventOf(2)],
        },
      ];
      for (const commit of malformed) {
        expect((await errorOf(store.commit(commit))).code, JSON.stringify(commit.header)).toBe("invalid_request");
      }
      expect((await store.get(key, NOW))?.version).toBe(3);
      expect(await store.get({ ...key, id: "new" }, NOW)).toBeUndefined();
      expect((await store.readEvents(key, {})).map((e) => e.seq)).toEqual([1, 2]);
      const stale = { ...next, expectedVersion: 2, header: headerOf(key, { version: 4, lastSeq: 9 }), events: [] };
      expect((await errorOf(store.commit(stale))).code).toBe("conflict");
    });

    it("a scoped conflict after the header was written rolls the header back", async () => {
      const store = open();
      await seed(store, key, 1);
      const failed = store.commit({
        key,
        expectedVersion: 2,
        header: headerOf(key, { version: 3, lastSeq: 2 }),
        events: [eventOf(2)],
        scoped: [{ scope: "user", expectedVersion: 7, delta: { "user:x": 1 } }],
        now: NOW,
      });
      const error = await errorOf(failed);
      expect(error.code).toBe("conflict");
      expect(error.details).toEqual({ scope: "user", currentVersion: 0 });
      expect((await store.get(key, NOW))?.version).toBe(2);
      expect((await store.readEvents(key, {})).length).toBe(1);
      expect(await store.readScope("ns", "user", "u1")).toEqual({ state: {}, version: 0 });
    });

    it("a write blocked past busyTimeoutMs is unavailable, and succeeds once the lock is gone", async () => {
      const store = open({ busyTimeoutMs: 50 });
      await seed(store, key, 1);
      const holder = inspect();
      holder.prepare("BEGIN IMMEDIATE").run();
      const next = { key, expectedVersion: 2, header: headerOf(key, { version: 3, lastSeq: 1 }), events: [], now: NOW };
      const error = await errorOf(store.commit(next));
      expect(error.code).toBe("unavailable");
      expect(error.message).not.toContain(dir);
      holder.prepare("ROLLBACK").run();
      expect(await store.commit(next)).toEqual({ version: 3, lastSeq: 1 });
    });
  });

  describe("rows", () => {
    it("delete, sweep and a create over an expired session remove events, tags and idempotency rows", async () => {
      const store = open();
      const a = { ...key, id: "a" };
      const b = { ...key, id: "b" };
      const c = { ...key, id: "c" };
      for (const k of [a, b, c]) await seed(store, k, 3, { tags: ["x", "y"], expiresAt: NOW + 1000 });
      const db = inspect();
      const count = (table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      await store.commit({
        key: a,
        expectedVersion: 4,
        header: headerOf(a, { version: 5, lastSeq: 4, tags: ["x"], expiresAt: NOW + 1000 }),
        events: [eventOf(4)],
        idempotency: { key: "k", fingerprint: "f", firstSeq: 4, lastSeq: 4, version: 5, at: NOW },
        now: NOW,
      });
      expect([count("events"), count("session_tags"), count("idempotency")]).toEqual([10, 5, 1]);

      expect(await store.delete(a)).toBe(true);
      expect([count("events"), count("session_tags"), count("idempotency")]).toEqual([6, 4, 0]);

      expect(await store.sweep(NOW + 1000, 1)).toBe(1);
      expect([count("sessions"), count("events"), count("session_tags")]).toEqual([1, 3, 2]);

      const left = (await store.list({ namespace: "ns", orderBy: "createdAt", order: "asc", limit: 10, now: NOW }))
        .items[0] as SessionHeader;
      const leftKey = { namespace: "ns", userId: "u1", id: left.id };
      await store.commit({ key: leftKey, expectedVersion: 0, header: headerOf(leftKey), events: [], now: NOW + 1000 });
      expect([count("sessions"), count("events"), count("session_tags")]).toEqual([1, 0, 0]);
      expect(await store.readEvents(leftKey, {})).toEqual([]);
    });

    it("a commit that changes createdAt is stored and ordered by the new value", async () => {
      const store = open();
      const other = { ...key, id: "other" };
      await seed(store, key, 0);
      await seed(store, other, 0, { createdAt: NOW + 10 });
      await store.commit({
        key,
        expectedVersion: 1,
        header: headerOf(key, { version: 2, createdAt: NOW + 20 }),
        events: [],
        now: NOW,
      });
      const page = await store.list({ namespace: "ns", orderBy: "createdAt", order: "asc", limit: 10, now: NOW });
      expect(page.items.map((h) => [h.id, h.createdAt])).toEqual([
        ["other", NOW + 10],
        ["s1", NOW + 20],
      ]);
    });

    it("touch moves expiresAt and lastAccessedAt only, and get returns them", async () => {
      const store = open();
      await seed(store, key, 1, { expiresAt: NOW + 100 });
      expect(await store.touch(key, { expiresAt: NOW + 500, lastAccessedAt: NOW + 50 }, NOW + 50)).toBe(true);
      const header = await store.get(key, NOW + 200);
      expect([header?.expiresAt, header?.lastAccessedAt, header?.version]).toEqual([NOW + 500, NOW + 50, 2]);
      expect(await store.touch(key, { expiresAt: NOW + 900, lastAccessedAt: NOW + 600 }, NOW + 500)).toBe(false);
    });
  });

  describe("readEvents", () => {
    it("returns the newest first with order desc, bounded by limit, after, before and types", async () => {
      const store = open();
      await seed(store, key, 100);
      const seqs = async (range: Parameters<SessionStore["readEvents"]>[1]) =>
        (await store.readEvents(key, range)).map((e) => e.seq);
      expect(await seqs({ order: "desc", limit: 3 })).toEqual([100, 99, 98]);
      expect(await seqs({ order: "desc", limit: 3, before: 50 })).toEqual([49, 48, 47]);
      expect(await seqs({ order: "desc", after: 97 })).toEqual([100, 99, 98]);
      expect(await seqs({ after: 10, before: 14 })).toEqual([11, 12, 13]);
      expect(await seqs({ order: "desc", types: ["state"], limit: 2 })).toEqual([99, 96]);
      expect(await seqs({ after: 2.5, before: 5.5, limit: 10 })).toEqual([3, 4, 5]);
      expect(await seqs({ limit: 0 })).toEqual([]);
      expect(await store.readEvents({ ...key, userId: "u2" }, {})).toEqual([]);
      expect(await store.readEvents({ ...key, userId: null }, {})).toEqual([]);
    });

    it("returns fresh objects on every read", async () => {
      const store = open();
      await seed(store, key, 1);
      const [first] = await store.readEvents(key, {});
      (first as { data: unknown }).data = "mutated";
      expect((await store.readEvents(key, {}))[0]).toEqual(eventOf(1));
    });
  });

  describe("list", () => {
    it("text matches case-insensitively beyond ASCII, and % and _ are plain characters", async () => {
      const store = open();
      const titles = { a: "Été à Paris", b: "100% done", c: "snake_case", d: "anything else" };
      for (const [id, title] of Object.entries(titles)) await seed(store, { ...key, id }, 0, { title });
      const ids = async (text: string) =>
        (
          await store.list({ namespace: "ns", orderBy: "createdAt", order: "asc", limit: 10, now: NOW, text })
        ).items.map((h) => h.id);
      expect(await ids("ÉTÉ")).toEqual(["a"]);
      expect(await ids("%")).toEqual(["b"]);
      expect(await ids("_")).toEqual(["c"]);
      expect(await ids("e_c")).toEqual(["c"]);
    });
  });

  describe("subscribe", () => {
    it("a commit made through a second instance on the file reaches a subscriber of the first", async () => {
      const here = open({ pollIntervalMs: 10 });
      const there = open();
      await seed(here, key, 1);
      const hints: number[] = [];
      const unsubscribe = await here.subscribe(key, (lastSeq) => hints.push(lastSeq));
      await appendEvent(there, key, eventOf(2));
      await expect.poll(() => hints, { timeout: 5000, interval: 10 }).toEqual([2]);
      await there.delete(key);
      await expect.poll(() => hints, { timeout: 5000, interval: 10 }).toEqual([2, 0]);
      await unsubscribe();
    });

    it("a local commit hints once, and polling does not repeat it", async () => {
      const store = open({ pollIntervalMs: 5 });
      await seed(store, key, 0);
      const hints: number[] = [];
      const unsubscribe = await store.subscribe(key, (lastSeq) => hints.push(lastSeq));
      const unsubscribeOther = await store.subscribe({ ...key, id: "other" }, () => hints.push(-1));
      await appendEvent(store, key, eventOf(1));
      await settle(50);
      expect(hints).toEqual([1]);
      await unsubscribe();
      await unsubscribeOther();
      await store.commit({
        key,
        expectedVersion: 2,
        header: headerOf(key, { version: 3, lastSeq: 1 }),
        events: [],
        now: NOW,
      });
      await settle(20);
      expect(hints).toEqual([1]);
    });
  });

  describe("API keys", () => {
    it("stores, finds, lists in creation order, revokes once, and refuses a duplicate id or hash", async () => {
      const store = open();
      const record = {
        id: "k1",
        hash: "h1",
        prefix: "fd_1",
        userId: "u1",
        admin: true,
        label: null,
        createdAt: NOW + 1,
        revokedAt: null,
      };
      await store.putApiKey(record);
      await store.putApiKey({ ...record, id: "k0", hash: "h0", admin: false, label: "old", createdAt: NOW });
      expect(await store.findApiKey("h1")).toEqual(record);
      expect((await store.listApiKeys()).map((k) => k.id)).toEqual(["k0", "k1"]);
      expect((await errorOf(store.putApiKey({ ...record, hash: "h2" }))).code).toBe("conflict");
      expect((await errorOf(store.putApiKey({ ...record, id: "k2" }))).code).toBe("conflict");
      expect(await store.revokeApiKey("k1", NOW + 5)).toBe(true);
      expect(await store.revokeApiKey("k1", NOW + 6)).toBe(false);
      expect(await store.revokeApiKey("nope", NOW + 6)).toBe(false);
      expect((await store.findApiKey("h1"))?.revokedAt).toBe(NOW + 5);
    });
  });
});
