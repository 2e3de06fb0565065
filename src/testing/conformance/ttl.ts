import assert from "node:assert/strict";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

/** Time comes from the fake clock: no case sleeps. */
export function ttlCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("ttl", () => {
    it("an expired session is never served, listed or written, even before a sweep", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: 1000 });
      const { id } = await sessions.create();
      await sessions.addMessage(id, { role: "user", content: "hi" });
      c.clock.advance(1001);
      assert.equal(await codeOf(sessions.get(id)), "not_found");
      assert.equal(await c.store.get({ namespace: c.namespace, userId: null, id }, c.clock.now()), undefined);
      assert.equal((await sessions.listSessions()).items.length, 0);
      assert.equal(await codeOf(sessions.addMessage(id, { role: "user", content: "again" })), "not_found");
      assert.equal(await codeOf(sessions.update(id, (s) => ({ ...s, x: 1 }))), "not_found");
      assert.equal(
        await c.store.touch(
          { namespace: c.namespace, userId: null, id },
          { expiresAt: c.clock.now() + 10_000, lastAccessedAt: c.clock.now() },
          c.clock.now(),
        ),
        false,
      );
      assert.equal(await codeOf(sessions.get(id)), "not_found");
    });

    it("reads and writes slide the TTL without changing the version", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: 1000 });
      const { id, version } = await sessions.create();
      for (let i = 0; i < 5; i++) {
        c.clock.advance(600);
        const session = await sessions.get(id);
        assert.equal(session.version, version);
        assert.equal(session.expiresAt, c.clock.now() + 1000);
      }
      c.clock.advance(600);
      await sessions.addMessage(id, { role: "user", content: "still here" });
      c.clock.advance(600);
      assert.equal((await sessions.get(id)).lastSeq, 1);
    });

    it("a lazy read refresh happens at most once per fraction of the ttl", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: 10_000, touchFraction: 0.5 });
      const { id } = await sessions.create();
      c.clock.advance(1000);
      assert.equal((await sessions.get(id)).expiresAt, c.clock.now() - 1000 + 10_000);
      c.clock.advance(4000);
      assert.equal((await sessions.get(id)).expiresAt, c.clock.now() + 10_000);
    });

    it("an absolute lifetime caps a session however often it is touched", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: 1000, absoluteTtlMs: 2500 });
      const { id } = await sessions.create();
      c.clock.advance(900);
      await sessions.get(id);
      c.clock.advance(900);
      const session = await sessions.get(id);
      assert.equal(session.expiresAt, session.createdAt + 2500);
      c.clock.advance(701);
      assert.equal(await codeOf(sessions.get(id)), "not_found");
    });

    it("sessions with a null ttl never expire", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: null });
      const { id, expiresAt } = await sessions.create();
      assert.equal(expiresAt, null);
      c.clock.advance(10 * 365 * 24 * 3600 * 1000);
      assert.equal((await sessions.get(id)).id, id);
    });

    it("sweep deletes expired sessions with their events and keeps live ones", async () => {
      const c = ctx();
      const short = c.manager({ defaultTtlMs: 1000 });
      const long = c.manager({ defaultTtlMs: 100_000 });
      const gone = await short.create();
      await short.addMessage(gone.id, { role: "user", content: "x" });
      const kept = await long.create();
      c.clock.advance(5000);
      assert.equal(await short.sweepExpired(), 1);
      assert.deepEqual(await c.store.readEvents({ namespace: c.namespace, userId: null, id: gone.id }, {}), []);
      assert.equal((await long.get(kept.id)).id, kept.id);
      assert.equal(await short.sweepExpired(), 0);
    });

    it("creating over an expired id makes a fresh session, never the old one back", async () => {
      const c = ctx();
      const sessions = c.manager<Record<string, boolean>>({ defaultTtlMs: 1000, initial: () => ({ fresh: true }) });
      await sessions.create({ sessionId: "again", state: { old: true } });
      await sessions.addMessage("again", { role: "user", content: "old" });
      c.clock.advance(2000);
      const reborn = await sessions.create({ sessionId: "again" });
      assert.deepEqual(reborn.state, { fresh: true });
      assert.equal(reborn.version, 1);
      const events = await sessions.readEvents("again");
      assert.equal(
        events.some((e) => e.type === "message"),
        false,
      );
    });

    it("cleanupOldSessions removes sessions by age, separately from TTL", async () => {
      const c = ctx();
      const sessions = c.manager({ defaultTtlMs: null });
      const old = await sessions.create();
      c.clock.advance(10_000);
      const recent = await sessions.create();
      assert.equal(await sessions.cleanupOldSessions(5000), 1);
      assert.equal(await codeOf(sessions.get(old.id)), "not_found");
      assert.equal((await sessions.get(recent.id)).id, recent.id);
    });
  });
}
