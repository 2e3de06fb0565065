/**
 * The backends every workload shares: where scratch files go, which shared servers are configured,
 * and how each backend says how many bytes it holds (the "bytes per conversation" column).
 */
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Redis and PostgreSQL come from the same variables the test suite uses; unset means "skip those rows". */
export const REDIS_URL = process.env.FRONTDESK_TEST_REDIS_URL;
export const POSTGRES_URL = process.env.FRONTDESK_TEST_POSTGRES_URL;

/** A scratch folder removed at exit, for SQLite files. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-peers-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let unique = 0;
/** A name unique within this run and across runs, usable as a schema, prefix or database name. */
export const uniqueName = (kind: string): string =>
  `${kind}_${process.pid}_${Date.now().toString(36)}_${(unique++).toString(36)}`;

/**
 * Bytes of a SQLite database on disk: main file, WAL and rollback journal. Call it after the store
 * has closed its connection (SQLite then folds the WAL back into the main file), never beside an
 * open one: the peers link their own copy of SQLite, and a second copy opening and closing the same
 * file in one process drops the first copy's POSIX locks and can delete its live WAL.
 */
export function sqliteFileBytes(path: string): number {
  const size = (file: string) => (existsSync(file) ? statSync(file).size : 0);
  return size(path) + size(`${path}-wal`) + size(`${path}-journal`);
}

/** Bytes of every table (with its indexes and TOAST) in one PostgreSQL schema. */
export async function postgresSchemaBytes(url: string, schema: string): Promise<number> {
  const pg = await import("pg");
  const client = new pg.default.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("CHECKPOINT").catch(() => undefined);
    const { rows } = await client.query(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')`,
      [schema],
    );
    return Number(rows[0]?.bytes ?? 0);
  } finally {
    await client.end();
  }
}

/** Runs SQL on a PostgreSQL server as one short-lived client (schema and database set-up). */
export async function postgresExec(url: string, sql: string): Promise<void> {
  const pg = await import("pg");
  const client = new pg.default.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The URL of another database on the same PostgreSQL server. */
export function postgresDatabaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Sum of `MEMORY USAGE` over every key under a prefix. */
export async function redisPrefixBytes(url: string, prefix: string): Promise<number> {
  const { Redis } = await import("ioredis");
  const client = new Redis(url);
  try {
    let total = 0;
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `*${prefix}*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) total += Number((await client.memory("USAGE", key, "SAMPLES", "0")) ?? 0);
    } while (cursor !== "0");
    return total;
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under a prefix. */
export async function redisDeletePrefix(url: string, prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const client = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `*${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/**
 * The text of the i-th message of every scripted conversation: the same words for every store,
 * about the length of a short chat turn (≈ 200 bytes), so no store is measured on toy payloads.
 */
export function messageText(i: number): string {
  return (
    `Message ${i}: could you check the order status for account ${1000 + (i % 97)} and tell me ` +
    `whether the replacement part ships before Friday? The last update mentioned a delay.`
  );
}

/** The user that owns every measured conversation, and how many other sessions it has. */
export const BENCH_USER = "bench-user";
export const OTHER_SESSIONS_PER_USER = 20;
