import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentSession, parseConfig, runCommand, type ToolContext } from "../../src/agent/index.ts";
import { createClockTool } from "../../src/agent/tools/clock.ts";
import { createRecallTool } from "../../src/agent/tools/recall.ts";
import { createShellTool } from "../../src/agent/tools/shell.ts";
import { FakeClock } from "../../src/core/clock.ts";
import type { SessionManager } from "../../src/core/session-manager.ts";
import { eventsOf, type Harness, openHarness, STORES } from "./helpers.ts";

const contextFor = (sessions: SessionManager<object>, overrides: Partial<ToolContext> = {}): ToolContext => ({
  sessions,
  sessionId: "s1",
  userId: sessions.userId,
  turnId: "turn_test",
  invocationId: "inv_test",
  turnStartSeq: Number.MAX_SAFE_INTEGER,
  signal: new AbortController().signal,
  clock: new FakeClock(),
  ...overrides,
});

describe("clock tool", () => {
  it("tells the injected clock's time, in UTC and in a time zone", async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 14, 15, 9, 26));
    const tool = createClockTool({ clock });
    const ctx = contextFor({} as SessionManager<object>);
    expect(await tool({}, ctx)).toMatchObject({ iso: "2026-03-14T15:09:26.000Z", timeZone: "UTC" });
    const paris = (await tool({ timeZone: "Europe/Paris" }, ctx)) as { local: string };
    expect(paris.local).toContain("4:09:26 PM");
    clock.advance(60_000);
    expect(await tool({}, ctx)).toMatchObject({ iso: "2026-03-14T15:10:26.000Z" });
    await expect(Promise.resolve().then(() => tool({ timeZone: "Mars/Olympus" }, ctx))).rejects.toMatchObject({
      code: "invalid_request",
    });
  });
});

describe.each(STORES)("recall tool ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("searches only the caller's own sessions, never another user's", async () => {
    const alice = h.sessions;
    const bob = h.root.forUser("bob");
    await alice.create({ sessionId: "a2", title: "groceries" });
    await alice.addMessage("a2", { role: "user", content: "Remember to buy bananas and oat milk." });
    await bob.create({ sessionId: "s1" }); // same id as alice's, another room
    await bob.addMessage("s1", { role: "user", content: "My secret bananas recipe is in the safe." });
    await bob.create({ sessionId: "b2" });
    await bob.addMessage("b2", { role: "assistant", content: "bananas bananas bananas" });

    const recall = createRecallTool();
    const found = (await recall({ query: "bananas" }, contextFor(alice))) as {
      matches: { sessionId: string; excerpt: string }[];
      searchedSessions: number;
    };
    expect(found.matches).toHaveLength(1);
    expect(found.matches[0]).toMatchObject({ sessionId: "a2", title: "groceries" });
    expect(found.matches[0]?.excerpt).toContain("oat milk");
    expect(JSON.stringify(found)).not.toContain("secret");
    expect(found.searchedSessions).toBe(2);

    // Even through a manager not bound to any user, the search names the owner explicitly.
    const unbound = h.root;
    const asNobody = (await recall({ query: "bananas" }, contextFor(unbound, { userId: null }))) as {
      matches: unknown[];
    };
    expect(asNobody.matches).toEqual([]);
  });

  it("works inside a turn and skips the question itself", async () => {
    await h.sessions.addMessage("s1", { role: "user", content: "The invoice number is INV-2291." });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", clock: h.clock });
    const result = await agent.runTurn("do you remember the invoice?");
    expect(result.text).toContain('I found 1 earlier message about "invoice"');
    expect(result.text).toContain("INV-2291");
  });
});

