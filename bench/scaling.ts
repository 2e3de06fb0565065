/**
 * `npm run bench scaling`: the measured inputs of docs/scaling.md (issue 20 §5). Per Redis node
 * and per PostgreSQL instance: appends, reads and live fan-out through `SessionManager` under
 * saturating load, with the server's CPU per operation; per Frontdesk process: its own CPU per
 * operation, in process and over HTTP; and bytes per session and per event on every store.
 * Written to BENCHMARKS.md's own `bench-scaling` section by bench/run.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import autocannon from "autocannon";
import type { SessionEvent } from "../src/core/model.ts";
import { SessionManager } from "../src/core/session-manager.ts";
import { createApiKey } from "../src/server/api-keys.ts";
import { openStore } from "../src/stores/registry.ts";
import { type Measurement, percentile, type Section } from "./measure.ts";
import { type Location, NAMESPACE, postgresLocation, redisLocation, sqliteLocation, text } from "./privacy-support.ts";
import { spawnListening, stopChild } from "./processes.ts";
import {
  type CpuMeter,
  childCpu,
  fmtInt,
  fmtUs,
  idleRates,
  log,
  netCpu,
  postgresCpu,
  processCpu,
  readMeters,
  redisCpu,
  saturate,
  treeBytes,
} from "./scaling-support.ts";

const BIN = resolve(import.meta.dirname, "../bin/frontdesk.js");
/** Measured seconds per load; each is preceded by WARMUP_S of the same load, unmeasured. */
const SECONDS = Number(process.env.FRONTDESK_BENCH_SCALING_SECONDS ?? 5);
const WARMUP_S = 2;
/** Calls in flight: enough to keep a store busy from one process (the pool of PostgreSQL is 10). */
const CONCURRENCY = 32;
/** Sessions the appends and reads are spread over, so no two calls in flight share one. */
const LOAD_SESSIONS = 256;
/** Events each read session holds before the reads, above the 50 read back. */
const READ_HISTORY = 60;
/** Live fan-out: sessions each tailed once by every subscribing store (a peer process's store). */
const FANOUT_SESSIONS = 500;
const FANOUT_PEERS = 2;
/** Pairs of rounds (tailed, untailed), SECONDS split among them. */
const FANOUT_ROUNDS = 5;
/** Bytes: sessions created, then messages appended to each. */
const SIZE_SESSIONS = 300;
const SIZE_EVENTS = 30;
const HTTP_SESSIONS = 64;

interface Shared {
  name: "redis" | "postgres";
  url: string;
  /** The server's CPU spent for the given client processes (Redis: all of it; it cannot tell clients apart). */
  server(clients: () => number[]): CpuMeter;
  serverLabel: string;
  cleanup(): Promise<void>;
}

/** How busy the shared server was with others' work around the window, when enough to mention. */
const idleNote = (idle: Record<string, number>, shared: Shared): string => {
  const busy = idle.server ?? 0;
  return busy >= 0.005 ? `; idle ${shared.serverLabel} ${(busy * 100).toFixed(1)}% of a core, subtracted` : "";
};

const perOpUs = (cpuS: number, ops: number): number => (cpuS * 1e6) / ops;
const perCoreSecond = (us: number): string => fmtInt(1e6 / us);

/** A row from one saturating load, with the server's and this process's CPU per operation. */
function loadRow(name: string, r: Awaited<ReturnType<typeof saturate>>, shared: Shared): Measurement {
  const serverUs = perOpUs(r.cpu.server ?? Number.NaN, r.ops);
  const frontdeskUs = perOpUs(r.cpu.frontdesk ?? Number.NaN, r.ops);
  return {
    name,
    opsPerSec: r.ops / r.wallS,
    meanUs: (r.wallS * 1e6 * CONCURRENCY) / r.ops,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    note:
      `${shared.serverLabel} CPU ${fmtUs(serverUs)} µs/op = ${perCoreSecond(serverUs)} ops per ${shared.serverLabel} ` +
      `core-second; Frontdesk process CPU ${fmtUs(frontdeskUs)} µs/op = ${perCoreSecond(frontdeskUs)} ops per ` +
      `Frontdesk core-second${idleNote(r.idle, shared)}`,
  };
}

