import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { assertBuilt, runCli, startServe } from "../cli/processes.ts";
import { POSTGRES, REDIS, uniquePrefix } from "../support/backends.ts";

/**
 * No request within the limits may hold the event loop (issue 15 §1). A real `frontdesk serve`
 * gets every route that takes text at its worst, while a prober in another thread calls /healthz
 * every 25 ms: the slowest probe stays under 250 ms, nothing answers 5xx, and the server still
 * exits 0 on SIGTERM. This file runs alone (test/isolated/), so a busy neighbour cannot slow it.
 */

const SLOWEST_PROBE_MS = 250;
const KIB = 1024;
/** One event's content: as much of one letter as fits the 256 KiB event limit. */
const EVENT_TEXT_CHARS = 256 * KIB - 512;

/** A model whose window holds every event these tests write, so a turn reads and counts them all. */
const CONFIG = {
  // Every event written below then also goes through the secret detectors (issue 19 §4).
  maskSecrets: true,
  limits: { requestsPerSecond: null, maxStreamsPerKey: 100 },
  defaultAgent: "assistant",
  agents: { assistant: { model: "wide", tools: ["clock", "calculator", "recall"] } },
  models: {
    wide: { provider: "offline", model: "frontdesk-offline-1", contextWindow: 4_000_000, maxOutputTokens: 1024 },
  },
};

/** Text that makes naive regular expressions and tokenizers take time in the square of its length. */
const HOSTILE_TEXTS: Record<string, string> = {
  spaces: `a${" ".repeat(200_000)}a`,
  digits: "1".repeat(200_000),
  stars: "*".repeat(200_000),
  parens: "(".repeat(200_000),
  cjk: "字".repeat(100_000),
  "compute digits": `compute ${"9".repeat(100_000)}`,
  "compute spaces": `compute 1${" ".repeat(100_000)}+1`,
  "compute dots": `compute 1${" .".repeat(50_000)}+1`,
  "recall question marks": `recall x${"?".repeat(100_000)}x`,
  "call with braces": "call x with {".repeat(10_000),
  "use tool with braces": "use the x tool with {".repeat(6_000),
  "run backtick": `run \`${"a".repeat(100_000)}`,
  "what is": `what is ${"9 ".repeat(50_000)}`,
  "recall words": `recall ${"z".repeat(100_000)}`,
};

/** Text built from the secret detectors' anchors with no secret in it, or with thousands of them. */
const HOSTILE_SECRETS: Record<string, string> = {
  "PEM BEGIN, no END": "-----BEGIN RSA PRIVATE KEY-----".repeat(8_000),
  "Bearer repeated": "Bearer ".repeat(37_000),
  "sk- repeated": "sk-".repeat(87_000),
  "postgres:// with no @": "postgres://".repeat(23_700),
  "open quotes after ;pwd=": ";pwd='".repeat(43_500),
  "sk- keys back to back": `sk-${"a1".repeat(20)} `.repeat(5_900),
};

const SHARED_BACKENDS = [POSTGRES, REDIS];
const shared = SHARED_BACKENDS.find((backend) => backend.url);

/**
 * Calls /healthz every 25 ms from its own thread, so the test's own work never delays a probe;
 * reports every probe's time when told to stop.
 */
const PROBER = `
const { parentPort, workerData } = require("node:worker_threads");
let stopping = false;
const times = [];
const startedAt = [];
const failures = [];
parentPort.on("message", () => { stopping = true; });
(async () => {
  while (!stopping) {
    const started = performance.now();
    startedAt.push(Date.now());
    try {
      const res = await fetch(workerData.url, { signal: AbortSignal.timeout(60000) });
      await res.text();
      if (res.status !== 200) failures.push("status " + res.status);
    } catch (error) {
      failures.push(String(error));
    }
    times.push(performance.now() - started);
    if (times.length === 1) parentPort.postMessage({ first: true });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  parentPort.postMessage({ times, startedAt, failures });
})();
`;

interface ProbeResult {
  /** How long each probe took, in ms. */
  times: number[];
  /** When each probe started (Date.now()). */
  startedAt: number[];
  failures: string[];
}

class Prober {
  private readonly worker: Worker;
  private readonly started: Promise<void>;
  private readonly result: Promise<ProbeResult>;

