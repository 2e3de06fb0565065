/**
 * The filesystem store's side of issue 19: what a delete, a rewrite, a removed range or an erased
 * scope removes is in no file of the store once the call returns (raw bytes, every file under the
 * root), crash leftovers are cleared by the next commit or by scrub, and logs with removed ranges
 * still read right and cheaply.
 */
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Json, SessionEvent, SessionHeader, SessionKey } from "../../src/core/model.ts";
import { createFsStore, type FsStoreOptions } from "../../src/stores/fs/index.ts";
import type { Commit, SessionStore } from "../../src/stores/types.ts";
import { customEvent, sessionHeader } from "../../src/testing/conformance/records.ts";
import { eventsInRange } from "../support/event-range.ts";
import { seeded } from "../support/seeded.ts";

const NOW = Date.UTC(2026, 0, 1);
const CANARY = "CANARY-91f3c2-do-not-keep";

const headerFor = (key: SessionKey, version: number, lastSeq: number, state = {}): SessionHeader =>
  sessionHeader(key, NOW, { state, version, lastSeq });

const dataOf = (event: SessionEvent | undefined): Json | undefined =>
  event?.type === "custom" ? event.data : undefined;

/** Every regular file under `dir`, recursively, with its raw bytes. */
async function everyFile(dir: string): Promise<{ file: string; bytes: Buffer }[]> {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ file: path.relative(dir, file), bytes: await readFile(file) });
  }
  return out;
}

/** The files under `dir` whose bytes contain `text`. */
const filesHolding = async (dir: string, text: string): Promise<string[]> =>
  (await everyFile(dir)).filter(({ bytes }) => bytes.includes(Buffer.from(text, "utf8"))).map(({ file }) => file);