async function sharedStoreLoad(shared: Shared): Promise<Measurement[]> {
  const store = await openStore(shared.url);
  const sessions = new SessionManager(() => ({}), store, NAMESPACE, { defaultTtlMs: null });
  const meters = { server: shared.server(() => [process.pid]), frontdesk: processCpu };
  const rows: Measurement[] = [];
  try {
    const ids: string[] = [];
    for (let i = 0; i < LOAD_SESSIONS; i += CONCURRENCY) {
      const batch = await Promise.all(Array.from({ length: CONCURRENCY }, () => sessions.create()));
      ids.push(...batch.map((s) => s.id));
    }
    // Worker w's i-th call goes to session (w + i·CONCURRENCY) mod LOAD_SESSIONS: calls in flight never share one.
    const pick = (w: number, i: number) => ids[(w + i * CONCURRENCY) % LOAD_SESSIONS] as string;
    log(`${shared.name}: appends`);
    const append = await saturate(
      (w, i) => sessions.addMessage(pick(w, i), { role: i % 2 ? "assistant" : "user", content: text(w, i) }),
      { concurrency: CONCURRENCY, seconds: SECONDS, warmupS: WARMUP_S, meters },
    );
    rows.push(loadRow(`${shared.name}: append (\`addMessage\`)`, append, shared));

    for (let i = 0; i < LOAD_SESSIONS; i += CONCURRENCY) {
      await Promise.all(
        ids.slice(i, i + CONCURRENCY).map((id, s) =>
          sessions.appendEvents(
            id,
            Array.from({ length: READ_HISTORY }, (_, e) => ({ type: "message", role: "user", content: text(s, e) })),
          ),
        ),
      );
    }
    log(`${shared.name}: reads`);
    const read = await saturate(
      async (w, i) => {
        const id = pick(w, i);
        await sessions.get(id);
        await sessions.readEvents(id, { last: 50 });
      },
      { concurrency: CONCURRENCY, seconds: SECONDS, warmupS: WARMUP_S, meters },
    );
    rows.push(loadRow(`${shared.name}: read (\`get\` + \`readEvents({ last: 50 })\`)`, read, shared));

    log(`${shared.name}: live fan-out`);
    rows.push(await fanout(shared, sessions));
  } finally {
    await store.close();
  }
  return rows;
}

/**
 * FANOUT_PEERS other stores on the same server, standing in for other Frontdesk processes, each
 * tail FANOUT_SESSIONS sessions with `subscribe` while this one appends to them: every append
 * crosses the server (pub/sub or NOTIFY) to reach them, and each delivery is one read of the log.
 * What a delivery costs is a difference: rounds of appends to the tailed sessions alternate with
 * rounds of appends to as many untailed ones, so a change of load on the machine moves both alike,
 * and the median round of each is compared.
 */
