/**
 * `npm run bench privacy`: issue 19's numbers. The erasure of a user with 1,000 sessions of 1,000
 * events from a real `frontdesk serve` (killed midway and restarted, /healthz probed throughout),
 * the append cost and storage of a session pruned under a retention policy, and the cost of secret
 * masking on write. Written to BENCHMARKS.md's own `bench-privacy` section by bench/run.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SessionManager } from "../src/core/session-manager.ts";
import type { SessionStore } from "../src/core/store-contract.ts";
import { openStore } from "../src/stores/registry.ts";
import { interleaved, type Measurement, percentile, type Section } from "./measure.ts";
import { benchErasure } from "./privacy-erasure.ts";
import {
  countEvents,
  fmtBytes,
  fmtInt,
  type Location,
  log,
  NAMESPACE,
  postgresLocation,
  redisLocation,
  sqliteLocation,
  text,
} from "./privacy-support.ts";

const PRUNE_EVENTS = Number(process.env.FRONTDESK_BENCH_PRUNE_EVENTS ?? 100_000);
const PRUNE_WINDOW = Math.min(10_000, Math.floor(PRUNE_EVENTS / 10));
const RETENTION = { keepLastEvents: 1000, onlySummarized: false };
/** privacy-hooks.ts: a session is looked at every 64 seqs, and pruned once it is over by a tenth (at least 64). */
const PRUNE_SLACK = Math.max(64, RETENTION.keepLastEvents / 10) + 64 + 1;

// ── Pruning under a retention policy ────────────────────────────────────────────────────────────

interface PruneRun {
  firstMeanUs: number;
  lastMeanUs: number;
  lastP99Ms: number;
  stored: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Appends to the long session and to a short one, in alternating rounds: free of drift over the run. */
  crossCheck?: { longUs: number; shortUs: number };
}

/** Plain VACUUM every this many appends on PostgreSQL, standing in for autovacuum (off on the test server). */
const VACUUM_EVERY = 10_000;

/** PRUNE_EVENTS single appends to one session, each timed; the store's size before and after. */
async function appendMany(location: Location, retention: typeof RETENTION | undefined): Promise<PruneRun> {
  const options = { defaultTtlMs: null, ...(retention ? { retention } : {}) };
  // SQLite's bytes are read with the store closed, so the checkpoint is not held up by its connection.
  const measureBytes = async (open: SessionStore): Promise<{ bytes: number; store: SessionStore }> => {
    if (location.name !== "sqlite") return { bytes: await location.bytes(), store: open };
    await open.close();
    const bytes = await location.bytes();
    return { bytes, store: await openStore(location.url) };
  };
  let store = await openStore(location.url);
  const { id } = await new SessionManager(() => ({}), store, NAMESPACE, options).create();
  const key = { namespace: NAMESPACE, userId: null, id };
  const before = await measureBytes(store);
  store = before.store;
  let sessions = new SessionManager(() => ({}), store, NAMESPACE, options);
  const took = new Float64Array(PRUNE_EVENTS);
  for (let i = 0; i < PRUNE_EVENTS; i++) {
    const start = performance.now();
    await sessions.addMessage(id, { role: i % 2 ? "assistant" : "user", content: text(0, i + 1) });
    took[i] = performance.now() - start;
    if (location.name === "postgres" && (i + 1) % VACUUM_EVERY === 0) await location.bytes();
  }
  const stored = await countEvents(store, key);
  const after = await measureBytes(store);
  store = after.store;
  let crossCheck: PruneRun["crossCheck"];
  if (retention) {
    // 5 rounds of 200 keep the short session under the policy's limit: it never prunes, the long one does.
    sessions = new SessionManager(() => ({}), store, NAMESPACE, options);
    const short = await sessions.create();
    let i = 0;
    const results = await interleaved(
      {
        long: () => sessions.addMessage(id, { role: "user", content: text(0, ++i) }),
        short: () => sessions.addMessage(short.id, { role: "user", content: text(1, ++i) }),
      },
      { rounds: 5, perRound: 200 },
    );
    crossCheck = { longUs: results.long?.meanUs ?? Number.NaN, shortUs: results.short?.meanUs ?? Number.NaN };
  }
  await store.close();
  const mean = (from: number, to: number) => (took.slice(from, to).reduce((a, b) => a + b, 0) / (to - from)) * 1000;
  const last = [...took.slice(PRUNE_EVENTS - PRUNE_WINDOW)].sort((a, b) => a - b);
  return {
    firstMeanUs: mean(0, PRUNE_WINDOW),
    lastMeanUs: mean(PRUNE_EVENTS - PRUNE_WINDOW, PRUNE_EVENTS),
    lastP99Ms: percentile(last, 99),
    stored,
    bytesBefore: before.bytes,
    bytesAfter: after.bytes,
    crossCheck,
  };
}

