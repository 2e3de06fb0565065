import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";
import {
  describeEvent,
  displayWidth,
  RENDER_SLICE,
  terminalText,
  WordWrapper,
  writeWrapped,
} from "../../src/cli/render.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { turnsDuring } from "../support/event-loop.ts";
import { CapturedStream, lines, tempStore, waitForText, withManager } from "./harness.ts";

const temp = tempStore();
afterAll(() => temp.remove());

const CONFIG = join(temp.dir, "chat.json");
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
      helper: {
        model: "offline",
        systemPrompt: "You help.",
        tools: ["clock"],
        color: "#ff8800",
        description: "Tells the time",
      },
    },
  }),
);

/** A terminal's input: readline reads keypresses from it in raw mode. */
class FakeTerminalInput extends PassThrough {
  readonly isTTY = true;
  isRaw = false;
  setRawMode(mode: boolean): this {
    this.isRaw = mode;
    return this;
  }
}

const ESC = "\x1b";
const ANSI = new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, "g");
const plain = (text: string): string => text.replace(ANSI, "");

interface ChatRun {
  stdin: PassThrough;
  stdout: CapturedStream;
  stderr: CapturedStream;
  done: Promise<number>;
  /** Waits for `pattern` in stdout (colours stripped), after `from` characters. */
  waitFor(pattern: RegExp, from?: number): Promise<RegExpExecArray>;
}

function startChat(args: string[], options: { terminal?: boolean; env?: Record<string, string> } = {}): ChatRun {
  const terminal = options.terminal === true;
  const stdin = terminal ? new FakeTerminalInput() : new PassThrough();
  const stdout = new CapturedStream(terminal);
  const stderr = new CapturedStream(terminal);
  const done = main(["chat", "--store", temp.url, "--config", CONFIG, ...args], {
    stdout,
    stderr,
    stdin,
    env: options.env ?? {},
  });
  return {
    stdin,
    stdout,
    stderr,
    done,
    async waitFor(pattern, from = 0) {
      const view = new CapturedStream();
      const copy = () => {
        view.text = plain(stdout.text.slice(from));
        view.emit("written");
      };
      stdout.on("written", copy);
      copy();
      try {
        return await waitForText(view, pattern, 20_000);
      } finally {
        stdout.off("written", copy);
      }
    },
  };
}

/** Runs a chat over piped input (all of it at once, then the end of input) and waits for the exit. */
async function pipedChat(input: string, args: string[] = [], env: Record<string, string> = {}) {
  const chat = startChat(args, { env });
  chat.stdin.end(input);
  const code = await chat.done;
  return { code, stdout: chat.stdout.text, stderr: chat.stderr.text };
}

const sessionIn = (stdout: string, index = 0): string => {
  const ids = [...stdout.matchAll(/^session ([0-9a-f]{32}) · agent /gm)].map((match) => match[1] as string);
  const id = ids.at(index);
  if (!id) throw new Error(`no session line #${index} in: ${stdout}`);
  return id;
};
const eventsOf = (id: string): Promise<readonly SessionEvent[]> =>
  withManager(temp.url, (manager) => manager.readEvents({ id, userId: "local" }));

