/**
 * A real LangGraph `StateGraph` (agent node, tool node, scripted chat model) on FrontdeskSaver:
 * 200 turns, then a fresh process resumes the thread and time-travels to the checkpoint after turn
 * 100, and every transcript equals MemorySaver's on the same script. Runs on SQLite and on
 * PostgreSQL (a shared store a second process reaches by URL), with LangGraph's default messages
 * channel; a shorter run covers the DeltaChannel messages channel through a cold saver.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { BaseMessage } from "@langchain/core/messages";
import { MemorySaver } from "@langchain/langgraph";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { chatGraph, type MessagesMode, transcript, userTurn } from "../fixtures/langgraph-chat.ts";
import { type OpenedStore, STORES } from "./langgraph-stores.ts";

const WORKER = fileURLToPath(new URL("../fixtures/langgraph-resume-worker.ts", import.meta.url));
const TURNS = 200;
const TRAVEL_TO = 100;

type Transcript = ReturnType<typeof transcript>;

interface Run {
  final: Transcript;
  /** The checkpoint after turn TRAVEL_TO. */
  earlier: string;
  atEarlier: Transcript;
}

async function converse(
  graph: ReturnType<typeof chatGraph>,
  config: { configurable: Record<string, string> },
  turns: number,
) {
  let final: Transcript = [];
  let earlier = "";
  let atEarlier: Transcript = [];
  for (let n = 1; n <= turns; n += 1) {
    const out = await graph.invoke({ messages: [userTurn(n)] }, config);
    final = transcript(out.messages);
    if (n === Math.min(TRAVEL_TO, turns)) {
      const state = await graph.getState(config);
      earlier = state.config.configurable?.checkpoint_id as string;
      atEarlier = final;
    }
  }
  return { final, earlier, atEarlier } satisfies Run;
}

/** MemorySaver on the same script: the run, then the resume and the time travel the worker does. */
async function reference(mode: MessagesMode, turns: number) {
  const graph = chatGraph(new MemorySaver(), mode);
  const config = { configurable: { thread_id: "reference" } };
  const run = await converse(graph, config, turns);
  const resumed = transcript((await graph.invoke({ messages: [userTurn(turns + 1)] }, config)).messages);
  const travelled = transcript(
    (
      await graph.invoke(
        { messages: [userTurn(turns + 2)] },
        { configurable: { ...config.configurable, checkpoint_id: run.earlier } },
      )
    ).messages,
  );
  return { run, resumed, travelled };
}

const sqlite = STORES.find((store) => store.name === "sqlite");
const postgres = STORES.find((store) => store.name === "postgres");

describe("a StateGraph chat on FrontdeskSaver", () => {
  let expected: Awaited<ReturnType<typeof reference>>;
  beforeAll(async () => {
    expected = await reference("default", TURNS);
  });

  for (const store of [sqlite, postgres]) {
    if (!store) continue;
    describe.skipIf(!store.available)(`on ${store.name}`, () => {
      it(`runs ${TURNS} turns with tool calls, resumes in a fresh process and time-travels, as MemorySaver does`, async () => {
        const opened = await store.open();
        onTestFinished(() => opened.close());
        const saver = new FrontdeskSaver({ sessions: opened.sessions });
        const config = { configurable: { thread_id: "chat-1", user_id: "alice" } };
        const run = await converse(chatGraph(saver), config, TURNS);
        expect(run.final).toEqual(expected.run.final);
        expect(run.atEarlier).toEqual(expected.run.atEarlier);
        expect(run.final.filter((m) => m.type === "tool")).toHaveLength(TURNS / 5);

        const child = spawnSync(
          process.execPath,
          ["--import", "tsx", WORKER, opened.url, "chat-1", "alice", run.earlier, "default", String(TURNS + 1)],
          { encoding: "utf8", timeout: 60_000 },
        );
        expect(child.status, child.stderr).toBe(0);
        const seen = JSON.parse(child.stdout.trim().split("\n").at(-1) as string);
        expect(seen.before).toBe(run.final.length);
        expect(seen.resumed).toEqual(expected.resumed);
        expect(seen.travelled).toEqual(expected.travelled);
        expect(seen.latest).toBe(expected.travelled.length);

        // Every message is one message event: the two branches share the first 100 turns' events.
        const session = await opened.sessions.forUser("alice").get("chat-1");
        expect(session.stats.messages).toBe(
          expected.resumed.length + (expected.travelled.length - run.atEarlier.length),
        );
        expect(session.metadata).toMatchObject({ framework: "langgraph", threadId: "chat-1" });
        expect(session.title).toBe("message number 1");
        await saver.close();
      });
    });
  }
});

describe.skipIf(!sqlite?.available)("a StateGraph chat with a DeltaChannel messages channel", () => {
  // Past DeltaChannel's default snapshot frequency (100 updates), so a DeltaSnapshot is stored too.
  const turns = 60;
  let opened: OpenedStore;
  beforeAll(async () => {
    opened = await (sqlite as NonNullable<typeof sqlite>).open();
  });
  afterAll(async () => opened?.close());

  it("gives MemorySaver's transcript, also to a saver that starts cold in the middle", async () => {
    const expected = await reference("delta", turns);
    const config = { configurable: { thread_id: "delta-1" } };
    const first = new FrontdeskSaver({ sessions: opened.sessions });
    const run = await converse(chatGraph(first, "delta"), config, turns);
    expect(run.final).toEqual(expected.run.final);
    const cold = chatGraph(new FrontdeskSaver({ sessions: opened.sessions }), "delta");
    const resumed = transcript((await cold.invoke({ messages: [userTurn(turns + 1)] }, config)).messages);
    expect(resumed).toEqual(expected.resumed);
    const travelled = transcript(
      (
        await cold.invoke(
          { messages: [userTurn(turns + 2)] },
          { configurable: { ...config.configurable, checkpoint_id: run.earlier } },
        )
      ).messages,
    );
    expect(travelled).toEqual(expected.travelled);
    const session = await opened.sessions.get("delta-1");
    expect(session.stats.messages).toBe(expected.resumed.length + (expected.travelled.length - run.atEarlier.length));
    // The snapshot's messages are the message events already stored: it holds runs, not copies.
    const events = await opened.sessions.readEvents("delta-1", { types: ["custom"] });
    const snapshots = events.flatMap((event) =>
      Object.values((event as { data: { values?: Record<string, { snap?: boolean }> } }).data.values ?? {}).filter(
        (ref) => ref.snap,
      ),
    );
    expect(snapshots.length).toBeGreaterThan(0);
  });
});

describe.skipIf(!sqlite?.available)("a StateGraph's history on FrontdeskSaver", () => {
  it("lists the same checkpoints as MemorySaver: steps, sources, next nodes and messages", async () => {
    const opened = await (sqlite as NonNullable<typeof sqlite>).open();
    onTestFinished(() => opened.close());
    const history = async (graph: ReturnType<typeof chatGraph>) => {
      const config = { configurable: { thread_id: "history" } };
      for (let n = 1; n <= 6; n += 1) await graph.invoke({ messages: [userTurn(n)] }, config);
      const states = [];
      for await (const state of graph.getStateHistory(config)) {
        states.push({
          step: state.metadata?.step,
          source: state.metadata?.source,
          next: state.next,
          messages: transcript((state.values as { messages?: BaseMessage[] }).messages ?? []),
        });
      }
      return states;
    };
    const expected = await history(chatGraph(new MemorySaver()));
    expect(expected.length).toBeGreaterThanOrEqual(20);
    expect(await history(chatGraph(new FrontdeskSaver({ sessions: opened.sessions })))).toEqual(expected);
  });
});
