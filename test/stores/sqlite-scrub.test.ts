import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Json, SessionEvent, SessionKey } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { Commit, SessionStore } from "../../src/stores/types.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";

const NOW = Date.UTC(2026, 0, 1);

/**
 * A file's raw bytes, read by a child process: opening and closing a descriptor on a live SQLite
 * file in this process would drop the store's POSIX locks (RELIABILITY.md). Empty when absent.
 */
const bytesOf = (file: string): Buffer =>
  existsSync(file)
    ? execFileSync(
        process.execPath,
        ["-e", "process.stdout.write(require('node:fs').readFileSync(process.argv[1]))", file],
        { maxBuffer: 1 << 30 },
      )
    : Buffer.alloc(0);

/** Where `text` occurs in the database file, its WAL and its shared-memory index. */
const filesHolding = (file: string, text: string): string[] =>
  ["", "-wal", "-shm"].filter((suffix) => bytesOf(file + suffix).includes(Buffer.from(text)));

/**
 * A session's log as real ones grow: one commit per event, the header (title and state) rewritten
 * each time. Sessions written together interleave their commits, so their rows share pages.
 */
class Writer {
  private readonly versions = new Map<string, number>();
  constructor(private readonly store: SessionStore) {}

  async create(key: SessionKey, title: string): Promise<void> {
    await this.store.commit(this.commitOf(key, title, 0, [], 0));
  }

  async append(key: SessionKey, title: string, data: Json): Promise<void> {
    const version = this.versions.get(key.id) ?? 0;
    const seq = version;
    await this.store.commit(this.commitOf(key, title, version, [customEvent(seq, NOW, data)], seq));
  }

  async rewrite(key: SessionKey, title: string, extra: Pick<Commit, "removeEvents" | "rewrites">): Promise<void> {
    const version = this.versions.get(key.id) ?? 0;
    await this.store.commit({ ...this.commitOf(key, title, version, [], version - 1), ...extra });
  }

  /** Version n holds events 1..n - 1, so a session's next seq is its version. */
  private commitOf(key: SessionKey, title: string, version: number, events: SessionEvent[], lastSeq: number): Commit {
    this.versions.set(key.id, version + 1);
    const header = sessionHeader(key, NOW, { title, state: { note: title }, version: version + 1, lastSeq });
    return { key, expectedVersion: version, header, events, now: NOW };
  }
}

