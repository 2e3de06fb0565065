/**
 * `frontdesk chat --server` and `frontdesk run --server`: the built binary against a `frontdesk
 * serve` running in this process, whose agent streams from a model the test paces chunk by chunk
 * (test/support/paced-model.ts), so "mid-reply" is an exact point, never a timing guess.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { cutText, echoScript, PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import { lines, run, serveInProcess, tempStore, withManager } from "./harness.ts";
import { assertBuilt, CliProcess, runCli } from "./processes.ts";

const temp = tempStore();
const CONFIG = join(temp.dir, "server.json");
const model = new PacedModel();
let server: Awaited<ReturnType<typeof serveInProcess>>;
let aliceKey: string;
let bobKey: string;
const started: CliProcess[] = [];

/** A reply long enough to stop in the middle of: one chunk per word. */
const LONG = "tell me about the sea and the ships that sail on it through the night";
const replyTo = (message: string): string => `You said: ${message}`;

beforeAll(async () => {
  assertBuilt();
  await model.start();
  writeFileSync(
    CONFIG,
    JSON.stringify({
      models: { paced: pacedModelConfig(model.url) },
      tools: { calculator: { approval: "ask" } },
      agents: {
        assistant: {
          model: "paced",
          persistDeltas: QUICK_PIECES,
          systemPrompt: "You help.",
          tools: ["calculator"],
          color: "cyan",
        },
      },
    }),
  );
  aliceKey = (await run(["keys", "create", "--store", temp.url, "--user", "alice"])).stdout.trim();
  bobKey = (await run(["keys", "create", "--store", temp.url, "--user", "bob"])).stdout.trim();
  server = await serveInProcess(["--store", temp.url, "--config", CONFIG]);
});

afterEach(async () => {
  model.free();
  for (const cli of started.splice(0)) await cli.kill();
  model.hold();
  model.script = echoScript;
});

afterAll(async () => {
  model.free();
  expect(await server.stop()).toBe(0);
  await model.stop();
  temp.remove();
});

const remote = (key = aliceKey) => ["--server", server.url, "--key", key];

const start = (args: string[], stdin?: string, env: Record<string, string> = {}): CliProcess => {
  const cli = new CliProcess(args, env, stdin, temp.dir);
  started.push(cli);
  return cli;
};

const eventsOf = (id: string): Promise<readonly SessionEvent[]> =>
  withManager(temp.url, (manager) => manager.readEvents({ id, userId: "alice" }));

const assistantMessages = (events: readonly SessionEvent[]) =>
  events.filter(
    (event): event is Extract<SessionEvent, { type: "message" }> =>
      event.type === "message" && event.role === "assistant",
  );

const count = (text: string, part: string): number => text.split(part).length - 1;

