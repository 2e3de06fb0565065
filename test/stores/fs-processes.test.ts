import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createFsStore } from "../../src/stores/fs/index.ts";

const WORKER = fileURLToPath(new URL("../fixtures/fs-counter-worker.ts", import.meta.url));
const PER_PROCESS = 100;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const runWorker = (root: string, n: number): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, root, String(n), "2"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });

describe("fs store across OS processes", () => {
  let base = "";
  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "frontdesk-fs-procs-"));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("two processes doing 100 updateSession increments each end at exactly 200", async () => {
    const root = path.join(base, "root");
    await mkdir(`${root}.barrier`, { recursive: true });
    const store = createFsStore({ root });
    const sessions = new SessionManager<{ count: number }>(() => ({ count: 0 }), store, "default", {
      defaultTtlMs: null,
    });
    try {
      await sessions.create({ sessionId: "counter" });
      const runs = await Promise.all([runWorker(root, PER_PROCESS), runWorker(root, PER_PROCESS)]);
      for (const run of runs) {
        expect(run.stderr).toBe("");
        expect(run.code).toBe(0);
        expect(JSON.parse(run.stdout)).toEqual({ done: PER_PROCESS });
      }
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