async function fanout(shared: Shared, writer: SessionManager<Record<string, never>>): Promise<Measurement> {
  const createMany = async (count: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i += CONCURRENCY) {
      const batch = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count - i) }, () => writer.create()));
      ids.push(...batch.map((s) => s.id));
    }
    return ids;
  };
  const tailed = await createMany(FANOUT_SESSIONS);
  const untailed = await createMany(FANOUT_SESSIONS);
  const peers = await Promise.all(Array.from({ length: FANOUT_PEERS }, () => openStore(shared.url)));
  let delivered = 0;
  const latencies: number[] = [];
  let measuring = false;
  const subscriptions = peers.flatMap((peer) => {
    const manager = new SessionManager(() => ({}), peer, NAMESPACE, { defaultTtlMs: null });
    return tailed.map((id) => manager.subscribe(id, { after: 0 }));
  });
  const tails = subscriptions.map(async (subscription) => {
    for await (const event of subscription as AsyncIterable<SessionEvent>) {
      delivered++;
      const sentAt = (event as { data?: { sentAt?: number } }).data?.sentAt;
      if (measuring && sentAt !== undefined) latencies.push(performance.now() - sentAt);
    }
  });
  let appended = 0;
  let appendedUntailed = 0;
  const tick = (ids: string[]) => async (w: number, i: number) => {
    await writer.appendEvents(ids[(w + i * CONCURRENCY) % ids.length] as string, [
      { type: "custom", name: "tick", data: { sentAt: performance.now() } },
    ]);
    if (ids === tailed) appended++;
    else appendedUntailed++;
  };
  const meters = { server: shared.server(() => [process.pid]), frontdesk: processCpu };
  const drained = async () => {
    const deadline = performance.now() + 30_000;
    while (delivered < appended * FANOUT_PEERS && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const load = { concurrency: CONCURRENCY, warmupS: 0, meters: {} };
  try {
    // Unmeasured: the subscriptions attach and the code paths warm up.
    await saturate(tick(tailed), { ...load, seconds: WARMUP_S });
    await saturate(tick(untailed), { ...load, seconds: 1 });
    await drained();
    const idleBefore = await idleRates(meters);
    const rounds: Record<
      "tailed" | "untailed",
      { server: number; frontdesk: number; appends: number; wallS: number }[]
    > = { tailed: [], untailed: [] };
    let deliveries = 0;
    let tailedWallS = 0;
    for (let round = 0; round < FANOUT_ROUNDS; round++) {
      for (const kind of ["tailed", "untailed"] as const) {
        const fromDelivered = delivered;
        const fromAppended = kind === "tailed" ? appended : appendedUntailed;
        const before = await readMeters(meters);
        const start = performance.now();
        measuring = kind === "tailed";
        await saturate(tick(kind === "tailed" ? tailed : untailed), { ...load, seconds: SECONDS / FANOUT_ROUNDS });
        await drained();
        measuring = false;
        const wallS = (performance.now() - start) / 1000;
        const after = await readMeters(meters);
        if (kind === "tailed") {
          deliveries += delivered - fromDelivered;
          tailedWallS += wallS;
        }
        rounds[kind].push({
          server: (after.server ?? 0) - (before.server ?? 0),
          frontdesk: (after.frontdesk ?? 0) - (before.frontdesk ?? 0),
          // Every append of the round, the first ones included, which saturate counts as warm-up.
          appends: (kind === "tailed" ? appended : appendedUntailed) - fromAppended,
          wallS,
        });
      }
    }
    const idleAfter = await idleRates(meters, 1);
    const idle = Object.fromEntries(
      Object.keys(meters).map((name) => [name, Math.min(idleBefore[name] ?? 0, idleAfter[name] ?? 0)]),
    );
    /** The median round's CPU µs per append of one kind, on one meter, less other work's. */
    const medianUs = (kind: "tailed" | "untailed", meter: "server" | "frontdesk") =>
      percentile(
        rounds[kind].map((r) => perOpUs(r[meter] - (idle[meter] ?? 0) * r.wallS, r.appends)).sort((a, b) => a - b),
        50,
      );
    const perDelivery = (meter: "server" | "frontdesk") =>
      (medianUs("tailed", meter) - medianUs("untailed", meter)) / FANOUT_PEERS;
    const appends = rounds.tailed.reduce((sum, r) => sum + r.appends, 0);
    const missing = appends * FANOUT_PEERS - deliveries;
    const sorted = latencies.sort((a, b) => a - b);
    return {
      name: `${shared.name}: live fan-out, ${fmtInt(FANOUT_SESSIONS)} sessions × ${FANOUT_PEERS} peer stores`,
      opsPerSec: deliveries / tailedWallS,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      note:
        `events delivered/s (${fmtInt(appends / tailedWallS)} appends/s, each to ${FANOUT_PEERS} tails; ` +
        `${missing === 0 ? "none missing" : `${fmtInt(missing)} missing`}); per delivery, beyond the append: ` +
        `${shared.serverLabel} CPU ${fmtUs(perDelivery("server"))} µs, Frontdesk CPU ${fmtUs(perDelivery("frontdesk"))} µs ` +
        `(an append to a tailed session: ${shared.serverLabel} ${fmtUs(medianUs("tailed", "server"))} µs, Frontdesk ` +
        `${fmtUs(medianUs("tailed", "frontdesk"))} µs; to an untailed one in the rounds between: ` +
        `${fmtUs(medianUs("untailed", "server"))} µs, ${fmtUs(medianUs("untailed", "frontdesk"))} µs); ` +
        `p50/p99: append → delivery${idleNote(idle, shared)}`,
    };
  } finally {
    await Promise.all(subscriptions.map((s) => s.close()));
    await Promise.all(tails);
    await Promise.all(peers.map((p) => p.close()));
  }
}

/** A real `frontdesk serve` on the store, loaded with autocannon; its CPU read from /proc. */
async function httpLoad(shared: Shared, dir: string): Promise<Measurement[]> {
  const opened = await openStore(shared.url);
  const { key } = await createApiKey(opened, { userId: "bench" });
  await opened.close();
  const config = join(dir, `${shared.name}.config.json`);
  writeFileSync(config, JSON.stringify({ limits: { requestsPerSecond: null } }));
  const server = await spawnListening([BIN, "serve", "--store", shared.url, "--port", "0", "--config", config]);
  const rows: Measurement[] = [];
  try {
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const ids = Array.from({ length: HTTP_SESSIONS }, (_, i) => `http-${i}`);
    for (const id of ids) {
      await fetch(`${server.url}/v1/sessions`, { method: "POST", headers, body: JSON.stringify({ id }) });
    }
    const pid = server.child.pid as number;
    const meters = { server: shared.server(() => [pid]), frontdesk: childCpu(pid) };
    let next = 0;
    const run = async (path: (id: string) => string, method: "GET" | "POST", seconds: number) => {
      const body = JSON.stringify({ type: "message", role: "user", content: text(0, 1) });
      const options: autocannon.Options = {
        url: server.url,
        connections: CONCURRENCY,
        duration: seconds,
        requests: [
          {
            method,
            headers,
            ...(method === "POST" ? { body } : {}),
            setupRequest: (request) => ({ ...request, path: path(ids[next++ % HTTP_SESSIONS] as string) }),
          },
        ],
      };
      return new Promise<autocannon.Result>((resolveResult, reject) =>
        autocannon(options, (error, result) => (error ? reject(error) : resolveResult(result))),
      );
    };
    for (const [label, method, path] of [
      ["POST /v1/sessions/{id}/events", "POST", (id: string) => `/v1/sessions/${id}/events`],
      ["GET /v1/sessions/{id}/events?last=50", "GET", (id: string) => `/v1/sessions/${id}/events?last=50`],
    ] as const) {
      log(`${shared.name}: HTTP ${label}`);
      const idleBefore = await idleRates(meters);
      await run(path, method, WARMUP_S);
      const before = await readMeters(meters);
      const start = performance.now();
      const result = await run(path, method, SECONDS);
      const wallS = (performance.now() - start) / 1000;
      const after = await readMeters(meters);
      const ok = result["2xx"];
      const { cpu, idle } = await netCpu(meters, idleBefore, before, after, wallS);
      const frontdeskUs = perOpUs(cpu.frontdesk ?? Number.NaN, ok);
      const serverUs = perOpUs(cpu.server ?? Number.NaN, ok);
      rows.push({
        name: `${shared.name}: HTTP ${label}`,
        opsPerSec: ok / wallS,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        note:
          `\`frontdesk serve\` process CPU ${fmtUs(frontdeskUs)} µs/request = ${perCoreSecond(frontdeskUs)} requests ` +
          `per Frontdesk core-second; ${shared.serverLabel} CPU ${fmtUs(serverUs)} µs/request; ` +
          `${fmtInt(result.non2xx)} non-2xx${idleNote(idle, shared)}`,
      });
    }
  } finally {
    await stopChild(server.child);
  }
  return rows;
}

// ── Bytes ──────────────────────────────────────────────────────────────────────────────────────

interface Sized {
  name: string;
  url: string;
  /** Bytes the store takes now; the store is closed while this runs when `closeToMeasure`. */
  bytes(): Promise<number>;
  describe: string;
  closeToMeasure?: boolean;
  cleanup?(): Promise<void>;
}

const gc = (): (() => void) => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
};

