import assert from "node:assert/strict";
import { type CaseContext, codeOf } from "./context.ts";
import type { Runner } from "./harness.ts";

const HOSTILE_IDS = [
  "../x",
  "../../etc/passwd",
  "a/b",
  "a\\b",
  "a\u0000b",
  ".",
  "..",
  "",
  " lead",
  "x".repeat(129),
  "%2e%2e",
  "ünï",
];

/** Ids that try to escape, truncate or overflow are refused before they reach the store. */
export function hostileCases(ctx: () => CaseContext, { describe, it }: Runner): void {
  describe("hostile input", () => {
    it("traversal, NUL and over-long session ids are invalid_request and create nothing", async () => {
      const c = ctx();
      const sessions = c.manager();
      for (const id of HOSTILE_IDS) {
        assert.equal(await codeOf(sessions.create({ sessionId: id })), "invalid_request", JSON.stringify(id));
        assert.equal(await codeOf(sessions.get(id)), "invalid_request");
        assert.equal(await codeOf(sessions.addMessage(id, { role: "user", content: "x" })), "invalid_request");
        assert.equal(await codeOf(sessions.delete(id)), "invalid_request");
      }
      assert.equal((await sessions.listSessions()).items.length, 0);
    });

    it("hostile user ids and namespaces are refused", async () => {
      const c = ctx();
      for (const userId of ["../u", "a/b", "", "u\u0000", "x".repeat(200)]) {
        assert.throws(() => c.manager().forUser(userId), { code: "invalid_request" } as never);
      }
      assert.throws(() => c.manager({ namespace: "../ns" }), { code: "invalid_request" } as never);
    });

    it("a 128-character id at the limit works", async () => {
      const sessions = ctx().manager();
      const id = `a${"b".repeat(127)}`;
      await sessions.create({ sessionId: id });
      assert.equal((await sessions.get(id)).id, id);
    });

    it("state that is not JSON, or too large, is refused and nothing changes", async () => {
      const sessions = ctx().manager({ limits: { maxStateBytes: 2048 } });
      const { id, version } = await sessions.create({ state: { a: 1 } });
      assert.equal(await codeOf(sessions.update(id, (s) => ({ ...s, big: "x".repeat(4096) }))), "payload_too_large");
      assert.equal(await codeOf(sessions.update(id, (s) => ({ ...s, when: new Date() as never }))), "invalid_request");
      assert.equal(await codeOf(sessions.update(id, (s) => ({ ...s, n: Number.NaN }))), "invalid_request");
      const after = await sessions.get(id);
      assert.equal(after.version, version);
      assert.deepEqual(after.state, { a: 1 });
    });
  });
}
