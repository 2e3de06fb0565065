import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";

const WORKER = fileURLToPath(new URL("../fixtures/sqlite-counter-worker.ts", import.meta.url));
const PER_PROCESS = 200;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const runWorker = (file: string, n: number): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, file, String(n), "2"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });

describe("sqlite store across OS processes", () => {
  let base = "";
  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "frontdesk-sqlite-procs-"));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("two processes opening one new file and doing 200 updateSession increments each end at exactly 400", async () => {
    const file = path.join(base, "data", "frontdesk.db");
    await mkdir(`${file}.barrier`, { recursive: true });
    const runs = await Promise.all([runWorker(file, PER_PROCESS), runWorker(file, PER_PROCESS)]);
    for (const run of runs) {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({ done: PER_PROCESS });
    }
    const store = createSqliteStore({ path: file });
    const sessions = new SessionManager<{ count: number }>(() => ({ count: 0 }), store, "default", {
      defaultTtlMs: null,
    });
    try {
      const session = await sessions.get("counter");
      expect(session.state.count).toBe(2 * PER_PROCESS);
      expect(session.version).toBe(1 + 2 * PER_PROCESS);
      const seqs = (await sessions.readEvents("counter")).map((event) => event.seq);
      expect(seqs).toEqual(Array.from({ length: session.lastSeq }, (_, i) => i + 1));
    } finally {
      await store.close();
    }
  }, 120_000);
});
