/**
 * What `trackSessions` adds to an MCP tool call: the same tool called through an in-memory linked
 * client/server pair, untracked and tracked on SQLite (the default `full` durability, and `normal`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { SessionManager } from "../src/core/session-manager.ts";
import { trackSessions } from "../src/mcp/track.ts";
import { createMemoryStore } from "../src/stores/memory/index.ts";
import { openStore } from "../src/stores/registry.ts";
import type { SessionStore } from "../src/stores/types.ts";
import { interleaved, type Measurement, percentile, type Section } from "./measure.ts";

const GOAL_MS = 1;

async function pair(store: SessionStore | undefined): Promise<Client> {
  const server = new McpServer({ name: "bench", version: "1.0.0" });
  if (store) trackSessions(server, { sessions: new SessionManager(() => ({}), store, "bench") });
  server.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(clientSide);
  return client;
}

/** Per-call latencies (ms) of `count` sequential calls, for percentiles. */
async function latencies(op: () => Promise<unknown>, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await op();
    out.push(performance.now() - start);
  }
  return out.sort((a, b) => a - b);
}

export async function benchMcp(): Promise<Section[]> {
  const dir = mkdtempSync(join(tmpdir(), "frontdesk-bench-mcp-"));
  const full = await openStore(`sqlite:${join(dir, "full.db")}`);
  const normal = await openStore(`sqlite:${join(dir, "normal.db")}?durability=normal`);
  const clients: Client[] = [];
  try {
    const untracked = await pair(undefined);
    const trackedFull = await pair(full);
    const trackedNormal = await pair(normal);
    const trackedMemory = await pair(createMemoryStore());
    clients.push(untracked, trackedFull, trackedNormal, trackedMemory);
    // The floor: the one commit tracking makes per call, straight through the manager.
    const direct = new SessionManager(() => ({}), full, "bench-direct");
    await direct.create({ sessionId: "direct" });
    const output = { content: [{ type: "text", text: "hello" }] };
    // The same arguments everywhere: the untracked server's schema just drops session_id.
    const args = { text: "hello", session_id: "bench-session" };
    const callOf = (client: Client) => () => client.callTool({ name: "echo", arguments: args });
    const ops = {
      untracked: callOf(untracked),
      "tracked, sqlite (full)": callOf(trackedFull),
      "tracked, sqlite (normal)": callOf(trackedNormal),
      "tracked, memory": callOf(trackedMemory),
      "linkInvocation, sqlite (full)": () =>
        direct.linkInvocation("direct", { tool: "echo", input: { text: "hello" }, output, durationMs: 0.01 }),
    };
    const results = await interleaved(ops, { rounds: 7, perRound: 300 });
    const base = results.untracked as { opsPerSec: number; meanUs: number };
    const addedMs = (name: keyof typeof ops): number => ((results[name]?.meanUs ?? Number.NaN) - base.meanUs) / 1000;
    const fullLatency = await latencies(ops["tracked, sqlite (full)"], 1000);
    const baseLatency = await latencies(ops.untracked, 1000);

    const rows: Measurement[] = [
      {
        name: "tool call, untracked",
        opsPerSec: base.opsPerSec,
        meanUs: base.meanUs,
        p50Ms: percentile(baseLatency, 50),
        p99Ms: percentile(baseLatency, 99),
        note: "McpServer + Client over InMemoryTransport",
      },
      {
        name: "tool call, tracked on sqlite (full)",
        opsPerSec: results["tracked, sqlite (full)"]?.opsPerSec,
        meanUs: results["tracked, sqlite (full)"]?.meanUs,
        costRatio: (results["tracked, sqlite (full)"]?.meanUs ?? Number.NaN) / base.meanUs,
        p50Ms: percentile(fullLatency, 50),
        p99Ms: percentile(fullLatency, 99),
        note: `adds ${addedMs("tracked, sqlite (full)").toFixed(3)} ms per call (default durability: fsync per commit)`,
      },
      {
        name: "tool call, tracked on sqlite (normal)",
        opsPerSec: results["tracked, sqlite (normal)"]?.opsPerSec,
        meanUs: results["tracked, sqlite (normal)"]?.meanUs,
        costRatio: (results["tracked, sqlite (normal)"]?.meanUs ?? Number.NaN) / base.meanUs,
        note: `adds ${addedMs("tracked, sqlite (normal)").toFixed(3)} ms per call`,
      },
      {
        name: "tool call, tracked on memory",
        opsPerSec: results["tracked, memory"]?.opsPerSec,
        meanUs: results["tracked, memory"]?.meanUs,
        costRatio: (results["tracked, memory"]?.meanUs ?? Number.NaN) / base.meanUs,
        note: `adds ${addedMs("tracked, memory").toFixed(3)} ms per call: the CPU cost of tracking, without any I/O`,
      },
      {
        name: "linkInvocation alone, sqlite (full)",
        opsPerSec: results["linkInvocation, sqlite (full)"]?.opsPerSec,
        meanUs: results["linkInvocation, sqlite (full)"]?.meanUs,
        note: "the one commit (header read + fsynced write of two events) that tracking adds, without MCP",
      },
    ];
    const added = addedMs("tracked, sqlite (full)");
    return [
      {
        title: "MCP tool calls with trackSessions",
        method:
          "One `echo` tool on an `McpServer`, called by the SDK `Client` over `InMemoryTransport` with the same " +
          "arguments (including `session_id`): untracked, and with `trackSessions` recording into one session on a " +
          "SQLite file (default `full` durability, and `?durability=normal`), and on the memory store (CPU cost alone). Each call is recorded before its " +
          "result returns, as one commit of a `tool_call` and a `tool_result`. 7 alternating rounds of 300 calls, " +
          "each keeping its median round; percentiles from 1,000 further sequential calls. Cost ratio: tracked ÷ " +
          "untracked time per call.",
        rows,
        checks: [
          {
            goal: `tracking adds ≤ ${GOAL_MS} ms to a tool call on SQLite`,
            met: added <= GOAL_MS,
            value: `${added.toFixed(3)} ms (full durability); ${addedMs("tracked, sqlite (normal)").toFixed(3)} ms with durability=normal`,
          },
        ],
      },
    ];
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    await full.close();
    await normal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
