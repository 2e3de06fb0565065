import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SessionManager } from "../src/core/session-manager.ts";
import type { SessionStore } from "../src/core/store-contract.ts";
import { openStore } from "../src/stores/registry.ts";
import { type Measurement, measure, type Section } from "./measure.ts";

/** One backend to measure, with the raw driver doing the nearest thing to one append. */
interface Target {
  name: string;
  url: string;
  /** A raw-driver operation comparable to one append: the ratio's denominator. */
  raw?: { describe: string; setup(): Promise<() => Promise<void> | void>; teardown(): Promise<void> };
  cleanup?(): Promise<void>;
}

const APPEND_OPS = 3000;
const GET_OPS = 5000;
const UPDATE_OPS = 2000;

export async function benchStores(): Promise<Section[]> {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-bench-"));
  const targets: Target[] = [
    { name: "memory", url: "memory:" },
    sqliteTarget(join(dir, "bench.db"), "full"),
    sqliteTarget(join(dir, "bench-normal.db"), "normal"),
    { name: "fs", url: `file:${join(dir, "fs")}` },
  ];
  if (process.env.FRONTDESK_TEST_REDIS_URL) targets.push(await redisTarget(process.env.FRONTDESK_TEST_REDIS_URL));
  if (process.env.FRONTDESK_TEST_POSTGRES_URL)
    targets.push(await postgresTarget(process.env.FRONTDESK_TEST_POSTGRES_URL));

  const throughput: Measurement[] = [];
  const history: Measurement[] = [];
  try {
    for (const target of targets) {
      const store = await openStore(target.url);
      try {
        throughput.push(...(await throughputOf(target, store)));
        history.push(...(await historyCostOf(target, store)));
      } finally {
        await store.close();
        await target.cleanup?.();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    {
      title: "Store throughput through SessionManager",
      method:
        `Sequential awaited calls on one session through \`SessionManager\`, after a warm-up: ${APPEND_OPS} appends ` +
        `(\`addMessage\`: header read + one atomic commit of one event), ${GET_OPS} \`get\`s (header + scoped state), ` +
        `${UPDATE_OPS} \`updateSession\` increments. "raw" is the bare driver doing the nearest thing to one append ` +
        "in the same run on the same machine; the ratio is Frontdesk ÷ raw (higher is better, 1.0 = no overhead).",
      rows: throughput,
    },
    {
      title: "Cost against history length",
      method:
        "A session is pre-filled with N events (bulk appends of 1,000), then 1,000 single appends are timed; " +
        "`read last 50` times 500 calls of `readEvents({ last: 50 })` on the 100,000-event session. " +
        "The ratio compares each cost with the same store's cost at a history of 10.",
      rows: history,
    },
  ];
}

async function throughputOf(target: Target, store: SessionStore): Promise<Measurement[]> {
  const sessions = new SessionManager<{ count: number }>(() => ({ count: 0 }), store, "bench", { defaultTtlMs: null });
  const rows: Measurement[] = [];
  const appendSession = await sessions.create();
  const append = await measure(APPEND_OPS, () =>
    sessions.addMessage(appendSession.id, { role: "user", content: "hello, how are you today?" }),
  );
  let rawAppend: { opsPerSec: number; meanUs: number } | undefined;
  if (target.raw) {
    const op = await target.raw.setup();
    try {
      rawAppend = await measure(APPEND_OPS, op);
    } finally {
      await target.raw.teardown();
    }
  }
  rows.push({
    name: `${target.name}: append`,
    opsPerSec: append.opsPerSec,
    meanUs: append.meanUs,
    ratio: rawAppend ? append.opsPerSec / rawAppend.opsPerSec : undefined,
    note: rawAppend ? `raw: ${target.raw?.describe} at ${Math.round(rawAppend.opsPerSec)} ops/s` : "no raw driver",
  });
  const getResult = await measure(GET_OPS, () => sessions.get(appendSession.id));
  rows.push({
    name: `${target.name}: get`,
    ...getResult,
    ratio: rawAppend ? getResult.opsPerSec / rawAppend.opsPerSec : undefined,
    note: "ratio against the raw append",
  });
  const counter = await sessions.create();
  const update = await measure(UPDATE_OPS, () => sessions.update(counter.id, (s) => ({ count: s.count + 1 })));
  rows.push({
    name: `${target.name}: update`,
    ...update,
    ratio: rawAppend ? update.opsPerSec / rawAppend.opsPerSec : undefined,
    note: "ratio against the raw append",
  });
  return rows;
}

async function historyCostOf(target: Target, store: SessionStore): Promise<Measurement[]> {
  const sessions = new SessionManager(() => ({}), store, "bench-history", { defaultTtlMs: null });
  const rows: Measurement[] = [];
  let base: { opsPerSec: number; meanUs: number } | undefined;
  let big: string | undefined;
  for (const size of [10, 10_000, 100_000]) {
    const { id } = await sessions.create();
    let filled = 0;
    while (filled < size) {
      const n = Math.min(1000, size - filled);
      await sessions.appendEvents(
        id,
        Array.from({ length: n }, (_, i) => ({ type: "message", role: "user", content: `filler ${filled + i}` })),
      );
      filled += n;
    }
    const result = await measure(1000, () => sessions.addMessage(id, { role: "assistant", content: "one more" }));
    base ??= result;
    rows.push({
      name: `${target.name}: append at ${size.toLocaleString("en")} events`,
      ...result,
      costRatio: result.meanUs / base.meanUs,
    });
    big = id;
  }
  if (big) {
    const read = await measure(500, () => sessions.readEvents(big as string, { last: 50 }));
    rows.push({ name: `${target.name}: read last 50 of 100,000`, ...read });
  }
  return rows;
}

function sqliteTarget(path: string, durability: "full" | "normal"): Target {
  let db: Database.Database | undefined;
  return {
    name: `sqlite (${durability})`,
    url: `sqlite:${path}?durability=${durability}`,
    raw: {
      describe: `better-sqlite3, one INSERT per BEGIN IMMEDIATE transaction, WAL, synchronous=${durability.toUpperCase()}`,
      async setup() {
        db = new Database(`${path}.raw`);
        db.pragma("journal_mode = WAL");
        db.pragma(`synchronous = ${durability.toUpperCase()}`);
        db.exec(
          "CREATE TABLE IF NOT EXISTS events (session INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (session, seq))",
        );
        const insert = db.prepare("INSERT INTO events (session, seq, body) VALUES (1, ?, ?)");
        const insertOne = db.transaction((seq: number) =>
          insert.run(seq, JSON.stringify({ type: "message", role: "user", content: "hello, how are you today?" })),
        );
        let seq = 0;
        return () => {
          insertOne.immediate(++seq);
        };
      },
      async teardown() {
        db?.close();
      },
    },
  };
}

async function redisTarget(url: string): Promise<Target> {
  const { Redis } = await import("ioredis");
  let client: InstanceType<typeof Redis> | undefined;
  const prefix = `bench${Date.now()}`;
  return {
    name: "redis",
    url: `${url}${url.includes("?") ? "&" : "?"}prefix=${prefix}`,
    raw: {
      describe: "ioredis EVALSHA of a minimal script (INCR a seq, RPUSH one event) per append",
      async setup() {
        client = new Redis(url, { lazyConnect: false });
        const sha = (await client.script(
          "LOAD",
          "local s = redis.call('INCR', KEYS[1]); redis.call('RPUSH', KEYS[2], ARGV[1]); return s",
        )) as string;
        const body = JSON.stringify({ type: "message", role: "user", content: "hello, how are you today?" });
        return async () => {
          await client?.evalsha(sha, 2, `${prefix}:raw:seq`, `${prefix}:raw:events`, body);
        };
      },
      async teardown() {
        await client?.del(`${prefix}:raw:seq`, `${prefix}:raw:events`);
        await client?.quit();
      },
    },
    async cleanup() {
      const cleaner = new Redis(url);
      let cursor = "0";
      do {
        const [next, keys] = await cleaner.scan(cursor, "MATCH", `*${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await cleaner.del(...keys);
      } while (cursor !== "0");
      await cleaner.quit();
    },
  };
}

async function postgresTarget(url: string): Promise<Target> {
  const pg = await import("pg");
  const schema = `bench_${Date.now()}`;
  let pool: InstanceType<typeof pg.default.Pool> | undefined;
  return {
    name: "postgres",
    url: `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`,
    raw: {
      describe: "pg, one INSERT in its own BEGIN/COMMIT transaction per append, same pool size",
      async setup() {
        pool = new pg.default.Pool({ connectionString: url, max: 4 });
        pool.on("error", () => undefined);
        await pool.query(
          `CREATE TABLE IF NOT EXISTS ${schema}_raw (session int NOT NULL, seq int NOT NULL, body jsonb NOT NULL, PRIMARY KEY (session, seq))`,
        );
        const body = JSON.stringify({ type: "message", role: "user", content: "hello, how are you today?" });
        let seq = 0;
        return async () => {
          const client = await (pool as NonNullable<typeof pool>).connect();
          try {
            await client.query("BEGIN");
            await client.query(`INSERT INTO ${schema}_raw (session, seq, body) VALUES (1, $1, $2)`, [++seq, body]);
            await client.query("COMMIT");
          } finally {
            client.release();
          }
        };
      },
      async teardown() {
        await pool?.query(`DROP TABLE IF EXISTS ${schema}_raw`);
        await pool?.end();
      },
    },
    async cleanup() {
      const cleaner = new pg.default.Client({ connectionString: url });
      await cleaner.connect();
      await cleaner.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await cleaner.end();
    },
  };
}
