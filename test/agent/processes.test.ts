import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentSession, findOrphans, parseConfig, readAgentRecord } from "../../src/agent/index.ts";
import { FakeClock } from "../../src/core/clock.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import { createSqliteStore } from "../../src/stores/sqlite/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { Recorder, until } from "./helpers.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const runWorker = (name: string, args: string[]): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fixture(name), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });

describe("agents across OS processes (SQLite file)", () => {
  let dir: string;
  let file: string;
  let store: SessionStore | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "frontdesk-agent-procs-"));
    file = join(dir, "frontdesk.db");
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (clock = new FakeClock()) => {
    store = createSqliteStore({ path: file });
    return new SessionManager<object>(() => ({}), store, "default", { clock, defaultTtlMs: null }).forUser("alice");
  };

  it("an approval answered by another process resumes the waiting turn", async () => {
    const sessions = open();
    await sessions.create({ sessionId: "s1" });
    const config = parseConfig({
      agents: { assistant: { model: "offline", tools: ["calculator"], approval: { calculator: "ask" } } },
    });
    const agent = new AgentSession({ sessions, sessionId: "s1", config });
    const recorder = new Recorder();
    const running = agent.runTurn("calculate 6*7", { onEvent: recorder.listener });
    await until(() => recorder.persisted().some((event) => event.type === "approval_request"), "approval request");

    const worker = await runWorker("approve-worker.ts", [file, "s1", "approve"]);
    expect(worker.stderr).toBe("");
    expect(worker.code).toBe(0);
    const result = await running;
    expect(result.text).toBe("6*7 = 42");
    expect(recorder.persisted().some((event) => event.type === "approval_response")).toBe(true);
    const events = await sessions.readEvents("s1");
    expect(events.find((event) => event.type === "approval_response")).toMatchObject({
      decision: "approve",
      reason: "from another process",
    });
  }, 60_000);

  it("a process SIGKILLed mid-turn is repaired by the next turn in another process", async () => {
    const crashed = await runWorker("crash-worker.ts", [file]);
    expect(crashed.signal).toBe("SIGKILL");
    expect(crashed.stdout).toBe("asked\n");

    // Later: the dead turn's lock is stale by this process's clock.
    const sessions = open(new FakeClock(Date.now() + 60 * 60 * 1000));
    expect((await readAgentRecord(sessions, "s1"))?.turn).toBeDefined();
    expect(await findOrphans(sessions, "s1", undefined)).toHaveLength(1);

    const agent = new AgentSession({ sessions, sessionId: "s1", clock: new FakeClock(Date.now() + 60 * 60 * 1000) });
    const result = await agent.runTurn("compute 3*3");
    expect(result.finish).toBe("complete");
    expect(result.text).toBe("3*3 = 9");

    const events = (await sessions.readEvents("s1")).filter((event) => !turnDeltaOf(event));
    expect(events.map((event) => (event.type === "message" ? `message:${event.role}` : event.type))).toEqual([
      "status", // initializing (dead process)
      "status", // ready
      "message:user", // calculate 6*7
      "status", // running
      "tool_call",
      "approval_request",
      "tool_result", // cancelled: interrupted (the repair)
      "status", // idle: recovered
      "message:user", // compute 3*3
      "status", // running
      "tool_call",
      "tool_result",
      "message:assistant",
      "message:tool",
      "message:assistant",
      "status", // idle
    ]);
    expect(events[6]).toMatchObject({ status: "cancelled", error: { message: "interrupted" } });
    expect(events[7]).toMatchObject({ status: "idle", reason: expect.stringMatching(/^recovered: turn turn_/) });
    expect(await findOrphans(sessions, "s1", undefined)).toEqual([]);
    expect((await readAgentRecord(sessions, "s1"))?.turn).toBeUndefined();
  }, 60_000);
});
