import assert from "node:assert/strict";
import { isFrontdeskError } from "../../core/errors.ts";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

const errorOf = async (promise: Promise<unknown>): Promise<{ code: string; message: string }> => {
  try {
    await promise;
  } catch (error) {
    if (isFrontdeskError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected a failure");
};

/** Rooms never leak: every query is keyed by the owner. */
export function isolationCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("isolation", () => {
    it("another user's session is indistinguishable from an absent one", async () => {
      const c = ctx();
      const alice = c.manager().forUser("alice");
      const mallory = c.manager().forUser("mallory");
      const { id } = await alice.create({ state: { secret: "a" } });
      await alice.addMessage(id, { role: "user", content: "private" });
      const absent = await errorOf(mallory.get("never-existed"));
      // Each attempt runs and settles on its own before the next starts, so none rejects unobserved.
      const attempts: (() => Promise<unknown>)[] = [
        () => mallory.get(id),
        () => mallory.readEvents(id),
        () => mallory.addMessage(id, { role: "user", content: "hijack" }),
        () => mallory.update(id, (s) => ({ ...s, secret: "m" })),
        () => mallory.patch(id, { title: "pwned" }),
        () => mallory.getMessages(id),
        () => mallory.fork(id),
        () => mallory.getStatistics(id),
        () => mallory.get({ id, userId: "alice" }),
      ];
      for (const attempt of attempts) assert.deepEqual(await errorOf(attempt()), absent);
      assert.equal(await mallory.delete(id), false);
      const intact = await alice.get(id);
      assert.deepEqual(intact.state, { secret: "a" });
      assert.equal(intact.lastSeq, 2); // the initial state event, then the message
      assert.equal(intact.title, null);
    });

    it("two users may both name a session s1 and get two sessions", async () => {
      const c = ctx();
      const alice = c.manager().forUser("alice");
      const bob = c.manager().forUser("bob");
      await alice.create({ sessionId: "s1", state: { owner: "alice" } });
      await bob.create({ sessionId: "s1", state: { owner: "bob" } });
      await bob.addMessage("s1", { role: "user", content: "bob's" });
      assert.deepEqual((await alice.get("s1")).state, { owner: "alice" });
      assert.deepEqual((await bob.get("s1")).state, { owner: "bob" });
      assert.equal((await alice.readEvents("s1", { types: ["message"] })).length, 0);
      await alice.delete("s1");
      assert.equal((await bob.get("s1")).lastSeq, 2);
    });

    it("lists are scoped to the owner", async () => {
      const c = ctx();
      const alice = c.manager().forUser("alice");
      const bob = c.manager().forUser("bob");
      await alice.create({ title: "a1" });
      await alice.create({ title: "a2" });
      await bob.create({ title: "b1" });
      assert.deepEqual((await alice.listSessions()).items.map((s) => s.title).sort(), ["a1", "a2"]);
      assert.deepEqual(
        (await bob.listSessions()).items.map((s) => s.title),
        ["b1"],
      );
      assert.deepEqual((await bob.listSessions({ userId: "alice" })).items, []);
      const everyone = c.manager();
      assert.equal((await everyone.listSessions()).items.length, 3);
      assert.equal((await everyone.listSessions({ userId: "bob" })).items.length, 1);
      assert.equal(await alice.store.count(c.namespace, "alice", c.clock.now()), 2);
    });

    it("a manager bound to one user cannot create for another", async () => {
      const alice = ctx().manager().forUser("alice");
      assert.equal(await codeOf(alice.create({ userId: "bob" })), "forbidden");
    });

    it("namespaces never see each other's sessions", async () => {
      const c = ctx();
      const one = c.manager({ namespace: `${c.namespace}-one` });
      const two = c.manager({ namespace: `${c.namespace}-two` });
      await one.create({ sessionId: "shared-name" });
      assert.equal(await codeOf(two.get("shared-name")), "not_found");
      assert.equal((await two.listSessions()).items.length, 0);
    });
  });
}