describe("fs store: removed content leaves the files", () => {
  let base = "";
  let root = "";
  const opened: SessionStore[] = [];
  const open$ = (options: Partial<FsStoreOptions> = {}): SessionStore => {
    const store = createFsStore({ root, ...options });
    opened.push(store);
    return store;
  };
  const keyOf = (id: string, userId = "u1"): SessionKey => ({ namespace: "ns", userId, id });
  const dirOf = (key: SessionKey): string => path.join(root, key.namespace, key.userId ?? "_", key.id);

  /** Creates `key` with events 1..count, event `seq` carrying `data(seq)`. */
  const create = async (store: SessionStore, key: SessionKey, count: number, data: (seq: number) => Json) => {
    const events = Array.from({ length: count }, (_, i) => customEvent(i + 1, NOW, data(i + 1)));
    await store.commit({ key, expectedVersion: 0, header: headerFor(key, 1, count), events, now: NOW });
  };
  /** One commit on top of what `key` holds now, appending `append` events carrying `data(seq)`. */
  const change = async (
    store: SessionStore,
    key: SessionKey,
    extra: Partial<Commit>,
    append = 0,
    data: (seq: number) => Json = (seq) => `kept-${seq}`,
  ) => {
    const header = (await store.get(key, NOW)) as SessionHeader;
    const events = Array.from({ length: append }, (_, i) =>
      customEvent(header.lastSeq + 1 + i, NOW, data(header.lastSeq + 1 + i)),
    );
    return store.commit({
      key,
      expectedVersion: header.version,
      header: headerFor(key, header.version + 1, header.lastSeq + append),
      events,
      now: NOW,
      ...extra,
    });
  };
  const seqs = async (store: SessionStore, key: SessionKey): Promise<number[]> =>
    (await store.readEvents(key, {})).map((e) => e.seq);

  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "frontdesk-fs-privacy-"));
    root = path.join(base, "root");
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await rm(base, { recursive: true, force: true });
  });

  it("a deleted session, a redacted event, a removed range and an erased scope leave no byte of the canary", async () => {
    const store = open$();
    const deleted = keyOf("deleted");
    const redacted = keyOf("redacted");
    const pruned = keyOf("pruned");
    await create(store, deleted, 5, (seq) => `${CANARY} ${seq}`);
    await create(store, redacted, 3, (seq) => (seq === 2 ? `card ${CANARY}` : `kept-${seq}`));
    // Long enough that the removed range spans index blocks, and that kept events follow it.
    await create(store, pruned, 400, (seq) => (seq > 1 && seq < 300 ? { text: CANARY, seq } : `kept-${seq}`));
    await change(store, redacted, {}, 2);
    await store.commit({
      key: keyOf("scoped", "u9"),
      expectedVersion: 0,
      header: headerFor(keyOf("scoped", "u9"), 1, 0),
      events: [],
      scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:secret": CANARY } }],
      now: NOW,
    });
    expect((await filesHolding(root, CANARY)).length).toBeGreaterThan(3);

    expect(await store.delete(deleted)).toBe(true);
    await change(store, redacted, { rewrites: [customEvent(2, NOW, "redacted")] });
    await change(
      store,
      pruned,
      { removeEvents: { after: 1, before: 300 }, rewrites: [customEvent(300, NOW, "pruned")] },
      3,
    );
    expect(await store.eraseScope("ns", "u9")).toBe(true);

    expect(await filesHolding(root, CANARY)).toEqual([]);
    expect(await store.scrub?.()).toEqual({ pending: false });
    expect(await filesHolding(root, CANARY)).toEqual([]);

    expect(await store.readEvents(deleted, {})).toEqual([]);
    expect((await store.readEvents(redacted, {})).map(dataOf)).toEqual([
      "kept-1",
      "redacted",
      "kept-3",
      "kept-4",
      "kept-5",
    ]);
    const kept = await store.readEvents(pruned, {});
    expect(kept.map((e) => e.seq)).toEqual([1, ...Array.from({ length: 104 }, (_, i) => 300 + i)]);
    expect(kept.map(dataOf).slice(0, 3)).toEqual(["kept-1", "pruned", "kept-301"]);
    expect(dataOf(kept.at(-1))).toBe("kept-403");
    expect(await store.readScope("ns", "user", "u9")).toEqual({ state: {}, version: 0 });
    expect(await store.eraseScope("ns", "u9")).toBe(false);
  });

  it("a rewritten log keeps appending in place, and reads of its tail stay cheap", async () => {
    const store = open$({ durability: "none" });
    const key = keyOf("long");
    await create(store, key, 20_000, (seq) => `${"x".repeat(100)}${seq}`);
    const dir = dirOf(key);
    const before = (await stat(path.join(dir, "events.jsonl"))).size;
    expect(before).toBeGreaterThan(2_000_000);

    const probe = await open(path.join(dir, "events.jsonl"), "r");
    const fileHandle = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    let bytesRead = 0;
    const original = fileHandle.read;
    const spy = vi.spyOn(fileHandle, "read").mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const result = await original.apply(this, args);
      bytesRead += result.bytesRead;
      return result;
    });
    try {
      // Keep the last 5,000: the prune reads what it keeps, not the 15,000 it removes.
      await change(store, key, {
        removeEvents: { after: 0, before: 15_001 },
        rewrites: [customEvent(15_001, NOW, "pruned")],
      });
      expect((await readdir(dir)).sort()).toEqual(["events.1.idx", "events.1.jsonl", "metadata.json"]);
      const after = (await stat(path.join(dir, "events.1.jsonl"))).size;
      expect(after).toBeLessThan(before / 3);
      expect(bytesRead).toBeLessThan(after + 150_000);

      bytesRead = 0;
      await change(store, key, {}, 1);
      expect(bytesRead).toBe(0);

      bytesRead = 0;
      const last = await store.readEvents(key, { order: "desc", limit: 50 });
      expect(last.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 20_001 - i));
      const tail = await store.readEvents(key, { after: 19_950, limit: 3 });
      expect(tail.map((e) => e.seq)).toEqual([19_951, 19_952, 19_953]);
      const middle = await store.readEvents(key, { order: "desc", before: 17_000, limit: 2 });
      expect(middle.map((e) => e.seq)).toEqual([16_999, 16_998]);
      expect(bytesRead).toBeLessThan(200_000);
    } finally {
      spy.mockRestore();
    }
    expect(await store.readEvents(key, { before: 15_001 })).toEqual([]);
    expect(dataOf((await store.readEvents(key, { limit: 1 }))[0])).toBe("pruned");
  }, 60_000);

  it("every range read over a log with removed ranges and rewrites matches a plain filter", async () => {
    const store = open$({ durability: "none" });
    const key = keyOf("gaps");
    let model: SessionEvent[] = [];
    const typed = (seq: number): SessionEvent => ({
      seq,
      id: `e${seq}`,
      at: NOW,
      type: (seq % 3 === 0 ? "state" : "custom") as "custom",
      name: "n",
      data: `${seq}:${"y".repeat(seq % 37 === 0 ? 70_000 : seq % 5)}`,
    });
    const apply = async (extra: Partial<Commit>, append: number) => {
      const header = (await store.get(key, NOW)) ?? headerFor(key, 0, 0);
      const events = Array.from({ length: append }, (_, i) => typed(header.lastSeq + 1 + i));
      await store.commit({
        key,
        expectedVersion: header.version,
        header: headerFor(key, header.version + 1, header.lastSeq + append),
        events,
        now: NOW,
        ...extra,
      });
      const removed = extra.removeEvents;
      if (removed) model = model.filter((e) => e.seq <= removed.after || e.seq >= removed.before);
      for (const rewrite of extra.rewrites ?? []) model = model.map((e) => (e.seq === rewrite.seq ? rewrite : e));
      model.push(...events);
    };
    await apply({}, 700);
    await apply(
      {
        removeEvents: { after: 150, before: 420 },
        rewrites: [customEvent(10, NOW, "r10"), customEvent(420, NOW, "m")],
      },
      100,
    );
    await apply({ removeEvents: { after: 0, before: 140 }, rewrites: [customEvent(140, NOW, "m2")] }, 0);
    await apply({}, 300);
    // A removed tail: later appends land in blocks that hold no event yet.
    await apply({ removeEvents: { after: 1000, before: 1101 } }, 0);
    await apply({}, 200);
    const matchesModel = () =>
      fc.assert(
        fc.asyncProperty(
          fc.record({
            after: fc.option(fc.integer({ min: 0, max: 1400 }), { nil: undefined }),
            before: fc.option(fc.integer({ min: 0, max: 1400 }), { nil: undefined }),
            limit: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
            types: fc.option(fc.constant<string[]>(["state"]), { nil: undefined }),
            order: fc.constantFrom("asc" as const, "desc" as const),
          }),
          async (range) => {
            expect(await store.readEvents(key, range)).toEqual(eventsInRange(model, range));
          },
        ),
        { numRuns: 150 },
      );
    await matchesModel();

    // An index whose every entry points at the start of some line, mostly the wrong one: the
    // checks must catch each wrong entry, seq gaps included.
    const { log } = JSON.parse(await readFile(path.join(dirOf(key), "metadata.json"), "utf8"));
    const text = await readFile(path.join(dirOf(key), `events.${log}.jsonl`));
    const lineStarts = [0];
    for (let at = text.indexOf(10); at !== -1 && at < text.length - 1; at = text.indexOf(10, at + 1)) {
      lineStarts.push(at + 1);
    }
    const random = seeded(19);
    const entries = Array.from({ length: 12 }, () =>
      String(lineStarts[Math.floor(random() * lineStarts.length)]).padStart(15, "0"),
    );
    await writeFile(path.join(dirOf(key), `events.${log}.idx`), `${entries.join("\n")}\n`);
    await matchesModel();
  }, 60_000);

  it("a reader racing rewrites on another instance always sees one whole commit", async () => {
    const writer = open$({ durability: "none" });
    const reader = open$({ durability: "none" });
    const key = keyOf("race");
    await create(writer, key, 1, () => 0);
    let done = false;
    const reads = (async () => {
      let count = 0;
      while (!done || count === 0) {
        const events = await reader.readEvents(key, {});
        // Commit k rewrites event 1 to k and appends event k + 1: a whole commit has both.
        expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
        expect(dataOf(events[0])).toBe(events.length - 1);
        count++;
      }
      return count;
    })();
    try {
      for (let k = 1; k <= 40; k++) await change(writer, key, { rewrites: [customEvent(1, NOW, k)] }, 1, () => k);
    } finally {
      done = true;
    }
    expect(await reads).toBeGreaterThan(0);
    expect(await seqs(reader, key)).toHaveLength(41);
  });

  it("a crash between a rewrite's commit point and its unlink leaves the old log only until the next commit or scrub", async () => {
    const store = open$();
    const key = keyOf("crashed");
    await create(store, key, 3, (seq) => `${CANARY} ${seq}`);
    const oldLog = await readFile(path.join(dirOf(key), "events.jsonl"));
    const redactAll = (first: number) =>
      change(store, key, { rewrites: [1, 2, 3].map((seq) => customEvent(seq, NOW, `gone-${first}`)) });
    await redactAll(1);
    expect(await filesHolding(root, CANARY)).toEqual([]);

    // As if the process died right after renaming metadata.json: the retired log is still there.
    await writeFile(path.join(dirOf(key), "events.jsonl"), oldLog);
    expect((await store.readEvents(key, {})).map(dataOf)).toEqual(["gone-1", "gone-1", "gone-1"]);
    await change(store, key, {}, 1);
    expect(await filesHolding(root, CANARY)).toEqual([]);

    await redactAll(2);
    await writeFile(path.join(dirOf(key), "events.1.jsonl"), oldLog);
    expect(await store.scrub?.()).toEqual({ pending: false });
    expect(await filesHolding(root, CANARY)).toEqual([]);
    expect(await seqs(store, key)).toEqual([1, 2, 3, 4]);
  });

  it("scrub clears what crashes before a commit point left: a new log, a temp header, a create, a delete", async () => {
    const store = open$();
    const key = keyOf("live");
    await create(store, key, 2, (seq) => `kept-${seq}`);
    const junk = `{"seq":1,"id":"e1","at":0,"type":"custom","name":"n","data":"${CANARY}"}\n`;
    await writeFile(path.join(dirOf(key), "events.1.jsonl"), junk);
    await writeFile(path.join(dirOf(key), "events.1.idx"), "000000000000000\n");
    await writeFile(path.join(dirOf(key), "metadata.json.tmp"), junk);
    const crashedCreate = dirOf(keyOf("never"));
    await mkdir(crashedCreate, { recursive: true });
    await writeFile(path.join(crashedCreate, "events.jsonl"), junk);
    const tombstone = path.join(root, "ns", "u1", ".gone.del-0123456789ab");
    await mkdir(tombstone);
    await writeFile(path.join(tombstone, "events.jsonl"), junk);
    expect(await store.readEvents(key, {})).toHaveLength(2);

    expect(await store.scrub?.()).toEqual({ pending: false });
    expect(await filesHolding(root, CANARY)).toEqual([]);
    expect((await readdir(path.join(root, "ns", "u1"))).sort()).toEqual(["live"]);
    expect((await readdir(dirOf(key))).sort()).toEqual(["events.idx", "events.jsonl", "metadata.json"]);
    expect((await store.readEvents(key, {})).map(dataOf)).toEqual(["kept-1", "kept-2"]);

    // A rewrite after a crashed one writes over its leftovers.
    await writeFile(path.join(dirOf(key), "events.1.jsonl"), junk.repeat(3));
    await change(store, key, { rewrites: [customEvent(1, NOW, "new")] });
    expect((await store.readEvents(key, {})).map(dataOf)).toEqual(["new", "kept-2"]);
    expect(await filesHolding(root, CANARY)).toEqual([]);
  });

  it("eraseScope removes the scope file and a crashed write's temp copy, and leaves app: state", async () => {
    const store = open$();
    const key = keyOf("s", "u2");
    await store.commit({
      key,
      expectedVersion: 0,
      header: headerFor(key, 1, 0),
      events: [],
      scoped: [
        { scope: "user", expectedVersion: 0, delta: { "user:card": CANARY } },
        { scope: "app", expectedVersion: 0, delta: { "app:x": 1 } },
      ],
      now: NOW,
    });
    const userDir = path.join(root, "ns", "_scopes", "user");
    await writeFile(path.join(userDir, "u2.json.tmp"), JSON.stringify({ state: { "user:card": CANARY }, version: 2 }));
    expect(await store.eraseScope("ns", "u2")).toBe(true);
    expect(await readdir(userDir)).toEqual([]);
    expect(await filesHolding(root, CANARY)).toEqual([]);
    expect(await store.readScope("ns", "app", null)).toEqual({ state: { "app:x": 1 }, version: 1 });
    expect(await store.eraseScope("ns", "nobody")).toBe(false);
  });

  it("a rewritten session's metadata names its log generation in format 2", async () => {
    const store = open$();
    const key = keyOf("format");
    await create(store, key, 2, (seq) => seq);
    const metadata = async () => JSON.parse(await readFile(path.join(dirOf(key), "metadata.json"), "utf8"));
    expect((await metadata()).format).toBe(1);
    await change(store, key, { removeEvents: { after: 0, before: 2 } });
    expect(await metadata()).toMatchObject({ format: 2, log: 1, retiredLog: 0 });
    await change(store, key, {}, 1);
    const after = await metadata();
    expect(after).toMatchObject({ format: 2, log: 1 });
    expect(after.retiredLog).toBeUndefined();
    expect(await seqs(store, key)).toEqual([2, 3]);
  });
});
