/**
 * The PostgreSQL key ring's scrub: `VACUUM FULL` rewrites the ring's table, so a deleted wrapping
 * leaves its pages. It copies the row versions that an open transaction may still see, and any
 * transaction of the database counts (a neighbouring test file's, under CI), so this file runs
 * alone (test/isolated/): with no other transaction open, the deleted row must be gone.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { postgresKeyRing } from "../../src/encryption/index.ts";
import type { KeyRing } from "../../src/encryption/key-ring.ts";
import { KEY_RING_NAMESPACE, keyRingEntry, sqlAt } from "../encryption/key-ring-support.ts";
import { POSTGRES } from "../support/backends.ts";

const URL_ = POSTGRES.url as string;
const NAMESPACE = KEY_RING_NAMESPACE;

const entry = keyRingEntry;

const sql = <T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> =>
  sqlAt<T>(URL_, text, values);

/** Every raw page of `table` as it is in the buffer cache, or undefined without pageinspect. */
async function tablePages(table: string): Promise<Buffer | undefined> {
  try {
    await sql("CREATE EXTENSION IF NOT EXISTS pageinspect");
  } catch {
    const [row] = await sql<{ present: boolean }>(
      "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pageinspect') AS present",
    );
    if (!row?.present) return undefined;
  }
  const [{ blocks }] = (await sql<{ blocks: number }>("SELECT pg_relation_size($1::regclass) / 8192 AS blocks", [
    table,
  ])) as [{ blocks: number }];
  const pages: Buffer[] = [];
  for (let block = 0; block < Number(blocks); block++) {
    const [row] = await sql<{ page: Buffer }>("SELECT get_raw_page($1, $2::int) AS page", [table, block]);
    pages.push(row?.page as Buffer);
  }
  return Buffer.concat(pages);
}

describe.skipIf(!POSTGRES.url)("postgres key ring scrub", () => {
  const table = `fd_kr_${randomBytes(5).toString("hex")}`;
  let ring: KeyRing | undefined;
  afterEach(async () => {
    await ring?.close();
    await sql(`DROP TABLE IF EXISTS public."${table}"`);
  });

  it("rewrites the table, so a deleted wrapping is gone from its pages", async (context) => {
    ring = postgresKeyRing({ url: URL_, table });
    const doomed = entry({ wrapped: randomBytes(60) });
    await ring.put(doomed);
    for (let i = 0; i < 50; i++) await ring.put(entry({ userId: `other${i}` }));
    await ring.delete(NAMESPACE, "u1");
    const before = await tablePages(`public."${table}"`);
    if (before === undefined) context.skip();
    // A DELETE alone leaves the row's bytes in the page, which is why scrub exists.
    expect(before?.includes(doomed.wrapped)).toBe(true);
    expect(await ring.scrub?.()).toEqual({ pending: false });
    expect((await tablePages(`public."${table}"`))?.includes(doomed.wrapped)).toBe(false);
    expect(await ring.get(NAMESPACE, "other7")).toBeDefined();
  });
});
