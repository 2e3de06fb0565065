import assert from "node:assert/strict";
import type { SessionEvent, SessionHeader, SessionKey } from "../../core/model.ts";
import type { Commit } from "../../stores/types.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";
import { customEvent, sessionHeader } from "./records.ts";

const headerFor = (key: SessionKey, now: number, version: number, lastSeq: number): SessionHeader =>
  sessionHeader(key, now, { version, lastSeq });

const seqsOf = (events: readonly SessionEvent[]): number[] => events.map((e) => e.seq);

/**
 * The privacy primitives of the store contract: `rewrites` (redaction tombstones, markers, sealing
 * in place), `removeEvents` (pruning) and `eraseScope` (erasure). The manager-level cases
 * (privacy.ts) build on them.
 */
export function rewriteCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("rewrites, removed events and erased scopes", () => {
    const key = (c: CaseContext, id = "s1", userId: string | null = "u1"): SessionKey => ({
      namespace: c.namespace,
      userId,
      id,
    });
    /** Creates `k` at version 1 with events 1..count, each carrying `secret-<seq>` as data. */
    const create = async (c: CaseContext, k: SessionKey, count: number) => {
      const now = c.clock.now();
      const events = Array.from({ length: count }, (_, i) => customEvent(i + 1, now, `secret-${i + 1}`));
      await c.store.commit({ key: k, expectedVersion: 0, header: headerFor(k, now, 1, count), events, now });
    };
    const commitAt = (c: CaseContext, k: SessionKey, version: number, lastSeq: number, extra: Partial<Commit>) => {
      const now = c.clock.now();
      return c.store.commit({
        key: k,
        expectedVersion: version,
        header: headerFor(k, now, version + 1, lastSeq),
        events: [],
        now,
        ...extra,
      });
    };

    it("a rewrite replaces the stored event with the same seq and leaves the others", async () => {
      const c = ctx();
      const k = key(c);
      await create(c, k, 3);
      const tombstone = customEvent(2, c.clock.now(), "gone");
      await commitAt(c, k, 1, 4, { events: [customEvent(4, c.clock.now(), "notice")], rewrites: [tombstone] });
      const events = await c.store.readEvents(k, {});
      assert.deepEqual(
        events.map((e) => (e.type === "custom" ? e.data : null)),
        ["secret-1", "gone", "secret-3", "notice"],
      );
      assert.deepEqual(await c.store.readEvents(k, { after: 1, limit: 1 }), [tombstone]);
      assert.deepEqual(await c.store.readEvents(k, { order: "desc", before: 3, limit: 1 }), [tombstone]);
      const header = await c.store.get(k, c.clock.now());
      assert.equal(header?.version, 2);
      assert.equal(header?.lastSeq, 4);
    });

    it("the newest events read across a wide gap of removed ones", async () => {
      const c = ctx();
      const k = key(c);
      await create(c, k, 60);
      // Events 4..56 go (a prune of the middle), so the newest 6 are 60..57 and then 3..2.
      await commitAt(c, k, 1, 60, { removeEvents: { after: 3, before: 57 } });
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { order: "desc", limit: 6 })), [60, 59, 58, 57, 3, 2]);
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { order: "desc", before: 58, limit: 3 })), [57, 3, 2]);
    });

    it("removed events are gone from every read, and later seqs neither move nor get reused", async () => {
      const c = ctx();
      const k = key(c);
      await create(c, k, 10);
      await commitAt(c, k, 1, 10, {
        removeEvents: { after: 0, before: 7 },
        rewrites: [customEvent(7, c.clock.now(), "marker")],
      });
      assert.deepEqual(seqsOf(await c.store.readEvents(k, {})), [7, 8, 9, 10]);
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { after: 2, limit: 2 })), [7, 8]);
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { order: "desc", limit: 10 })), [10, 9, 8, 7]);
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { before: 7 })), []);
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { order: "desc", before: 8 })), [7]);
      const now = c.clock.now();
      await c.store.commit({
        key: k,
        expectedVersion: 2,
        header: headerFor(k, now, 3, 11),
        events: [customEvent(11, now)],
        now,
      });
      assert.deepEqual(seqsOf(await c.store.readEvents(k, { after: 9 })), [10, 11]);
      const texts = JSON.stringify(await c.store.readEvents(k, {}));
      for (let seq = 1; seq <= 6; seq++) assert.ok(!texts.includes(`secret-${seq}"`), `event ${seq} is still read`);
    });

    it("a stale rewrite or removal changes nothing", async () => {
      const c = ctx();
      const k = key(c);
      await create(c, k, 4);
      await commitAt(c, k, 1, 4, {});
      const before = await c.store.readEvents(k, {});
      const code = await codeOf(
        commitAt(c, k, 1, 4, {
          removeEvents: { after: 0, before: 3 },
          rewrites: [customEvent(3, c.clock.now(), "x")],
        }),
      );
      assert.equal(code, "conflict");
      assert.deepEqual(await c.store.readEvents(k, {}), before);
      assert.equal((await c.store.get(k, c.clock.now()))?.version, 2);
    });

    it("a rewrite past the end of the log is refused and changes nothing", async () => {
      const c = ctx();
      const k = key(c);
      await create(c, k, 2);
      const code = await codeOf(commitAt(c, k, 1, 2, { rewrites: [customEvent(3, c.clock.now(), "x")] }));
      assert.equal(code, "invalid_request");
      assert.deepEqual(seqsOf(await c.store.readEvents(k, {})), [1, 2]);
      assert.equal((await c.store.get(k, c.clock.now()))?.version, 1);
    });

    it("a rewrite reaches subscribers as a hint and a peer instance reads it", async () => {
      const c = ctx();
      const k = key(c);
      await create(c, k, 2);
      const hints: number[] = [];
      let hinted: () => void = () => {};
      const seen = new Promise<void>((resolve) => {
        hinted = resolve;
      });
      const unsubscribe = await c.store.subscribe(k, (lastSeq) => {
        hints.push(lastSeq);
        hinted();
      });
      try {
        const now = c.clock.now();
        await commitAt(c, k, 1, 3, { events: [customEvent(3, now, "notice")], rewrites: [customEvent(1, now, "x")] });
        await seen;
        assert.ok(hints.includes(3));
      } finally {
        await unsubscribe();
      }
      const peer = await c.peer();
      if (peer) {
        const events = await peer.readEvents(k, { limit: 1 });
        assert.equal(events[0]?.type === "custom" ? events[0].data : null, "x");
      }
    });

    it("eraseScope removes one owner's user: state and nothing else", async () => {
      const c = ctx();
      for (const userId of ["u1", "u2"]) {
        const k = key(c, `s-${userId}`, userId);
        const now = c.clock.now();
        await c.store.commit({
          key: k,
          expectedVersion: 0,
          header: headerFor(k, now, 1, 0),
          events: [],
          scoped: [
            { scope: "user", expectedVersion: 0, delta: { "user:name": userId } },
            { scope: "app", expectedVersion: userId === "u1" ? 0 : 1, delta: { [`app:${userId}`]: true } },
          ],
          now,
        });
      }
      assert.equal(await c.store.eraseScope(c.namespace, "u1"), true);
      assert.deepEqual(await c.store.readScope(c.namespace, "user", "u1"), { state: {}, version: 0 });
      assert.deepEqual(await c.store.readScope(c.namespace, "user", "u2"), {
        state: { "user:name": "u2" },
        version: 1,
      });
      assert.deepEqual((await c.store.readScope(c.namespace, "app", null)).version, 2);
      assert.equal(await c.store.eraseScope(c.namespace, "u1"), false);
      const k = key(c, "s-again", "u1");
      const now = c.clock.now();
      await c.store.commit({
        key: k,
        expectedVersion: 0,
        header: headerFor(k, now, 1, 0),
        events: [],
        scoped: [{ scope: "user", expectedVersion: 0, delta: { "user:name": "new" } }],
        now,
      });
      assert.deepEqual(await c.store.readScope(c.namespace, "user", "u1"), {
        state: { "user:name": "new" },
        version: 1,
      });
    });

    it("list with now 0 also returns sessions already expired, for erasure", async () => {
      const c = ctx();
      const now = c.clock.now();
      const k = key(c, "short");
      await c.store.commit({
        key: k,
        expectedVersion: 0,
        header: sessionHeader(k, now, { ttlMs: 1000, expiresAt: now + 1000 }),
        events: [],
        now,
      });
      c.clock.advance(5000);
      const query = { namespace: c.namespace, userId: "u1", orderBy: "createdAt", order: "asc", limit: 10 } as const;
      assert.deepEqual((await c.store.list({ ...query, now: c.clock.now() })).items, []);
      assert.deepEqual(
        (await c.store.list({ ...query, now: 0 })).items.map((h) => h.id),
        ["short"],
      );
    });
  });
}
