import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { longestLoopHold } from "../support/event-loop.ts";

/**
 * Issue 15 §1: a list search (`q=`) on SQLite runs its case-folding substring test inside
 * synchronous SQLite calls, one per row; a search that matches little would scan a whole
 * namespace in one call. It reads a few rows per call instead, the event loop free between them,
 * and still pages exactly like the reference filter.
 */
describe("SQLite list search (q=) over many sessions", () => {
  let dir: string;
  let store: SessionStore;
  let sessions: SessionManager;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "fd-list-scan-"));
    store = createSqliteStore({ path: join(dir, "list.db") });
    sessions = new SessionManager(() => ({}), store, "default", { defaultTtlMs: null });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("pages through every match, in order, exactly once", async () => {
    const owners = ["ann", "bob"];
    for (let i = 0; i < 300; i++) {
      await sessions.forUser(owners[i % 2] as string).create({
        sessionId: `s${String(i).padStart(3, "0")}`,
        title: i % 7 === 0 ? `Needle Report ${i}` : `other ${i}`,
        purpose: i % 11 === 0 ? `about the NEEDLE ${i}` : null,
      });
    }
    const expected = Array.from({ length: 300 }, (_, i) => i)
      .filter((i) => i % 7 === 0 || i % 11 === 0)
      .map((i) => `s${String(i).padStart(3, "0")}`);
    for (const order of ["asc", "desc"] as const) {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await sessions.listSessions({ text: "needle", orderBy: "createdAt", order, limit: 9, cursor });
        expect(page.items.length).toBeLessThanOrEqual(9);
        seen.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect([...seen].sort()).toEqual([...expected].sort());
      expect(new Set(seen).size).toBe(seen.length);
    }
    const ann = await sessions.forUser("ann").listSessions({ text: "NEEDLE", limit: 100 });
    expect(ann.items.map((item) => item.id).sort()).toEqual(
      expected.filter((id) => Number(id.slice(1)) % 2 === 0).sort(),
    );
  });

  it("never holds the event loop while it scans thousands of long titles and purposes that do not match", async () => {
    const longTitle = "İ".repeat(512);
    const longPurpose = "İ".repeat(4096);
    for (let i = 0; i < 4000; i++) {
      await sessions.create({ sessionId: `long-${i}`, title: longTitle, purpose: longPurpose });
    }
    const { result: page, heldMs } = await longestLoopHold(() =>
      sessions.listSessions({ text: `${"i̇".repeat(127)}x`, limit: 50 }),
    );
    expect(page.items).toEqual([]);
    expect(heldMs).toBeLessThan(250);
  });
});
