import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SessionManager } from "../src/core/session-manager.ts";
import type { SessionStore } from "../src/core/store-contract.ts";
import { openStore } from "../src/stores/registry.ts";
import { createSqliteStore } from "../src/stores/sqlite/index.ts";
import { interleaved, type Measurement, type Section } from "./measure.ts";

/** One backend to measure, with the raw driver doing the nearest thing to one append. */
interface Target {
  name: string;
  url: string;
  /** A raw-driver operation comparable to one append: the ratio's denominator. */
  raw?: { describe: string; setup(): Promise<() => Promise<void> | void>; teardown(): Promise<void> };
  cleanup?(): Promise<void>;
}

const APPEND_OPS = 3000;
const WARMUP_OPS = 2000;

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

  // FRONTDESK_BENCH_STORES=sqlite,redis narrows a run while working on one backend.
  const only = process.env.FRONTDESK_BENCH_STORES?.split(",");
  if (only) targets.splice(0, targets.length, ...targets.filter((t) => only.some((name) => t.name.startsWith(name))));
  const throughput: Measurement[] = [];
  const history: Measurement[] = [];
  try {
    if (targets.some((t) => t.name.startsWith("sqlite"))) throughput.push(...(await manySessionsOf(dir)));
    const postgres = process.env.FRONTDESK_TEST_POSTGRES_URL;
    if (postgres && targets.some((t) => t.name === "postgres"))
      throughput.push(...(await manyPostgresSessions(postgres)));
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
        "Sequential awaited calls through `SessionManager`: `append` is `addMessage` (one atomic commit of one " +
        "event: on Redis one APPEND script, on PostgreSQL one `frontdesk_append` statement, elsewhere a header read and the commit), `get` reads the header and " +
        'scoped state, `update` is an `updateSession` increment. "raw" is the bare driver doing the nearest thing ' +
        `to one append. All four run in 7 alternating rounds after a warm-up of ${WARMUP_OPS.toLocaleString("en")} ` +
        "calls each, and each keeps its median round, so load changes during the run hit them alike. The ratio is " +
        "Frontdesk ÷ raw " +
        "throughput (higher is better; 1.0 = no overhead).",
      rows: throughput,
    },
    {
      title: "Cost against history length",
      method:
        "Three sessions are pre-filled with 10, 10,000 and 100,000 events (bulk appends of 1,000); then single " +
        "appends to each, and `readEvents({ last: 50 })` on the largest, are timed in 7 alternating rounds of 150 " +
        "calls, keeping each one's median round. " +
        "The ratio compares each cost with the same store's cost at a history of 10.",
      rows: history,
    },
  ];
}

async function throughputOf(target: Target, store: SessionStore): Promise<Measurement[]> {
  const sessions = new SessionManager<{ count: number }>(() => ({ count: 0 }), store, "bench", { defaultTtlMs: null });
  const appendSession = await sessions.create();
  const counter = await sessions.create();
  const rawOp = target.raw ? await target.raw.setup() : undefined;
  let results: Awaited<ReturnType<typeof interleaved>>;
  try {
    const ops: Record<string, () => unknown> = {
      append: () => sessions.addMessage(appendSession.id, { role: "user", content: "hello, how are you today?" }),
      get: () => sessions.get(appendSession.id),
      update: () => sessions.update(counter.id, (s) => ({ count: s.count + 1 })),
      ...(rawOp ? { raw: rawOp } : {}),
    };
    // The first couple of thousand calls of a code path run before V8 has optimised it (several
    // times slower on a busy two-core machine), so every contender, raw included, warms up alike.
    for (const op of Object.values(ops)) for (let i = 0; i < WARMUP_OPS; i++) await op();
    results = await interleaved(ops, { rounds: 7, perRound: Math.round(APPEND_OPS / 7) });
  } finally {
    await target.raw?.teardown();
  }
  const raw = results.raw;
  const row = (op: "append" | "get" | "update", note: string): Measurement => {
    const r = results[op] as { opsPerSec: number; meanUs: number };
    return { name: `${target.name}: ${op}`, ...r, ratio: raw ? r.opsPerSec / raw.opsPerSec : undefined, note };
  };
  return [
    row(
      "append",
      raw ? `raw: ${target.raw?.describe}, ${Math.round(raw.opsPerSec).toLocaleString("en")} ops/s` : "no raw driver",
    ),
    row("get", "ratio against the same raw append"),
    row("update", "ratio against the same raw append"),
  ];
}

const MANY_SESSIONS = 32;

/**
 * 32 appenders, each on its own session, at both durabilities, in alternating rounds so that load
 * changes hit both alike: a wave is 32 concurrent `addMessage` calls, one per session, awaited together.
 * At `full` each transaction pays an fsync, so this measures how many commits share one.
 */
