import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { SessionHeader, SessionKey } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import type { Commit, SessionStore } from "../../src/core/store-contract.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";

const dir = mkdtempSync(join(tmpdir(), "frontdesk-sqlite-group-commit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => join(dir, `g${files++}.db`);

const NOW = 1_700_000_000_000;
const key = (i: number): SessionKey => ({ namespace: "gc", userId: "u1", id: `s${i}` });
const headerFor = (k: SessionKey, version: number, lastSeq: number): SessionHeader =>
  sessionHeader(k, NOW, { state: { v: version }, version, lastSeq });
/** The commit that takes session `k` from `version`/`lastSeq` to the next version with one more event. */
const next = (k: SessionKey, version: number, lastSeq: number, extra: Partial<Commit> = {}): Commit => ({
  key: k,
  expectedVersion: version,
  header: headerFor(k, version + 1, lastSeq + 1),
  events: [customEvent(lastSeq + 1, NOW, `v${version + 1}`)],
  now: NOW,
  ...extra,
});
const create = (k: SessionKey): Commit => next(k, 0, 0);

const codeOf = (outcome: PromiseSettledResult<unknown>): string | undefined =>
  outcome.status === "rejected" ? (outcome.reason as { code?: string }).code : undefined;

/**
 * Frames in the WAL since it was last truncated. Every committed transaction appends at least one
 * frame (its commit frame), so fewer frames than commits proves that commits shared transactions.
 */
const walFrames = (file: string): number => {
  const size = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  return size === 0 ? 0 : (size - 32) / (4096 + 24);
};
const truncateWal = (file: string): void => {
  const other = new Database(file);
  try {
    const [row] = other.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
    expect(row?.busy).toBe(0);
  } finally {
    other.close();
  }
  expect(walFrames(file)).toBe(0);
};

const openWith32 = async (file: string, busyTimeoutMs = 5000): Promise<SessionStore> => {
  const store = createSqliteStore({ path: file, busyTimeoutMs });
  await Promise.all(Array.from({ length: 32 }, (_, i) => store.commit(create(key(i)))));
  return store;
};

describe("sqlite group commit across sessions", () => {
  it("32 commits on 32 sessions share transactions; exactly the refused members fail, each alone, with its own code", async () => {
    const file = newFile();
    const store = await openWith32(file);
    try {
      // Sessions 3 and 11 move on to version 2, so the batch's expectedVersion 1 is stale for them.
      for (const i of [3, 11]) await store.commit(next(key(i), 1, 1));
      truncateWal(file);

      const expected = new Map<number, string>([
        [3, "conflict"], // stale expectedVersion
        [11, "conflict"],
        [7, "not_found"], // a session that does not exist
        [19, "conflict"], // a scoped write at a stale version: fails after its session row was updated
        [23, "invalid_request"], // rewrites an event past the log: fails after its session row was updated
      ]);
      const commits = Array.from({ length: 32 }, (_, i) => {
        if (i === 7) return next({ ...key(i), id: "missing" }, 1, 1);
        if (i === 19)
          return next(key(i), 1, 1, { scoped: [{ scope: "user", expectedVersion: 5, delta: { "user:x": 1 } }] });
        if (i === 23) return next(key(i), 1, 1, { rewrites: [customEvent(9, NOW, "nope")] });
        return next(key(i), 1, 1);
      });
      const outcomes = await Promise.allSettled(commits.map((commit) => store.commit(commit)));

      outcomes.forEach((outcome, i) => {
        expect([i, codeOf(outcome)]).toEqual([i, expected.get(i)]);
        if (outcome.status === "fulfilled") expect(outcome.value).toEqual({ version: 2, lastSeq: 2 });
      });
      const committed = 32 - expected.size;
      const frames = walFrames(file);
      expect(frames).toBeGreaterThan(0);
      expect(frames).toBeLessThan(committed);

      for (let i = 0; i < 32; i++) {
        const header = await store.get(key(i), NOW);
        const seqs = (await store.readEvents(key(i), {})).map((e) => (e as { data?: unknown }).data);
        if (i === 3 || i === 11) {
          // Their own earlier version 2, untouched by the refused member.
          expect([i, header?.version, seqs]).toEqual([i, 2, ["v1", "v2"]]);
        } else if (expected.has(i)) {
          expect([i, header?.version, header?.lastSeq, seqs]).toEqual([i, 1, 1, ["v1"]]);
        } else {
          expect([i, header?.version, header?.lastSeq, seqs]).toEqual([i, 2, 2, ["v1", "v2"]]);
        }
      }
      expect(await store.get({ ...key(7), id: "missing" }, NOW)).toBeUndefined();
      expect((await store.readScope("gc", "user", "u1")).version).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("appenders through SessionManager: a full session and a deleted one fail alone, the rest share transactions", async () => {
    const file = newFile();
    const store = createSqliteStore({ path: file });
    try {
      const sessions = new SessionManager(() => ({}), store, "gc", {
        defaultTtlMs: null,
        limits: { maxEventsPerSession: 3 },
      });
      const ids: string[] = [];
      for (let i = 0; i < 32; i++) ids.push((await sessions.create()).id);
      await sessions.appendEvents(ids[5] as string, [
        { type: "message", role: "user", content: "a" },
        { type: "message", role: "user", content: "b" },
        { type: "message", role: "user", content: "c" },
      ]);
      await sessions.delete(ids[9] as string);
      truncateWal(file);

      const outcomes = await Promise.allSettled(
        ids.map((id) => sessions.addMessage(id, { role: "user", content: "hello" })),
      );
      const failed = outcomes.flatMap((o, i) => (o.status === "rejected" ? [[i, codeOf(o)]] : []));
      expect(failed).toEqual([
        [5, "payload_too_large"],
        [9, "not_found"],
      ]);
      expect(walFrames(file)).toBeLessThan(30);
      for (const [i, id] of ids.entries()) {
        if (i === 5 || i === 9) continue;
        expect((await sessions.readEvents(id, {})).map((e) => e.type)).toEqual(["message"]);
      }
      expect((await sessions.readEvents(ids[5] as string, {})).length).toBe(3);
    } finally {
      await store.close();
    }
  });

  it("when the transaction itself fails, every member of it fails and nothing of it is stored", async () => {
    const file = newFile();
    const store = await openWith32(file, 0);
    const blocker = new Database(file);
    try {
      // Another connection holds the write lock, and the store waits 0 ms for it.
      blocker.exec("BEGIN IMMEDIATE");
      const outcomes = await Promise.allSettled(
        // Session 4's member would conflict anyway; under a failed transaction it fails like the rest.
        Array.from({ length: 32 }, (_, i) => store.commit(i === 4 ? next(key(i), 7, 1) : next(key(i), 1, 1))),
      );
      expect(outcomes.map(codeOf)).toEqual(Array(32).fill("unavailable"));
      blocker.prepare("ROLLBACK").run();
      for (let i = 0; i < 32; i++) {
        const header = await store.get(key(i), NOW);
        expect([i, header?.version, (await store.readEvents(key(i), {})).length]).toEqual([i, 1, 1]);
      }
      // The lock released, the same commits go through.
      const retried = await Promise.all(Array.from({ length: 32 }, (_, i) => store.commit(next(key(i), 1, 1))));
      expect(retried.every((r) => r.version === 2)).toBe(true);
    } finally {
      blocker.close();
      await store.close();
    }
  });

  it("writes a large burst in bounded chunks, letting the event loop turn between them", async () => {
    const store = createSqliteStore({ path: newFile() });
    try {
      const total = 200;
      let settled = 0;
      const all = Promise.all(
        Array.from({ length: total }, (_, i) =>
          store.commit(create(key(i))).then((result) => {
            settled++;
            return result;
          }),
        ),
      );
      let seenByAnotherCallback = -1;
      // Queued after the store's flush: it runs once the first chunk is written, before the rest.
      setImmediate(() => {
        seenByAnotherCallback = settled;
      });
      const results = await all;
      expect(results).toHaveLength(total);
      expect(seenByAnotherCallback).toBeGreaterThan(0);
      expect(seenByAnotherCallback).toBeLessThan(total);
    } finally {
      await store.close();
    }
  });

  it("a write issued after a commit lands after it, and close writes what is still queued", async () => {
    const file = newFile();
    const store = await openWith32(file);
    const committed = store.commit(next(key(0), 1, 1));
    const deleted = store.delete(key(0));
    expect(await committed).toEqual({ version: 2, lastSeq: 2 });
    expect(await deleted).toBe(true);
    expect(await store.get(key(0), NOW)).toBeUndefined();

    const queued = store.commit(next(key(1), 1, 1));
    await store.close();
    expect(await queued).toEqual({ version: 2, lastSeq: 2 });
    const reopened = createSqliteStore({ path: file });
    try {
      expect((await reopened.get(key(1), NOW))?.version).toBe(2);
      await expect(store.commit(next(key(2), 1, 1))).rejects.toMatchObject({ code: "unavailable" });
    } finally {
      await reopened.close();
    }
  });
});