  constructor(url: string) {
    this.worker = new Worker(PROBER, { eval: true, workerData: { url: `${url}/healthz` } });
    let onFirst: () => void = () => {};
    this.started = new Promise((resolve) => (onFirst = resolve));
    this.result = new Promise((resolve, reject) => {
      this.worker.on("message", (message: { first: true } | ProbeResult) => {
        if ("times" in message) resolve(message);
        else onFirst();
      });
      this.worker.on("error", reject);
    });
  }

  ready(): Promise<void> {
    return this.started;
  }

  async stop(): Promise<ProbeResult> {
    this.worker.postMessage("stop");
    const result = await this.result;
    await this.worker.terminate();
    return result;
  }
}

/** What one request got: its status, or the failure that stood in for an answer. */
interface Outcome {
  what: string;
  status: number;
  detail?: string;
  /** When it was sent and answered (Date.now()), to name what was running during a slow probe. */
  from?: number;
  to?: number;
}

const nested = (depth: number): Record<string, unknown> => {
  let value: Record<string, unknown> = { leaf: "x".repeat(100) };
  for (let i = 1; i < depth; i++) value = { n: value };
  return value;
};

async function runTraffic(url: string, key: string): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const auth = { authorization: `Bearer ${key}` };
  const json = { ...auth, "content-type": "application/json" };
  const send = async (
    what: string,
    path: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: string }> => {
    const from = Date.now();
    const res = await fetch(`${url}${path}`, { ...init, headers: { ...json, ...(init.headers ?? {}) } });
    // The whole body: a turn's SSE stream ends only when the turn does.
    const body = await res.text();
    const detail = res.status >= 500 ? body.slice(0, 300) : undefined;
    outcomes.push({ what, status: res.status, detail, from, to: Date.now() });
    return { status: res.status, body };
  };
  const post = (what: string, path: string, body: unknown) =>
    send(what, path, { method: "POST", body: JSON.stringify(body) });
  const turn = async (what: string, session: string, message: string): Promise<string | undefined> => {
    const res = await post(`turn: ${what}`, `/v1/sessions/${session}/turns`, { message });
    const done = /event: done\ndata: (.*)\n/.exec(res.body);
    return done ? (JSON.parse(done[1] as string) as { status: string }).status : undefined;
  };

  // Sessions whose titles and purposes make a substring search work hardest.
  for (let i = 0; i < 20; i++) {
    await post("create", "/v1/sessions", { id: `long-${i}`, title: "a".repeat(512), purpose: "a".repeat(4096) });
  }
  await post("create", "/v1/sessions", { id: "big" });
  await post("create", "/v1/sessions", { id: "hostile" });
  await post("create", "/v1/sessions", { id: "fresh" });

  // Events of 256 KiB of one letter (a different letter each, so no cache makes them cheap).
  for (const letter of "zyxwvuts") {
    await post(`event of 256 KiB of ${letter}`, "/v1/sessions/big/events", {
      type: "message",
      role: "user",
      content: letter.repeat(EVENT_TEXT_CHARS),
    });
  }
  await post("event: assistant reply", "/v1/sessions/big/events", {
    type: "message",
    role: "assistant",
    content: "q".repeat(EVENT_TEXT_CHARS),
  });
  await post("events: one batch of hostile texts", "/v1/sessions/big/events", {
    events: Object.values(HOSTILE_TEXTS)
      .slice(0, 3)
      .map((text) => ({ type: "message", role: "user", content: text })),
  });
  // One per request: the texts that masking inflates past the event limit are refused (413) after
  // the detectors have run over them, and the rest are stored for the turns below to read.
  for (const [name, text] of Object.entries(HOSTILE_SECRETS)) {
    await post(`event: ${name}, for the secret detectors`, "/v1/sessions/big/events", {
      type: "message",
      role: "user",
      content: text,
    });
  }
  await post("event: a tool call whose input is hostile to the secret detectors", "/v1/sessions/big/events", {
    type: "tool_call",
    invocationId: "inv-hostile",
    tool: "lookup",
    input: { text: HOSTILE_SECRETS["PEM BEGIN, no END"] },
  });

  // A turn whose message is ~900 KiB of one letter (under the 1 MiB body limit), on an empty session
  // and on one that holds all of the above; then a short turn that reads all that history.
  await turn("900 KiB of one letter", "fresh", "z".repeat(900 * KIB));
  await turn("900 KiB of one letter over a long history", "big", "m".repeat(900 * KIB));
  const short = await turn("short turn over the long history", "big", "hello there");
  outcomes.push({ what: "the short turn over the long history completed", status: short === "completed" ? 200 : 599 });
  for (const [name, text] of Object.entries({ ...HOSTILE_TEXTS, ...HOSTILE_SECRETS }))
    await turn(name, "hostile", text);

  // The conversation view, budgeted and not.
  for (const budget of [1, 1000, 100_000, 100_000_000]) {
    await send(`messages?tokenBudget=${budget}`, `/v1/sessions/big/messages?tokenBudget=${budget}`);
  }
  await send("messages?limit=1000", "/v1/sessions/big/messages?limit=1000");

  // List search with long and hostile text (256 characters is the bound).
  for (const q of [
    `${"a".repeat(255)}b`,
    "a".repeat(256),
    "%".repeat(256),
    "_".repeat(256),
    "\\".repeat(256),
    "(".repeat(256),
    ".*".repeat(128),
    "İ".repeat(256),
    "ß".repeat(256),
  ]) {
    await send(`list q=${q.slice(0, 8)}…`, `/v1/sessions?q=${encodeURIComponent(q)}&limit=100`);
  }

  // State nested just within the depth limit (64), and past it; a wide state near its 1 MiB limit.
  await send("state nested 60 deep", "/v1/sessions/big", {
    method: "PATCH",
    body: JSON.stringify({ state: { deep: nested(60) } }),
  });
  await send("state nested 70 deep (refused)", "/v1/sessions/big", {
    method: "PATCH",
    body: JSON.stringify({ state: { deep: nested(70) } }),
  });
  await send("body of 200,000 nested arrays (refused)", "/v1/sessions/big", {
    method: "PATCH",
    body: `{"state":{"deep":${"[".repeat(200_000)}${"]".repeat(200_000)}}}`,
  });
  await send("wide state near 1 MiB", "/v1/sessions/big", {
    method: "PATCH",
    body: JSON.stringify({ state: { wide: Array.from({ length: 9000 }, (_, i) => ({ [`k${i}`]: "v".repeat(90) })) } }),
  });

  // The WebSocket's agent input, at its 64 KiB message bound.
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/sessions/hostile/ws`, { headers: auth });
  const frames: { type: string; status?: string }[] = [];
  let onFrame: () => void = () => {};
  ws.on("message", (data) => {
    frames.push(JSON.parse(String(data)) as { type: string; status?: string });
    onFrame();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  for (const content of [
    `recall x${"?".repeat(60_000)}x`,
    `compute 1${" ".repeat(60_000)}+1`,
    "q".repeat(63_000),
    "call x with {".repeat(4_500),
  ]) {
    const before = frames.filter((frame) => frame.type === "turn" || frame.type === "error").length;
    const from = Date.now();
    ws.send(JSON.stringify({ type: "user_message", content }));
    await new Promise<void>((resolve) => {
      onFrame = () => {
        if (frames.filter((frame) => frame.type === "turn" || frame.type === "error").length > before) resolve();
      };
      onFrame();
    });
    const last = frames.filter((frame) => frame.type === "turn" || frame.type === "error").at(-1);
    const what = `ws user_message ${content.slice(0, 10)}…`;
    outcomes.push({ what, status: last?.type === "turn" ? 200 : 400, from, to: Date.now() });
  }
  ws.close();

  // The MCP tools over streamable HTTP.
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: auth } });
  const mcp = new Client({ name: "stall-test", version: "1.0.0" });
  await mcp.connect(transport);
  const tool = async (name: string, args: Record<string, unknown>) => {
    const from = Date.now();
    try {
      const result = (await mcp.callTool({ name, arguments: args })) as { isError?: boolean };
      outcomes.push({ what: `mcp ${name}`, status: result.isError ? 400 : 200, from, to: Date.now() });
    } catch (error) {
      outcomes.push({ what: `mcp ${name}`, status: 599, detail: String(error), from, to: Date.now() });
    }
  };
  for (const letter of "klmn") {
    await tool("session_add_message", { session_id: "big", role: "user", content: letter.repeat(EVENT_TEXT_CHARS) });
  }
  await tool("session_search", { query: `${"a".repeat(255)}b` });
  await tool("session_search", { query: "zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz zzzz q" });
  await tool("session_search", { query: "%_%_".repeat(64) });
  await tool("session_events", { session_id: "big", last: 100 });
  await tool("session_list", { limit: 100 });
  await mcp.close();

  // A turn that recalls across every session, then one more over the whole history.
  await turn("recall across sessions", "big", `recall ${"z ".repeat(99)}`);
  const last = await turn("last short turn", "big", "what time is it?");
  outcomes.push({ what: "the last short turn completed", status: last === "completed" ? 200 : 599 });
  return outcomes;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(() => assertBuilt());

async function stallRun(storeUrl: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "fd-stall-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, "frontdesk.config.json");
  writeFileSync(configFile, JSON.stringify(CONFIG));
  const made = await runCli(["keys", "create", "--store", storeUrl, "--user", "stall", "--admin"]);
  expect(made.code, made.stderr).toBe(0);
  const key = made.stdout.trim();

  const { cli, url } = await startServe(["--store", storeUrl, "--port", "0", "--config", configFile]);
  cleanups.push(() => cli.kill());
  const prober = new Prober(url);
  let probes: ProbeResult;
  let outcomes: Outcome[];
  try {
    await prober.ready();
    outcomes = await runTraffic(url, key);
  } finally {
    probes = await prober.stop();
  }

  const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
  for (const name of [
    "nodejs_eventloop_lag_seconds",
    "process_cpu_user_seconds_total",
    "nodejs_heap_size_used_bytes",
  ]) {
    expect(metrics).toMatch(new RegExp(`^${name} `, "m"));
  }
  const slowest = Math.max(...probes.times);
  // The slowest probes, each with the requests in flight while it waited.
  const slowProbes = probes.times
    .map((ms, i) => ({ ms, at: probes.startedAt[i] as number }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 5)
    .map(({ ms, at }) => {
      const during = outcomes.filter(
        (o) => o.from !== undefined && (o.from as number) <= at + ms && (o.to as number) >= at,
      );
      return `${ms.toFixed(0)} ms during [${during.map((o) => o.what).join("; ")}]`;
    });
  const sorted = [...probes.times].sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
  console.log(
    `[stall] ${storeUrl.split(":")[0]}: ${outcomes.length} requests, ${probes.times.length} /healthz probes, ` +
      `slowest ${slowest.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
      `server's own max event-loop delay ${/^nodejs_eventloop_lag_max_seconds (\S+)/m.exec(metrics)?.[1] ?? "?"} s (since the last scrape)` +
      `\n[stall] slowest probes: ${slowProbes.join("\n  ")}`,
  );

  expect(outcomes.filter((outcome) => outcome.status >= 500)).toEqual([]);
  expect(probes.failures).toEqual([]);
  expect(probes.times.length).toBeGreaterThan(10);
  expect(slowest).toBeLessThan(SLOWEST_PROBE_MS);
  expect(await cli.stop("SIGTERM", 30_000)).toEqual({ code: 0, signal: null });
}

describe("no request holds the event loop (real frontdesk serve, /healthz probed every 25 ms)", () => {
  it("on SQLite, the default store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fd-stall-db-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await stallRun(`sqlite:${join(dir, "stall.db")}`);
  }, 300_000);

  it(`on one shared store (${shared?.name ?? "PostgreSQL or Redis"})`, async (context) => {
    if (!shared?.url) {
      // Under CI a missing backend is a failure, never a silent skip.
      if (process.env.CI === "true") {
        throw new Error(
          "Set FRONTDESK_TEST_POSTGRES_URL or FRONTDESK_TEST_REDIS_URL: the stall test needs a shared store",
        );
      }
      context.skip();
      return;
    }
    const prefix = uniquePrefix("stall");
    cleanups.push(() => shared.cleanup(shared.url as string, prefix));
    await stallRun(shared.scoped(shared.url, prefix));
  }, 300_000);
});
