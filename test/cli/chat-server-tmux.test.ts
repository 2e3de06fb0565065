/**
 * `frontdesk chat --server` in real terminals (tmux): a reply is started, its window is closed in
 * the middle of the reply, and a new window attached to the session shows the reply going on to
 * its end, its text once. The server runs in this process and its agent streams from a model the
 * test paces chunk by chunk, so "in the middle" is an exact point.
 * Needs tmux and `npm run build`: skipped without tmux, except under CI=true, where a missing tmux fails.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/core/model.ts";
import { PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import { run, serveInProcess, tempStore, withManager } from "./harness.ts";
import { assertBuilt } from "./processes.ts";
import { hasTmux, TmuxServer } from "./tmux.ts";

const temp = tempStore();
const CONFIG = join(temp.dir, "server.json");
const terminals = new TmuxServer(temp.dir);
const model = new PacedModel();
let server: Awaited<ReturnType<typeof serveInProcess>> | undefined;
let key: string;

const MESSAGE = "tell me about the sea and the ships that sail on it through the night";
const REPLY = `You said: ${MESSAGE}`;
const READY = /Type a message, \/help for commands, Ctrl-D to exit\.\n/;

describe.skipIf(!hasTmux && !process.env.CI)("frontdesk chat --server in a real terminal (tmux)", () => {
  beforeAll(async () => {
    assertBuilt();
    await model.start();
    writeFileSync(
      CONFIG,
      JSON.stringify({
        models: { paced: pacedModelConfig(model.url) },
        agents: { assistant: { model: "paced", persistDeltas: QUICK_PIECES, systemPrompt: "You help.", tools: [] } },
      }),
    );
    key = (await run(["keys", "create", "--store", temp.url, "--user", "alice"])).stdout.trim();
    server = await serveInProcess(["--store", temp.url, "--config", CONFIG]);
  });

  afterEach(() => terminals.closeAll());

  afterAll(async () => {
    terminals.shutdown();
    model.free();
    if (server) expect(await server.stop()).toBe(0);
    await model.stop();
    temp.remove();
  });

  const chatArgs = (...more: string[]) => ["chat", "--server", server?.url ?? "", "--key", key, ...more];

  it("a window closed mid-reply leaves the turn running; a new window attached to the session shows the reply to its end, once", async () => {
    const first = terminals.open(chatArgs());
    const id = (await first.waitFor(/^session ([0-9a-f]{32}) · agent /m))[1] as string;
    await first.waitFor(READY);
    first.type(MESSAGE);
    model.release(4);
    await model.until((m) => m.written >= 4, "four chunks of the reply");
    await first.waitFor(/^assistant › You said: tell me\s*$/m);

    // The window goes away in the middle of the reply (its chat gets SIGHUP).
    terminals.kill(first);
    const second = terminals.open(chatArgs("--session", id));
    // The reply so far, from its first word, under the message typed in the first window.
    const shown = await second.waitFor(/^> (.*)\nassistant › (You said: tell me)\s*$/m);
    expect(shown[1]).toBe(MESSAGE);
    expect(REPLY.startsWith(shown[2] as string)).toBe(true);

    model.free();
    const screen = await second.waitFor(new RegExp(`^assistant › ${REPLY}\\n> $`, "m"));
    const all = second.screen(true);
    expect(all.split("You said:").length - 1).toBe(1);
    expect(all.split(MESSAGE).length - 1).toBe(2); // typed once, said back once
    expect(screen.index).toBeGreaterThan(0);

    // The stored reply is whole: closing the first window did not cancel the turn.
    const events = await withManager(temp.url, (manager) => manager.readEvents({ id, userId: "alice" }));
    const replies = events.filter(
      (event): event is Extract<SessionEvent, { type: "message" }> =>
        event.type === "message" && event.role === "assistant",
    );
    expect(replies.map((event) => [event.content, event.finish ?? "complete"])).toEqual([[REPLY, "complete"]]);

    // And the second window goes on as a chat: a next turn, then Ctrl-D.
    second.type("and then");
    await second.waitFor(/^assistant › You said: and then\n> $/m);
    second.send("C-d");
    expect(await second.exited()).toBe(0);
    if (process.env.FRONTDESK_SHOW_SCREENS) console.log(`second window:\n${second.screen(true).trimEnd()}`);
  });

  it("Ctrl-C during a reply cancels the turn on the server and keeps its partial reply", async () => {
    model.hold();
    const term = terminals.open(chatArgs());
    const id = (await term.waitFor(/^session ([0-9a-f]{32}) /m))[1] as string;
    await term.waitFor(READY);
    term.type(MESSAGE);
    model.release(3);
    await term.waitFor(/^assistant › You said: tell\s*$/m);
    term.send("C-c");
    await term.waitFor(/^assistant › You said: tell \[cancelled\]\n> $/m);
    const events = await withManager(temp.url, (manager) => manager.readEvents({ id, userId: "alice" }));
    const reply = events.filter((event) => event.type === "message" && event.role === "assistant").at(-1);
    expect(reply).toMatchObject({ finish: "cancelled" });
    expect(String((reply as { content: unknown }).content).trim()).toBe("You said: tell");
    model.free();
    term.send("C-d");
    expect(await term.exited()).toBe(0);
  });
});
