/**
 * `frontdesk chat` in a real pseudo-terminal, driven the way a person would: tmux runs the built
 * binary, keys are typed with `send-keys`, and what the screen shows is read with `capture-pane`.
 * Needs tmux and `npm run build`: skipped without tmux, except under CI=true, where a missing tmux fails.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { tempStore, withManager } from "./harness.ts";
import { assertBuilt } from "./processes.ts";
import { hasTmux, TmuxServer } from "./tmux.ts";

const temp = tempStore();
const CONFIG = join(temp.dir, "cfg.json");
const terminals = new TmuxServer(temp.dir);

const chatArgs = (...more: string[]) => [
  "chat",
  "--store",
  `sqlite:${join(temp.dir, "db")}`,
  "--config",
  CONFIG,
  ...more,
];
const eventsOf = (id: string): Promise<readonly SessionEvent[]> =>
  withManager(`sqlite:${join(temp.dir, "db")}`, (manager) => manager.readEvents({ id, userId: "local" }));
const READY = /Type a message, \/help for commands, Ctrl-D to exit\.\n> $/m;
const PROMPT_AT_END = /\n> \s*$/;

// Under CI tmux must be there: a missing tmux fails the run instead of skipping it.
describe.skipIf(!hasTmux && !process.env.CI)("frontdesk chat in a real terminal (tmux)", () => {
  beforeAll(() => {
    assertBuilt();
    writeFileSync(
      CONFIG,
      JSON.stringify({
        tools: { calculator: { approval: "ask" }, shell: { enabled: true, approval: "auto" } },
        agents: {
          assistant: {
            model: "offline",
            prompt: "assistant",
            tools: ["clock", "calculator", "recall", "shell"],
            color: "cyan",
          },
        },
      }),
    );
  });

  afterEach(() => {
    terminals.closeAll();
  });

  afterAll(() => {
    terminals.shutdown();
    temp.remove();
  });

  it("approves a tool at the prompt, exits with /exit, and resumes the conversation with --session", async () => {
    const first = terminals.open(chatArgs());
    const id = (await first.waitFor(/^session ([0-9a-f]{32}) · agent assistant$/m))[1] as string;
    await first.waitFor(READY);

    first.type("compute 2+3*4");
    await first.waitFor(/^ {2}approve calculator \{"expression":"2\+3\*4"\}\? \[y\/N\] $/m);
    first.type("y");
    await first.waitFor(/^assistant › 2\+3\*4 = 14\n> $/m);
    // The agent's name is drawn in its configured colour (cyan) on the real terminal.
    expect(first.screenWithColours()).toContain(" · agent \x1b[36massistant");
    first.type("/exit");
    expect(await first.exited()).toBe(0);
    const firstScreen = first.screen(true);

    const second = terminals.open(chatArgs("--session", id));
    await second.waitFor(READY);
    const history = second.screen();
    expect(history).toMatch(new RegExp(`^session ${id} · agent assistant$`, "m"));
    // Each tool call of the earlier turn is shown with its result, as the turn showed them.
    expect(history).toMatch(
      /── earlier in this conversation ──\n> compute 2\+3\*4\nassistant › Let me calculate that\.\n {2}→ calculator \{"expression":"2\+3\*4"\}\n {2}← calculator: \{"expression":"2\+3\*4","result":14\} \(\d+ ms\)\nassistant › 2\+3\*4 = 14\n──\n/,
    );

    second.type("what time is it");
    await second.waitFor(/^ {2}← clock: /m);
    await second.waitFor(/^assistant › The current time is \d{4}-\d\d-\d\dT[^\n]*\n> $/m);
    second.send("C-d");
    expect(await second.exited()).toBe(0);

    // One conversation: both turns are in the same session, in order.
    const users = (await eventsOf(id)).filter((event) => event.type === "message" && event.role === "user");
    expect(users.map((event) => (event as { content: unknown }).content)).toEqual(["compute 2+3*4", "what time is it"]);
    // Printed for the report when FRONTDESK_SHOW_SCREENS is set.
    if (process.env.FRONTDESK_SHOW_SCREENS) {
      console.log(`first window:\n${firstScreen.trimEnd()}\n\nsecond window:\n${second.screen(true).trimEnd()}`);
    }
  });

  it("a resumed session shows every tool call with its result: success, denied, and the clock's time", async () => {
    const first = terminals.open(chatArgs());
    const id = (await first.waitFor(/^session ([0-9a-f]{32}) /m))[1] as string;
    await first.waitFor(READY);
    first.type("what time is it");
    await first.waitFor(/^assistant › The current time is [^\n]*\n> $/m);
    first.type("compute 6*7");
    await first.waitFor(/\[y\/N\] $/m);
    first.type("n");
    await first.waitFor(/^ {2}← calculator: denied/m);
    await first.until("the prompt", (screen) => PROMPT_AT_END.test(screen));
    first.send("C-d");
    expect(await first.exited()).toBe(0);

    const second = terminals.open(chatArgs("--session", id));
    await second.waitFor(READY);
    const history = second.screen();
    expect(history).toMatch(
      /^> what time is it\nassistant › Let me check the clock\.\n {2}→ clock \{\}\n {2}← clock: \{"iso":"\d{4}-[^\n]*\(\d+ ms\)\nassistant › The current time is /m,
    );
    expect(history).toMatch(
      /^> compute 6\*7\nassistant › Let me calculate that\.\n {2}→ calculator \{"expression":"6\*7"\}\n {2}← calculator: denied: [^\n]+\n/m,
    );
    second.send("C-d");
    expect(await second.exited()).toBe(0);
  });

  it("wraps a long reply at word boundaries to the window's width, never inside a word", async () => {
    const columns = 50;
    const term = terminals.open(chatArgs(), { columns, rows: 40 });
    const id = (await term.waitFor(/^session ([0-9a-f]{32}) /m))[1] as string;
    await term.waitFor(READY);
    const message = "incomprehensibilities counterrevolutionaries electroencephalographically uncharacteristically";
    term.type(message);
    await term.waitFor(/when those tools are\s+enabled\.\n> \s*$/);
    const reply = (await eventsOf(id)).filter((event) => event.type === "message" && event.role === "assistant").at(-1);
    const text = `assistant › ${(reply as { content: string }).content}`;
    // -J joins the rows the terminal wrapped by itself: every row left is one the chat ended.
    const rows = term.screen().split("\n");
    const first = rows.findIndex((row) => row.startsWith("assistant › "));
    const last = rows.findIndex((row, index) => index > first && row.startsWith("> "));
    const replyRows = rows.slice(first, last).map((row) => row.trimEnd());
    expect(replyRows.length).toBeGreaterThan(4);
    for (const row of replyRows) expect(row.length).toBeLessThanOrEqual(columns);
    // The rows are the reply's words in order, broken only where it had a space.
    expect(replyRows.join(" ")).toBe(text);
    term.send("C-d");
    expect(await term.exited()).toBe(0);
    if (process.env.FRONTDESK_SHOW_SCREENS) console.log(`narrow window:\n${term.screen(true).trimEnd()}`);
  });

  it("Ctrl-C cancels a slow turn and keeps its partial reply; Ctrl-C at the prompt hints, twice exits", async () => {
    const term = terminals.open(chatArgs());
    const id = (await term.waitFor(/^session ([0-9a-f]{32}) /m))[1] as string;
    await term.waitFor(READY);

    term.send("C-c");
    await term.waitFor(/^\(To exit, press Ctrl-C again or Ctrl-D, or type \/exit\)\n> $/m);

    term.type("run `sleep 30`");
    await term.waitFor(/^ {2}→ shell \{"command":"sleep 30"\}$/m);
    term.send("C-c");
    await term.waitFor(/^ {2}← shell: cancelled\n\[cancelled\]\n> $/m);
    const events = await eventsOf(id);
    const reply = events.filter((event) => event.type === "message" && event.role === "assistant").at(-1);
    expect(reply).toMatchObject({ content: "Running `sleep 30`.", finish: "cancelled" });
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({ status: "cancelled" });

    // Still usable after the cancel: the lock was released.
    term.type("compute 1+1");
    await term.waitFor(/\[y\/N\] $/m);
    term.type("n");
    await term.until("the denial to be answered", (screen) => PROMPT_AT_END.test(screen) && /denied/.test(screen));

    term.send("C-c");
    await term.until("a second hint", (screen) => (screen.match(/To exit, press/g)?.length ?? 0) === 2);
    term.send("C-c");
    expect(await term.exited()).toBe(0);
    if (process.env.FRONTDESK_SHOW_SCREENS) console.log(`ctrl-c window:\n${term.screen(true).trimEnd()}`);
  });

  it("closing the window mid-turn (SIGHUP) cancels the turn and releases the session's turn lock", async () => {
    const term = terminals.open(chatArgs());
    const id = (await term.waitFor(/^session ([0-9a-f]{32}) /m))[1] as string;
    await term.waitFor(READY);
    term.type("run `sleep 30`");
    await term.waitFor(/^ {2}→ shell /m);
    terminals.kill(term);
    // Read the store until the chat has written its last events (bounded; short waits).
    const deadline = Date.now() + 20_000;
    let events: readonly SessionEvent[] = [];
    for (;;) {
      events = await eventsOf(id);
      if (events.at(-1)?.type === "status" && (events.at(-1) as { status?: string }).status === "closed") break;
      if (Date.now() > deadline) throw new Error(`the chat did not wind down: ${JSON.stringify(events.at(-1))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({ status: "cancelled" });
    expect(events.find((event) => event.type === "status" && event.status === "idle")).toMatchObject({
      reason: "cancelled",
    });
    const session = await withManager(`sqlite:${join(temp.dir, "db")}`, (manager) =>
      manager.get({ id, userId: "local" }),
    );
    // The lock lives under the process-local key (never copied by fork or export); released, it is gone.
    const state = session.state as { agent?: { phase?: string }; "process:agent"?: { turn?: unknown } };
    expect(state.agent?.phase).not.toBe("running");
    expect(state["process:agent"]?.turn).toBeUndefined();
  });
});
