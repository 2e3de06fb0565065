import { randomBytes } from "node:crypto";
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isFrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent, SessionHeader, SessionKey } from "../../src/core/model.ts";
import * as fsModule from "../../src/stores/fs/index.ts";
import { createFsStore, type FsStoreOptions, parseFsUrl, STORE_NAME } from "../../src/stores/fs/index.ts";
import { openStore, type StoreModule } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { codeOf } from "../../src/testing/conformance/context.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";
import { eventsInRange } from "../support/event-range.ts";

const NOW = Date.UTC(2026, 0, 1);

/** Version `version` holding events 1..lastSeq, never expiring. */
const headerFor = (key: SessionKey, version: number, lastSeq: number, state = {}): SessionHeader =>
  sessionHeader(key, NOW, { state, version, lastSeq });

/** `count` custom events from seq `first`, each carrying its seq, or `size` characters when given. */
const eventsFrom = (first: number, count: number, size = 0): SessionEvent[] =>
  Array.from({ length: count }, (_, i) => customEvent(first + i, NOW, size > 0 ? "x".repeat(size) : first + i));

/** Every file and folder under `dir`, relative to it. */
const tree = async (dir: string): Promise<string[]> => ((await readdir(dir, { recursive: true })) as string[]).sort();

describe("fs store specifics", () => {
  let base = "";
  let root = "";
  const opened: SessionStore[] = [];
  const open$ = (options: Partial<FsStoreOptions> = {}): SessionStore => {
    const store = createFsStore({ root, ...options });
    opened.push(store);
    return store;
  };
  const key: SessionKey = { namespace: "ns", userId: "u1", id: "s1" };
  const sessionDir = (): string => path.join(root, "ns", "u1", "s1");

  /** Commits `count` more events on `store`, re-reading the version as a manager would. */
  const append = async (store: SessionStore, count: number, size = 0): Promise<void> => {
    const header = await store.get(key, NOW);
    if (!header) {
      await store.commit({
        key,
        expectedVersion: 0,
        header: headerFor(key, 1, count),
        events: eventsFrom(1, count, size),
        now: NOW,
      });
      return;
    }
    const next = headerFor(key, header.version + 1, header.lastSeq + count);
    await store.commit({
      key,
      expectedVersion: header.version,
      header: next,
      events: eventsFrom(header.lastSeq + 1, count, size),
      now: NOW,
    });
  };

  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "frontdesk-fs-specific-"));
    root = path.join(base, "root");
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await rm(base, { recursive: true, force: true });
  });

  describe("hostile ids", () => {
    const hostile = [
      "../x",
      "../../etc/passwd",
      "a/b",
      "a\\b",
      "a\u0000b",
      ".",
      "..",
      "",
      "x".repeat(200),
      "_",
      ".hidden",
    ];

    it("traversal, NUL and over-long ids are invalid_request on every method and touch nothing outside the root", async () => {
      const store = open$();
      await store.list({ namespace: "ns", orderBy: "createdAt", order: "asc", limit: 10, now: NOW });
      const before = await tree(base);
      for (const bad of hostile) {
        const keys: SessionKey[] = [
          { namespace: "ns", userId: "u1", id: bad },
          { namespace: "ns", userId: bad, id: "s1" },
          { namespace: bad, userId: "u1", id: "s1" },
        ];
        for (const k of keys) {
          const header = headerFor(k, 1, 0);
          expect(await codeOf(store.commit({ key: k, expectedVersion: 0, header, events: [], now: NOW }))).toBe(
            "invalid_request",
          );
          expect(await codeOf(store.get(k, NOW))).toBe("invalid_request");
          expect(await codeOf(store.touch(k, { expiresAt: null, lastAccessedAt: NOW }, NOW))).toBe("invalid_request");
          expect(await codeOf(store.readEvents(k, {}))).toBe("invalid_request");
          expect(await codeOf(store.delete(k))).toBe("invalid_request");
          expect(await codeOf(store.findIdempotency(k, "i"))).toBe("invalid_request");
          expect(await codeOf(store.subscribe(k, () => undefined))).toBe("invalid_request");
        }
        expect(await codeOf(store.readScope(bad, "app", null))).toBe("invalid_request");
        expect(await codeOf(store.readScope("ns", "user", bad))).toBe("invalid_request");
        expect(await codeOf(store.count(bad, null, NOW))).toBe("invalid_request");
        expect(await codeOf(store.count("ns", bad, NOW))).toBe("invalid_request");
        expect(
          await codeOf(store.list({ namespace: bad, orderBy: "createdAt", order: "asc", limit: 10, now: NOW })),
        ).toBe("invalid_request");
      }
      expect(await tree(base)).toEqual(before);
    });

    it("a malformed commit (another key, a version jump, a seq gap) is refused and writes nothing", async () => {
      const store = open$();
      const other = { ...key, userId: "u2" };
      const code = await codeOf(
        store.commit({ key, expectedVersion: 0, header: headerFor(other, 1, 0), events: [], now: NOW }),
      );
      expect(code).toBe("invalid_request");
      expect(await store.get(other, NOW)).toBeUndefined();
      const jump = { key, expectedVersion: 0, header: headerFor(key, 5, 0), events: [], now: NOW };
      expect(await codeOf(store.commit(jump))).toBe("invalid_request");
      const gap = { key, expectedVersion: 0, header: headerFor(key, 1, 2), events: eventsFrom(2, 1), now: NOW };
      expect(await codeOf(store.commit(gap))).toBe("invalid_request");
      expect(await store.get(key, NOW)).toBeUndefined();
    });

    it("a null owner has its own folder that no user id can name", async () => {
      const store = open$();
      const nobody: SessionKey = { namespace: "ns", userId: null, id: "s1" };
      await store.commit({ key: nobody, expectedVersion: 0, header: headerFor(nobody, 1, 0), events: [], now: NOW });
      await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 0), events: [], now: NOW });
      expect(await readdir(path.join(root, "ns"))).toEqual(expect.arrayContaining(["_", "u1"]));
      expect((await store.get(nobody, NOW))?.userId).toBeNull();
      expect(await store.count("ns", null, NOW)).toBe(1);
    });
  });

  describe("crash leftovers", () => {
    it("an uncommitted tail in events.jsonl is ignored by reads and overwritten by the next commit", async () => {
      const store = open$();
      await append(store, 3);
      const committed = await readFile(path.join(sessionDir(), "events.jsonl"), "utf8");
      await appendFile(path.join(sessionDir(), "events.jsonl"), '{"seq":4,"id":"ghost","at":0,"type":"cus');
      expect((await store.readEvents(key, {})).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect((await store.readEvents(key, { order: "desc", limit: 2 })).map((e) => e.seq)).toEqual([3, 2]);
      await append(store, 2);
      const events = await store.readEvents(key, {});
      expect(events.map((e) => e.id)).toEqual(["e1", "e2", "e3", "e4", "e5"]);
      const text = await readFile(path.join(sessionDir(), "events.jsonl"), "utf8");
      expect(text.startsWith(committed)).toBe(true);
      expect(text).not.toContain("ghost");
      expect(text.trimEnd().split("\n")).toHaveLength(5);
    });

    it("events.jsonl shorter than its commit (power loss without durability) is unavailable, never silently short", async () => {
      const store = open$({ durability: "none" });
      await append(store, 3);
      const file = path.join(sessionDir(), "events.jsonl");
      const text = await readFile(file, "utf8");
      await writeFile(file, text.slice(0, text.length - 10));
      expect(await codeOf(store.readEvents(key, { order: "desc", limit: 1 }))).toBe("unavailable");
      expect(await codeOf(append(store, 1))).toBe("unavailable");
    });

    it("a temp metadata file left behind is ignored, and the next commit replaces it", async () => {
      const store = open$();
      await append(store, 1);
      await writeFile(path.join(sessionDir(), "metadata.json.tmp"), '{"format":1,"header":{"version":99');
      expect((await store.get(key, NOW))?.version).toBe(1);
      await append(store, 1);
      expect((await store.get(key, NOW))?.version).toBe(2);
      expect(await readdir(sessionDir())).not.toContain("metadata.json.tmp");
    });

    it("a create that crashed before its commit point is absent, and a new create succeeds", async () => {
      const store = open$();
      await mkdir(sessionDir(), { recursive: true });
      await writeFile(path.join(sessionDir(), "events.jsonl"), '{"seq":1,"id":"ghost"}\n');
      expect(await store.get(key, NOW)).toBeUndefined();
      expect(await store.readEvents(key, {})).toEqual([]);
      await append(store, 2);
      expect((await store.readEvents(key, {})).map((e) => e.id)).toEqual(["e1", "e2"]);
    });

    it("a delete that crashed after its rename leaves nothing visible, and sweep clears the tombstone", async () => {
      const store = open$();
      await append(store, 1);
      const tombstone = path.join(root, "ns", "u1", ".s1.del-crashed");
      await mkdir(tombstone);
      await writeFile(path.join(tombstone, "metadata.json"), "{}");
      expect(
        (await store.list({ namespace: "ns", orderBy: "createdAt", order: "asc", limit: 10, now: NOW })).items,
      ).toHaveLength(1);
      expect(await store.sweep(NOW, 10)).toBe(0);
      expect(await readdir(path.join(root, "ns", "u1"))).toEqual(["s1"]);
    });

    it("a scope write whose session commit never landed is rolled back; one whose commit landed is kept", async () => {
      const store = open$();
      await store.commit({
        key,
        expectedVersion: 0,
        header: headerFor(key, 1, 0),
        events: [],
        scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:a": 1 } }],
        now: NOW,
      });
      const scopeFile = path.join(root, "ns", "_scopes", "user", "u1.json");
      const pending = (commitId: string) =>
        JSON.stringify({
          state: { "user:a": 1 },
          version: 1,
          pending: { state: { "user:a": 2 }, version: 2, userId: "u1", id: "s1", commitId },
        });
      // Crashed between writing the pending scope and renaming metadata.json: never happened.
      await writeFile(scopeFile, pending("never-committed"));
      expect(await store.readScope("ns", "user", "u1")).toEqual({ state: { "user:a": 1 }, version: 1 });
      // Crashed after the rename, before folding the scope in: it happened.
      const { commitId } = JSON.parse(await readFile(path.join(sessionDir(), "metadata.json"), "utf8"));
      await writeFile(scopeFile, pending(commitId));
      expect(await store.readScope("ns", "user", "u1")).toEqual({ state: { "user:a": 2 }, version: 2 });
      expect(JSON.parse(await readFile(scopeFile, "utf8"))).toEqual({ state: { "user:a": 2 }, version: 2 });
    });
  });

  describe("cross-instance safety", () => {
    it("two store instances on one root doing concurrent commits lose no update", async () => {
      const stores = [open$(), open$()];
      await stores[0]?.commit({
        key,
        expectedVersion: 0,
        header: headerFor(key, 1, 0, { count: 0 }),
        events: [],
        now: NOW,
      });
      let conflicts = 0;
      const worker = async (store: SessionStore): Promise<void> => {
        for (let done = 0; done < 50; ) {
          const header = (await store.get(key, NOW)) as SessionHeader;
          const count = (header.state.count as number) + 1;
          const next = { ...headerFor(key, header.version + 1, header.lastSeq + 1, { count }) };
          try {
            await store.commit({
              key,
              expectedVersion: header.version,
              header: next,
              events: eventsFrom(header.lastSeq + 1, 1),
              now: NOW,
            });
            done++;
          } catch (error) {
            if (!isFrontdeskError(error, "conflict")) throw error;
            conflicts++;
          }
        }
      };
      await Promise.all([...stores, ...stores].map(worker));
      const header = await stores[1]?.get(key, NOW);
      expect(header?.state).toEqual({ count: 200 });
      expect(header?.version).toBe(201);
      expect((await stores[0]?.readEvents(key, {}))?.map((e) => e.seq)).toEqual(
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      expect(conflicts).toBeGreaterThan(0);
    }, 60_000);

    it("a lock left by a crashed process is taken over once stale", async () => {
      const store = open$({ lockStaleMs: 2000, lockTimeoutMs: 10_000 });
      await append(store, 1);
      const lock = path.join(root, "ns", "u1", ".s1.lock");
      await mkdir(lock);
      const old = new Date(Date.now() - 60_000);
      await utimes(lock, old, old);
      await append(store, 1);
      expect((await store.get(key, NOW))?.version).toBe(2);
    });

    it("a lock held by a live process makes writers wait, then fail with unavailable", async () => {
      const store = open$({ lockStaleMs: 60_000, lockTimeoutMs: 200 });
      await append(store, 1);
      await mkdir(path.join(root, "ns", "u1", ".s1.lock"));
      expect(await codeOf(append(store, 1))).toBe("unavailable");
      expect((await store.get(key, NOW))?.version).toBe(1);
    });

    it("a subscriber hears commits made by another instance", async () => {
      const here = open$({ pollIntervalMs: 10 });
      const there = open$();
      await append(there, 1);
      const hints: number[] = [];
      const unsubscribe = await here.subscribe(key, (lastSeq) => hints.push(lastSeq));
      await append(there, 2);
      await vi.waitFor(() => expect(hints).toContain(3), { timeout: 5000 });
      await unsubscribe();
    });
  });

  describe("cost does not grow with history", () => {
    it("reading the last 50 events of a big log reads O(50) bytes, and appending reads none of the log", async () => {
      const store = open$({ durability: "none" });
      for (let i = 0; i < 20; i++) await append(store, 1000, 100);
      const size = (await stat(path.join(sessionDir(), "events.jsonl"))).size;
      expect(size).toBeGreaterThan(2_000_000);

      const probe = await open(path.join(sessionDir(), "events.jsonl"), "r");
      const fileHandle = Object.getPrototypeOf(probe) as {
        read: (...args: unknown[]) => Promise<{ bytesRead: number }>;
      };
      await probe.close();
      let bytesRead = 0;
      const original = fileHandle.read;
      const spy = vi.spyOn(fileHandle, "read").mockImplementation(async function (this: unknown, ...args: unknown[]) {
        const result = await original.apply(this, args);
        bytesRead += result.bytesRead;
        return result;
      });
      try {
        const last = await store.readEvents(key, { order: "desc", limit: 50 });
        expect(last.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 20_000 - i));
        expect(bytesRead).toBeGreaterThan(0);
        expect(bytesRead).toBeLessThan(100_000);

        bytesRead = 0;
        const tail = await store.readEvents(key, { after: 19_950 });
        expect(tail.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 19_951 + i));
        expect(bytesRead).toBeLessThan(100_000);

        bytesRead = 0;
        const middle = await store.readEvents(key, { after: 10_000, limit: 5 });
        expect(middle.map((e) => e.seq)).toEqual([10_001, 10_002, 10_003, 10_004, 10_005]);
        const window = await store.readEvents(key, { order: "desc", before: 7_000, limit: 3 });
        expect(window.map((e) => e.seq)).toEqual([6_999, 6_998, 6_997]);
        expect(bytesRead).toBeLessThan(200_000);

        bytesRead = 0;
        await append(store, 1);
        expect(bytesRead).toBe(0);
      } finally {
        spy.mockRestore();
      }
    }, 60_000);

    it("every range read matches a plain filter of the log, across chunk boundaries and huge lines", async () => {
      const store = open$({ durability: "none" });
      const sizes = [10, 70_000, 5, 200_000, 1, 65_536, 65_535, 3];
      const all: SessionEvent[] = [];
      for (let batch = 0; batch < 6; batch++) {
        const first = all.length + 1;
        const events = Array.from({ length: 60 }, (_, i) => ({
          seq: first + i,
          id: `e${first + i}`,
          at: NOW,
          type: (i % 3 === 0 ? "state" : "custom") as "custom",
          name: "n",
          data: `é✓${"x".repeat(sizes[(first + i) % sizes.length] ?? 0)}`,
        }));
        const header = headerFor(key, batch + 1, all.length + events.length);
        await store.commit({ key, expectedVersion: batch, header, events, now: NOW });
        all.push(...events);
      }
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            after: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
            before: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
            limit: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
            types: fc.option(fc.constant<string[]>(["state"]), { nil: undefined }),
            order: fc.constantFrom("asc" as const, "desc" as const),
          }),
          async (range) => {
            const expected = eventsInRange(all, range).map((e) => e.seq);
            const got = (await store.readEvents(key, range)).map((e) => e.seq);
            expect(got).toEqual(expected);
          },
        ),
        { numRuns: 150 },
      );
      expect((await store.readEvents(key, { after: 120, limit: 1 }))[0]).toEqual(all[120]);
    }, 60_000);

    it("a corrupt index only slows reads down, never makes them wrong", async () => {
      const store = open$({ durability: "none" });
      await append(store, 1000);
      await writeFile(path.join(sessionDir(), "events.idx"), "0".repeat(16 * 8));
      expect((await store.readEvents(key, { after: 500, limit: 2 })).map((e) => e.seq)).toEqual([501, 502]);
      expect((await store.readEvents(key, { order: "desc", before: 300, limit: 2 })).map((e) => e.seq)).toEqual([
        299, 298,
      ]);
      await rm(path.join(sessionDir(), "events.idx"));
      expect((await store.readEvents(key, { after: 998 })).map((e) => e.seq)).toEqual([999, 1000]);
    });
  });

  describe("failures", () => {
    it("a root that cannot be created is unavailable, and the message shows no path", async () => {
      await writeFile(path.join(base, "file"), "");
      const store = createFsStore({ root: path.join(base, "file", "root") });
      opened.push(store);
      let caught: unknown;
      try {
        await store.get(key, NOW);
      } catch (error) {
        caught = error;
      }
      expect(isFrontdeskError(caught, "unavailable")).toBe(true);
      expect((caught as Error).message).not.toContain(base);
      expect((caught as Error).cause).toBeDefined();
    });

    it("a closed store refuses calls with unavailable", async () => {
      const store = open$();
      await store.close();
      expect(await codeOf(store.get(key, NOW))).toBe("unavailable");
      await store.close();
    });
  });

  describe("URLs", () => {
    it("reads relative, absolute and file:/// forms, with options as query parameters", () => {
      expect(parseFsUrl("file:./data/sessions").root).toBe(path.resolve("data/sessions"));
      expect(parseFsUrl("file:data").root).toBe(path.resolve("data"));
      expect(parseFsUrl("file:/srv/frontdesk").root).toBe("/srv/frontdesk");
      expect(parseFsUrl("file:///srv/frontdesk").root).toBe("/srv/frontdesk");
      expect(parseFsUrl("file://localhost/srv/frontdesk").root).toBe("/srv/frontdesk");
      expect(parseFsUrl("file:./a%20b").root).toBe(path.resolve("a b"));
      expect(parseFsUrl(new URL("file:///srv/x?durability=none")).durability).toBe("none");
      expect(parseFsUrl(pathToFileURL("/srv/y")).root).toBe("/srv/y");
      expect(parseFsUrl("file:./d?durability=none&lockStaleMs=5000&pollIntervalMs=20")).toEqual({
        root: path.resolve("d"),
        durability: "none",
        lockStaleMs: 5000,
        pollIntervalMs: 20,
      });
    });

    it("opens through the registry from an absolute file: URL, and from the raw string when one is given", async () => {
      const viaRegistry = await openStore(`${pathToFileURL(root).href}?durability=none`);
      opened.push(viaRegistry);
      expect(viaRegistry.name).toBe(STORE_NAME);
      await viaRegistry.commit({ key, expectedVersion: 0, header: headerFor(key, 1, 0), events: [], now: NOW });
      expect(await readdir(path.join(root, "ns", "u1"))).toContain("s1");
      const asRegistered: StoreModule = fsModule;
      expect(asRegistered.openFromUrl).toBe(fsModule.openFromUrl);
      const relative = path.relative(process.cwd(), root);
      const viaRaw = fsModule.openFromUrl(new URL(`file:./${relative}`), {}, `file:./${relative}`);
      opened.push(viaRaw);
      expect((await viaRaw.get(key, NOW))?.version).toBe(1);
    });

    it("refuses a URL without a folder or with bad options", () => {
      for (const bad of [
        "file:",
        "file:///",
        "file:./d?durability=sometimes",
        "file:./d?lockStaleMs=-1",
        "sqlite:./x",
      ]) {
        let caught: unknown;
        try {
          parseFsUrl(bad);
        } catch (error) {
          caught = error;
        }
        expect(isFrontdeskError(caught, "invalid_request"), bad).toBe(true);
      }
    });
  });

  it("random ids round-trip through list with keyset paging", async () => {
    const store = open$({ durability: "none" });
    const ids = Array.from({ length: 7 }, () => randomBytes(4).toString("hex"));
    for (const [i, id] of ids.entries()) {
      const k = { ...key, id };
      await store.commit({
        key: k,
        expectedVersion: 0,
        header: { ...headerFor(k, 1, 0), createdAt: NOW + (i % 3) },
        events: [],
        now: NOW,
      });
    }
    const seen: string[] = [];
    let after: { value: number; userId: string | null; id: string } | undefined;
    for (;;) {
      const page = await store.list({
        namespace: "ns",
        orderBy: "createdAt",
        order: "desc",
        limit: 3,
        now: NOW,
        ...(after && { after }),
      });
      seen.push(...page.items.map((h) => h.id));
      const last = page.items.at(-1);
      if (!page.hasMore || !last) break;
      after = { value: last.createdAt, userId: last.userId, id: last.id };
    }
    expect(seen.sort()).toEqual([...ids].sort());
  });
});