export async function manySessionsOf(dir: string): Promise<Measurement[]> {
  const durabilities = ["full", "normal"] as const;
  const opened = durabilities.map((durability) =>
    createSqliteStore({ path: join(dir, `many-${durability}.db`), durability }),
  );
  try {
    const ops: Record<string, () => unknown> = {};
    for (const [i, durability] of durabilities.entries()) {
      const sessions = new SessionManager(() => ({}), opened[i] as SessionStore, "bench-many", { defaultTtlMs: null });
      const ids: string[] = [];
      for (let n = 0; n < MANY_SESSIONS; n++) ids.push((await sessions.create()).id);
      const message = { role: "user" as const, content: "hello, how are you today?" };
      ops[durability] = () => Promise.all(ids.map((id) => sessions.addMessage(id, message)));
    }
    for (const op of Object.values(ops)) for (let i = 0; i < WARMUP_OPS / MANY_SESSIONS; i++) await op();
    const results = await interleaved(ops, { rounds: 7, perRound: Math.round(APPEND_OPS / MANY_SESSIONS) });
    return durabilities.map((durability) => {
      const wave = results[durability] as { meanUs: number };
      return {
        name: `sqlite (${durability}): ${MANY_SESSIONS} appenders on ${MANY_SESSIONS} sessions`,
        opsPerSec: (MANY_SESSIONS * 1e6) / wave.meanUs,
        meanUs: wave.meanUs / MANY_SESSIONS,
        note: `waves of ${MANY_SESSIONS} concurrent \`addMessage\`, one per session; mean µs is per append`,
      };
    });
  } finally {
    for (const store of opened) await store.close();
  }
}

/**
 * The same 32 appenders on PostgreSQL, with `synchronous_commit` on (the default) and off, in
 * alternating rounds: how much of a commit's cost is its WAL flush once 32 sessions write at once,
 * the number docs/stores/postgres.md's advice on `synchronous_commit` and the pool size rests on.
 * PostgreSQL shares one flush among the commits waiting for it, so the store needs no batching of
 * its own: each commit is already one round trip.
 */
async function manyPostgresSessions(url: string): Promise<Measurement[]> {
  const stamp = Date.now();
  const variants = [
    { name: "on", schema: `bench_many_on_${stamp}`, options: "" },
    { name: "off", schema: `bench_many_off_${stamp}`, options: "&options=-c%20synchronous_commit%3Doff" },
  ];
  const joiner = url.includes("?") ? "&" : "?";
  const opened = await Promise.all(
    // The `off` variant's durability warning is the point of the row, not news.
    variants.map((v) =>
      openStore(`${url}${joiner}schema=${v.schema}${v.options}`, { logger: { warn: () => undefined } }),
    ),
  );
  try {
    const ops: Record<string, () => unknown> = {};
    for (const [i, variant] of variants.entries()) {
      const sessions = new SessionManager(() => ({}), opened[i] as SessionStore, "bench-many", { defaultTtlMs: null });
      const ids: string[] = [];
      for (let n = 0; n < MANY_SESSIONS; n++) ids.push((await sessions.create()).id);
      const message = { role: "user" as const, content: "hello, how are you today?" };
      ops[variant.name] = () => Promise.all(ids.map((id) => sessions.addMessage(id, message)));
    }
    for (const op of Object.values(ops)) for (let i = 0; i < 10; i++) await op();
    const results = await interleaved(ops, { rounds: 7, perRound: 30 });
    return variants.map((variant) => {
      const wave = results[variant.name] as { meanUs: number };
      return {
        name: `postgres (synchronous_commit ${variant.name}): ${MANY_SESSIONS} appenders on ${MANY_SESSIONS} sessions`,
        opsPerSec: (MANY_SESSIONS * 1e6) / wave.meanUs,
        meanUs: wave.meanUs / MANY_SESSIONS,
        note: `waves of ${MANY_SESSIONS} concurrent \`addMessage\`, one per session, over the store's pool of 10`,
      };
    });
  } finally {
    for (const store of opened) await store.close();
    const pg = await import("pg");
    const cleaner = new pg.default.Client({ connectionString: url });
    await cleaner.connect();
    for (const v of variants) await cleaner.query(`DROP SCHEMA IF EXISTS "${v.schema}" CASCADE`);
    await cleaner.end();
  }
}

async function historyCostOf(target: Target, store: SessionStore): Promise<Measurement[]> {
  const sessions = new SessionManager(() => ({}), store, "bench-history", { defaultTtlMs: null });
  const sizes = [10, 10_000, 100_000];
  const ids: string[] = [];
  for (const size of sizes) {
    const { id } = await sessions.create();
    for (let filled = 0; filled < size; ) {
      const n = Math.min(1000, size - filled);
      await sessions.appendEvents(
        id,
        Array.from({ length: n }, (_, i) => ({ type: "message", role: "user", content: `filler ${filled + i}` })),
      );
      filled += n;
    }
    ids.push(id);
  }
  const big = ids.at(-1) as string;
  const results = await interleaved(
    {
      ...Object.fromEntries(
        sizes.map((size, i) => [
          String(size),
          () => sessions.addMessage(ids[i] as string, { role: "assistant", content: "one more" }),
        ]),
      ),
      last50: () => sessions.readEvents(big, { last: 50 }),
    },
    { rounds: 7, perRound: 150 },
  );
  const base = results["10"] as { meanUs: number };
  return [
    ...sizes.map((size) => {
      const r = results[String(size)] as { opsPerSec: number; meanUs: number };
      return {
        name: `${target.name}: append at ${size.toLocaleString("en")} events`,
        ...r,
        costRatio: r.meanUs / base.meanUs,
      };
    }),
    { name: `${target.name}: read last 50 of 100,000`, ...(results.last50 as { opsPerSec: number; meanUs: number }) },
  ];
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
