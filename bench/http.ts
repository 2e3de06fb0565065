import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { createApiKey } from "../src/server/api-keys.ts";
import { openStore } from "../src/stores/registry.ts";
import { type Measurement, percentile, type Section } from "./measure.ts";
import { adminKeyOf, spawnListening, stopChild } from "./processes.ts";

const BIN = resolve(import.meta.dirname, "../bin/frontdesk.js");
const DURATION_S = 6;
/**
 * Unmeasured load on each route before its measured run, so both sides are compared as V8 has
 * optimized them: a fresh process runs its first second or so of requests unoptimized, which costs
 * a large request path far more than a route answering a constant.
 */
const WARMUP_S = 2;
const CONNECTIONS = 32;
const SUBSCRIBERS = 1000;
/**
 * Each append reaches all subscribers at once, so one slow append (a GC pause, a slow fsync) holds
 * 1,000 of the deliveries: with 30 appends that is over 1% of them and p99 is that one append.
 * With 200, p99 describes deliveries rather than the single worst append.
 */
const FANOUT_EVENTS = 200;
/** How often the many-sessions run asks the same server for `/healthz`, and the slowest answer allowed. */
const HEALTH_PROBE_MS = 50;
const HEALTH_LIMIT_MS = 250;
/** The many-sessions rows alternate with the bare POST in this many rounds of this many seconds each. */
const ROUNDS = 6;
const ROUND_S = 1;

const cannon = (options: autocannon.Options): Promise<autocannon.Result> =>
  new Promise((resolveResult, reject) => {
    autocannon({ duration: DURATION_S, connections: CONNECTIONS, pipelining: 1, ...options }, (error, result) =>
      error ? reject(error) : resolveResult(result),
    );
  });

/** Requests per second on a warmed-up route. */
const rps = async (options: autocannon.Options): Promise<number> => {
  await cannon({ ...options, duration: WARMUP_S });
  return (await cannon(options)).requests.average;
};

/** The middle value, or the mean of the middle two: an even count must not lean either way. */
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[half] as number)
    : ((sorted[half - 1] as number) + (sorted[half] as number)) / 2;
};

/**
 * Appends with each connection on a session of its own, so the store sees 32 commits to 32 different
 * sessions at once: the case where only a commit shared across sessions spares 31 of 32 fsyncs.
 * `/healthz` is probed on the same server while it is loaded, because sharing a commit must not mean
 * holding the event loop for a whole batch.
 *
 * The bare POST is measured again here, in rounds alternating with these, and the ratio is the
 * median of each round's pair, because on a shared machine the load beside the bench swings within
 * a run: one bare figure taken minutes earlier moved this ratio between 16% and 38% from one run to
 * the next while the appends held at 4,000/s, and a pair split by a swing is an outlier the median drops.
 */
async function manySessionAppends(
  base: string,
  headers: Record<string, string>,
  bare: autocannon.Options,
): Promise<{
  opsPerSec: number;
  bareOpsPerSec: number;
  ratio: number;
  slowestHealthMs: number;
  probes: number;
  failed: number;
}> {
  const ids = Array.from({ length: CONNECTIONS }, (_, i) => `many-${i}`);
  for (const id of ids) {
    const res = await fetch(`${base}/v1/sessions`, { method: "POST", headers, body: JSON.stringify({ id }) });
    if (!res.ok) throw new Error(`creating session ${id}: HTTP ${res.status} ${await res.text()}`);
  }
  const body = JSON.stringify({ type: "message", role: "user", content: "hello, how are you today?" });
  const appends = (duration: number): autocannon.Options => {
    // autocannon builds its clients one after another; each takes the next session, once per run.
    let next = 0;
    return {
      url: base,
      duration,
      setupClient: (client) => {
        const id = ids[next++ % ids.length];
        client.setRequests([{ method: "POST", path: `/v1/sessions/${id}/events`, headers, body }]);
      },
    };
  };
  await cannon(appends(WARMUP_S));
  const health: number[] = [];
  let failed = 0;
  const probe = async (): Promise<void> => {
    const started = performance.now();
    try {
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (!res.ok) failed++;
    } catch {
      failed++;
    }
    health.push(performance.now() - started);
  };
  let ours = 0;
  let theirs = 0;
  const ratios: number[] = [];
  let refused = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const bareRound = (await cannon({ ...bare, duration: ROUND_S })).requests.average;
    theirs += bareRound;
    const inFlight: Promise<void>[] = [];
    const timer = setInterval(() => inFlight.push(probe()), HEALTH_PROBE_MS);
    try {
      const result = await cannon(appends(ROUND_S));
      ours += result.requests.average;
      ratios.push(result.requests.average / bareRound);
      refused += result.non2xx + result.errors + result.timeouts;
    } finally {
      clearInterval(timer);
      await Promise.all(inFlight);
    }
  }
  if (refused > 0) throw new Error(`${refused} of the ${CONNECTIONS}-session appends failed`);
  return {
    opsPerSec: ours / ROUNDS,
    bareOpsPerSec: theirs / ROUNDS,
    ratio: median(ratios),
    slowestHealthMs: Math.max(...health),
    probes: health.length,
    failed,
  };
}

