/**
 * `npm run bench privacy`: issue 19's numbers. The erasure of a user with 1,000 sessions of 1,000
 * events from a real `frontdesk serve` (killed midway and restarted, /healthz probed throughout),
 * the append cost and storage of a session pruned under a retention policy, and the cost of secret
 * masking on write. Written to BENCHMARKS.md's own `bench-privacy` section by bench/run.ts.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { ERASURE_FINISHED, ERASURE_LOG_ID, ERASURE_STARTED } from "../src/core/manager/erasure.ts";
import type { SessionKey } from "../src/core/model.ts";
import { SessionManager } from "../src/core/session-manager.ts";
import type { SessionStore } from "../src/core/store-contract.ts";
import { createApiKey } from "../src/server/api-keys.ts";
import { openStore } from "../src/stores/registry.ts";
import { interleaved, type Measurement, percentile, type Section } from "./measure.ts";
import { spawnListening, stopChild } from "./processes.ts";

const NAMESPACE = "default";
const ERASED_USER = "erased-user";
const KEPT_USER = "kept-user";
// FRONTDESK_BENCH_ERASURE_SESSIONS / _EVENTS scale the erasure down while working on it.
const SESSIONS = Number(process.env.FRONTDESK_BENCH_ERASURE_SESSIONS ?? 1000);
const EVENTS_PER_SESSION = Number(process.env.FRONTDESK_BENCH_ERASURE_EVENTS ?? 1000);
const KEPT_SESSIONS = 10;
const BATCH = 500;
/** The server is killed once this many of the user's sessions are gone, then restarted. */
const KILL_AFTER_SESSIONS = Math.min(100, Math.floor(SESSIONS / 4));
const PROBE_EVERY_MS = 20;
const ERASURE_GOAL_MS = 5 * 60_000;
const HEALTHZ_GOAL_MS = 250;

const PRUNE_EVENTS = Number(process.env.FRONTDESK_BENCH_PRUNE_EVENTS ?? 100_000);
const PRUNE_WINDOW = Math.min(10_000, Math.floor(PRUNE_EVENTS / 10));
const RETENTION = { keepLastEvents: 1000, onlySummarized: false };
/** privacy-hooks.ts: a session is looked at every 64 seqs, and pruned once it is over by a tenth (at least 64). */
const PRUNE_SLACK = Math.max(64, RETENTION.keepLastEvents / 10) + 64 + 1;

/** About 200 bytes of text, as a chat message weighs, with the session and seq in it so no two are alike. */
const text = (session: number, seq: number): string =>
  `Message ${seq} of session ${session}: could you look at order 4471-${seq} again? The parcel went to the ` +
  "old address on Linden Street and the tracking page says it is out for delivery since Monday.";

const fmtInt = (value: number): string => Math.round(value).toLocaleString("en");
const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const fmtBytes = (bytes: number): string =>
  bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 10).toFixed(0)} KiB`;
const log = (line: string): void => {
  process.stderr.write(`[privacy] ${line}\n`);
};

/** A store of the bench's own: a temp file, or a fresh schema / key prefix on the shared servers. */
interface Location {
  name: "sqlite" | "postgres" | "redis";
  url: string;
  /** Bytes the store takes: files on disk, table sizes, or Redis memory. Closed stores only for SQLite. */
  bytes(): Promise<number>;
  describeBytes: string;
  cleanup(): Promise<void>;
}

function sqliteLocation(dir: string, file: string): Location {
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

async function postgresLocation(url: string): Promise<Location> {
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

async function redisLocation(url: string): Promise<Location> {
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

// ── Erasure at scale ────────────────────────────────────────────────────────────────────────────

/** GET /healthz every 20 ms from this process; latencies of the answered probes, and how many found no server. */
class HealthProbe {
  readonly latencies: number[] = [];
  refused = 0;
  private running = true;
  private readonly done: Promise<void>;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly port: number) {
    this.done = this.loop();
  }

  private probe(): Promise<boolean> {
    return new Promise((resolveProbe) => {
      const req = request(
        { host: "127.0.0.1", port: this.port, path: "/healthz", agent: this.agent, timeout: 10_000 },
        (res) => {
          res.resume();
          res.on("end", () => resolveProbe(res.statusCode === 200));
        },
      );
      req.on("timeout", () => req.destroy(new Error("probe timed out")));
      req.on("error", () => resolveProbe(false));
      req.end();
    });
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const start = performance.now();
      if (await this.probe()) this.latencies.push(performance.now() - start);
      else this.refused++;
      const wait = PROBE_EVERY_MS - (performance.now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  async stop(): Promise<{ max: number; p50: number; p99: number; answered: number; refused: number }> {
    this.running = false;
    await this.done;
    this.agent.destroy();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      max: sorted.at(-1) ?? Number.NaN,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      answered: sorted.length,
      refused: this.refused,
    };
  }
}

const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });

/** `DELETE /v1/users/{id}` with no client-side timeout (fetch gives up on headers after 300 s). */
const eraseOverHttp = (port: number, key: string, userId: string): Promise<Record<string, unknown>> =>
  new Promise((resolveBody, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "DELETE",
        path: `/v1/users/${userId}`,
        headers: { authorization: `Bearer ${key}` },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          res.statusCode === 200
            ? resolveBody(JSON.parse(body) as Record<string, unknown>)
            : reject(new Error(`DELETE answered ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });

/** `frontdesk serve` from the source tree (no build needed), on a fixed port so a restart answers at the same address. */
const SERVE_FROM_SOURCE = `import { main } from ${JSON.stringify(new URL("../src/cli/main.ts", import.meta.url).href)};
process.exitCode = await main(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });`;

const serve = (url: string, port: number) =>
  spawnListening([
    "--import",
    "tsx",
    "--input-type=module",
    "-e",
    SERVE_FROM_SOURCE,
    "serve",
    "--store",
    url,
    "--port",
    String(port),
  ]);

async function countSessions(store: SessionStore, userId: string): Promise<number> {
  let count = 0;
  let after: { value: number; userId: string | null; id: string } | undefined;
  for (;;) {
    const page = await store.list({
      namespace: NAMESPACE,
      userId,
      orderBy: "createdAt",
      order: "asc",
      limit: 500,
      after,
      now: 0,
    });
    count += page.items.length;
    const last = page.items.at(-1);
    if (!page.hasMore || !last) return count;
    after = { value: last.createdAt, userId: last.userId, id: last.id };
  }
}

async function countEvents(store: SessionStore, key: SessionKey): Promise<number> {
  let count = 0;
  let after = 0;
  for (;;) {
    const page = await store.readEvents(key, { after, limit: 1000 });
    count += page.length;
    if (page.length < 1000) return count;
    after = page.at(-1)?.seq ?? after;
  }
}

