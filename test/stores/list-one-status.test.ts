import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { SessionHeader } from "../../src/core/model.ts";
import { createPostgresStore } from "../../src/stores/postgres/index.ts";
import { SWEEP_CHUNK } from "../../src/stores/sqlite/commands.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { ListQuery, SessionStore } from "../../src/stores/types.ts";
import { sessionHeader } from "../../src/testing/conformance/records.ts";
import { turnsDuring } from "../support/event-loop.ts";

/**
 * The admin list over every owner in one status takes its own query shape (SQLite: `status = ?`
 * over sessions_status_created with a tag prefilter on the tags column; PostgreSQL: an index-only
 * scan for the page's keys, then the rows). It must page exactly like the reference filter,
 * including tags whose JSON form could fool a substring test.
 */
const NOW = Date.UTC(2026, 0, 1);
const STATUSES = ["active", "completed", "abandoned", "failed"] as const;
const TAGS = ["vip", 'a"b', 'vip"', '"vip', "v\\ip", "ünï", "x"] as const;
const OWNERS = ["ann", "bob", "cy", null] as const;

/** 160 sessions with statuses, tag sets, owners and times that collide often, a few expired. */
const headers = (): SessionHeader[] =>
  Array.from({ length: 160 }, (_, i) => {
    const tags = TAGS.filter((_, t) => (i >> t) % 3 === 0);
    return sessionHeader(
      { namespace: "default", userId: OWNERS[i % OWNERS.length] ?? null, id: `s${i % 37}-${i}` },
      NOW,
      {
        status: STATUSES[(i * 7) % 4],
        tags,
        createdAt: NOW - (i % 23) * 1000,
        updatedAt: NOW - (i % 17) * 1000,
        expiresAt: i % 19 === 0 ? NOW - 1 : null,
        ttlMs: i % 19 === 0 ? 1000 : null,
      },
    );
  });

function expected(all: SessionHeader[], query: ListQuery): string[] {
  const column = query.orderBy;
  const sign = query.order === "desc" ? -1 : 1;
  return all
    .filter((h) => h.expiresAt === null || h.expiresAt > query.now)
    .filter((h) => !query.status || query.status.includes(h.status))
    .filter((h) => (query.tags ?? []).every((tag) => h.tags.includes(tag)))
    .sort((a, b) => {
      const by = (x: number | string, y: number | string) => (x < y ? -1 : x > y ? 1 : 0);
      return sign * (by(a[column], b[column]) || by(a.userId ?? "", b.userId ?? "") || by(a.id, b.id));
    })
    .map((h) => `${h.userId}/${h.id}`);
}

async function pageThrough(store: SessionStore, query: ListQuery): Promise<string[]> {
  const seen: string[] = [];
  let after: ListQuery["after"];
  for (;;) {
    const page = await store.list({ ...query, after });
    seen.push(...page.items.map((h) => `${h.userId}/${h.id}`));
    const last = page.items.at(-1);
    if (!page.hasMore || !last) return seen;
    after = { value: last[query.orderBy], userId: last.userId, id: last.id };
  }
}

function listsLikeTheReference(open: () => Promise<SessionStore>) {
  it("pages every owner in one status, with tags, in both orders, like the reference filter", async () => {
    const store = await open();
    const all = headers();
    for (const header of all) {
      await store.commit({
        key: { namespace: header.namespace, userId: header.userId, id: header.id },
        expectedVersion: 0,
        header,
        events: [],
        now: NOW - 60_000,
      });
    }
    const filters: Pick<ListQuery, "status" | "tags">[] = [
      { status: ["failed"] },
      { status: ["active"], tags: ["vip"] },
      { status: ["completed"], tags: ['vip"', "x"] },
      { status: ["abandoned"], tags: ['a"b'] },
      { status: ["failed"], tags: ["v\\ip", "ünï"] },
      { status: ["active", "failed"], tags: ['"vip'] },
    ];
    for (const filter of filters) {
      for (const orderBy of ["createdAt", "updatedAt"] as const) {
        for (const order of ["asc", "desc"] as const) {
          const query: ListQuery = { namespace: "default", orderBy, order, limit: 4, now: NOW, ...filter };
          expect(await pageThrough(store, query), JSON.stringify(query)).toEqual(expected(all, query));
        }
      }
    }
  });
}

describe("the one-status admin list on SQLite", () => {
  const dirs: string[] = [];
  const stores: SessionStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const open = async (): Promise<SessionStore> => {
    const dir = mkdtempSync(join(tmpdir(), "fd-one-status-"));
    dirs.push(dir);
    const store = createSqliteStore({ path: join(dir, "list.db") });
    stores.push(store);
    return store;
  };
  listsLikeTheReference(open);

  it("sweeps in chunks, the event loop free between them, and still removes exactly `limit`", async () => {
    const store = await open();
    const expiring = SWEEP_CHUNK * 2 + 50;
    for (let i = 0; i < expiring + 10; i++) {
      const key = { namespace: "default", userId: "ann", id: `e${i}` };
      const expiresAt = i < expiring ? NOW + 1 : null;
      await store.commit({
        key,
        expectedVersion: 0,
        header: sessionHeader(key, NOW, { tags: ["t"], expiresAt, ttlMs: expiresAt === null ? null : 1 }),
        events: [],
        now: NOW,
      });
    }
    const {
      result: [first, rest],
      turns,
    } = await turnsDuring(async () => [
      await store.sweep(NOW + 2, SWEEP_CHUNK + 10),
      await store.sweep(NOW + 2, expiring),
    ]);
    expect([first, rest]).toEqual([SWEEP_CHUNK + 10, expiring - SWEEP_CHUNK - 10]);
    expect(await store.sweep(NOW + 2, 10)).toBe(0);
    // Four chunks in all, each followed by a turn of the event loop but the last of each call.
    expect(turns).toBeGreaterThanOrEqual(2);
    expect(await store.count("default", "ann", NOW + 2)).toBe(10);
  });
});

const url = process.env.FRONTDESK_TEST_POSTGRES_URL;

describe.skipIf(!url)("the one-status admin list on PostgreSQL", () => {
  const admin = new pg.Pool({ connectionString: url, max: 1 });
  const schemas: string[] = [];
  const stores: SessionStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });
  listsLikeTheReference(async () => {
    const schema = `fdstatus_${randomBytes(5).toString("hex")}`;
    schemas.push(schema);
    const store = createPostgresStore({ url: url as string, schema });
    stores.push(store);
    return store;
  });
});
