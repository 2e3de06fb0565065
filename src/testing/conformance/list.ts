import assert from "node:assert/strict";
import type { Session } from "../../core/session-manager.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

/** Filters and keyset pagination, identical on every store. */
export function listCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("list", () => {
    it("filters by status, all of a set of tags, text and time ranges", async () => {
      const c = ctx();
      const sessions = c.manager().forUser("u1");
      const t0 = c.clock.now();
      const a = await sessions.create({ title: "Fix Login bug", tags: ["bug", "urgent"] });
      c.clock.advance(1000);
      const b = await sessions.create({ purpose: "plan the LOGIN page", tags: ["bug"] });
      c.clock.advance(1000);
      const d = await sessions.create({ title: "other", tags: ["urgent", "bug", "x"] });
      await sessions.completeSession(b.id);
      const ids = async (options: Parameters<typeof sessions.listSessions>[0]) =>
        (await sessions.listSessions({ ...options, order: "asc" })).items.map((s) => s.id);
      assert.deepEqual(await ids({ status: "completed" }), [b.id]);
      assert.deepEqual(await ids({ status: ["active"] }), [a.id, d.id]);
      assert.deepEqual(await ids({ tags: ["bug", "urgent"] }), [a.id, d.id]);
      assert.deepEqual(await ids({ tags: ["x"] }), [d.id]);
      assert.deepEqual(await ids({ text: "login" }), [a.id, b.id]);
      assert.deepEqual(await ids({ text: "100%_" }), []);
      assert.deepEqual(await ids({ createdAfter: t0 }), [b.id, d.id]);
      assert.deepEqual(await ids({ createdBefore: t0 + 1000 }), [a.id]);
      assert.deepEqual(await ids({ updatedAfter: t0 + 1500 }), [b.id, d.id]);
      assert.deepEqual(await ids({ updatedBefore: t0 + 1500 }), [a.id]);
      assert.deepEqual(await ids({ tags: ["bug"], status: "active", text: "fix" }), [a.id]);
    });

    it("orders by createdAt or updatedAt, ascending or descending", async () => {
      const c = ctx();
      const sessions = c.manager();
      const first = await sessions.create();
      c.clock.advance(10);
      const second = await sessions.create();
      c.clock.advance(10);
      await sessions.addMessage(first.id, { role: "user", content: "bump" });
      const ids = async (orderBy: "createdAt" | "updatedAt", order: "asc" | "desc") =>
        (await sessions.listSessions({ orderBy, order })).items.map((s) => s.id);
      assert.deepEqual(await ids("createdAt", "asc"), [first.id, second.id]);
      assert.deepEqual(await ids("createdAt", "desc"), [second.id, first.id]);
      assert.deepEqual(await ids("updatedAt", "desc"), [first.id, second.id]);
    });

    it("pages with a stable cursor: every session exactly once, in order, ties included", async () => {
      const c = ctx();
      const owners = [c.manager().forUser("u1"), c.manager().forUser("u2"), c.manager()];
      const made: string[] = [];
      for (let i = 0; i < 31; i++) {
        if (i % 4 === 0) c.clock.advance(5); // groups of equal createdAt exercise the tie-breakers
        const owner = owners[i % 3] as (typeof owners)[number];
        made.push((await owner.create({ sessionId: `p${String(i).padStart(2, "0")}` })).id);
      }
      const everyone = c.manager();
      for (const order of ["asc", "desc"] as const) {
        for (const orderBy of ["createdAt", "updatedAt"] as const) {
          const seen: Session[] = [];
          let cursor: string | undefined;
          for (let guard = 0; guard < 20; guard++) {
            const page = await everyone.listSessions({ order, orderBy, limit: 7, cursor });
            seen.push(...page.items);
            if (!page.nextCursor) break;
            cursor = page.nextCursor;
          }
          assert.equal(seen.length, 31);
          assert.equal(new Set(seen.map((s) => `${s.userId}/${s.id}`)).size, 31);
          const values = seen.map((s) => s[orderBy]);
          const sorted = [...values].sort((x, y) => (order === "asc" ? x - y : y - x));
          assert.deepEqual(values, sorted);
        }
      }
    });

    it("a cursor survives sessions created between pages", async () => {
      const c = ctx();
      const sessions = c.manager();
      for (let i = 0; i < 10; i++) {
        c.clock.advance(1);
        await sessions.create();
      }
      const first = await sessions.listSessions({ order: "asc", limit: 4 });
      c.clock.advance(1);
      await sessions.create({ sessionId: "late" });
      let cursor = first.nextCursor ?? undefined;
      const rest: string[] = [];
      while (cursor) {
        const page = await sessions.listSessions({ order: "asc", limit: 4, cursor });
        rest.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor ?? undefined;
      }
      const all = [...first.items.map((s) => s.id), ...rest];
      assert.equal(all.length, 11);
      assert.equal(new Set(all).size, 11);
      assert.equal(all.at(-1), "late");
    });

    it("a tampered cursor is invalid_request", async () => {
      const sessions = ctx().manager();
      assert.equal(await codeOf(sessions.listSessions({ cursor: "not-a-cursor" })), "invalid_request");
      assert.equal(await codeOf(sessions.listSessions({ limit: -1 })), "invalid_request");
      assert.equal(await codeOf(sessions.listSessions({ status: "sleeping" as never })), "invalid_request");
    });
  });
}