export async function benchHttp(): Promise<Section[]> {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-http-bench-"));
  const children: ChildProcess[] = [];
  try {
    const bare = await spawnListening([resolve(import.meta.dirname, "bare-fastify.mjs")]);
    children.push(bare.child);
    const config = join(dir, "frontdesk.config.json");
    writeFileSync(config, JSON.stringify({ limits: { requestsPerSecond: null, maxStreamsPerKey: SUBSCRIBERS + 100 } }));

    const rows: Measurement[] = [];
    const checks: NonNullable<Section["checks"]> = [];
    const bareGet = await rps({ url: `${bare.url}/constant` });
    const barePostOptions: autocannon.Options = {
      url: `${bare.url}/constant`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    };
    const barePost = await rps(barePostOptions);
    for (const [method, opsPerSec] of [
      ["GET", bareGet],
      ["POST", barePost],
    ] as const) {
      rows.push({
        name: `bare Fastify ${method} constant`,
        opsPerSec,
        note: `${CONNECTIONS} connections, ${DURATION_S} s`,
      });
    }

    let fanout: Measurement | undefined;
    for (const store of [
      "memory:",
      `sqlite:${join(dir, "full.db")}`,
      `sqlite:${join(dir, "normal.db")}?durability=normal`,
    ]) {
      const label = store === "memory:" ? "memory" : store.includes("normal") ? "sqlite (normal)" : "sqlite (full)";
      let key = "";
      if (store !== "memory:") {
        const opened = await openStore(store);
        key = (await createApiKey(opened, { userId: "bench" })).key;
        await opened.close();
      }
      const server = await spawnListening([BIN, "serve", "--store", store, "--port", "0", "--config", config]);
      children.push(server.child);
      if (store === "memory:") {
        // memory: is per process, so the key is the admin key serve prints for an empty store.
        key = await adminKeyOf(server.child);
      }
      const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
      await fetch(`${server.url}/v1/sessions`, { method: "POST", headers, body: JSON.stringify({ id: "bench" }) });
      const get = await rps({ url: `${server.url}/v1/sessions/bench`, headers });
      const post = await rps({
        url: `${server.url}/v1/sessions/bench/events`,
        method: "POST",
        headers,
        body: JSON.stringify({ type: "message", role: "user", content: "hello, how are you today?" }),
      });
      rows.push({
        name: `${label}: GET /v1/sessions/{id}`,
        opsPerSec: get,
        ratio: get / bareGet,
        note: "ratio to the bare GET",
      });
      rows.push({
        name: `${label}: POST /v1/sessions/{id}/events`,
        opsPerSec: post,
        ratio: post / barePost,
        note: "ratio to the bare POST",
      });
      checks.push({
        goal: `${label}: GET session ≥ 50% of the bare Fastify route`,
        met: get / bareGet >= 0.5,
        value: `${Math.round((get / bareGet) * 100)}%`,
      });
      checks.push({
        goal: `${label}: append ≥ 35% of the bare Fastify route`,
        met: post / barePost >= 0.35,
        value: `${Math.round((post / barePost) * 100)}%`,
      });
      const many = await manySessionAppends(server.url, headers, barePostOptions);
      const manyRatio = many.ratio;
      rows.push({
        name: `${label}: POST /v1/sessions/{id}/events, ${CONNECTIONS} sessions`,
        opsPerSec: many.opsPerSec,
        ratio: manyRatio,
        note:
          `median ratio to the bare POST over ${ROUNDS} alternating rounds (bare ${Math.round(many.bareOpsPerSec).toLocaleString("en-US")}/s); ` +
          `slowest of ${many.probes} /healthz probes ` +
          `${many.slowestHealthMs.toFixed(0)} ms` +
          (many.failed > 0 ? `, ${many.failed} failed` : ""),
      });
      if (label === "sqlite (full)") {
        checks.push({
          goal: `HTTP POST, ${CONNECTIONS} connections on ${CONNECTIONS} sessions, sqlite full ≥ 35% of bare Fastify POST`,
          met: manyRatio >= 0.35,
          value: `${Math.round(manyRatio * 100)}%`,
        });
        checks.push({
          goal: `/healthz ≤ ${HEALTH_LIMIT_MS} ms during the ${CONNECTIONS}-session run (sqlite full)`,
          met: many.failed === 0 && many.slowestHealthMs <= HEALTH_LIMIT_MS,
          value:
            `${many.slowestHealthMs.toFixed(0)} ms over ${many.probes} probes` +
            (many.failed > 0 ? `, ${many.failed} failed` : ""),
        });
        fanout = await sseFanout(server.url, key);
      }
      await stopChild(server.child);
    }
    if (fanout) {
      rows.push(fanout);
      checks.push({
        goal: `SSE fan-out to ${SUBSCRIBERS} subscribers: p99 append → receipt ≤ 50 ms`,
        met: (fanout.p99Ms ?? Infinity) <= 50,
        value: `${fanout.p99Ms?.toFixed(1)} ms`,
      });
    }
    return [
      {
        title: "HTTP API throughput and live fan-out",
        method:
          `autocannon with ${CONNECTIONS} connections for ${DURATION_S} s per route, after ${WARMUP_S} s of unmeasured ` +
          "load on the same route, against a real `frontdesk serve` " +
          "process and, as the denominator, a bare Fastify process answering a constant, both on loopback in the same " +
          "run (the load generator shares the machine's 2 cores with the server). The ratio is Frontdesk ÷ bare " +
          `requests per second. Fan-out: ${SUBSCRIBERS} SSE subscribers on one session of the SQLite (full) server; ` +
          `${FANOUT_EVENTS} appends, one at a time, each timed from just before its POST to its arrival at every subscriber. ` +
          `The ${CONNECTIONS}-session rows give each connection a session of its own (the one-session rows all append ` +
          `to one); they run in ${ROUNDS} rounds of ${ROUND_S} s alternating with rounds of the bare POST, their ` +
          `ratio is the median of the rounds' pairs, and while they run the bench process asks the same server for \`/healthz\` every ${HEALTH_PROBE_MS} ms ` +
          "(timed in the process that also drives the load, so its event loop's delays count against the server).",
        rows,
        checks,
      },
    ];
  } finally {
    for (const child of children) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function sseFanout(base: string, key: string): Promise<Measurement> {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  await fetch(`${base}/v1/sessions`, { method: "POST", headers, body: JSON.stringify({ id: "fanout" }) });
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  const received = new Map<number, number>();
  let wake: (() => void) | undefined;
  const requests = Array.from({ length: SUBSCRIBERS }, () => {
    const req = request(`${base}/v1/sessions/fanout/events/stream`, {
      headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
    });
    req.on("response", (res) => {
      let buffer = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        const now = performance.now();
        buffer += chunk;
        for (let match = /^id: ?(\d+)$/m.exec(buffer); match; match = /^id: ?(\d+)$/m.exec(buffer)) {
          const seq = Number(match[1]);
          buffer = buffer.slice((match.index ?? 0) + match[0].length);
          const started = sentAt.get(seq);
          if (started !== undefined) latencies.push(now - started);
          received.set(seq, (received.get(seq) ?? 0) + 1);
          if (received.get(seq) === SUBSCRIBERS) wake?.();
        }
      });
    });
    req.on("error", () => undefined);
    req.end();
    return req;
  });
  // Let every subscriber attach before timing starts: the first append's arrival count proves it.
  sentAt.set(1, performance.now());
  await new Promise<void>((r) => {
    wake = r;
    void fetch(`${base}/v1/sessions/fanout/events`, {
      method: "POST",
      headers,
      body: JSON.stringify({ type: "custom", name: "warmup" }),
    });
  });
  latencies.length = 0;
  for (let seq = 2; seq <= FANOUT_EVENTS + 1; seq++) {
    await new Promise<void>((r) => {
      wake = r;
      sentAt.set(seq, performance.now());
      void fetch(`${base}/v1/sessions/fanout/events`, {
        method: "POST",
        headers,
        body: JSON.stringify({ type: "custom", name: "tick", data: seq }),
      });
    });
  }
  for (const req of requests) req.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    name: `SSE fan-out to ${SUBSCRIBERS} subscribers (sqlite full)`,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    note: `${sorted.length} deliveries measured`,
  };
}