async function pruneBench(
  make: (file: string) => Promise<Location>,
): Promise<{ rows: Measurement[]; checks: NonNullable<Section["checks"]> }> {
  // Unmeasured appends first, pruning included, so neither run pays for V8's first optimisations.
  const warm = await make("warm.db");
  try {
    const store = await openStore(warm.url);
    const sessions = new SessionManager(() => ({}), store, NAMESPACE, { defaultTtlMs: null, retention: RETENTION });
    const { id } = await sessions.create();
    for (let i = 0; i < 3000; i++) await sessions.addMessage(id, { role: "user", content: text(0, i) });
    await store.close();
  } finally {
    await warm.cleanup();
  }
  const plainLocation = await make("plain.db");
  const prunedLocation = await make("pruned.db");
  const label = plainLocation.name;
  let plain: PruneRun;
  let pruned: PruneRun;
  try {
    log(`${label}: ${fmtInt(PRUNE_EVENTS)} appends without a policy`);
    plain = await appendMany(plainLocation, undefined);
    log(`${label}: ${fmtInt(PRUNE_EVENTS)} appends keeping the last ${fmtInt(RETENTION.keepLastEvents)}`);
    pruned = await appendMany(prunedLocation, RETENTION);
  } finally {
    await plainLocation.cleanup();
    await prunedLocation.cleanup();
  }
  const n = fmtInt(PRUNE_EVENTS);
  const w = fmtInt(PRUNE_WINDOW);
  const costRatio = pruned.lastMeanUs / pruned.firstMeanUs;
  const bytesRow = (name: string, run: PruneRun): Measurement => ({
    name: `${label}: ${name}`,
    note: `${fmtBytes(run.bytesBefore)} before (the empty session), ${fmtBytes(run.bytesAfter)} after; ${fmtInt(run.stored)} events stored`,
  });
  return {
    rows: [
      {
        name: `${label}: append, first ${w}, keep last 1,000`,
        meanUs: pruned.firstMeanUs,
        opsPerSec: 1e6 / pruned.firstMeanUs,
      },
      {
        name: `${label}: append, last ${w} of ${n}, keep last 1,000`,
        meanUs: pruned.lastMeanUs,
        opsPerSec: 1e6 / pruned.lastMeanUs,
        costRatio,
        p99Ms: pruned.lastP99Ms,
        note: "cost ratio: ÷ the first window's mean (pruning commits included)",
      },
      ...(pruned.crossCheck
        ? [
            {
              name: `${label}: append to the pruned ${n}-event session ÷ to a fresh one`,
              meanUs: pruned.crossCheck.longUs,
              opsPerSec: 1e6 / pruned.crossCheck.longUs,
              costRatio: pruned.crossCheck.longUs / pruned.crossCheck.shortUs,
              note: `alternating rounds afterwards; the fresh session: ${pruned.crossCheck.shortUs.toFixed(1)} µs`,
            },
          ]
        : []),
      {
        name: `${label}: append, first ${w}, no policy`,
        meanUs: plain.firstMeanUs,
        opsPerSec: 1e6 / plain.firstMeanUs,
      },
      {
        name: `${label}: append, last ${w} of ${n}, no policy`,
        meanUs: plain.lastMeanUs,
        opsPerSec: 1e6 / plain.lastMeanUs,
        costRatio: plain.lastMeanUs / plain.firstMeanUs,
        p99Ms: plain.lastP99Ms,
      },
      bytesRow(`size, ${n} events, no policy`, plain),
      bytesRow(`size, ${n} events, keep last 1,000`, pruned),
    ],
    checks: [
      {
        goal: `${label}: append cost flat under pruning (last ${w} ÷ first ${w} ≤ 1.2)`,
        met: costRatio <= 1.2,
        value: `${costRatio.toFixed(2)}×`,
      },
      {
        goal: `${label}: events stored ≤ 1,000 + ${PRUNE_SLACK} (margin, check interval, marker)`,
        met: pruned.stored <= RETENTION.keepLastEvents + PRUNE_SLACK,
        value: fmtInt(pruned.stored),
      },
      {
        goal: `${label}: storage bounded (after ${n} appends, pruned ≤ 10% of unpruned)`,
        met: pruned.bytesAfter - pruned.bytesBefore <= 0.1 * (plain.bytesAfter - plain.bytesBefore),
        value: `${fmtBytes(pruned.bytesAfter)} vs ${fmtBytes(plain.bytesAfter)}`,
      },
    ],
  };
}

// ── Masking on write ────────────────────────────────────────────────────────────────────────────

