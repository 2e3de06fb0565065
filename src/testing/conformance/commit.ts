import assert from "node:assert/strict";
import type { SessionHeader, SessionKey } from "../../core/model.ts";
import type { Commit } from "../../stores/types.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";
import { customEvent, sessionHeader } from "./records.ts";

/** Version `version` of a session holding events 1..lastSeq, with `{ v: version }` as its state and a 60 s TTL. */
const headerFor = (key: SessionKey, now: number, version: number, lastSeq: number): SessionHeader =>
  sessionHeader(key, now, { state: { v: version }, version, lastSeq, ttlMs: 60_000, expiresAt: now + 60_000 });

/** Awaits a write that must fail with conflict, and returns the version the store said is current. */
async function conflictVersionOf(write: Promise<unknown>): Promise<number | undefined> {
  let caught: unknown;
  try {
    await write;
  } catch (error) {
    caught = error;
  }
  assert.equal((caught as { code?: string }).code, "conflict");
  return (caught as { details?: { currentVersion?: number } }).details?.currentVersion;
}

/** The store's one write primitive, exercised directly. */
export function commitCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("commit", () => {
    const key = (c: CaseContext, id = "s1"): SessionKey => ({ namespace: c.namespace, userId: "u1", id });
    /** Creates the session `k` at version 1 with events 1..count, at the case's current time. */
    const createWithEvents = (c: CaseContext, k: SessionKey, count: number) => {
      const now = c.clock.now();
      const events = Array.from({ length: count }, (_, i) => customEvent(i + 1, now));
      return c.store.commit({ key: k, expectedVersion: 0, header: headerFor(k, now, 1, count), events, now });
    };
    /**
     * Creates the session `k` empty at version 1, then commits version 2 with events 1..count
     * (plus whatever `extra` adds: idempotency, scoped writes), both at the case's current time.
     */
    const createThenCommit = async (c: CaseContext, k: SessionKey, count: number, extra: Partial<Commit> = {}) => {
      const now = c.clock.now();
      await c.store.commit({ key: k, expectedVersion: 0, header: headerFor(k, now, 1, 0), events: [], now });
      const events = Array.from({ length: count }, (_, i) => customEvent(i + 1, now));
      await c.store.commit({ key: k, expectedVersion: 1, header: headerFor(k, now, 2, count), events, now, ...extra });
    };
    /** Asserts that neither the header of `k` nor any of its events is left. */
    const assertGone = async (c: CaseContext, k: SessionKey, now: number) => {
      assert.equal(await c.store.get(k, now), undefined);
      assert.deepEqual(await c.store.readEvents(k, {}), []);
    };

    it("create writes the header and events together", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createWithEvents(c, k, 2);
      const header = await c.store.get(k, now);
      assert.equal(header?.version, 1);
      assert.equal(header?.lastSeq, 2);
      assert.deepEqual(header?.state, { v: 1 });
      const events = await c.store.readEvents(k, {});
      assert.deepEqual(
        events.map((e) => e.seq),
        [1, 2],
      );
    });

    it("create over a live session throws conflict and writes nothing", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createWithEvents(c, k, 1);
      const code = await codeOf(
        c.store.commit({
          key: k,
          expectedVersion: 0,
          header: headerFor(k, now, 1, 2),
          events: [customEvent(1, now), customEvent(2, now)],
          now,
        }),
      );
      assert.equal(code, "conflict");
      assert.equal((await c.store.readEvents(k, {})).length, 1);
    });

    it("commit with a stale version throws conflict and writes nothing", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createThenCommit(c, k, 1);
      const stale = c.store.commit({
        key: k,
        expectedVersion: 1,
        header: headerFor(k, now, 2, 1),
        events: [customEvent(1, now)],
        now,
      });
      assert.equal(await conflictVersionOf(stale), 2);
      const header = await c.store.get(k, now);
      assert.equal(header?.version, 2);
      assert.deepEqual(
        (await c.store.readEvents(k, {})).map((e) => e.seq),
        [1],
      );
    });

    it("commit to an absent session throws not_found and creates nothing", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c, "ghost");
      assert.equal(
        await codeOf(c.store.commit({ key: k, expectedVersion: 3, header: headerFor(k, now, 4, 0), events: [], now })),
        "not_found",
      );
      assert.equal(await c.store.get(k, now), undefined);
    });

    it("a scoped-state conflict fails the whole commit", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createThenCommit(c, k, 0, { scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:a": 1 } }] });
      const code = await codeOf(
        c.store.commit({
          key: k,
          expectedVersion: 2,
          header: headerFor(k, now, 3, 1),
          events: [customEvent(1, now)],
          scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:a": 2 } }],
          now,
        }),
      );
      assert.equal(code, "conflict");
      assert.equal((await c.store.get(k, now))?.version, 2);
      assert.equal((await c.store.readEvents(k, {})).length, 0);
      assert.deepEqual(await c.store.readScope(c.namespace, "user", "u1"), { state: { "user:a": 1 }, version: 1 });
    });

    it("readEvents honours after, before, limit, types and descending order", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      const events = Array.from({ length: 20 }, (_, i) => ({
        seq: i + 1,
        id: `e${i + 1}`,
        at: now,
        ...(i % 2 === 0
          ? { type: "custom" as const, name: "even", data: i }
          : { type: "state" as const, stateDelta: { i } }),
      }));
      await c.store.commit({ key: k, expectedVersion: 0, header: headerFor(k, now, 1, 20), events, now });
      assert.deepEqual(
        (await c.store.readEvents(k, { after: 15 })).map((e) => e.seq),
        [16, 17, 18, 19, 20],
      );
      assert.deepEqual(
        (await c.store.readEvents(k, { after: 2, limit: 3 })).map((e) => e.seq),
        [3, 4, 5],
      );
      assert.deepEqual(
        (await c.store.readEvents(k, { before: 4 })).map((e) => e.seq),
        [1, 2, 3],
      );
      assert.deepEqual(
        (await c.store.readEvents(k, { order: "desc", limit: 3 })).map((e) => e.seq),
        [20, 19, 18],
      );
      assert.deepEqual(
        (await c.store.readEvents(k, { order: "desc", before: 10, limit: 2 })).map((e) => e.seq),
        [9, 8],
      );
      assert.deepEqual(
        (await c.store.readEvents(k, { types: ["state"], after: 14 })).map((e) => e.seq),
        [16, 18, 20],
      );
      assert.deepEqual(
        (await c.store.readEvents(k, { types: ["custom"], order: "desc", limit: 2 })).map((e) => e.seq),
        [19, 17],
      );
    });

    it("the newest events of a long log come back whole when the types asked for are far back or events were removed", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      const events = Array.from({ length: 60 }, (_, i) => ({
        seq: i + 1,
        id: `e${i + 1}`,
        at: now,
        ...(i < 3
          ? { type: "custom" as const, name: "early", data: i }
          : { type: "state" as const, stateDelta: { i } }),
      }));
      await c.store.commit({ key: k, expectedVersion: 0, header: headerFor(k, now, 1, 60), events, now });
      const seqs = async (range: Parameters<typeof c.store.readEvents>[1]) =>
        (await c.store.readEvents(k, range)).map((e) => e.seq);
      assert.deepEqual(await seqs({ types: ["custom"], order: "desc", limit: 2 }), [3, 2]);
      assert.deepEqual(await seqs({ types: ["custom"], order: "desc", limit: 10 }), [3, 2, 1]);
      assert.deepEqual(await seqs({ types: ["custom"], order: "desc", before: 3, limit: 5 }), [2, 1]);
      assert.deepEqual(await seqs({ order: "desc", before: 5, limit: 3 }), [4, 3, 2]);
      assert.deepEqual(await seqs({ order: "desc", after: 57, limit: 10 }), [60, 59, 58]);
      assert.deepEqual(await seqs({ types: ["state"], order: "desc", limit: 2 }), [60, 59]);
    });

    it("values handed out are copies or frozen: mutating them changes nothing stored", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createWithEvents(c, k, 1);
      const header = (await c.store.get(k, now)) as SessionHeader;
      const [first] = await c.store.readEvents(k, {});
      // A frozen value refuses the write (TypeError in strict mode); a copy takes it harmlessly.
      const attempt = (mutate: () => void): void => {
        try {
          mutate();
        } catch (error) {
          assert.ok(error instanceof TypeError, `only a frozen value may refuse a write: ${error}`);
        }
      };
      attempt(() => {
        (header.state as Record<string, unknown>).v = "mutated";
      });
      attempt(() => header.tags.push("x"));
      attempt(() => {
        (first as { data?: unknown }).data = "mutated";
      });
      assert.deepEqual((await c.store.get(k, now))?.state, { v: 1 });
      assert.deepEqual((await c.store.get(k, now))?.tags, []);
      assert.equal(((await c.store.readEvents(k, {}))[0] as { data?: unknown }).data, 1);
    });

    it("values handed in stay the caller's: changing them afterwards changes nothing stored", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      const header = headerFor(k, now, 1, 1);
      header.state = { v: 1, nested: { list: [1] } };
      const data = { list: [1] };
      const events = [customEvent(1, now, data)];
      await c.store.commit({ key: k, expectedVersion: 0, header, events, now });
      // The store may not freeze or keep what the caller still holds.
      ((header.state as { nested: { list: number[] } }).nested.list as number[]).push(2);
      header.tags.push("x");
      data.list.push(2);
      assert.deepEqual((await c.store.get(k, now))?.state, { v: 1, nested: { list: [1] } });
      assert.deepEqual((await c.store.get(k, now))?.tags, []);
      assert.deepEqual(((await c.store.readEvents(k, {}))[0] as { data?: unknown }).data, { list: [1] });
    });

    it("delete removes the header and its events together", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createWithEvents(c, k, 1);
      assert.equal(await c.store.delete(k), true);
      await assertGone(c, k, now);
      assert.equal(await c.store.delete(k), false);
    });

    it("a conditional delete at the current version removes header, events and idempotency records", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createThenCommit(c, k, 1, {
        idempotency: { key: "idem", fingerprint: "f", firstSeq: 1, lastSeq: 1, version: 2, at: now },
      });
      assert.equal(await c.store.delete(k, { expectedVersion: 2, now }), true);
      await assertGone(c, k, now);
      assert.equal(await c.store.findIdempotency(k, "idem"), undefined);
      assert.equal(await c.store.delete(k), false);
    });

    it("a conditional delete at a stale version throws conflict and deletes nothing", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c);
      await createThenCommit(c, k, 2, {
        idempotency: { key: "idem", fingerprint: "f", firstSeq: 1, lastSeq: 2, version: 2, at: now },
      });
      // 2 ** 40: versions are compared whole, whatever width the backend stores them in.
      for (const stale of [1, 3, 2 ** 40]) {
        assert.equal(await conflictVersionOf(c.store.delete(k, { expectedVersion: stale, now })), 2);
      }
      const header = await c.store.get(k, now);
      assert.equal(header?.version, 2);
      assert.deepEqual(header?.state, { v: 2 });
      assert.deepEqual(
        (await c.store.readEvents(k, {})).map((e) => e.seq),
        [1, 2],
      );
      assert.equal((await c.store.findIdempotency(k, "idem"))?.lastSeq, 2);
    });

    it("a conditional delete of an absent or expired session returns false and touches nothing", async () => {
      const c = ctx();
      const now = c.clock.now();
      assert.equal(await c.store.delete(key(c, "ghost"), { expectedVersion: 1, now }), false);
      assert.equal(await c.store.get(key(c, "ghost"), now), undefined);
      const k = key(c);
      // headerFor expires 60 s after `now`.
      await createWithEvents(c, k, 1);
      const later = now + 60_000;
      assert.equal(await c.store.delete(k, { expectedVersion: 1, now: later }), false);
      assert.equal(await c.store.delete(k, { expectedVersion: 7, now: later }), false);
      // Left for sweep: still there for a clock that has it live, events included.
      assert.equal((await c.store.get(k, now))?.version, 1);
      assert.equal((await c.store.readEvents(k, {})).length, 1);
    });

    it("two concurrent conditional deletes at the same version: exactly one deletes", async () => {
      const c = ctx();
      const now = c.clock.now();
      const other = (await c.peer()) ?? c.store;
      for (let round = 0; round < 10; round++) {
        const k = key(c, `race-${round}`);
        await createWithEvents(c, k, 1);
        const results = await Promise.all([
          c.store.delete(k, { expectedVersion: 1, now }),
          other.delete(k, { expectedVersion: 1, now }),
        ]);
        assert.deepEqual(
          results.filter((deleted) => deleted),
          [true],
        );
        await assertGone(c, k, now);
      }
    });

    it("a commit racing a conditional delete at the same version: exactly one wins, whole", async () => {
      const c = ctx();
      const now = c.clock.now();
      const other = (await c.peer()) ?? c.store;
      for (let round = 0; round < 20; round++) {
        const k = key(c, `race-${round}`);
        await createWithEvents(c, k, 1);
        const commit = () =>
          (round % 2 ? other : c.store).commit({
            key: k,
            expectedVersion: 1,
            header: headerFor(k, now, 2, 3),
            events: [customEvent(2, now), customEvent(3, now)],
            now,
          });
        const remove = () => (round % 2 ? c.store : other).delete(k, { expectedVersion: 1, now });
        // Alternate which one starts first, so both orders get their chance on every store.
        const [committed, deleted] =
          round % 4 < 2
            ? await Promise.allSettled([commit(), remove()])
            : await Promise.allSettled([remove(), commit()]).then(([d, m]) => [m, d] as const);
        const header = await c.store.get(k, now);
        const seqs = (await c.store.readEvents(k, {})).map((e) => e.seq);
        if (committed.status === "fulfilled") {
          // The commit came first: the delete saw version 2 and removed nothing.
          assert.equal(deleted.status, "rejected");
          const error = (deleted as PromiseRejectedResult).reason as {
            code?: string;
            details?: Record<string, unknown>;
          };
          assert.equal(error.code, "conflict");
          assert.equal(error.details?.currentVersion, 2);
          assert.equal(header?.version, 2);
          assert.deepEqual(seqs, [1, 2, 3]);
        } else {
          // The delete came first: the commit found nothing, and nothing of it was left behind.
          assert.equal((committed.reason as { code?: string }).code, "not_found");
          assert.deepEqual(deleted, { status: "fulfilled", value: true });
          assert.equal(header, undefined);
          assert.deepEqual(seqs, []);
        }
      }
    });

    it("API keys are stored by hash, found, listed and revoked once", async () => {
      const c = ctx();
      const now = c.clock.now();
      const hash = `${c.prefix}`.padEnd(64, "a");
      await c.store.putApiKey({
        id: `k-${c.prefix}`,
        hash,
        prefix: "fd_abc",
        userId: "u1",
        admin: false,
        label: null,
        createdAt: now,
        revokedAt: null,
      });
      assert.equal((await c.store.findApiKey(hash))?.userId, "u1");
      assert.ok((await c.store.listApiKeys()).some((k) => k.id === `k-${c.prefix}`));
      assert.equal(await c.store.revokeApiKey(`k-${c.prefix}`, now + 1), true);
      assert.equal(await c.store.revokeApiKey(`k-${c.prefix}`, now + 2), false);
      assert.equal((await c.store.findApiKey(hash))?.revokedAt, now + 1);
      assert.equal(await c.store.findApiKey("f".repeat(64)), undefined);
    });

    it("an API key's own request rate is kept with it; a key without one reads back without one", async () => {
      const c = ctx();
      const record = (n: number) => ({
        id: `kr${n}-${c.prefix}`,
        hash: `${c.prefix}`.padEnd(63, "b") + String(n),
        prefix: "fd_abc",
        userId: "u1",
        admin: false,
        label: null,
        createdAt: c.clock.now(),
        revokedAt: null,
      });
      await c.store.putApiKey({ ...record(1), requestsPerSecond: 2.5 });
      await c.store.putApiKey(record(2));
      assert.equal((await c.store.findApiKey(record(1).hash))?.requestsPerSecond, 2.5);
      assert.equal((await c.store.findApiKey(record(2).hash))?.requestsPerSecond ?? null, null);
      const listed = (await c.store.listApiKeys()).find((k) => k.id === record(1).id);
      assert.equal(listed?.requestsPerSecond, 2.5);
      await c.store.revokeApiKey(record(1).id, c.clock.now() + 1);
      assert.equal((await c.store.findApiKey(record(1).hash))?.requestsPerSecond, 2.5);
    });
  });
}
