/**
 * Several processes on one session, at once: each adds its own numbered items and pops. Afterwards
 * every item added is either in the history or was returned by exactly one pop, the item each pop
 * returned is the one its marker in the log names, no item event was written twice, and each
 * writer's items that remain keep their order. On SQLite (one file, many processes) and on a
 * shared store.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { FrontdeskSession, HISTORY_STATE_KEY, MARKER_EVENT } from "../../../src/adapters/openai-agents/index.ts";
import { createSessionManager } from "../../../src/index.ts";
import { DURABLE_STORES } from "./stores.ts";

const WRITERS = 4;
const ROUNDS = 45;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Report {
  writer: string;
  added: string[];
  popped: (string | null)[];
}

/** One writer process, and a way to wait for its next line. */
class Writer {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private stderr = "";
  private wake: (() => void) | undefined;
  private exited = false;

  constructor(
    url: string,
    sessionId: string,
    readonly name: string,
  ) {
    this.child = spawn(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "writer.ts"), url, sessionId, name],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      this.lines.push(line);
      this.wake?.();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.child.on("exit", () => {
      this.exited = true;
      this.wake?.();
    });
    cleanups.push(async () => {
      if (this.child.exitCode === null) this.child.kill();
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  async next(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.exited) throw new Error(`writer ${this.name} exited: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    return this.lines.shift() as string;
  }
}

describe.each(DURABLE_STORES)("several processes on one FrontdeskSession on $name", (store) => {
  it("lose no item, pop none twice, return exactly the popped item, and keep each writer's order", async () => {
    const { url, cleanup } = store.open();
    cleanups.push(cleanup);
    const sessionId = "shared conversation";
    const seed = new FrontdeskSession({ store: url, sessionId, manager: { defaultTtlMs: null } });
    await seed.addItems([{ role: "user", content: "seed:0" }]);
    await seed.close();

    const writers = Array.from({ length: WRITERS }, (_, i) => new Writer(url, sessionId, `w${i}`));
    for (const writer of writers) expect(await writer.next()).toBe("ready");
    // Every round starts one operation in every writer at once: four writers contend on each version.
    for (let round = 0; round < ROUNDS; round++) {
      for (const writer of writers) writer.send("go");
      for (const writer of writers) expect(await writer.next()).toBe("done");
    }
    for (const writer of writers) writer.send("end");
    const reports = await Promise.all(writers.map(async (writer) => JSON.parse(await writer.next()) as Report));

    const reader = new FrontdeskSession({ store: url, sessionId, manager: { defaultTtlMs: null } });
    cleanups.push(() => reader.close());
    const history = (await reader.getItems()).map((item) => (item as { content: string }).content);
    const popped = reports.flatMap((report) => report.popped).filter((content): content is string => content !== null);
    const added = ["seed:0", ...reports.flatMap((report) => report.added)];

    // Exactly once: every item added is in the history or was popped, and nothing else is.
    expect(new Set(popped).size).toBe(popped.length);
    expect(new Set(history).size).toBe(history.length);
    expect([...history, ...popped].sort()).toEqual([...added].sort());
    // Each writer's remaining items keep the order it added them in.
    for (const { writer } of reports) {
      const mine = history
        .filter((content) => content.startsWith(`${writer}:`))
        .map((content) => Number(content.split(":")[1]));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }

    // The log agrees: one item event per item added, one pop marker per item popped, each naming
    // the event of exactly the item its pop returned.
    const sessions = await createSessionManager({ store: url, defaultTtlMs: null });
    cleanups.push(() => sessions.store.close());
    const id = reader.frontdeskSessionId;
    const events = await sessions.readEvents(id);
    const items = new Map(
      events.filter((event) => event.type === "message").map((event) => [event.seq, event.content as string]),
    );
    expect([...items.values()].sort()).toEqual([...added].sort());
    // The writers really raced: their items interleave in the log rather than following each other.
    const authors = [...items.values()].map((content) => content.split(":")[0]);
    const switches = authors.filter((author, i) => i > 0 && author !== authors[i - 1]).length;
    expect(switches).toBeGreaterThan(WRITERS * 2);
    const pops = events.flatMap((event) =>
      event.type === "custom" && event.name === MARKER_EVENT && (event.data as { op: string }).op === "pop"
        ? [(event.data as { seq: number }).seq]
        : [],
    );
    expect(new Set(pops).size).toBe(pops.length);
    expect(pops.map((seq) => items.get(seq)).sort()).toEqual([...popped].sort());
    expect((await sessions.get(id)).state[HISTORY_STATE_KEY]).toMatchObject({ count: history.length });
  });
});