describe("frontdesk chat over piped input", () => {
  it("streams a turn, asks approval inline, and exits 0 at the end of input", async () => {
    const result = await pipedChat("compute 2+3*4\ny\n");
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).not.toMatch(ANSI); // not a terminal: no colour
    const id = sessionIn(result.stdout);
    expect(lines(result.stdout)).toEqual([
      `session ${id} · agent assistant`,
      "Type a message, /help for commands, Ctrl-D to exit.",
      "> compute 2+3*4",
      "assistant › Let me calculate that.",
      '  → calculator {"expression":"2+3*4"}',
      '  approve calculator {"expression":"2+3*4"}? [y/N] y',
      expect.stringMatching(/^ {2}← calculator: \{"expression":"2\+3\*4","result":14\} \(\d+ ms\)$/),
      "assistant › 2+3*4 = 14",
      "> ",
    ]);
    const events = await eventsOf(id);
    expect(events.find((event) => event.type === "approval_response")).toMatchObject({ decision: "approve" });
    // The chat closed its agent on the way out.
    expect(events.at(-1)).toMatchObject({ type: "status", scope: "agent", status: "closed" });
    const session = await withManager(temp.url, (manager) => manager.get({ id, userId: "local" }));
    expect(session).toMatchObject({ title: "compute 2+3*4", expiresAt: null });
  });

  it("denies with /deny REASON or n at the prompt, approves with /approve, and denies when the input ends", async () => {
    const result = await pipedChat(
      ["compute 1+1", "/deny not now", "compute 2+2", "/approve", "compute 3+3", "n", "compute 4+4"].join("\n") + "\n",
    );
    expect(result.code).toBe(0);
    const events = await eventsOf(sessionIn(result.stdout));
    const answers = events.filter((event) => event.type === "approval_response");
    expect(answers.map((event) => [event.decision, event.reason])).toEqual([
      ["deny", "not now"],
      ["approve", undefined],
      ["deny", undefined],
      ["deny", "no answer: the input ended"],
    ]);
    expect(result.stdout).toMatch(/← calculator: denied: Denied: not now/);
    expect(result.stdout).toMatch(/assistant › 2\+2 = 4/);
  });

  it("switches agents within the same session with /agent", async () => {
    const result = await pipedChat("/agent\n/agent nobody\n/agent helper\nwhat time is it\n");
    expect(result.code).toBe(0);
    const id = sessionIn(result.stdout);
    expect(result.stdout).toMatch(/^\* assistant$/m);
    expect(result.stdout).toMatch(/^ {2}helper {2}Tells the time$/m);
    expect(result.stderr).toMatch(/^error: invalid_request: Unknown agent "nobody": configured agents are /m);
    expect(result.stdout).toMatch(/^agent helper$/m);
    expect(result.stdout).toMatch(/^helper › The current time is /m);
    const events = await eventsOf(id);
    const ready = events.filter((event) => event.type === "status" && event.status === "initializing");
    expect(ready.map((event) => (event as { reason?: string }).reason)).toEqual(["agent assistant", "agent helper"]);
    const session = await withManager(temp.url, (manager) => manager.get({ id, userId: "local" }));
    expect((session.state as { agent?: { name?: string } }).agent?.name).toBe("helper");
  });

  it("forks, exports, lists, resumes and starts sessions", async () => {
    const file = join(temp.dir, "export.ndjson");
    const first = await pipedChat(`what time is it\n/fork\n/export ${file}\n/sessions\n/new\n/nope\n`);
    expect(first.code).toBe(0);
    const original = sessionIn(first.stdout, 0);
    const fork = sessionIn(first.stdout, 1);
    const fresh = sessionIn(first.stdout, 2);
    expect(new Set([original, fork, fresh]).size).toBe(3);
    expect(first.stdout).toMatch(new RegExp(`^forked session ${original} at #\\d+$`, "m"));
    expect(first.stderr).toMatch(/^error: invalid_request: Unknown command \/nope: \/help lists the commands/m);
    await withManager(temp.url, async (manager) => {
      const forked = await manager.get({ id: fork, userId: "local" });
      expect(forked.parent?.sessionId).toBe(original);
    });
    const exported = lines(readFileSync(file, "utf8")).map((line) => JSON.parse(line));
    expect(exported[0]).toMatchObject({ kind: "session", session: { id: fork } });
    expect(first.stdout).toMatch(new RegExp(`^exported ${exported.length - 1} events to ${file}$`, "m"));
    // /sessions marks the current one; the fork was current then.
    expect(first.stdout).toMatch(new RegExp(`^\\* {2}${fork} `, "m"));
    expect(first.stdout).toMatch(new RegExp(`^ {3}${original} `, "m"));

    const resumed = await pipedChat(`/resume ${original}\n/resume nope\n`);
    expect(resumed.stdout).toMatch(new RegExp(`^session ${original} · agent assistant$`, "m"));
    expect(resumed.stdout).toMatch(/^> what time is it$/m);
    expect(resumed.stderr).toMatch(/^error: not_found: Session not found$/m);
  });

  it("continues a conversation with --session and shows its last messages", async () => {
    const first = await pipedChat("compute 2+3*4\ny\n");
    const id = sessionIn(first.stdout);
    const second = await pipedChat("what time is it\n", ["--session", id]);
    expect(second.code).toBe(0);
    expect(sessionIn(second.stdout)).toBe(id);
    const shown = lines(second.stdout);
    const start = shown.indexOf("── earlier in this conversation ──");
    expect(start).toBe(1);
    expect(shown.slice(start + 1, start + 7)).toEqual([
      "> compute 2+3*4",
      "assistant › Let me calculate that.",
      '  → calculator {"expression":"2+3*4"}',
      expect.stringMatching(/^ {2}← calculator: \{"expression":"2\+3\*4","result":14\} \(\d+ ms\)$/),
      "assistant › 2+3*4 = 14",
      "──",
    ]);
    expect(second.stdout).toMatch(/^assistant › The current time is /m);
    const users = (await eventsOf(id)).filter((event) => event.type === "message" && event.role === "user");
    expect(users).toHaveLength(2);

    const missing = await pipedChat("", ["--session", "0123456789abcdef0123456789abcdef"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe("frontdesk: not_found: Session not found\n");
  });

  it("fails in one line, creating nothing, for an unknown agent or a bad config", async () => {
    const count = () =>
      withManager(temp.url, async (manager) => (await manager.listSessions({ limit: 1000 })).items.length);
    const before = await count();
    const agent = await pipedChat("", ["--agent", "nobody"]);
    expect(agent.code).toBe(2);
    expect(lines(agent.stderr)).toEqual([expect.stringMatching(/^frontdesk: invalid_request: Unknown agent "nobody"/)]);
    const model = await pipedChat("", ["--model", "openai:gpt-4o-mini"], {});
    expect(model.code).toBe(2);
    expect(lines(model.stderr)).toEqual([expect.stringMatching(/needs an API key in \$OPENAI_API_KEY/)]);
    expect(await count()).toBe(before);
  });
});

describe("frontdesk chat errors", () => {
  it("an unknown slash command is an error like every other: error: <code>: <message>, naming /help", async () => {
    const result = await pipedChat(
      "/frobnicate now\n/resume\n/resume 0123456789abcdef0123456789abcdef\nwhat time is it\n",
    );
    expect(result.code).toBe(0);
    const errors = lines(result.stderr);
    expect(errors).toEqual([
      "error: invalid_request: Unknown command /frobnicate: /help lists the commands " +
        "(start with // to send a message beginning with /)",
      "error: invalid_request: usage: /resume ID (/sessions lists them)",
      "error: not_found: Session not found",
    ]);
    // The chat goes on after each one.
    expect(result.stdout).toMatch(/^assistant › The current time is /m);
  });
});

/** Renders `text` as one streamed reply after a label `start` columns wide, split into `pieces`. */
function wrapped(pieces: readonly string[], width: number | undefined, start = 0): string {
  const wrapper = new WordWrapper(() => width);
  wrapper.startAt(start);
  return pieces.map((piece) => wrapper.push(piece)).join("") + wrapper.end();
}

/** Splits `text` at the given offsets (sorted, deduplicated, within the text). */
const splitAt = (text: string, cuts: number[]): string[] => {
  const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(text.slice(from, point));
    from = point;
  }
  pieces.push(text.slice(from));
  return pieces;
};

