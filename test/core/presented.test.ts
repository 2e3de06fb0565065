import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";

// Whether reads see every change is the conformance suite's job, on every store; this is about
// what the two stores that hand out shared frozen headers let a reader skip.
describe("repeated reads of an unchanged session", () => {
  let dir: string | undefined;
  let store: SessionStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    store = dir = undefined;
  });

  const stores: [string, () => Promise<SessionStore>][] = [
    ["memory", async () => createMemoryStore()],
    [
      "sqlite",
      async () => {
        dir = await mkdtemp(path.join(tmpdir(), "frontdesk-presented-"));
        return createSqliteStore({ path: path.join(dir, "db.sqlite") });
      },
    ],
  ];

  for (const [name, open] of stores) {
    it(`${name}: hand out one frozen session until it changes, across bound views`, async () => {
      store = await open();
      const clock = new FakeClock();
      const manager = new SessionManager(() => ({}), store, "ns", { clock, defaultTtlMs: 60_000 });
      const { id } = await manager.forUser("ann").create({ state: { n: 1 } });
      const first = await manager.forUser("ann").get(id);
      expect(await manager.forUser("ann").get(id)).toBe(first);
      expect(Object.isFrozen(first)).toBe(true);

      await manager.forUser("ann").update(id, (s) => ({ ...s, n: 2 }));
      const changed = await manager.forUser("ann").get(id);
      expect(changed).not.toBe(first);
      expect(changed.state).toEqual({ n: 2 });
      expect(await manager.forUser("ann").get(id)).toBe(changed);
    });
  }
});