describe("shell and command tools", () => {
  it("runs a command line in a shell with a timeout and an output cap", async () => {
    const ok = await runCommand("echo hello && echo oops 1>&2 && exit 3");
    expect(ok).toMatchObject({ exitCode: 3, stdout: "hello\n", stderr: "oops\n", truncated: false, timedOut: false });
    const capped = await runCommand("yes frontdesk | head -c 100000", { maxOutputBytes: 1000 });
    expect(capped.truncated).toBe(true);
    expect(Buffer.byteLength(capped.stdout)).toBeLessThanOrEqual(1000);
    const slow = await runCommand("sleep 5", { timeoutMs: 50 });
    expect(slow.timedOut).toBe(true);
    const controller = new AbortController();
    const aborted = runCommand("sleep 5", { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeDefined();
    const cwd = await runCommand("pwd", { cwd: "/tmp" });
    expect(cwd.stdout.trim()).toBe("/tmp");
  });

  it("the shell tool reports a timeout as an error", async () => {
    const shell = createShellTool({ timeoutMs: 50 });
    await expect(shell({ command: "sleep 5" }, contextFor({} as SessionManager<object>))).rejects.toMatchObject({
      code: "unavailable",
    });
  });
});

describe.each(STORES)("tools in turns ($name store)", (storeCase) => {
  let h: Harness;
  beforeEach(async () => {
    h = await openHarness(storeCase);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it("the shell tool is off by default and asks before running when enabled", async () => {
    const off = parseConfig({});
    expect(off.agents.assistant?.tools).not.toContain("shell");
    const config = parseConfig({
      tools: { shell: { enabled: true, cwd: "/tmp" } },
      agents: { assistant: { model: "offline", tools: ["shell"] } },
    });
    const agent = new AgentSession({ sessions: h.sessions, sessionId: "s1", config, clock: h.clock });
    const running = agent.runTurn("run `echo frontdesk-$((6*7)) && pwd`");
    let pending = await agent.pendingApprovals();
    for (let i = 0; pending.length === 0 && i < 1000; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      pending = await agent.pendingApprovals();
    }
    expect(pending[0]).toMatchObject({ tool: "shell", input: { command: "echo frontdesk-$((6*7)) && pwd" } });
    await agent.approve(pending[0]?.approvalId as string);
    const result = await running;
    expect(result.text).toContain("exited with code 0");
    expect(result.text).toContain("frontdesk-42");
    expect(result.text).toContain("/tmp");
    const done = (await eventsOf(h.sessions)).find((event) => event.type === "tool_result");
    expect(done).toMatchObject({ status: "success", output: { exitCode: 0, truncated: false } });
  });

  it("runs declared tools: command-backed (JSON on stdin) and handler-backed; a failing one is a tool error", async () => {
    const config = parseConfig({
      tools: {
        lookup_ticket: {
          description: "Looks a ticket up",
          parameters: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
          approval: "auto",
          command: `node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.stringify({id:JSON.parse(s).id,status:'open',via:process.env.FRONTDESK_TOOL_NAME})))"`,
        },
        weather: { description: "Weather for a city", approval: "auto" },
        broken: { command: "echo boom 1>&2; exit 2", approval: "auto" },
      },
      agents: { assistant: { model: "offline", tools: ["lookup_ticket", "weather", "broken"] } },
    });
    const agent = new AgentSession({
      sessions: h.sessions,
      sessionId: "s1",
      config,
      clock: h.clock,
      handlers: { weather: (input) => ({ city: (input as { city: string }).city, sky: "clear" }) },
    });
    const ticket = await agent.runTurn('use the lookup_ticket tool with {"id":"T-1042"}');
    expect(ticket.text).toBe('The lookup_ticket tool returned: {"id":"T-1042","status":"open","via":"lookup_ticket"}');
    const weather = await agent.runTurn('call weather with {"city":"Lyon"}');
    expect(weather.text).toBe('The weather tool returned: {"city":"Lyon","sky":"clear"}');
    const broken = await agent.runTurn("use the broken tool");
    expect(broken.text).toBe("The broken tool failed: boom (exit code 2)");
    const failed = (await eventsOf(h.sessions)).filter(
      (event) => event.type === "tool_result" && event.status === "error",
    );
    expect(failed).toEqual([
      expect.objectContaining({ error: { message: "boom (exit code 2)", code: "command_failed" } }),
    ]);
    expect((await h.sessions.get("s1")).stats).toMatchObject({ toolCalls: 3, toolErrors: 1 });
  });
});
