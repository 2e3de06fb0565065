/**
 * The million-session store of `npm run bench million`: a deterministic generator, and bulk
 * builders that write its rows straight into the tables the SQLite and PostgreSQL stores create
 * (the store opens first, so its own migrations make the schema). A built store is kept in a
 * scratch folder / schema and reused while its fingerprint (the generator's parameters and the
 * schema version) matches.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import type { SessionHeader } from "../src/core/model.ts";
import { LATEST_VERSION } from "../src/stores/postgres/migrations.ts";
import { openStore } from "../src/stores/registry.ts";
import { SCHEMA_VERSION } from "../src/stores/sqlite/migrations.ts";
import { seeded } from "../test/support/seeded.ts";

export const NAMESPACE = "default";
export const USERS = 100_000;
export const PER_USER = 10;
export const HEAVY_USERS = 3;
export const PER_HEAVY = 10_000;
/** The user sessions, then the heavy users' ones after them. */
export const MAIN_SESSIONS = USERS * PER_USER;
export const TOTAL = MAIN_SESSIONS + HEAVY_USERS * PER_HEAVY;
/** The clock every measurement runs at: the data spreads over the year before it. */
export const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
/** Every 100th session (offset 37) expired before NOW: exactly 1%, 10,000 of the million. */
export const isExpiredIndex = (i: number): boolean => i < MAIN_SESSIONS && i % 100 === 37;
export const EXPIRED = MAIN_SESSIONS / 100;
export const TAGS = [
  "support",
  "billing",
  "sales",
  "onboarding",
  "bug",
  "vip",
  "refund",
  "mobile",
  "web",
  "escalated",
  "trial",
  "api",
] as const;

export const userOf = (i: number): string =>
  i < MAIN_SESSIONS
    ? `user-${Math.floor(i / PER_USER)
        .toString()
        .padStart(6, "0")}`
    : `heavy-${Math.floor((i - MAIN_SESSIONS) / PER_HEAVY)}`;
export const heavyUser = (h: number): string => `heavy-${h}`;
export const mainUser = (u: number): string => `user-${u.toString().padStart(6, "0")}`;

/** A small, fast PRNG per session index, so row i is the same whichever order it is made in. */
const random = (seed: number): (() => number) => seeded((seed * 2654435761) >>> 0);

export interface Row {
  userId: string;
  id: string;
  status: SessionHeader["status"];
  title: string;
  tags: string[];
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
  header: string;
  version: number;
  lastSeq: number;
}

export function sessionRow(i: number): Row {
  const r = random(i + 1);
  const userId = userOf(i);
  const id = `ses-${i.toString(36).padStart(5, "0")}-${Math.floor(r() * 36 ** 4).toString(36)}`;
  const roll = r();
  const status = roll < 0.55 ? "active" : roll < 0.85 ? "completed" : roll < 0.95 ? "abandoned" : "failed";
  const tagCount = r() < 0.15 ? 0 : 1 + Math.floor(r() * 3);
  const tags = [...new Set(Array.from({ length: tagCount }, () => TAGS[Math.floor(r() * TAGS.length)] as string))];
  const createdAt = NOW - Math.floor(r() * 365 * DAY);
  const updatedAt = createdAt + Math.floor(r() * (NOW - createdAt));
  const expired = isExpiredIndex(i);
  const ttl = expired || r() < 0.2;
  const expiresAt = expired ? NOW - 1 - Math.floor(r() * 30 * DAY) : ttl ? NOW + Math.floor(r() * 30 * DAY) : null;
  const messages = Math.floor(r() * 40);
  const title = `Order ${1000 + (i % 9000)}: ${tags[0] ?? "general"} question`;
  const header: SessionHeader = {
    namespace: NAMESPACE,
    userId,
    id,
    status,
    title,
    purpose: null,
    tags,
    metadata: { channel: r() < 0.5 ? "web" : "mobile", locale: "en-GB" },
    state: { step: Math.floor(r() * 5), cart: { items: Math.floor(r() * 4) } },
    version: messages + 1,
    lastSeq: messages,
    stats: {
      messages,
      toolCalls: Math.floor(messages / 4),
      toolErrors: 0,
      toolsUsed: messages > 8 ? ["lookup_order"] : [],
      inputTokens: messages * 310,
      outputTokens: messages * 120,
      costUsd: messages * 0.0011,
      durationMs: messages * 40,
    },
    createdAt,
    updatedAt,
    lastAccessedAt: updatedAt,
    ttlMs: ttl ? 30 * DAY : null,
    expiresAt,
    absoluteExpiresAt: null,
    parent: null,
  };
  return {
    userId,
    id,
    status,
    title,
    tags,
    createdAt,
    updatedAt,
    expiresAt,
    header: JSON.stringify(header),
    version: header.version,
    lastSeq: header.lastSeq,
  };
}