describe("sqlite store scrub", () => {
  let dir = "";
  let file = "";
  let stores: SessionStore[] = [];
  let readers: Database.Database[] = [];
  const canary = `canary-${randomBytes(8).toString("hex")}`;
  const kept = `kept-${randomBytes(8).toString("hex")}`;
  const filler = "x".repeat(300);
  const key = (id: string, userId = "u1"): SessionKey => ({ namespace: "ns", userId, id });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "frontdesk-sqlite-scrub-"));
    file = path.join(dir, "store.db");
  });
  afterEach(async () => {
    for (const reader of readers) reader.close();
    for (const store of stores) await store.close();
    readers = [];
    stores = [];
    await rm(dir, { recursive: true, force: true });
  });

  const open = (): SessionStore => {
    const store = createSqliteStore({ path: file, busyTimeoutMs: 5000 });
    stores.push(store);
    return store;
  };

  it("leaves no byte of deleted, removed or rewritten content in the file or its WAL", async () => {
    const store = open();
    const writer = new Writer(store);
    const erased = key("erased", "u1");
    const pruned = key("pruned", "u2");
    const other = key("other", "u3");
    await writer.create(erased, `${canary} erased title`);
    await writer.create(pruned, `${kept} pruned title`);
    await writer.create(other, `${kept} other title`);
    for (let seq = 1; seq <= 80; seq++) {
      await writer.append(erased, `${canary} erased title`, { text: `${canary} ${seq} ${filler}` });
      const secret = seq >= 2 && seq <= 40;
      await writer.append(pruned, `${kept} pruned title`, { text: `${secret ? canary : kept} ${seq} ${filler}` });
      await writer.append(other, `${kept} other title`, { text: `${kept} ${seq} ${filler}` });
    }
    // Larger than a page: its body lives in overflow pages.
    await writer.append(erased, `${canary} erased title`, { text: `${canary} `.repeat(2000) });
    expect(filesHolding(file, canary)).not.toEqual([]);

    expect(await store.delete(erased)).toBe(true);
    const tombstones = Array.from({ length: 11 }, (_, i) => customEvent(30 + i, NOW, "redacted"));
    await writer.rewrite(pruned, `${kept} pruned title`, {
      removeEvents: { after: 1, before: 30 },
      rewrites: tombstones,
    });

    expect(await store.scrub?.()).toEqual({ pending: false });
    expect(filesHolding(file, canary)).toEqual([]);
    // The search does find what is still stored.
    expect(filesHolding(file, kept)).toEqual([""]);
    const seqs = (await store.readEvents(pruned, {})).map((event) => event.seq);
    expect(seqs).toEqual([1, ...Array.from({ length: 51 }, (_, i) => 30 + i)]);
    expect(await store.readEvents(erased, {})).toEqual([]);
  });

  it("a thorough scrub (VACUUM) also reaches stale row copies that page rebalancing leaves after heavy churn", async () => {
    // Many interleaved sessions growing and shrinking make SQLite rebalance pages, which leaves
    // copies of moved rows in pages' unused middle; secure_delete never sees those copies.
    const store = open();
    const writer = new Writer(store);
    const doomed = (i: number) => i % 3 === 0;
    const keys = Array.from({ length: 120 }, (_, i) => key(`s${i}`, doomed(i) ? "erased" : `u${i % 5}`));
    let state = 12345;
    const random = () => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state / 0x7fffffff;
    };
    for (const [i, k] of keys.entries()) await writer.create(k, doomed(i) ? canary : kept);
    for (let step = 0; step < 3000; step++) {
      const i = Math.floor(random() * keys.length);
      const text = `${doomed(i) ? canary : kept} ${"y".repeat(Math.floor(random() * 600))}`;
      await writer.append(keys[i] as SessionKey, text.slice(0, 200), { text });
    }
    for (const [i, k] of keys.entries()) if (doomed(i)) await store.delete(k);
    expect(await store.scrub?.({ thorough: true })).toEqual({ pending: false });
    expect(filesHolding(file, canary)).toEqual([]);
    expect(filesHolding(file, kept)).toEqual([""]);
    expect((await store.readEvents(keys[1] as SessionKey, {})).length).toBeGreaterThan(0);
  }, 120_000);

  it("is pending while another connection's reader holds the WAL, and finishes once it lets go", async () => {
    const store = open();
    const writer = new Writer(store);
    const erased = key("erased");
    await writer.create(erased, "title");
    for (let seq = 1; seq <= 20; seq++) await writer.append(erased, "title", { text: `${canary} ${seq} ${filler}` });

    const reader = new Database(file);
    readers.push(reader);
    reader.prepare("BEGIN").run();
    expect(reader.prepare("SELECT count(*) FROM events").pluck().get()).toBe(20);
    await store.delete(erased);

    const started = performance.now();
    expect(await store.scrub?.()).toEqual({ pending: true });
    // A short wait, not busyTimeoutMs: the scrub blocks the event loop while it waits.
    expect(performance.now() - started).toBeLessThan(1000);
    // The reader's snapshot still needs the old frames, so they stay in the WAL for now.
    expect(filesHolding(file, canary)).toContain("-wal");

    reader.prepare("COMMIT").run();
    expect(await store.scrub?.()).toEqual({ pending: false });
    expect(filesHolding(file, canary)).toEqual([]);
    expect(await store.get(erased, NOW)).toBeUndefined();
  });

  it("an erasure answers pending while a reader holds the WAL, and running it again finishes the scrub", async () => {
    const store = open();
    const sessions = new SessionManager(() => ({}), store, "ns", { defaultTtlMs: null });
    await sessions.forUser("gone").create({ sessionId: "s" });
    await sessions.forUser("gone").addMessage("s", { role: "user", content: `${canary} ${filler}` });
    const reader = new Database(file);
    readers.push(reader);
    reader.prepare("BEGIN").run();
    reader.prepare("SELECT count(*) FROM events").pluck().get();
    const first = await sessions.eraseUser("gone");
    expect(first).toMatchObject({ sessions: 1, scrub: "pending" });
    reader.prepare("COMMIT").run();
    const again = await sessions.eraseUser("gone");
    expect(again).toMatchObject({ sessions: 0, scrub: "done" });
    expect(filesHolding(file, canary)).toEqual([]);
  });

  it("has nothing to do for a :memory: database", async () => {
    const store = createSqliteStore({ path: ":memory:" });
    stores.push(store);
    expect(await store.scrub?.()).toEqual({ pending: false });
  });
});