async function sizeOf(target: Sized): Promise<Measurement> {
  let store = await openStore(target.url);
  // The memory store lives in this process: it is measured with the store open, its manager kept alive.
  const reopen = async () => {
    if (!target.closeToMeasure) return target.bytes();
    await store.close();
    const bytes = await target.bytes();
    store = await openStore(target.url);
    return bytes;
  };
  try {
    const manager = () => new SessionManager(() => ({}), store, NAMESPACE, { defaultTtlMs: null });
    const empty = await reopen();
    const ids: string[] = [];
    for (let i = 0; i < SIZE_SESSIONS; i += 16) {
      const sessions = manager();
      const batch = await Promise.all(
        Array.from({ length: Math.min(16, SIZE_SESSIONS - i) }, (_, k) =>
          sessions.forUser(`user-${(i + k) % 100}`).create(),
        ),
      );
      ids.push(...batch.map((s) => s.id));
    }
    const created = await reopen();
    let messageBytes = 0;
    for (let e = 0; e < SIZE_EVENTS; e++) {
      const sessions = manager();
      for (let i = 0; i < SIZE_SESSIONS; i += 16) {
        await Promise.all(
          ids.slice(i, i + 16).map((id, k) => {
            const content = text(i + k, e + 1);
            messageBytes += Buffer.byteLength(content);
            return sessions
              .forUser(`user-${(i + k) % 100}`)
              .addMessage(id, { role: e % 2 ? "assistant" : "user", content });
          }),
        );
      }
    }
    const filled = await reopen();
    const perSession = (created - empty) / SIZE_SESSIONS;
    const perEvent = (filled - created) / (SIZE_SESSIONS * SIZE_EVENTS);
    const meanText = messageBytes / (SIZE_SESSIONS * SIZE_EVENTS);
    return {
      name: `${target.name}: bytes`,
      note:
        `${fmtInt(perSession)} B per session (header and indexes, no events), ${fmtInt(perEvent)} B per event ` +
        `(a message of ${fmtInt(meanText)} B of text; ${(perEvent / meanText).toFixed(1)}× its text); ${target.describe}`,
    };
  } finally {
    await store.close();
    await target.cleanup?.();
  }
}