/** One user's sessions of `events` messages each, appended `BATCH` at a time, `parallel` sessions at once. */
async function fill(store: SessionStore, userId: string, sessions: number, events: number, parallel: number) {
  const manager = new SessionManager(() => ({}), store, NAMESPACE, { defaultTtlMs: null }).forUser(userId);
  const ids: string[] = new Array(sessions);
  let next = 0;
  const worker = async () => {
    for (let s = next++; s < sessions; s = next++) {
      const { id } = await manager.create({ title: `conversation ${s}` });
      ids[s] = id;
      for (let done = 0; done < events; done += BATCH) {
        const n = Math.min(BATCH, events - done);
        await manager.appendEvents(
          id,
          Array.from({ length: n }, (_, i) => ({
            type: "message",
            role: i % 2 ? "assistant" : "user",
            content: text(s, done + i + 1),
          })),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return ids;
}

/** The erasure log's started and finished records: who finished what, with the counts. */
async function erasureRecords(store: SessionStore) {
  const events = await store.readEvents({ namespace: NAMESPACE, userId: null, id: ERASURE_LOG_ID }, {});
  const started = new Set<string>();
  const finished = new Map<string, { sessions: number; scrub: string }>();
  for (const event of events) {
    if (event.type !== "custom") continue;
    const data = event.data as { erasureId: string; sessions: number; scrub: string };
    if (event.name === ERASURE_STARTED) started.add(data.erasureId);
    if (event.name === ERASURE_FINISHED) finished.set(data.erasureId, data);
  }
  return { started, finished };
}

async function eraseAtScale(
  location: Location,
): Promise<{ rows: Measurement[]; checks: NonNullable<Section["checks"]> }> {
  const label = location.name;
  const children: ChildProcess[] = [];
  let prober: HealthProbe | undefined;
  try {
    log(`${label}: building ${fmtInt(SESSIONS)} sessions × ${fmtInt(EVENTS_PER_SESSION)} events`);
    const setup = await openStore(location.url);
    const buildStart = performance.now();
    const parallel = label === "sqlite" ? 1 : 4;
    const erasedIds = await fill(setup, ERASED_USER, SESSIONS, EVENTS_PER_SESSION, parallel);
    const keptIds = await fill(setup, KEPT_USER, KEPT_SESSIONS, EVENTS_PER_SESSION, parallel);
    const buildMs = performance.now() - buildStart;
    const { key: adminKey } = await createApiKey(setup, { userId: "bench-admin", admin: true, label: "bench" });
    await createApiKey(setup, { userId: ERASED_USER, label: "revoked by the erasure" });
    const totalEvents = (SESSIONS + KEPT_SESSIONS) * EVENTS_PER_SESSION;
    log(`${label}: built ${fmtInt(totalEvents)} events in ${fmtMs(buildMs)}`);

    const port = await freePort();
    let server = await serve(location.url, port);
    children.push(server.child);
    prober = new HealthProbe(port);

    // Run 1: the DELETE, and a SIGKILL once enough of the user's sessions are gone.
    const run1Start = performance.now();
    let firstAnswer: Record<string, unknown> | undefined;
    const first = eraseOverHttp(port, adminKey, ERASED_USER).then(
      (body) => {
        firstAnswer = body;
      },
      () => undefined,
    );
    const watched = erasedIds.slice(0, KILL_AFTER_SESSIONS * 3);
    for (;;) {
      let gone = 0;
      for (const id of watched) if (!(await setup.get({ namespace: NAMESPACE, userId: ERASED_USER, id }, 0))) gone++;
      if (gone >= KILL_AFTER_SESSIONS || firstAnswer) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stopChild(server.child, "SIGKILL");
    const run1Ms = performance.now() - run1Start;
    await first;
    const leftAfterKill = await countSessions(setup, ERASED_USER);
    const removedByRun1 = SESSIONS - leftAfterKill;
    log(`${label}: killed after ${fmtMs(run1Ms)}, ${removedByRun1} sessions gone, ${leftAfterKill} left`);

    // Run 2: the restarted server resumes the erasure at start-up; a second DELETE runs alongside it.
    const run2Start = performance.now();
    server = await serve(location.url, port);
    children.push(server.child);
    const restartMs = performance.now() - run2Start;
    // A failed DELETE is a result to report, not a reason to lose the rest of the numbers.
    const second = await eraseOverHttp(port, adminKey, ERASED_USER).catch((error: Error) => ({
      error: error.message,
      erasureId: undefined,
      sessions: "?",
      scrub: "?",
    }));
    let records = await erasureRecords(setup);
    // A resume that fails is logged by the server, not answered: give up on it at the goal's limit.
    while (
      !("error" in second) &&
      [...records.started].some((id) => !records.finished.has(id)) &&
      performance.now() - run1Start < ERASURE_GOAL_MS
    ) {
      await new Promise((r) => setTimeout(r, 100));
      records = await erasureRecords(setup);
    }
    const run2Ms = performance.now() - run2Start;
    const health = await prober.stop();
    prober = undefined;
    await stopChild(server.child);
    await setup.close();

    const fresh = await openStore(location.url);
    let left: number;
    let keptIntact = 0;
    try {
      left = await countSessions(fresh, ERASED_USER);
      for (const id of keptIds) {
        const key = { namespace: NAMESPACE, userId: KEPT_USER, id };
        const header = await fresh.get(key, 0);
        if (header?.lastSeq === EVENTS_PER_SESSION && (await countEvents(fresh, key)) === EVENTS_PER_SESSION)
          keptIntact++;
      }
    } finally {
      await fresh.close();
    }
    const resumed = [...records.finished.entries()].filter(([id]) => id !== second.erasureId);
    const totalMs = run1Ms + run2Ms;
    log(`${label}: erased in ${fmtMs(totalMs)}; /healthz max ${health.max.toFixed(1)} ms`);
    const scale = `${fmtInt(SESSIONS)} sessions × ${fmtInt(EVENTS_PER_SESSION)} events`;
    return {
      rows: [
        {
          name: `${label}: build ${scale} (+ ${KEPT_SESSIONS} of another user)`,
          opsPerSec: (totalEvents / buildMs) * 1000,
          note: `${fmtMs(buildMs)}; \`appendEvents\` of ${BATCH} per call, ${parallel} session${parallel > 1 ? "s" : ""} at a time`,
        },
        {
          name: `${label}: erase the user, killed midway and resumed`,
          opsPerSec: (SESSIONS / totalMs) * 1000,
          note:
            `${fmtMs(totalMs)} in all: run 1 removed ${removedByRun1} sessions in ${fmtMs(run1Ms)} before SIGKILL; ` +
            `after the restart (listening in ${fmtMs(restartMs)}) the start-up resume removed ` +
            `${resumed.map(([, r]) => r.sessions).join(" + ") || 0} and the second DELETE ${String(second.sessions)} ` +
            `in ${fmtMs(run2Ms)}; scrub ${String(second.scrub)}; ${left} sessions left, ` +
            `${keptIntact}/${KEPT_SESSIONS} of the other user's intact` +
            ("error" in second ? `; the second DELETE failed: ${String(second.error)}` : ""),
        },
        {
          name: `${label}: GET /healthz during the erasure`,
          p50Ms: health.p50,
          p99Ms: health.p99,
          note: `max ${health.max.toFixed(1)} ms over ${fmtInt(health.answered)} probes (${health.refused} found the server killed)`,
        },
      ],
      checks: [
        {
          goal: `${label}: erasure of ${scale} ≤ 5 minutes, across a kill`,
          met: totalMs <= ERASURE_GOAL_MS && left === 0 && !("error" in second),
          value: `${fmtMs(totalMs)}, ${left} sessions left`,
        },
        {
          goal: `${label}: /healthz < ${HEALTHZ_GOAL_MS} ms throughout the erasure`,
          met: health.max < HEALTHZ_GOAL_MS,
          value: `max ${health.max.toFixed(1)} ms, p99 ${health.p99.toFixed(1)} ms`,
        },
        {
          goal: `${label}: the other user's ${KEPT_SESSIONS} sessions intact`,
          met: keptIntact === KEPT_SESSIONS,
          value: `${keptIntact}/${KEPT_SESSIONS}`,
        },
      ],
    };
  } finally {
    await prober?.stop();
    for (const child of children) await stopChild(child, "SIGKILL");
    await location.cleanup();
  }
}

// ── Pruning under a retention policy ────────────────────────────────────────────────────────────

interface PruneRun {
  firstMeanUs: number;
  lastMeanUs: number;
  lastP99Ms: number;
  stored: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** PRUNE_EVENTS single appends to one session, each timed; the store's size before and after. */
async function appendMany(location: Location, retention: typeof RETENTION | undefined): Promise<PruneRun> {
  const options = { defaultTtlMs: null, ...(retention ? { retention } : {}) };
  let store = await openStore(location.url);
  const { id } = await new SessionManager(() => ({}), store, NAMESPACE, options).create();
  const key = { namespace: NAMESPACE, userId: null, id };
  // SQLite's bytes are read with the store closed, so the checkpoint is not held up by its connection.
  if (location.name === "sqlite") await store.close();
  const bytesBefore = await location.bytes();
  if (location.name === "sqlite") store = await openStore(location.url);
  const sessions = new SessionManager(() => ({}), store, NAMESPACE, options);
  const took = new Float64Array(PRUNE_EVENTS);
  for (let i = 0; i < PRUNE_EVENTS; i++) {
    const start = performance.now();
    await sessions.addMessage(id, { role: i % 2 ? "assistant" : "user", content: text(0, i + 1) });
    took[i] = performance.now() - start;
  }
  const stored = await countEvents(store, key);
  if (location.name === "sqlite") await store.close();
  const bytesAfter = await location.bytes();
  if (location.name !== "sqlite") await store.close();
  const mean = (from: number, to: number) => (took.slice(from, to).reduce((a, b) => a + b, 0) / (to - from)) * 1000;
  const last = [...took.slice(PRUNE_EVENTS - PRUNE_WINDOW)].sort((a, b) => a - b);
  return {
    firstMeanUs: mean(0, PRUNE_WINDOW),
    lastMeanUs: mean(PRUNE_EVENTS - PRUNE_WINDOW, PRUNE_EVENTS),
    lastP99Ms: percentile(last, 99),
    stored,
    bytesBefore,
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
    if (parts.includes("erasure")) {
      const erasure: Section = { title: "Erasure of a user at scale", method: "", rows: [], checks: [] };
      if (on("sqlite")) {
        const found = await eraseAtScale(sqliteLocation(dir, "erase.db"));
        erasure.rows.push(...found.rows);
        erasure.checks?.push(...found.checks);
      }
      if (pgUrl && on("postgres")) {
        const found = await eraseAtScale(await postgresLocation(pgUrl));
        erasure.rows.push(...found.rows);
        erasure.checks?.push(...found.checks);
      }
      erasure.method =
        `One user with ${fmtInt(SESSIONS)} sessions of ${fmtInt(EVENTS_PER_SESSION)} ~200-byte messages and an API key, ` +
        `another with ${KEPT_SESSIONS} such sessions, built through \`SessionManager.appendEvents\` into a SQLite file ` +
        "(synchronous=FULL) and a fresh PostgreSQL schema. A real `frontdesk serve` process (from the source tree) on " +
        "that store gets `DELETE /v1/users/{id}` from an admin key; once " +
        `${KILL_AFTER_SESSIONS} of the user's sessions are gone it is killed with SIGKILL and started again on the same ` +
        "port: at start-up it resumes the interrupted erasure, and a second `DELETE` runs alongside it. The time is " +
        "run 1 (DELETE to kill) plus run 2 (restart to the last erasure's audit record), the restart included. " +
        `The bench process sends \`GET /healthz\` every ${PROBE_EVERY_MS} ms throughout, on a keep-alive connection; ` +
        "p50/p99 columns and the max are its round trips (probes sent while the server was dead are counted apart). " +
        "Afterwards a fresh store handle counts the user's sessions (`list` with `now: 0`, expired ones included) " +
        "and reads every event of the other user's sessions.";
      sections.push(erasure);
    }
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
          'plain `VACUUM`; Redis is the sum of `MEMORY USAGE` over the store\'s keys. "Before" is the store holding ' +
          "only the empty session.",
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
