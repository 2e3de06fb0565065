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
  /** Mean µs of the long session's appends in the first and last window, and of the paired short session's. */
  first: { longUs: number; shortUs: number };
  last: { longUs: number; shortUs: number; p99Ms: number };
  stored: number;
  bytesBefore: number;
  bytesHalfway: number;
  bytesAfter: number;
}

/** Plain VACUUM every this many appends on PostgreSQL, standing in for autovacuum (off on the test server). */
const VACUUM_EVERY = 10_000;
/** The short session of a pair is replaced this often, so it never holds enough to be pruned. */
const SHORT_SESSION_EVENTS = 200;

/**
 * PRUNE_EVENTS single appends to one session, each timed, and with `pair` each followed by one to
 * a short session in a store of the same kind: both see the same load at the same moment, so the
 * long one's cost ÷ the short one's is free of the drift of a busy machine over minutes. The pair
 * has a store of its own so that its churn stays out of the sizes. The store's size before,
 * halfway and after.
 */
async function appendMany(
  location: Location,
  retention: typeof RETENTION | undefined,
  pair?: Location,
): Promise<PruneRun> {
  const options = { defaultTtlMs: null, ...(retention ? { retention } : {}) };
  let store = await openStore(location.url);
  let sessions = new SessionManager(() => ({}), store, NAMESPACE, options);
  // SQLite's bytes are read with the store closed, so the checkpoint is not held up by its connection.
  const measureBytes = async (): Promise<number> => {
    if (location.name !== "sqlite") return location.bytes();
    await store.close();
    const bytes = await location.bytes();
    store = await openStore(location.url);
    sessions = new SessionManager(() => ({}), store, NAMESPACE, options);
    return bytes;
  };
  const { id } = await sessions.create();
  const bytesBefore = await measureBytes();
  let bytesHalfway = 0;
  const pairStore = pair ? await openStore(pair.url) : undefined;
  const pairSessions = pairStore && new SessionManager(() => ({}), pairStore, NAMESPACE, options);
  let short = pairSessions ? (await pairSessions.create()).id : undefined;
  const longTook = new Float64Array(PRUNE_EVENTS);
  const shortTook = new Float64Array(PRUNE_EVENTS);
  for (let i = 0; i < PRUNE_EVENTS; i++) {
    const start = performance.now();
    await sessions.addMessage(id, { role: i % 2 ? "assistant" : "user", content: text(0, i + 1) });
    const between = performance.now();
    longTook[i] = between - start;
    if (pairSessions && short) {
      await pairSessions.addMessage(short, { role: "user", content: text(1, i + 1) });
      shortTook[i] = performance.now() - between;
      if ((i + 1) % SHORT_SESSION_EVENTS === 0) {
        await pairSessions.delete(short);
        short = (await pairSessions.create()).id;
      }
    }
    if (location.name === "postgres" && (i + 1) % VACUUM_EVERY === 0) await location.bytes();
    if (i + 1 === PRUNE_EVENTS / 2) bytesHalfway = await measureBytes();
  }
  await pairStore?.close();
  const stored = await countEvents(store, { namespace: NAMESPACE, userId: null, id });
  const bytesAfter = await measureBytes();
  await store.close();
  const mean = (of: Float64Array, from: number) =>
    (of.slice(from, from + PRUNE_WINDOW).reduce((a, b) => a + b, 0) / PRUNE_WINDOW) * 1000;
  const lastFrom = PRUNE_EVENTS - PRUNE_WINDOW;
  return {
    first: { longUs: mean(longTook, 0), shortUs: mean(shortTook, 0) },
    last: {
      longUs: mean(longTook, lastFrom),
      shortUs: mean(shortTook, lastFrom),
      p99Ms: percentile(
        [...longTook.slice(lastFrom)].sort((a, b) => a - b),
        99,
      ),
    },
    stored,
    bytesBefore,
    bytesHalfway,
    bytesAfter,
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
  const pairLocation = await make("pair.db");
  const label = plainLocation.name;
  let plain: PruneRun;
  let pruned: PruneRun;
  try {
    log(`${label}: ${fmtInt(PRUNE_EVENTS)} appends without a policy`);
    plain = await appendMany(plainLocation, undefined);
    log(`${label}: ${fmtInt(PRUNE_EVENTS)} appends keeping the last ${fmtInt(RETENTION.keepLastEvents)}, paired`);
    pruned = await appendMany(prunedLocation, RETENTION, pairLocation);
  } finally {
    await plainLocation.cleanup();
    await prunedLocation.cleanup();
    await pairLocation.cleanup();
  }
  const n = fmtInt(PRUNE_EVENTS);
  const w = fmtInt(PRUNE_WINDOW);
  const { first, last } = pruned;
  const pairedRatio = last.longUs / last.shortUs / (first.longUs / first.shortUs);
  const rawRatio = last.longUs / first.longUs;
  const halfGrowth = (pruned.bytesAfter - pruned.bytesHalfway) / pruned.bytesHalfway;
  return {
    rows: [
      {
        name: `${label}: append, first ${w}, keep last 1,000`,
        meanUs: first.longUs,
        opsPerSec: 1e6 / first.longUs,
        note: `the paired short session: ${first.shortUs.toFixed(1)} µs`,
      },
      {
        name: `${label}: append, last ${w} of ${n}, keep last 1,000`,
        meanUs: last.longUs,
        opsPerSec: 1e6 / last.longUs,
        costRatio: pairedRatio,
        p99Ms: last.p99Ms,
        note:
          `the paired short session: ${last.shortUs.toFixed(1)} µs; cost ratio: (last ÷ its pair) ÷ (first ÷ its ` +
          `pair); last ÷ first unpaired: ${rawRatio.toFixed(2)}`,
      },
      {
        name: `${label}: size, ${n} events, no policy`,
        note: `${fmtBytes(plain.bytesBefore)} before (the empty session), ${fmtBytes(plain.bytesAfter)} after; ${fmtInt(plain.stored)} events stored`,
      },
      {
        name: `${label}: size, ${n} events, keep last 1,000`,
        note:
          `${fmtBytes(pruned.bytesBefore)} before, ${fmtBytes(pruned.bytesHalfway)} halfway, ` +
          `${fmtBytes(pruned.bytesAfter)} after (${((pruned.bytesAfter / plain.bytesAfter) * 100).toFixed(1)}% of ` +
          `no policy); ${fmtInt(pruned.stored)} events stored`,
      },
    ],
    checks: [
      {
        goal: `${label}: append cost flat under pruning (last ${w} ÷ first ${w}, each against its pair, ≤ 1.2)`,
        met: pairedRatio <= 1.2,
        value: `${pairedRatio.toFixed(2)}× (unpaired ${rawRatio.toFixed(2)}×)`,
      },
      {
        goal: `${label}: events stored ≤ 1,000 + ${PRUNE_SLACK} (margin, check interval, marker)`,
        met: pruned.stored <= RETENTION.keepLastEvents + PRUNE_SLACK,
        value: fmtInt(pruned.stored),
      },
      {
        goal: `${label}: storage bounded under pruning (the second ${fmtInt(PRUNE_EVENTS / 2)} appends grow it ≤ 10%)`,
        met: halfGrowth <= 0.1,
        value: `${halfGrowth >= 0 ? "+" : ""}${(halfGrowth * 100).toFixed(1)}%, ${fmtBytes(pruned.bytesAfter)} vs ${fmtBytes(plain.bytesAfter)} without a policy`,
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
          "append is timed and followed by one to a short session in a store of the same kind (replaced every " +
          `${SHORT_SESSION_EVENTS} events, so never pruned): the cost ratio compares the last ${fmtInt(PRUNE_WINDOW)} ` +
          `with the first ${fmtInt(PRUNE_WINDOW)}, each divided by its pair's mean, so the load of a shared machine ` +
          "drifting over minutes cancels out; the unpaired ratio is in the note. 3,000 unmeasured appends in a " +
          "scratch store come first. Size: SQLite is the database file and its WAL after " +
          "`PRAGMA wal_checkpoint(TRUNCATE)`; PostgreSQL is `pg_total_relation_size` of the schema's tables after a " +
          `plain \`VACUUM\`, which also runs every ${fmtInt(VACUUM_EVERY)} appends (untimed) in place of autovacuum, ` +
          "off on the test server: without it no deleted row's space is ever reused. Redis is the sum of " +
          '`MEMORY USAGE` over the store\'s keys. "Before" is the store holding only the empty session; "bounded" ' +
          "means the second half of the appends leaves the size where the first half took it.",
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
