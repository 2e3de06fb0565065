import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { openStore } from "../../src/stores/registry.ts";

const WORKER = fileURLToPath(new URL("../fixtures/counter-worker.ts", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const runWorker = (url: string, barrier: string, n: number): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, url, barrier, String(n), "2"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });

/** Stores two OS processes can share, each with its per-process share of increments. */
const STORES: { name: string; perProcess: number; url(base: string): string }[] = [
  {
    name: "sqlite (a new file opened by both at once)",
    perProcess: 200,
    url: (base) => `sqlite:${path.join(base, "data", "frontdesk.db")}`,
  },
  { name: "fs", perProcess: 100, url: (base) => `file:${path.join(base, "root")}` },
];

describe.each(STORES)("$name store across two OS processes", ({ perProcess, url }) => {
  let base = "";
  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "frontdesk-procs-"));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it(`two processes doing ${perProcess} updateSession increments each end at exactly ${2 * perProcess}`, async () => {
    const barrier = path.join(base, "barrier");
    await mkdir(barrier, { recursive: true });
    const runs = await Promise.all([
      runWorker(url(base), barrier, perProcess),
      runWorker(url(base), barrier, perProcess),
    ]);
    for (const run of runs) {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ done: perProcess });
    }
    const store = await openStore(url(base));
    const sessions = new SessionManager<{ count: number }>(() => ({ count: 0 }), store, "default", {
      defaultTtlMs: null,
    });
    try {
      const session = await sessions.get("counter");
      expect(session.state.count).toBe(2 * perProcess);
      expect(session.version).toBe(1 + 2 * perProcess);
      const seqs = (await sessions.readEvents("counter")).map((event) => event.seq);
      expect(seqs).toEqual(Array.from({ length: session.lastSeq }, (_, i) => i + 1));
    } finally {
      await store.close();
    }
  }, 120_000);
});
