/**
 * Instructions per request, counted by valgrind's callgrind on the server's main thread.
 *
 * On a shared virtual machine the time a request takes moves by a factor of two within minutes
 * (other tenants share the caches), so a throughput run cannot tell a 3% change from noise. The
 * number of instructions a request executes hardly moves: two runs of the same build agree within
 * 1%. This section is for judging a change to the request path; the goals stay in throughput.
 *
 * Needs `valgrind` (Debian: `apt-get install valgrind`); without it the section says so and is empty.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { createApiKey } from "../src/server/api-keys.ts";
import { openStore } from "../src/stores/registry.ts";
import type { Measurement, Section } from "./measure.ts";
import { adminKeyOf, spawnListening, stopChild } from "./processes.ts";

const BIN = resolve(import.meta.dirname, "../bin/frontdesk.js");
const BARE = resolve(import.meta.dirname, "bare-fastify.mjs");
/** Enough for V8 to have optimized the request path before counting starts. */
const WARMUP_REQUESTS = 3000;
const COUNTED_REQUESTS = 1500;
/** One request at a time: each is one turn of the event loop, so the count does not depend on how requests batch. */
const CONNECTIONS = 1;
const APPEND_BODY = JSON.stringify({ type: "message", role: "user", content: "hello, how are you today?" });

interface Target {
  name: string;
  /** undefined: the bare Fastify process. */
  store?: "memory:" | "sqlite";
  path: string;
  method?: "GET" | "POST";
}

const TARGETS: Target[] = [
  { name: "bare Fastify GET constant", path: "/constant" },
  { name: "Frontdesk GET /healthz", store: "memory:", path: "/healthz" },
  { name: "memory: GET /v1/sessions/{id}", store: "memory:", path: "/v1/sessions/bench" },
  { name: "sqlite (full): GET /v1/sessions/{id}", store: "sqlite", path: "/v1/sessions/bench" },
  {
    name: "memory: POST /v1/sessions/{id}/events",
    store: "memory:",
    path: "/v1/sessions/bench/events",
    method: "POST",
  },
];

const hasValgrind = (): boolean => {
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

async function countInstructions(target: Target, dir: string): Promise<number> {
  const out = mkdtempSync(join(dir, "callgrind-"));
  let key = "";
  let serveArgs: string[] = [BARE];
  if (target.store === "sqlite") {
    const url = `sqlite:${join(out, "bench.db")}`;
    const opened = await openStore(url);
    key = (await createApiKey(opened, { userId: "bench" })).key;
    await opened.close();
    serveArgs = [BIN, "serve", "--store", url, "--port", "0", "--config", join(dir, "frontdesk.config.json")];
  } else if (target.store === "memory:") {
    serveArgs = [BIN, "serve", "--store", "memory:", "--port", "0", "--config", join(dir, "frontdesk.config.json")];
  }
  const valgrindArgs = [
    "--tool=callgrind",
    "--separate-threads=yes",
    "--dump-instr=no",
    "--collect-jumps=no",
    // V8 writes machine code at run time; valgrind must notice it changing.
    "--smc-check=all-non-file",
    `--callgrind-out-file=${out}/cg.%p`,
    process.execPath,
    ...serveArgs,
  ];
  const server = await spawnListening(valgrindArgs, {}, "valgrind");
  const keyPrinted = target.store === "memory:" ? adminKeyOf(server.child) : undefined;
  try {
    if (keyPrinted) key = await keyPrinted;
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    if (target.store) {
      await fetch(`${server.url}/v1/sessions`, { method: "POST", headers, body: JSON.stringify({ id: "bench" }) });
    }
    const load = async (amount: number) => {
      const result = await autocannon({
        url: `${server.url}${target.path}`,
        method: target.method ?? "GET",
        headers,
        body: target.method === "POST" ? APPEND_BODY : undefined,
        amount,
        connections: CONNECTIONS,
      });
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.name}: ${result.non2xx} non-2xx answers`);
    };
    await load(WARMUP_REQUESTS);
    const pid = String(server.child.pid);
    execFileSync("callgrind_control", ["--zero", pid], { stdio: "ignore" });
    await load(COUNTED_REQUESTS);
    execFileSync("callgrind_control", ["--dump", pid], { stdio: "ignore" });
    // Thread 1 is the event loop: V8's helper threads spin differently from run to run.
    const dump = readFileSync(join(out, `cg.${pid}.1-01`), "utf8");
    const summary = /^summary: (\d+)$/m.exec(dump);
    if (!summary) throw new Error(`${target.name}: no callgrind summary`);
    return Number(summary[1]) / COUNTED_REQUESTS;
  } finally {
    await stopChild(server.child, "SIGKILL");
  }
}

export async function benchInstructions(): Promise<Section[]> {
  const title = "Instructions per request (callgrind)";
  if (!hasValgrind()) {
    return [{ title, method: "Skipped: valgrind is not installed (`apt-get install valgrind`).", rows: [] }];
  }
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-instructions-"));
  try {
    const config = join(dir, "frontdesk.config.json");
    // Process metrics sample the event loop on a timer: under callgrind a request takes some 50 times
    // longer, so the timer's work would be counted per request in proportion to how slow the
    // machine is, which is not the request path's cost.
    writeFileSync(config, JSON.stringify({ limits: { requestsPerSecond: null }, processMetrics: false }));
    const counts: number[] = [];
    // Two at a time: counts do not depend on timing, so sharing the cores costs nothing but wall time.
    for (let i = 0; i < TARGETS.length; i += 2) {
      counts.push(...(await Promise.all(TARGETS.slice(i, i + 2).map((target) => countInstructions(target, dir)))));
    }
    const bare = counts[0] as number;
    const rows: Measurement[] = TARGETS.map((target, i) => {
      const count = counts[i] as number;
      return {
        name: target.name,
        costRatio: count / bare,
        note: `${Math.round(count).toLocaleString("en")} instructions per request`,
      };
    });
    return [
      {
        title,
        method:
          `Each server runs under \`valgrind --tool=callgrind\`; after ${WARMUP_REQUESTS} requests to warm it up, the ` +
          `counters are zeroed and ${COUNTED_REQUESTS} more requests (autocannon) are ` +
          "counted on the main thread, one request at a time. Cost ratio: instructions ÷ the bare GET's. Instructions are not time: the " +
          "bare route's few instructions stay in the CPU caches, Frontdesk's many more do not, so the time ratio is " +
          "larger than this one. Repeats of one build agree within 1%, which the throughput ratios do not.",
        rows,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