describe("chat replies on a terminal: word wrap and control characters", () => {
  it("breaks lines only between words, however the reply is split into streamed pieces", () => {
    const word = fc.oneof(
      fc.stringMatching(/^[a-zA-Z0-9*_`.,!?'"()-]{1,14}$/),
      fc.constantFrom("中文字", "émigré", "naïve", "😀ok", "3*4*5"),
    );
    const separator = fc.constantFrom(" ", "  ", "\n", " \n", "\t");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(word, separator), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 16, max: 70 }),
        fc.integer({ min: 0, max: 14 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, width, start, cuts) => {
          const text = parts.map(([w, sep]) => w + sep).join("");
          const out = wrapped(splitAt(text, cuts), width, start);
          const rows = out.split("\n");
          rows.forEach((row, index) => {
            expect(displayWidth(row) + (index === 0 ? start : 0)).toBeLessThanOrEqual(width);
          });
          // Every word is whole on one row, and the words keep their order.
          const words = (value: string) => value.split(/\s+/).filter(Boolean);
          expect(rows.flatMap(words)).toEqual(words(text));
          // A line end the reply had is kept.
          expect(rows.length).toBeGreaterThanOrEqual(text.split("\n").length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("cuts only a word longer than a whole line, and passes text through unwrapped when not a terminal", () => {
    expect(wrapped(["the quick brown fox jumps over the lazy dog"], 16)).toBe(
      "the quick brown\nfox jumps over\nthe lazy dog",
    );
    expect(wrapped(["see ", "x".repeat(25), " end"], 10)).toBe("see\nxxxxxxxxxx\nxxxxxxxxxx\nxxxxx end");
    // After a 12-column label, a first word that does not fit starts the next line.
    expect(wrapped(["assistant text that is long"], 20, 12)).toBe("\nassistant text that\nis long");
    expect(wrapped(["no width, no wrap at all"], undefined)).toBe("no width, no wrap at all");
  });

  it("shows control characters instead of obeying them", () => {
    const hostile = "\x1b[31mred\x1b[0m\x1b]0;title\x07 back\rspace\b\r\nnext\x9b";
    const expected = "␛[31mred␛[0m␛]0;title␇ back␍space␈\nnext\ufffd";
    expect(terminalText(hostile)).toBe(expected.replace("\n", "\r\n").replace("␍space␈\r\n", "␍space␈␍\n"));
    expect(wrapped([hostile], undefined)).toBe(expected);
    // A \r\n split between two streamed pieces is still one line end.
    expect(wrapped(["one\r", "\ntwo"], 40)).toBe("one\ntwo");
  });

  it("costs time linear in the reply, even on text hostile to it", () => {
    // Quadratic work shows as 16 times the time for 4 times the input; linear as about 4 times.
    // Each size is timed as the best of several runs, so a busy machine does not fake a trend.
    const hostile: Record<string, (size: number) => string> = {
      "one letter": (n) => "z".repeat(n),
      asterisks: (n) => "*".repeat(n),
      underscores: (n) => "_".repeat(n),
      backticks: (n) => "`".repeat(n),
      "ANSI sequences": (n) => "\x1b[31m".repeat(n / 5),
      "carriage returns": (n) => "\r".repeat(n),
      "spaces then a word": (n) => `${" ".repeat(n)}x`,
      "short words": (n) => "a ".repeat(n / 2),
      tabs: (n) => "\t".repeat(n),
      "wide characters": (n) => "中".repeat(n),
    };
    const render = (text: string): number => {
      const wrapper = new WordWrapper(() => 80);
      wrapper.startAt(12);
      let written = 0;
      for (let at = 0; at < text.length; at += RENDER_SLICE)
        written += wrapper.push(text.slice(at, at + RENDER_SLICE)).length;
      const event = { seq: 1, id: "e", at: 0, type: "message", role: "assistant", content: text } as const;
      return written + wrapper.end().length + describeEvent(event as never).length;
    };
    const bestOf = (text: string): number => {
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 5; run++) {
        const started = performance.now();
        render(text);
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    const small = 256 * 1024;
    for (const [name, make] of Object.entries(hostile)) {
      const large = make(4 * small);
      const short = make(small);
      // A quadratic step would take minutes on the large input: one look at the short one says so first.
      const started = performance.now();
      render(short);
      expect({ name, quick: performance.now() - started < 500 }).toEqual({ name, quick: true });
      // A collection or another process can slow one timing; a real trend shows in every attempt.
      let ratio = Number.POSITIVE_INFINITY;
      for (let attempt = 0; attempt < 4 && ratio >= 8; attempt++) {
        ratio = Math.min(ratio, bestOf(large) / Math.max(bestOf(short), 0.05));
      }
      expect({ name, linear: ratio < 8 }).toEqual({ name, linear: true });
      // And 1 MiB of it renders well under a second, even on a loaded machine.
      expect({ name, fast: bestOf(large) < 1000 }).toEqual({ name, fast: true });
    }
  });

  it("a long reply is drawn in slices with the event loop free between them", async () => {
    const text = "word ".repeat((4 * 1024 * 1024) / 5);
    let written = 0;
    const wrapper = new WordWrapper(() => 100);
    const { turns } = await turnsDuring(() =>
      writeWrapped(text, wrapper, (out) => {
        written += out.length;
      }),
    );
    const slices = Math.ceil(text.length / RENDER_SLICE);
    expect(written).toBeGreaterThan(text.length - 10);
    // Other work (key presses, signals, timers) ran between the slices, not only after the last.
    expect(turns).toBeGreaterThanOrEqual(slices - 2);
  });
});

describe("frontdesk chat on a terminal", () => {
  it("colours each agent with its configured colour, unless NO_COLOR is set", async () => {
    const chat = startChat([], { terminal: true });
    await chat.waitFor(/Ctrl-D to exit\.\n/);
    chat.stdin.write("/agent helper\r");
    await chat.waitFor(/^agent helper$/m);
    chat.stdin.write("\x04"); // Ctrl-D
    expect(await chat.done).toBe(0);
    expect(chat.stdout.text).toContain(`${ESC}[36massistant${ESC}[39m`); // cyan
    expect(chat.stdout.text).toContain(`${ESC}[38;2;255;136;0mhelper${ESC}[39m`); // #ff8800

    const plainChat = startChat([], { terminal: true, env: { NO_COLOR: "1" } });
    await plainChat.waitFor(/Ctrl-D to exit\.\n/);
    plainChat.stdin.write("\x04");
    expect(await plainChat.done).toBe(0);
    // Only readline's own cursor movements remain: no colour (SGR) sequences.
    expect(plainChat.stdout.text).not.toMatch(new RegExp(`${ESC}\\[[0-9;]*m`));
  });

  it("Ctrl-C cancels a running turn and keeps its partial reply; at the prompt it hints, then exits", async () => {
    const chat = startChat([], { terminal: true });
    await chat.waitFor(/Ctrl-D to exit\.\n/);
    chat.stdin.write("run `sleep 30`\r");
    await chat.waitFor(/→ shell \{"command":"sleep 30"\}\n/);
    let mark = chat.stdout.text.length;
    chat.stdin.write("\x03"); // Ctrl-C
    await chat.waitFor(/\[cancelled\]\n> $/, mark);
    const id = sessionIn(plain(chat.stdout.text));
    const events = await eventsOf(id);
    expect(events.find((event) => event.type === "tool_result")).toMatchObject({ status: "cancelled" });
    const reply = events.filter((event) => event.type === "message" && event.role === "assistant").at(-1);
    expect(reply).toMatchObject({ content: "Running `sleep 30`.", finish: "cancelled" });

    // Typed text is cleared by Ctrl-C without a hint; at an empty prompt the first Ctrl-C hints.
    mark = chat.stdout.text.length;
    chat.stdin.write("half a thought");
    await chat.waitFor(/half a thought/, mark);
    chat.stdin.write("\x03");
    mark = chat.stdout.text.length;
    chat.stdin.write("\x03");
    await chat.waitFor(/\(To exit, press Ctrl-C again or Ctrl-D, or type \/exit\)\n> $/, mark);
    expect(plain(chat.stdout.text).match(/To exit, press/g)).toHaveLength(1);
    // A turn in between resets the count.
    chat.stdin.write("what time is it\r");
    await chat.waitFor(/The current time is [^>]*\n> $/, mark);
    mark = chat.stdout.text.length;
    chat.stdin.write("\x03");
    await chat.waitFor(/To exit[^\n]*\n> $/, mark);
    chat.stdin.write("\x03");
    expect(await chat.done).toBe(0);
    expect(plain(chat.stdout.text).match(/To exit, press/g)).toHaveLength(2);
    expect((await eventsOf(id)).at(-1)).toMatchObject({ type: "status", status: "closed" });
  });

  it("runs lines typed ahead during a turn afterwards, echoed after their prompt", async () => {
    const chat = startChat([], { terminal: true });
    await chat.waitFor(/Ctrl-D to exit\.\n/);
    chat.stdin.write("what time is it\rhello\r");
    // Replies wrap at the terminal's 100 columns: what follows a line end may be more of the reply.
    await chat.waitFor(/The current time is [^>]*\n> hello\nassistant › You said: "hello"[^>]*\n> $/);
    chat.stdin.write("\x04");
    expect(await chat.done).toBe(0);
  });

  it("answers the approval prompt from the keyboard and exits with Ctrl-D", async () => {
    const chat = startChat([], { terminal: true });
    await chat.waitFor(/Ctrl-D to exit\.\n/);
    chat.stdin.write("compute 2+3*4\r");
    await chat.waitFor(/approve calculator \{"expression":"2\+3\*4"\}\? \[y\/N\] $/);
    chat.stdin.write("y\r");
    await chat.waitFor(/assistant › 2\+3\*4 = 14\n> $/);
    chat.stdin.write("\x04");
    expect(await chat.done).toBe(0);
    expect(chat.stderr.text).toBe("");
  });
});