const BATCH = 10_000;
export const log = (line: string): void => {
  process.stderr.write(`[million] ${line}\n`);
};

const fingerprint = (store: string, schemaVersion: number): string =>
  createHash("sha256")
    .update(
      JSON.stringify({
        store,
        schemaVersion,
        USERS,
        PER_USER,
        HEAVY_USERS,
        PER_HEAVY,
        NOW,
        generator: 1,
        sample: sessionRow(12345).header,
      }),
    )
    .digest("hex")
    .slice(0, 16);

export interface Built {
  /** Seconds the bulk build took; undefined when a stored build was reused. */
  buildS?: number;
  /** The store's URL for openStore. */
  url: string;
}

// ---------------------------------------------------------------------------------------------
// SQLite

export const SQLITE_DIR = join(import.meta.dirname, "../.tmp/bench-million");
export const SQLITE_PATH = join(SQLITE_DIR, "million.db");
const SQLITE_FINGERPRINT = join(SQLITE_DIR, "million.fingerprint");

export function sqliteFingerprintOk(): boolean {
  return (
    existsSync(SQLITE_PATH) &&
    existsSync(SQLITE_FINGERPRINT) &&
    readFileSync(SQLITE_FINGERPRINT, "utf8") === fingerprint("sqlite", SCHEMA_VERSION)
  );
}
/** Cleared while the store is being changed (sweep and refill), so a crash mid-way rebuilds it. */
export const setSqliteFingerprint = (valid: boolean): void => {
  if (valid) writeFileSync(SQLITE_FINGERPRINT, fingerprint("sqlite", SCHEMA_VERSION));
  else rmSync(SQLITE_FINGERPRINT, { force: true });
};

const SQLITE_INSERT = `INSERT INTO sessions (namespace, user_id, id, version, last_seq, status, title, purpose, tags,
  created_at, updated_at, last_accessed_at, expires_at, header) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)`;

/** Writes rows `indexes` into an open SQLite database, one transaction per 10,000. */
export function sqliteInsert(db: Database.Database, indexes: Iterable<number>): void {
  const insert = db.prepare(SQLITE_INSERT);
  const batch = db.transaction((rows: number[]) => {
    for (const i of rows) {
      const s = sessionRow(i);
      insert.run(
        NAMESPACE,
        s.userId,
        s.id,
        s.version,
        s.lastSeq,
        s.status,
        s.title,
        JSON.stringify(s.tags),
        s.createdAt,
        s.updatedAt,
        s.updatedAt,
        s.expiresAt,
        s.header,
      );
    }
  });
  let rows: number[] = [];
  for (const i of indexes) {
    rows.push(i);
    if (rows.length === BATCH) {
      batch(rows);
      rows = [];
    }
  }
  if (rows.length > 0) batch(rows);
}