function fromLocation(location: Location, name: string): Sized {
  return {
    name,
    url: location.url,
    bytes: () => location.bytes(),
    describe: location.describeBytes,
    closeToMeasure: location.name === "sqlite",
    cleanup: () => location.cleanup(),
  };
}

async function sizes(dir: string, redisUrl?: string, postgresUrl?: string): Promise<Measurement[]> {
  const collect = gc();
  const heap = async () => {
    for (let i = 0; i < 3; i++) collect();
    return process.memoryUsage().heapUsed;
  };
  const targets: Sized[] = [
    { name: "memory", url: "memory:", bytes: heap, describe: "V8 heap used after a full GC, store open" },
    fromLocation(sqliteLocation(dir, "size.db"), "sqlite"),
    {
      name: "fs",
      url: `file:${join(dir, "fs")}?durability=none`,
      bytes: async () => treeBytes(join(dir, "fs")).allocated,
      describe: "blocks the folder's files take on disk, as `du` counts them",
      closeToMeasure: true,
    },
  ];
  if (redisUrl) targets.push(fromLocation(await redisLocation(redisUrl), "redis"));
  if (postgresUrl) targets.push(fromLocation(await postgresLocation(postgresUrl), "postgres"));
  const rows: Measurement[] = [];
  for (const target of targets) {
    log(`${target.name}: bytes`);
    rows.push(await sizeOf(target));
  }
  return rows;
}

// ── The section ────────────────────────────────────────────────────────────────────────────────

