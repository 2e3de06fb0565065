import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionKey } from "../../src/core/model.ts";
import { createFsStore } from "../../src/stores/fs/index.ts";
import { expectedData } from "../fixtures/fs-crash-writer.ts";

const WRITER = fileURLToPath(new URL("../fixtures/fs-crash-writer.ts", import.meta.url));
const KILLS = 4;

const startWriter = (root: string, mode?: "rewrite"): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const args = ["--import", "tsx", WRITER, root, ...(mode ? [mode] : [])];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
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

  it("a writer killed while it prunes and redacts leaves the old or the new log, and after scrub no removed byte", async () => {
    const root = path.join(base, "root");
    const key: SessionKey = { namespace: "ns", userId: "u1", id: "crash" };
    let previous = -1;
    for (let kill = 0; kill < KILLS; kill++) {
      const writer = await startWriter(root, "rewrite");
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
        const expected: [number, string][] = [];
        for (let seq = 1; seq <= n; seq++) {
          const text = expectedData(seq, n);
          if (text !== undefined) expected.push([seq, text]);
        }
        const events = await store.readEvents(key, {});
        expect(events.map((e) => [e.seq, (e as { data?: { text?: string } }).data?.text])).toEqual(expected);
        expect((await store.readEvents(key, { order: "desc", limit: 1 }))[0]?.seq ?? 0).toBe(n);
        expect(await store.readScope("ns", "user", "u1")).toEqual({
          state: n === 0 ? {} : { "user:n": n },
          version: n,
        });

        expect(await store.scrub?.()).toEqual({ pending: false });
        // Only what the log holds now is anywhere: a crash left no replaced or removed event in a file.
        // (A crashed append's uncommitted tail may hold event n + 1.)
        const found = new Set<string>();
        for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
          if (!entry.isFile()) continue;
          const text = await readFile(path.join(entry.parentPath, entry.name), "latin1");
          for (const match of text.matchAll(/"((?:secret|pruned|redacted)-(\d+))"/g)) {
            if (Number(match[2]) <= n) found.add(match[1] as string);
          }
        }
        expect([...found].sort()).toEqual(expected.map(([, text]) => text).sort());
        previous = n;
      } finally {
        await store.close();
      }
    }
  }, 120_000);
});
