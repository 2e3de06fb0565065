/**
 * `frontdesk users erase` killed midway with SIGKILL, then run again: no session is left
 * half-erased, the second run finishes under the same erasure id, and no byte of the erased
 * content is left in the SQLite file or its WAL.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempStore, withManager } from "./harness.ts";
import { assertBuilt, CliProcess, runCli } from "./processes.ts";

const SESSIONS = 2000;
const CANARY = "erase-me-7b1f0c";
const temp = tempStore();
beforeAll(() => assertBuilt());
afterAll(() => temp.remove());

/** Raw bytes read by a child process: a descriptor closed in this process would drop SQLite's locks. */
const bytesOf = (file: string): Buffer =>
  existsSync(file)
    ? execFileSync(
        process.execPath,
        ["-e", "process.stdout.write(require('node:fs').readFileSync(process.argv[1]))", file],
        {
          maxBuffer: 1 << 30,
        },
      )
    : Buffer.alloc(0);

describe("frontdesk users erase", () => {
  it("killed midway leaves every session whole or gone, and the next run finishes it", async () => {
    await withManager(temp.url, async (manager) => {
      const victim = manager.forUser("victim");
      for (let i = 0; i < SESSIONS; i++) {
        await victim.create({ sessionId: `v${i}`, state: { "user:email": `${CANARY}@example.org` } });
        await victim.appendEvents(`v${i}`, [
          { type: "message", role: "user", content: `${CANARY} session ${i}` },
          { type: "custom", name: "note", data: { text: CANARY } },
        ]);
      }
      const kept = manager.forUser("kept");
      for (let i = 0; i < 5; i++) {
        await kept.create({ sessionId: `k${i}` });
        await kept.addMessage(`k${i}`, { role: "user", content: "still here" });
      }
    });

    const count = (db: Database.Database): number =>
      (db.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = 'victim'").get() as { n: number }).n;
    const eraser = new CliProcess(["users", "erase", "--store", temp.url, "--user", "victim", "--by", "test"]);
    const locker = new Database(temp.path);
    try {
      // A synchronous poll, so that nothing in this process can delay it: the moment the eraser's
      // first delete is committed, the kill lands, long before it is done (each delete is a
      // transaction of its own, with an fsync). Taking the write lock first would race the eraser,
      // which takes it again the moment it lets go, and could finish before the lock is ours.
      const deadline = Date.now() + 60_000;
      let seen = count(locker);
      while (seen === SESSIONS && Date.now() < deadline) seen = count(locker);
      eraser.child.kill("SIGKILL");
      await eraser.exited;
      const left = count(locker);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThan(SESSIONS);
    } finally {
      await eraser.kill();
      locker.close();
    }

    await withManager(temp.url, async (manager) => {
      const victim = manager.forUser("victim");
      const page = await manager.store.list({
        namespace: "default",
        userId: "victim",
        orderBy: "createdAt",
        order: "asc",
        limit: SESSIONS,
        now: 0,
      });
      for (const header of page.items) {
        expect((await victim.readEvents(header.id)).length).toBe(header.lastSeq);
      }
    });

    const rerun = await runCli(["users", "erase", "--store", temp.url, "--user", "victim", "--vacuum", "--json"]);
    expect(rerun.code).toBe(0);
    const result = JSON.parse(rerun.stdout);
    expect(result.sessions).toBeGreaterThan(0);
    expect(result.sessions).toBeLessThan(SESSIONS);
    expect(result.scrub).toBe("done");

    await withManager(temp.url, async (manager) => {
      const listed = await manager.store.list({
        namespace: "default",
        userId: "victim",
        orderBy: "createdAt",
        order: "asc",
        limit: 10,
        now: 0,
      });
      expect(listed.items).toEqual([]);
      expect((await manager.forUser("kept").readEvents("k3")).length).toBe(1);
      const log = await manager.readEvents({ id: "frontdesk.erasures", userId: null });
      const names = log.map((event) =>
        event.type === "custom" ? [event.name, (event.data as { erasureId: string }).erasureId] : [],
      );
      // One erasure: started by the killed run, finished by the second under the same id.
      expect(names.map(([name]) => name)).toEqual(["frontdesk.erasure.started", "frontdesk.erasure.finished"]);
      expect(names[0]?.[1]).toBe(names[1]?.[1]);
    });
    for (const suffix of ["", "-wal"]) expect(bytesOf(temp.path + suffix).includes(Buffer.from(CANARY))).toBe(false);
  }, 120_000);
});
