/**
 * What the privacy benchmarks share: where a store of their own lives (a temp file, a fresh schema, a
 * key prefix) and how big it is, the message text they write, and number formats.
 */
import { randomBytes } from "node:crypto";
import { existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { SessionKey } from "../src/core/model.ts";
import type { SessionStore } from "../src/core/store-contract.ts";

/** The namespace `frontdesk serve` uses when no config names one. */
export const NAMESPACE = "default";

/** About 200 bytes of text, as a chat message weighs, with the session and seq in it so no two are alike. */
export const text = (session: number, seq: number): string =>
  `Message ${seq} of session ${session}: could you look at order 4471-${seq} again? The parcel went to the ` +
  "old address on Linden Street and the tracking page says it is out for delivery since Monday.";

export const fmtInt = (value: number): string => Math.round(value).toLocaleString("en");
export const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
export const fmtBytes = (bytes: number): string =>
  bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 10).toFixed(0)} KiB`;
export const log = (line: string): void => {
  process.stderr.write(`[privacy] ${line}\n`);
};

/** A store of the bench's own: a temp file, or a fresh schema / key prefix on the shared servers. */
export interface Location {
  name: "sqlite" | "postgres" | "redis";
  url: string;
  /** Bytes the store takes: files on disk, table sizes, or Redis memory. Closed stores only for SQLite. */
  bytes(): Promise<number>;
  describeBytes: string;
  cleanup(): Promise<void>;
}

export function sqliteLocation(dir: string, file: string): Location {
  const path = join(dir, file);
  return {
    name: "sqlite",
    url: `sqlite:${path}`,
    describeBytes: "the database file and its WAL after `PRAGMA wal_checkpoint(TRUNCATE)`",
    async bytes() {
      const db = new Database(path);
      try {
        db.pragma("wal_checkpoint(TRUNCATE)");
      } finally {
        db.close();
      }
      return [path, `${path}-wal`].reduce((sum, f) => sum + (existsSync(f) ? statSync(f).size : 0), 0);
    },
    async cleanup() {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
    },
  };
}

export async function postgresLocation(url: string): Promise<Location> {
  const pg = await import("pg");
  const schema = `bench_privacy_${randomBytes(4).toString("hex")}`;
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.default.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  return {
    name: "postgres",
    url: `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`,
    describeBytes:
      "`pg_total_relation_size` of the schema's tables (indexes and TOAST included), after a plain `VACUUM`",
    async bytes() {
      const tables = await query<{ name: string }>(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = $1",
        [schema],
      );
      for (const { name } of tables) await query(`VACUUM ${name}`);
      const [row] = await query<{ bytes: string }>(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
        [schema],
      );
      return Number(row?.bytes ?? 0);
    },
    async cleanup() {
      await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

export async function redisLocation(url: string): Promise<Location> {
  const { Redis } = await import("ioredis");
  const prefix = `benchprivacy${randomBytes(4).toString("hex")}`;
  const keys = async (client: InstanceType<typeof Redis>): Promise<string[]> => {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== "0");
    return found;
  };
  return {
    name: "redis",
    url: `${url}${url.includes("?") ? "&" : "?"}prefix=${prefix}`,
    describeBytes: "the sum of `MEMORY USAGE` over the store's keys",
    async bytes() {
      const client = new Redis(url);
      try {
        let sum = 0;
        for (const key of await keys(client)) sum += Number(await client.memory("USAGE", key, "SAMPLES", 0));
        return sum;
      } finally {
        await client.quit();
      }
    },
    async cleanup() {
      const client = new Redis(url);
      try {
        const found = await keys(client);
        for (let i = 0; i < found.length; i += 1000) await client.del(...found.slice(i, i + 1000));
      } finally {
        await client.quit();
      }
    },
  };
}

export async function countEvents(store: SessionStore, key: SessionKey): Promise<number> {
  let count = 0;
  let after = 0;
  for (;;) {
    const page = await store.readEvents(key, { after, limit: 1000 });
    count += page.length;
    if (page.length < 1000) return count;
    after = page.at(-1)?.seq ?? after;
  }
}