export async function buildSqlite(): Promise<Built> {
  const url = `sqlite:${SQLITE_PATH}`;
  if (sqliteFingerprintOk()) return { url };
  log("building the SQLite store (1,030,000 sessions)…");
  mkdirSync(SQLITE_DIR, { recursive: true });
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${SQLITE_PATH}${suffix}`, { force: true });
  setSqliteFingerprint(false);
  const start = performance.now();
  const store = await openStore(url);
  await store.get({ namespace: NAMESPACE, userId: "nobody", id: "none" }, NOW);
  await store.close();
  const db = new Database(SQLITE_PATH);
  try {
    // The build's own connection: the file is thrown away if it stops half way.
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144");
    const all = function* () {
      for (let i = 0; i < TOTAL; i++) {
        if (i % 100_000 === 0 && i > 0) log(`  sqlite ${i.toLocaleString("en")}`);
        yield i;
      }
    };
    sqliteInsert(db, all());
    db.exec("ANALYZE");
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  setSqliteFingerprint(true);
  return { url, buildS: (performance.now() - start) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export const PG_SCHEMA = "bench_million";

type PgClient = import("pg").Client;

export async function pgClient(url: string): Promise<PgClient> {
  const pg = await import("pg");
  const client = new pg.default.Client({ connectionString: url });
  await client.connect();
  return client;
}

export async function pgFingerprintOk(client: PgClient): Promise<boolean> {
  const { rows } = await client.query<{ note: string | null }>(
    "SELECT obj_description(oid, 'pg_namespace') AS note FROM pg_namespace WHERE nspname = $1",
    [PG_SCHEMA],
  );
  return rows[0]?.note === fingerprint("postgres", LATEST_VERSION);
}
export async function setPgFingerprint(client: PgClient, valid: boolean): Promise<void> {
  const note = valid ? `'${fingerprint("postgres", LATEST_VERSION)}'` : "NULL";
  await client.query(`COMMENT ON SCHEMA ${PG_SCHEMA} IS ${note}`);
}

/** Writes rows `indexes` with one INSERT … SELECT FROM unnest(…) per 10,000. */
export async function pgInsert(client: PgClient, indexes: Iterable<number>): Promise<void> {
  const sql = `INSERT INTO ${PG_SCHEMA}.sessions (namespace, user_id, id, version, last_seq, status, title, purpose,
      title_lc, purpose_lc, tags, created_at, updated_at, last_accessed_at, expires_at, header)
    SELECT $1, u, i, v, l, st, t, NULL, lower(t), NULL,
      CASE WHEN tg = '' THEN '{}'::text[] ELSE string_to_array(tg, ',') END, c, up, up, e, h
    FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[], $7::text[], $8::text[],
      $9::bigint[], $10::bigint[], $11::bigint[], $12::text[]) AS x(u, i, v, l, st, t, tg, c, up, e, h)`;
  const flush = async (rows: Row[]): Promise<void> => {
    await client.query(sql, [
      NAMESPACE,
      rows.map((s) => s.userId),
      rows.map((s) => s.id),
      rows.map((s) => s.version),
      rows.map((s) => s.lastSeq),
      rows.map((s) => s.status),
      rows.map((s) => s.title),
      rows.map((s) => s.tags.join(",")),
      rows.map((s) => s.createdAt),
      rows.map((s) => s.updatedAt),
      rows.map((s) => s.expiresAt),
      rows.map((s) => s.header),
    ]);
  };
  let rows: Row[] = [];
  let done = 0;
  for (const i of indexes) {
    rows.push(sessionRow(i));
    if (rows.length === BATCH) {
      await flush(rows);
      done += rows.length;
      if (done % 100_000 === 0) log(`  postgres ${done.toLocaleString("en")}`);
      rows = [];
    }
  }
  if (rows.length > 0) await flush(rows);
}

export async function buildPostgres(baseUrl: string): Promise<Built> {
  const url = `${baseUrl}${baseUrl.includes("?") ? "&" : "?"}schema=${PG_SCHEMA}`;
  const client = await pgClient(baseUrl);
  try {
    if (await pgFingerprintOk(client)) return { url };
    log("building the PostgreSQL store (1,030,000 sessions)…");
    const start = performance.now();
    await client.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
    const store = await openStore(url);
    await store.get({ namespace: NAMESPACE, userId: "nobody", id: "none" }, NOW);
    await store.close();
    // A lost build is rebuilt from scratch, so it need not wait for the WAL's flush.
    await client.query("SET synchronous_commit = off");
    await client.query("SET maintenance_work_mem = '256MB'");
    await pgInsert(
      client,
      (function* () {
        for (let i = 0; i < TOTAL; i++) yield i;
      })(),
    );
    // What autovacuum would have done to a store that grew to this size over a year.
    await client.query(`VACUUM ANALYZE ${PG_SCHEMA}.sessions`);
    await setPgFingerprint(client, true);
    return { url, buildS: (performance.now() - start) / 1000 };
  } finally {
    await client.end();
  }
}
