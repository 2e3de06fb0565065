import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import { CapturedStream, lines, run, tempStore, waitForText, withManager } from "./harness.ts";

const temp = tempStore();
afterAll(() => temp.remove());

/** Writes a config file in the temporary directory and returns its path. */
function config(name: string, value: unknown): string {
  const path = join(temp.dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

const ASK = config("ask.json", { tools: { calculator: { approval: "ask" } } });
const SLOW = config("slow.json", {
  tools: { shell: { enabled: true, approval: "auto" } },
  agents: { assistant: { model: "offline", prompt: "assistant", tools: ["clock", "calculator", "shell"] } },
});
const BROKEN = config("broken.json", {
  models: {
    nowhere: { provider: "openai-compatible", model: "m", baseUrl: "http://127.0.0.1:9/v1", contextWindow: 4096 },
  },
  agents: { broken: { model: "nowhere", tools: [] } },
});
/** No config file in the working directory is read by these tests: every run names its config. */
const DEFAULTS = config("defaults.json", {});

const base = (file = DEFAULTS) => ["--store", temp.url, "--config", file];
const sessionOf = (stderr: string): string => {
  const match = /^session ([0-9a-f]{32})$/m.exec(stderr);
  if (!match) throw new Error(`no session line in: ${stderr}`);
  return match[1] as string;
};
const eventsOf = (id: string, user = "local"): Promise<readonly SessionEvent[]> =>
  withManager(temp.url, (manager) => manager.readEvents({ id, userId: user }));

describe("frontdesk run", () => {
  it("streams the reply on stdout and prints the new session's id on stderr", async () => {
    const result = await run(["run", ...base(), "compute 2+3*4"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("Let me calculate that.\n2+3*4 = 14\n");
    const id = sessionOf(result.stderr);
    expect(result.stderr).toMatch(/^→ calculator \{"expression":"2\+3\*4"\}$/m);
    expect(result.stderr).toMatch(/^← calculator: \{"expression":"2\+3\*4","result":14\}/m);
    const session = await withManager(temp.url, (manager) => manager.get({ id, userId: "local" }));
    expect(session).toMatchObject({ userId: "local", title: "compute 2+3*4", expiresAt: null });
    const events = await eventsOf(id);
    expect(events.filter((event) => event.type === "message").map((event) => event.role)).toEqual([
      "user",
      "assistant",
      "tool",
      "assistant",
    ]);
  });

  it("prints every event as one JSON line with --json, then a done line", async () => {
    const result = await run(["run", ...base(), "--json", "what time is it"]);
    expect(result.code).toBe(0);
    const output = lines(result.stdout).map((line) => JSON.parse(line));
    const id = sessionOf(result.stderr);
    expect(output.some((line) => line.type === "delta" && typeof line.text === "string")).toBe(true);
    expect(output.some((line) => line.type === "tool_call" && line.tool === "clock")).toBe(true);
    const written = output.filter((line) => line.type === "event").map((line) => line.event as SessionEvent);
    // Every persisted event, lifecycle included, exactly once and in order; the reply's pieces
    // (`turn.delta`) were printed as deltas already.
    const stored = (await eventsOf(id)).filter((event) => !turnDeltaOf(event));
    expect(written.map((event) => event.seq)).toEqual(stored.map((event) => event.seq));
    expect(written.map((event) => event.type)).toContain("tool_result");
    const done = output.at(-1);
    expect(done).toMatchObject({ type: "done", sessionId: id, finish: "complete", steps: 2 });
    expect(done.text).toMatch(/^The current time is /);
    expect(done.events).toBeUndefined();
  });

  it("continues a session with --session, reads - from stdin, and keeps the agent", async () => {
    const first = await run(["run", ...base(), "compute 6*7"]);
    const id = sessionOf(first.stderr);
    const second = await run(["run", ...base(), "--session", id, "-"], { stdin: "what time is it\n" });
    expect(second.code).toBe(0);
    expect(second.stderr).not.toMatch(/^session /m);
    expect(second.stdout).toMatch(/The current time is/);
    const users = (await eventsOf(id)).filter((event) => event.type === "message" && event.role === "user");
    expect(users.map((event) => (event as { content: unknown }).content)).toEqual(["compute 6*7", "what time is it"]);
  });

  it("denies approval requests unless --approve-all is given", async () => {
    const denied = await run(["run", ...base(ASK), "compute 2+3*4"]);
    expect(denied.code).toBe(0);
    expect(denied.stderr).toMatch(/^denied calculator \{"expression":"2\+3\*4"\}$/m);
    expect(denied.stdout).toMatch(/I did not run the calculator tool: .*--approve-all/);
    const deniedEvents = await eventsOf(sessionOf(denied.stderr));
    expect(deniedEvents.find((event) => event.type === "approval_response")).toMatchObject({ decision: "deny" });
    expect(deniedEvents.find((event) => event.type === "tool_result")).toMatchObject({ status: "denied" });

    const approved = await run(["run", ...base(ASK), "--approve-all", "compute 2+3*4"]);
    expect(approved.code).toBe(0);
    expect(approved.stderr).toMatch(/^approved calculator/m);
    expect(approved.stdout).toMatch(/2\+3\*4 = 14/);
    const approvedEvents = await eventsOf(sessionOf(approved.stderr));
    expect(approvedEvents.find((event) => event.type === "approval_response")).toMatchObject({ decision: "approve" });
    expect(approvedEvents.find((event) => event.type === "tool_result")).toMatchObject({ status: "success" });
  });

  it("runs the agent on --model", async () => {
    const models = config("models.json", {
      models: { small: { provider: "offline", model: "frontdesk-offline-small", contextWindow: 4096 } },
    });
    const result = await run(["run", ...base(models), "--model", "small", "--json", "hello"]);
    expect(result.code).toBe(0);
    const done = lines(result.stdout)
      .map((line) => JSON.parse(line))
      .at(-1);
    expect(done).toMatchObject({ type: "done", finish: "complete" });
    const events = await eventsOf(sessionOf(result.stderr));
    const reply = events.find((event) => event.type === "message" && event.role === "assistant");
    expect(reply).toMatchObject({ model: "frontdesk-offline-small" });
  });

  it("acts for --user, then $FRONTDESK_USER, else local", async () => {
    const flagged = await run(["run", ...base(), "--user", "alice", "hello"], { env: { FRONTDESK_USER: "bob" } });
    const byEnv = await run(["run", ...base(), "hello"], { env: { FRONTDESK_USER: "bob" } });
    await withManager(temp.url, async (manager) => {
      expect((await manager.get({ id: sessionOf(flagged.stderr), userId: "alice" })).userId).toBe("alice");
      expect((await manager.get({ id: sessionOf(byEnv.stderr), userId: "bob" })).userId).toBe("bob");
    });
    // Another user's session is not found for this one.
    const other = await run(["run", ...base(), "--session", sessionOf(flagged.stderr), "hello"]);
    expect(other.code).toBe(1);
    expect(lines(other.stderr)).toEqual(["frontdesk: not_found: Session not found"]);
  });

  it("exits 2 with one line for bad input, and creates nothing", async () => {
    const count = () =>
      withManager(temp.url, async (manager) => (await manager.listSessions({ limit: 1000 })).items.length);
    const before = await count();
    const cases: [string[], RegExp, string?][] = [
      [["run", ...base(), "  "], /^frontdesk: usage: The message is empty$/],
      [["run", ...base(), "-"], /^frontdesk: usage: The message is empty$/, ""],
      [["run", ...base(), "--agent", "nope", "hi"], /^frontdesk: invalid_request: Unknown agent "nope"/],
      [
        ["run", ...base(), "--model", "gpt9", "hi"],
        /^frontdesk: invalid_request: Invalid config: .*unknown model "gpt9"/,
      ],
      [["run", "--store", temp.url, "--config", join(temp.dir, "absent.json"), "hi"], /Config file not found/],
      [["run", ...base(), "--user", "../x", "hi"], /^frontdesk: invalid_request: /],
      [["run", ...base()], /^frontdesk: usage: missing required argument 'message'$/],
    ];
    for (const [argv, pattern, stdin] of cases) {
      const result = await run(argv, stdin === undefined ? {} : { stdin });
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.stdout, argv.join(" ")).toBe("");
      expect(lines(result.stderr), argv.join(" ")).toEqual([expect.stringMatching(pattern)]);
    }
    expect(await count()).toBe(before);
  });

  it("exits 1 when the turn fails, with the reason in one line", async () => {
    const result = await run(["run", ...base(BROKEN), "--agent", "broken", "hello"]);
    expect(result.code).toBe(1);
    const errors = lines(result.stderr).filter((line) => line.startsWith("frontdesk: "));
    expect(errors).toHaveLength(1);
    const events = await eventsOf(sessionOf(result.stderr));
    expect(events.at(-1)).toMatchObject({ type: "status", scope: "agent", status: "error" });
  });

  it("cancels the turn when interrupted: the partial reply is kept, marked cancelled, exit 130", async () => {
    const controller = new AbortController();
    const stdout = new CapturedStream();
    const stderr = new CapturedStream();
    const done = main(["run", ...base(SLOW), "run `sleep 30`"], {
      stdout,
      stderr,
      env: {},
      signal: controller.signal,
    });
    await waitForText(stderr, /^→ shell/m);
    controller.abort();
    const code = await done;
    expect(code).toBe(130);
    expect(stdout.text).toBe("Running `sleep 30`.\n");
    expect(lines(stderr.text)).toContain("frontdesk: cancelled: the turn was cancelled");
    const events = await eventsOf(sessionOf(stderr.text));
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({ status: "cancelled" });
    const reply = events.filter((event) => event.type === "message" && event.role === "assistant").at(-1);
    expect(reply).toMatchObject({ content: "Running `sleep 30`.", finish: "cancelled" });
    expect(events.at(-1)).toMatchObject({ type: "status", status: "idle", reason: "cancelled" });
  });
});

describe("frontdesk mcp", () => {
  it("serves MCP on stdin/stdout for --user and exits 0 when stdin ends", async () => {
    const stdin = new PassThrough();
    const stdout = new CapturedStream();
    const stderr = new CapturedStream();
    const done = main(["mcp", "--store", temp.url, "--user", "erin"], { stdout, stderr, stdin, env: {} });
    const send = (message: object) => stdin.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "cli-test", version: "1" } },
    });
    await waitForText(stdout, /"id":1/);
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "session_create", arguments: { title: "via mcp" } },
    });
    const created = JSON.parse((await waitForText(stdout, /^.*"id":2.*$/m))[0]);
    expect(created.result.structuredContent.session).toMatchObject({ userId: "erin", title: "via mcp" });
    expect(stderr.text).toMatch(/serving the sessions of user "erin"/);
    stdin.end();
    expect(await done).toBe(0);
    // stdout carried MCP messages only.
    for (const line of lines(stdout.text)) expect(JSON.parse(line).jsonrpc).toBe("2.0");
  });

  it("is listed in the help, and a bad user fails in one line before serving", async () => {
    const help = await run(["--help"]);
    for (const command of ["serve", "chat", "run", "sessions", "keys", "mcp"]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    const missing = await run([]);
    expect(missing.stderr).toBe(
      "frontdesk: usage: missing command (serve, chat, run, sessions, keys, users, store, mcp); see frontdesk --help\n",
    );
    const bad = await run(["mcp", "--store", temp.url, "--user", "../x"], { stdin: "" });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(lines(bad.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: /)]);
  });
});