async function maskingCost(url: string, label: string): Promise<Measurement> {
  const store = await openStore(url);
  try {
    const plain = new SessionManager(() => ({}), store, NAMESPACE, { defaultTtlMs: null });
    const masked = new SessionManager(() => ({}), store, NAMESPACE, { defaultTtlMs: null, maskSecrets: true });
    const a = await plain.create();
    const b = await masked.create();
    let i = 0;
    const results = await interleaved(
      {
        off: () => plain.addMessage(a.id, { role: "user", content: text(1, ++i) }),
        on: () => masked.addMessage(b.id, { role: "user", content: text(1, ++i) }),
      },
      { rounds: 7, perRound: 400 },
    );
    const off = results.off as { meanUs: number };
    const on = results.on as { meanUs: number; opsPerSec: number };
    return {
      name: `${label}: append with maskSecrets`,
      ...on,
      costRatio: on.meanUs / off.meanUs,
      note: `without: ${off.meanUs.toFixed(1)} µs; ~200-byte messages holding no secret`,
    };
  } finally {
    await store.close();
  }
}

// ── The sections ────────────────────────────────────────────────────────────────────────────────

export async function benchPrivacy(): Promise<Section[]> {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-privacy-bench-"));
  const pgUrl = process.env.FRONTDESK_TEST_POSTGRES_URL;
  const redisUrl = process.env.FRONTDESK_TEST_REDIS_URL;
  // FRONTDESK_BENCH_STORES=sqlite narrows a run, as for the store bench.
  const only = process.env.FRONTDESK_BENCH_STORES?.split(",");
  const on = (name: string) => !only || only.includes(name);
  const parts = (process.env.FRONTDESK_BENCH_PRIVACY ?? "erasure,pruning,masking").split(",");
  const sections: Section[] = [];
  try {
    if (parts.includes("erasure")) sections.push(await benchErasure(dir, { postgresUrl: pgUrl, on }));
    if (parts.includes("pruning")) {
      const pruning: Section = {
        title: "Pruning keeps a long session bounded",
        method:
          `${fmtInt(PRUNE_EVENTS)} ~200-byte messages appended one per call (\`addMessage\`, awaited in turn) to one ` +
          "session, on a fresh store each: once with no policy, once by a `SessionManager` with " +
          "`retention: { keepLastEvents: 1000, onlySummarized: false }`, which prunes while appending (looked at every " +
          "64 seqs, pruned once over by a tenth: a pruning commit removes ~100 events and leaves one marker). Each " +
          `append is timed; the rows compare the mean of the first and the last ${fmtInt(PRUNE_WINDOW)}, after 3,000 ` +
          "unmeasured appends in a scratch store. Size: SQLite is the database file and its WAL after " +
          "`PRAGMA wal_checkpoint(TRUNCATE)`; PostgreSQL is `pg_total_relation_size` of the schema's tables after a " +
          `plain \`VACUUM\`, which also runs every ${fmtInt(VACUUM_EVERY)} appends (untimed) in place of autovacuum, ` +
          "off on the test server: without it no deleted row's space is ever reused. Redis is the sum of " +
          '`MEMORY USAGE` over the store\'s keys. "Before" is the store holding only the empty session. The "÷ a ' +
          'fresh one" row appends afterwards to the long pruned session and to a new one (under 1,000 events, so ' +
          "never pruned) in 5 alternating rounds of 200, keeping each one's median round: a cost ratio free of the " +
          "load drifting over the run.",
        rows: [],
        checks: [],
      };
      const runs: (() => Promise<{ rows: Measurement[]; checks: NonNullable<Section["checks"]> }>)[] = [];
      if (on("sqlite")) runs.push(() => pruneBench(async (file) => sqliteLocation(dir, file)));
      if (pgUrl && on("postgres")) runs.push(() => pruneBench(() => postgresLocation(pgUrl)));
      if (redisUrl && on("redis")) runs.push(() => pruneBench(() => redisLocation(redisUrl)));
      for (const run of runs) {
        const found = await run();
        pruning.rows.push(...found.rows);
        pruning.checks?.push(...found.checks);
      }
      sections.push(pruning);
    }
    if (parts.includes("masking")) {
      log("masking cost");
      const rows = [await maskingCost("memory:", "memory")];
      if (on("sqlite")) rows.push(await maskingCost(`sqlite:${join(dir, "masking.db")}`, "sqlite"));
      sections.push({
        title: "Secret masking on write",
        method:
          "`addMessage` through two managers on one store, one with `maskSecrets: true`, in 7 alternating rounds of " +
          "400 after a warm-up, keeping each one's median round. The cost ratio is with ÷ without.",
        rows,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return sections;
}
