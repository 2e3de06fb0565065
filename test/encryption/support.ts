/**
 * The five stores as an attacker holding their storage sees them: every byte the store keeps (the
 * SQLite file and its WAL, the file store's files, every Redis key's value under the store's
 * prefix, every PostgreSQL row of its schema), and a copy of that storage opened as a store, as a
 * backup restored after an erasure would be.
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { POSTGRES, REDIS } from "../support/backends.ts";
import { allStoreLocations, type StoreName } from "../support/store-locations.ts";

const quiet = { logger: { warn: () => undefined } };

export interface RawPlace {
  readonly name: StoreName;
  readonly available: boolean;
  open(): Promise<RawStore>;
}

export interface RawStore {
  /** The store itself, unencrypted. */
  readonly store: SessionStore;
  /** Every byte the store keeps, as one text (latin1, so any byte sequence survives); undefined for memory. */
  bytes(): Promise<string | undefined>;
  /** A copy of the storage as it is now, opened as a store; undefined for memory (nothing to copy). */
  copy(): Promise<SessionStore | undefined>;
  /** Closes what was opened and removes what was written, copies included. */
  cleanup(): Promise<void>;
}

const filesUnder = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? filesUnder(path) : [path];
      })
    : [];

const readAll = (paths: readonly string[]): string =>
  paths
    .filter((path) => existsSync(path))
    .map((path) => readFileSync(path).toString("latin1"))
    .join("\n");

const searchParam = (url: string, name: string): string => new URL(url).searchParams.get(name) as string;

async function redisBytes(url: string, prefix: string): Promise<string> {
  const { Redis } = await import("ioredis");
  const client = new Redis(url);
  try {
    const parts: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        parts.push(key);
        const type = await client.type(key);
        const value =
          type === "string"
            ? await client.get(key)
            : type === "hash"
              ? await client.hgetall(key)
              : type === "list"
                ? await client.lrange(key, 0, -1)
                : type === "set"
                  ? await client.smembers(key)
                  : type === "zset"
                    ? await client.zrange(key, 0, -1, "WITHSCORES")
                    : type === "stream"
                      ? await client.xrange(key, "-", "+")
                      : `unknown type ${type}`;
        parts.push(JSON.stringify(value));
      }
    } while (cursor !== "0");
    return parts.join("\n");
  } finally {
    client.disconnect();
  }
}

async function redisCopy(url: string, from: string, to: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const client = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${from}*`, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const dump = await client.dumpBuffer(key);
        if (dump) await client.restore(`${to}${key.slice(from.length)}`, 0, dump, "REPLACE");
      }
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

async function withPostgres<T>(url: string, work: (client: import("pg").Client) => Promise<T>): Promise<T> {
  const pg = await import("pg");
  const client = new pg.default.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const tablesOf = async (client: import("pg").Client, schema: string): Promise<string[]> =>
  (
    await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    )
  ).rows.map((row) => row.table_name);

async function postgresBytes(url: string, schema: string): Promise<string> {
  return withPostgres(url, async (client) => {
    const parts: string[] = [];
    for (const table of await tablesOf(client, schema)) {
      const rows = await client.query<{ t: string }>(`SELECT t::text AS t FROM "${schema}"."${table}" t`);
      parts.push(...rows.rows.map((row) => row.t));
    }
    return parts.join("\n");
  });
}

async function postgresCopy(url: string, from: string, to: string): Promise<void> {
  await withPostgres(url, async (client) => {
    for (const table of await tablesOf(client, from)) {
      if (table === "frontdesk_migrations") continue;
      await client.query(`DELETE FROM "${to}"."${table}"`);
      await client.query(`INSERT INTO "${to}"."${table}" OVERRIDING SYSTEM VALUE SELECT * FROM "${from}"."${table}"`);
    }
  });
}

/** The five stores; Redis and PostgreSQL only when their test server is set (CI always sets them). */
export const rawPlaces = (): RawPlace[] =>
  allStoreLocations("memory", "sqlite", "file", "redis", "postgres").map((location) => ({
    name: location.name,
    available: location.available,
    async open(): Promise<RawStore> {
      const { url, cleanup } = location.open();
      const store = await openStore(url, quiet);
      const opened: SessionStore[] = [store];
      const cleanups: (() => Promise<void>)[] = [cleanup];
      const openCopy = async (copyUrl: string, removeCopy: () => Promise<void>) => {
        cleanups.push(removeCopy);
        const copy = await openStore(copyUrl, quiet);
        opened.push(copy);
        return copy;
      };
      const dir = mkdtempSync(join(tmpdir(), "fd-encryption-copy-"));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const path = url.slice(url.indexOf(":") + 1);
      const kinds: Record<StoreName, Pick<RawStore, "bytes" | "copy">> = {
        memory: { bytes: async () => undefined, copy: async () => undefined },
        sqlite: {
          bytes: async () => readAll([path, `${path}-wal`]),
          async copy() {
            const target = join(dir, `copy-${randomBytes(4).toString("hex")}.db`);
            for (const suffix of ["", "-wal"]) {
              if (existsSync(path + suffix)) cpSync(path + suffix, target + suffix);
            }
            return openCopy(`sqlite:${target}`, async () => undefined);
          },
        },
        file: {
          bytes: async () => readAll(filesUnder(path)),
          async copy() {
            const target = join(dir, `copy-${randomBytes(4).toString("hex")}`);
            cpSync(path, target, { recursive: true });
            return openCopy(`file:${target}`, async () => undefined);
          },
        },
        redis: {
          bytes: () => redisBytes(REDIS.url as string, searchParam(url, "prefix")),
          async copy() {
            const to = `fdcopy${randomBytes(5).toString("hex")}`;
            await redisCopy(REDIS.url as string, searchParam(url, "prefix"), to);
            return openCopy(REDIS.scoped(REDIS.url as string, to), () => REDIS.cleanup(REDIS.url as string, to));
          },
        },
        postgres: {
          bytes: () => postgresBytes(POSTGRES.url as string, searchParam(url, "schema")),
          async copy() {
            const to = `fdcopy${randomBytes(5).toString("hex")}`;
            const copy = await openCopy(POSTGRES.scoped(POSTGRES.url as string, to), () =>
              POSTGRES.cleanup(POSTGRES.url as string, to),
            );
            await copy.count("migrate", null, 0); // the first call creates the copy's schema
            await postgresCopy(POSTGRES.url as string, searchParam(url, "schema"), to);
            return copy;
          },
        },
      };
      return {
        store,
        ...kinds[location.name],
        async cleanup() {
          for (const each of opened.reverse()) await each.close().catch(() => undefined);
          for (const each of cleanups.reverse()) await each();
        },
      };
    },
  }));
