import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionKey } from "../../src/core/model.ts";
import { createFsStore } from "../../src/stores/fs/index.ts";

const WRITER = fileURLToPath(new URL("../fixtures/fs-crash-writer.ts", import.meta.url));
const KILLS = 4;

const startWriter = (root: string): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, root], { stdio: ["ignore", "pipe", "inherit"] });
    child.on("error", reject);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`writer exited early with ${code}`)));
  });

describe("fs store under SIGKILL", () => {
  let base = "";
  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "frontdesk-fs-crash-"));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("a writer killed at random instants always leaves header, events and user: state in agreement", async () => {
    const root = path.join(base, "root");
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "crash" };
    let previous = -1;
    for (let kill = 0; kill < KILLS; kill++) {
      const writer = await startWriter(root);
      await sleep(50 + Math.random() * 250);
      const exited = new Promise((resolve) => writer.once("exit", resolve));
      writer.kill("SIGKILL");
      await exited;

      const store = createFsStore({ root, lockStaleMs: 2000 });
      try {
        const header = await store.get(key, 0);
        const n = header?.state.n as number;
        expect(n).toBeGreaterThan(previous);
        expect(header?.lastSeq).toBe(n);
        expect(header?.version).toBe(n + 1);
        const events = await store.readEvents(key, {});
        expect(events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(String((events.at(-1) as { data?: unknown } | undefined)?.data ?? "0").endsWith(String(n))).toBe(true);
        expect((await store.readEvents(key, { order: "desc", limit: 1 }))[0]?.seq ?? 0).toBe(n);
        expect(await store.readScope("ns", "user", "u1")).toEqual({
          state: n === 0 ? {} : { "user:n": n },
          version: n,
        });
        previous = n;
      } finally {
        await store.close();
      }
    }
  }, 120_000);
});