export async function benchScaling(): Promise<Section[]> {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-scaling-bench-"));
  const redisUrl = process.env.FRONTDESK_TEST_REDIS_URL;
  const postgresUrl = process.env.FRONTDESK_TEST_POSTGRES_URL;
  const shared: Shared[] = [];
  if (redisUrl) {
    const { Redis } = await import("ioredis");
    const admin = new Redis(redisUrl);
    const location = await redisLocation(redisUrl);
    shared.push({
      name: "redis",
      url: location.url,
      server: () => redisCpu(() => admin.info("cpu")),
      serverLabel: "Redis",
      async cleanup() {
        await location.cleanup();
        await admin.quit();
      },
    });
  }
  if (postgresUrl) {
    const location = await postgresLocation(postgresUrl);
    shared.push({
      name: "postgres",
      url: location.url,
      server: (clients) => postgresCpu(clients),
      serverLabel: "PostgreSQL",
      cleanup: () => location.cleanup(),
    });
  }
  const load: Measurement[] = [];
  const http: Measurement[] = [];
  let bytes: Measurement[] = [];
  try {
    for (const target of shared) {
      try {
        load.push(...(await sharedStoreLoad(target)));
        http.push(...(await httpLoad(target, dir)));
      } finally {
        await target.cleanup();
      }
    }
    bytes = await sizes(dir, redisUrl, postgresUrl);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const machine = `${cpus().length} cores shared by the load, Frontdesk and the database server`;
  return [
    {
      title: "Per Redis node and per PostgreSQL instance, through SessionManager",
      method:
        `One process drives a \`SessionManager\` on the store with ${CONCURRENCY} calls in flight for ${SECONDS} s ` +
        `(after ${WARMUP_S} s of the same load, unmeasured), spread over ${LOAD_SESSIONS} sessions so that no two ` +
        "calls in flight share one; ~200-byte messages. On this machine's " +
        `${machine}, ops/s is what the pair reached together, not the server's ceiling: the model in ` +
        "docs/scaling.md uses the CPU each side spent per operation. Redis CPU is the delta of `used_cpu_user + " +
        "used_cpu_sys` (INFO cpu), the whole server's; PostgreSQL CPU is the delta of utime + stime (/proc) of " +
        "the backends serving this process's connections, told apart by client port, plus the server's own " +
        "processes (postmaster, WAL writer, checkpointer, background writer). Both servers are shared with other " +
        "work on this machine: each meter's idle rate (the lowest of up to six half-second samples before the load, " +
        "and of one after it) times the window is subtracted, and the note says when it was above 0.5% of a core. Frontdesk CPU is `process.cpuUsage()` of the driving " +
        "process (Frontdesk and the load loop). Ops per core-second = 10⁶ ÷ CPU µs per op. Mean µs is wall time × " +
        "calls in flight ÷ calls. " +
        `Fan-out: ${FANOUT_PEERS} more stores on the same server (as ${FANOUT_PEERS} other Frontdesk processes ` +
        `would open) each tail ${fmtInt(FANOUT_SESSIONS)} sessions with \`subscribe\` while the first appends one ` +
        `event at a time to them at ${CONCURRENCY} in flight, in ${FANOUT_ROUNDS} rounds that each end when every ` +
        `tail has every event, alternating with rounds of appends to ${fmtInt(FANOUT_SESSIONS)} untailed sessions. ` +
        "Per delivery = (the median tailed round's CPU per append − the median untailed round's) ÷ tails. A " +
        "read's `get` also records the access time.",
      rows: load,
    },
    {
      title: "Per Frontdesk process, over HTTP",
      method:
        `A real \`frontdesk serve\` on each shared store, no rate limit, ${HTTP_SESSIONS} sessions; autocannon ` +
        `(in the bench process) with ${CONCURRENCY} connections for ${SECONDS} s after ${WARMUP_S} s unmeasured, ` +
        "each request on the next session in turn: appends of one ~200-byte message, then reads of the last 50 " +
        "events. The server process's CPU is utime + stime from /proc/<pid>/stat; the database's is measured as " +
        "above, for that process's connections; per request = CPU ÷ 2xx responses.",
      rows: http,
    },
    {
      title: "Bytes per session and per event",
      method:
        `${fmtInt(SIZE_SESSIONS)} sessions created (owned by 100 users), then ${SIZE_EVENTS} messages of ~200 bytes ` +
        "appended to each one call at a time (16 sessions in parallel). Per session = (size after creating − " +
        "size of the empty store) ÷ sessions; per event = (size after appending − size after creating) ÷ events. " +
        "SQLite and PostgreSQL sizes are page-granular and include free space inside pages; Redis `MEMORY USAGE` " +
        "leaves out the allocator's fragmentation (compare `mem_fragmentation_ratio` in INFO memory). " +
        "The fs store runs with `durability=none`, which changes no byte on disk.",
      rows: bytes,
    },
  ];
}
