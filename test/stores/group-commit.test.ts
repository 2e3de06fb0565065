import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FrontdeskError } from "../../src/core/errors.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import type { SessionStore } from "../../src/core/store-contract.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";

const dir = mkdtempSync(join(tmpdir(), "frontdesk-group-commit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Counts the writes that reach the store, and can be told to fail them. */
const instrumented = (store: SessionStore) => {
  let writes = 0;
  let failing = false;
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "commit" || prop === "append") {
        const original = Reflect.get(target, prop, receiver) as ((...args: unknown[]) => Promise<unknown>) | undefined;
        if (typeof original !== "function") return original;
        return async (...args: unknown[]) => {
          if (failing) throw new FrontdeskError("unavailable", "the backend is down");
          writes++;
          return original.apply(target, args);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return {
    store: wrapped as SessionStore,
    writes: () => writes,
    fail: (on: boolean) => {
      failing = on;
    },
  };
};

let files = 0;
const backends: [string, () => SessionStore][] = [
  ["memory", () => createMemoryStore()],
  ["sqlite", () => createSqliteStore({ path: join(dir, `s${files++}.db`) })],
];

const message = (content: string) => ({ type: "message", role: "user", content });

describe.each(backends)("group commit of appends to one session (%s)", (_name, open) => {
  it("appends that arrive together share one commit; each keeps its own contiguous events, in order", async () => {
    const backend = instrumented(open());
    const sessions = new SessionManager(() => ({}), backend.store, "default", { defaultTtlMs: null });
    const { id } = await sessions.create();
    const before = backend.writes();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => sessions.appendEvents(id, [message(`${i}a`), message(`${i}b`)])),
    );
    // Submission order is commit order: call i holds seqs 2i+1 and 2i+2.
    results.forEach((result, i) => {
      expect(result.events.map((e) => [e.seq, (e as SessionEvent & { content: string }).content])).toEqual([
        [2 * i + 1, `${i}a`],
        [2 * i + 2, `${i}b`],
      ]);
      expect(Object.isFrozen(result.events)).toBe(true);
    });
    expect(backend.writes() - before).toBeLessThan(40);
    const log = await sessions.readEvents(id);
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    const session = await sessions.get(id);
    expect(session.lastSeq).toBe(80);
    expect(session.stats.messages).toBe(80);
    // Every result names the commit that holds its events, and the last one is the session's.
    expect(Math.max(...results.map((r) => r.version))).toBe(session.version);
    for (const result of results) expect(result.lastSeq).toBeGreaterThanOrEqual(result.events.at(-1)?.seq ?? 0);
    await backend.store.close();
  });

  it("appends made in separate event-loop callbacks, as requests read from separate sockets, still meet", async () => {
    const backend = instrumented(open());
    const sessions = new SessionManager(() => ({}), backend.store, "default", { defaultTtlMs: null });
    const { id } = await sessions.create();
    const before = backend.writes();
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) =>
          new Promise<Awaited<ReturnType<typeof sessions.appendEvents>>>((resolve, reject) => {
            setImmediate(() => sessions.appendEvents(id, [message(String(i))]).then(resolve, reject));
          }),
      ),
    );
    expect(results.map((r) => r.events[0]?.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    // A blocking store (better-sqlite3) writes while no callback can run, so only the wait for
    // pending I/O lets these meet; a store that awaits I/O groups them while a write is in flight.
    if (backend.store.capabilities.blocking) expect(backend.writes() - before).toBeLessThan(10);
    else expect(backend.writes() - before).toBeLessThanOrEqual(10);
    await backend.store.close();
  });

  it("a write issued after an append waits for it, as without grouping", async () => {
    const backend = instrumented(open());
    const sessions = new SessionManager<{ n?: number }>(() => ({}), backend.store, "default", { defaultTtlMs: null });
    const { id } = await sessions.create();
    const appended = sessions.appendEvents(id, [message("first")]);
    const updated = sessions.update(id, () => ({ n: 1 }));
    await Promise.all([appended, updated]);
    const log = await sessions.readEvents(id);
    expect(log.map((e) => e.type)).toEqual(["message", "state"]);
    await backend.store.close();
  });

  it("a member that would pass the session's event limit is refused alone; the others are written", async () => {
    const backend = instrumented(open());
    const sessions = new SessionManager(() => ({}), backend.store, "default", {
      defaultTtlMs: null,
      limits: { maxEventsPerSession: 5 },
    });
    const { id } = await sessions.create();
    const outcomes = await Promise.allSettled([
      sessions.appendEvents(id, [message("a"), message("b")]),
      sessions.appendEvents(id, [message("c"), message("d"), message("e"), message("f")]),
      sessions.appendEvents(id, [message("g"), message("h")]),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const refused = (outcomes[1] as PromiseRejectedResult).reason;
    expect(refused).toBeInstanceOf(FrontdeskError);
    expect((refused as FrontdeskError).code).toBe("payload_too_large");
    const log = await sessions.readEvents(id);
    expect(log.map((e) => (e as SessionEvent & { content: string }).content)).toEqual(["a", "b", "g", "h"]);
    await backend.store.close();
  });

  it("a group whose commit fails rejects every member and writes nothing", async () => {
    const backend = instrumented(open());
    const sessions = new SessionManager(() => ({}), backend.store, "default", { defaultTtlMs: null });
    const { id } = await sessions.create();
    backend.fail(true);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => sessions.appendEvents(id, [message(String(i))])),
    );
    expect(outcomes.every((o) => o.status === "rejected" && (o.reason as FrontdeskError).code === "unavailable")).toBe(
      true,
    );
    backend.fail(false);
    expect(await sessions.readEvents(id)).toEqual([]);
    expect((await sessions.get(id)).lastSeq).toBe(0);
    await backend.store.close();
  });

  it("groups never mix users: another user's session of the same id is its own group and log", async () => {
    const backend = instrumented(open());
    const root = new SessionManager(() => ({}), backend.store, "default", { defaultTtlMs: null });
    const alice = root.forUser("alice");
    const bob = root.forUser("bob");
    await alice.create({ sessionId: "shared-name" });
    await bob.create({ sessionId: "shared-name" });
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? bob : alice).appendEvents("shared-name", [message(`${i % 2 ? "bob" : "alice"} ${i}`)]),
      ),
    );
    const aliceLog = await alice.readEvents("shared-name");
    const bobLog = await bob.readEvents("shared-name");
    expect(aliceLog.map((e) => (e as SessionEvent & { content: string }).content)).toEqual(
      [0, 2, 4, 6, 8].map((i) => `alice ${i}`),
    );
    expect(bobLog.map((e) => (e as SessionEvent & { content: string }).content)).toEqual(
      [1, 3, 5, 7, 9].map((i) => `bob ${i}`),
    );
    await backend.store.close();
  });
});