describe("frontdesk run --server", () => {
  it("prints the reply as the server's agent streams it, and the session holds the turn", async () => {
    model.free();
    const result = await runCli(["run", "hello there", ...remote()]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${replyTo("hello there")}\n`);
    const id = /^session ([0-9a-f]{32})$/m.exec(result.stderr)?.[1] as string;
    expect(id).toBeDefined();
    const events = await eventsOf(id);
    expect(assistantMessages(events).map((event) => event.content)).toEqual([replyTo("hello there")]);
    // The run went through the server: the turn's reply was written to the log as it streamed.
    expect(events.some((event) => event.type === "custom" && event.name === "turn.delta")).toBe(true);
  });

  it("--json prints the deltas, every written event, then done, as a local run does", async () => {
    model.free();
    const result = await runCli(["run", "in json", "--json", ...remote()]);
    expect(result.code).toBe(0);
    const printed = lines(result.stdout).map((line) => JSON.parse(line));
    const deltas = printed.filter((item) => item.type === "delta").map((item) => item.text);
    expect(deltas.join("")).toBe(replyTo("in json"));
    const written = printed.filter((item) => item.type === "event").map((item) => item.event);
    expect(written.map((event) => `${event.type}:${event.role ?? event.status ?? ""}`)).toEqual([
      "message:user",
      "status:running",
      "message:assistant",
      "status:idle",
    ]);
    const done = printed.at(-1);
    expect(done).toMatchObject({ type: "done", finish: "complete", text: replyTo("in json"), steps: 1 });
    expect(done.usage.outputTokens).toBeGreaterThan(0);
  });

  it("continues a session with --session and denies approvals headless unless --approve-all", async () => {
    model.free();
    const first = await runCli(["run", "first", ...remote()]);
    const id = /^session (\S+)$/m.exec(first.stderr)?.[1] as string;
    model.script = (request) =>
      request.messages.at(-1)?.role === "tool"
        ? { text: `The tool said ${String(request.messages.at(-1)?.content)}.` }
        : { text: "Let me calculate.", toolCall: { name: "calculator", input: { expression: "6*7" } } };
    const denied = await runCli(["run", "compute", "--session", id, ...remote()]);
    expect(denied.code).toBe(0);
    expect(denied.stderr).toContain('denied calculator {"expression":"6*7"}');
    expect(denied.stderr).toMatch(/^✗ calculator: denied: Denied: no one to ask in a headless run/m);
    const approved = await runCli(["run", "compute", "--session", id, "--approve-all", ...remote()]);
    expect(approved.code).toBe(0);
    expect(approved.stderr).toContain('approved calculator {"expression":"6*7"}');
    expect(approved.stderr).toMatch(/^← calculator: \{"expression":"6\*7","result":42\}/m);
    expect(approved.stdout).toMatch(/^Let me calculate\.\nThe tool said /);
    const users = (await eventsOf(id)).filter((event) => event.type === "message" && event.role === "user");
    expect(users).toHaveLength(3);
  });

  it("SIGINT mid-reply cancels the turn on the server: the partial reply is kept, marked cancelled", async () => {
    const cli = start(["run", LONG, ...remote()]);
    const id = (await cli.waitFor(/^session (\S+)$/m, { stream: "stderr" }))[1] as string;
    model.release(3);
    await cli.waitFor(/You said: tell /);
    cli.child.kill("SIGINT");
    const { code } = await cli.waitExit();
    expect(code).toBe(130);
    expect(cli.stderr).toContain("frontdesk: cancelled: the turn was cancelled");
    const reply = assistantMessages(await eventsOf(id)).at(-1);
    expect(reply?.finish).toBe("cancelled");
    expect(replyTo(LONG).startsWith(String(reply?.content))).toBe(true);
    expect(cli.stdout).toBe(`${String(reply?.content)}\n`);
  });
});

describe("frontdesk chat --server", () => {
  it("runs a conversation through the server, drawn as the local chat draws it", async () => {
    model.free();
    const result = await runCli(["chat", ...remote()], {}, "hi server\nand again\n");
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const out = result.stdout;
    expect(out).toMatch(/^session [0-9a-f]{32} · agent \(the server's default\)$/m);
    expect(out).toContain(
      `> hi server\nassistant › ${replyTo("hi server")}\n> and again\nassistant › ${replyTo("and again")}\n> \n`,
    );
    const id = /^session (\S+) /m.exec(out)?.[1] as string;
    // The session got the title of its first message, as a local chat gives it.
    const shown = await run(["sessions", "show", id, "--store", temp.url, "--json"]);
    expect(JSON.parse(shown.stdout).session).toMatchObject({ title: "hi server", userId: "alice" });
  });

  it("asks for approvals at the prompt and answers them on the server", async () => {
    model.free();
    model.script = (request) =>
      request.messages.at(-1)?.role === "tool"
        ? { text: `The tool said ${String(request.messages.at(-1)?.content)}.` }
        : { text: "Let me calculate.", toolCall: { name: "calculator", input: { expression: "2+3*4" } } };
    const result = await runCli(["chat", ...remote()], {}, "compute it\ny\n");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  approve calculator {"expression":"2+3*4"}? [y/N] y\n');
    expect(result.stdout).toMatch(/ {2}← calculator: \{"expression":"2\+3\*4","result":14\}/);
    expect(result.stdout).toContain("assistant › The tool said ");
  });

  it("attached mid-reply, shows the reply from its first word to its end, its text once, then the prompt", async () => {
    const runner = start(["run", LONG, ...remote()]);
    const id = (await runner.waitFor(/^session (\S+)$/m, { stream: "stderr" }))[1] as string;
    model.release(4);
    await model.until((m) => m.written >= 4, "four chunks");
    await runner.waitFor(/You said: tell me /);

    // A second client attaches while the reply is being written; its input stays open.
    const chat = start(["chat", "--session", id, ...remote()], "");
    chat.child.stdin?.end();
    await chat.waitFor(/You said: tell me /);
    expect(chat.stdout).toContain(`> ${LONG}\n`);
    model.free();
    const { code } = await chat.waitExit();
    expect(code).toBe(0);
    expect(count(chat.stdout, replyTo(LONG))).toBe(1);
    expect(count(chat.stdout, "You said:")).toBe(1);
    expect(chat.stdout).toMatch(new RegExp(`assistant › ${replyTo(LONG)}\\n> \\n$`));
    expect((await runner.waitExit()).code).toBe(0);
    expect(runner.stdout).toBe(`${replyTo(LONG)}\n`);
  });

  it("reads $FRONTDESK_SERVER and $FRONTDESK_KEY; --store wins over them", async () => {
    model.free();
    const viaEnv = await runCli(["run", "from env"], { FRONTDESK_SERVER: server.url, FRONTDESK_KEY: bobKey });
    expect(viaEnv).toMatchObject({ code: 0, stdout: `${replyTo("from env")}\n` });
    const id = /^session (\S+)$/m.exec(viaEnv.stderr)?.[1] as string;
    const bobs = await withManager(temp.url, (manager) => manager.get({ id, userId: "bob" }));
    expect(bobs.userId).toBe("bob");
    const local = await runCli(["run", "local", "--store", `sqlite:${join(temp.dir, "local.db")}`], {
      FRONTDESK_SERVER: "http://127.0.0.1:1",
      FRONTDESK_KEY: "x",
    });
    expect(local.code).toBe(0);
  });

  it("reports a bad key, an unreachable server, a bad URL and a missing session in one line, with the exit codes of sessions", async () => {
    const badKey = await runCli(["chat", ...remote("fd_nope")], {}, "hi\n");
    expect(badKey.code).toBe(1);
    expect(lines(badKey.stderr)).toEqual([expect.stringMatching(/^frontdesk: unauthorized: /)]);

    const down = await runCli(["run", "hi", "--server", "http://127.0.0.1:1", "--key", aliceKey]);
    expect(down.code).toBe(1);
    expect(lines(down.stderr)).toEqual([
      "frontdesk: unavailable: Could not reach the Frontdesk server at http://127.0.0.1:1",
    ]);

    const badUrl = await runCli(["chat", "--server", "ftp://x", "--key", aliceKey], {}, "");
    expect(badUrl.code).toBe(2);
    expect(lines(badUrl.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: /)]);

    const missing = await runCli(["chat", "--session", "nope", ...remote()], {}, "hi\n");
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(["frontdesk: not_found: Session not found"]);
    const notMine = await runCli(["run", "hi", "--session", "nope", ...remote(bobKey)]);
    expect(notMine.code).toBe(1);

    const noKey = await runCli(["run", "hi", "--server", server.url]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/^frontdesk: usage: --server needs an API key/);
    const both = await runCli(["run", "hi", "--server", server.url, "--key", aliceKey, "--store", temp.url]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^frontdesk: usage: Use either --store or --server/);
    const withModel = await runCli(["run", "hi", ...remote(), "--model", "offline"]);
    expect(withModel.code).toBe(2);
    expect(withModel.stderr).toMatch(/^frontdesk: usage: --model applies to agents run here/);
    const unknownAgent = await runCli(["run", "hi", ...remote(), "--agent", "nobody"]);
    expect(unknownAgent.code).toBe(2);
    expect(unknownAgent.stderr).toMatch(/^frontdesk: invalid_request: Unknown agent "nobody"/m);
  });
});

// Keeps cutText's word split in view: the tests above count on one chunk per word.
it("the paced model streams the long reply one word per chunk", () => {
  expect(cutText(replyTo(LONG)).length).toBeGreaterThan(8);
});
