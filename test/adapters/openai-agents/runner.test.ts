/**
 * The SDK's own runner, `run(agent, input, { session })`, over many turns with a scripted model
 * (plain replies, tool calls, reasoning, a server-side compaction): on Frontdesk the model is
 * handed, turn by turn, exactly the history the SDK's MemorySession hands it, byte for byte, also
 * after the conversation moves to a fresh session object on a fresh connection.
 */
import { MemorySession, run, setTracingDisabled } from "@openai/agents-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { FrontdeskSession, MARKER_EVENT } from "../../../src/adapters/openai-agents/index.ts";
import { createSessionManager } from "../../../src/index.ts";
import { ScriptedModel, scriptTurns, weatherAgent } from "./scripted-model.ts";
import { DURABLE_STORES } from "./stores.ts";

beforeAll(() => setTracingDisabled(true));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(DURABLE_STORES)("run() with FrontdeskSession on $name", (store) => {
  it("hands the model the same history as MemorySession over 40 turns with tools, and resumes in a fresh session object", async () => {
    const { url, cleanup } = store.open();
    cleanups.push(cleanup);
    const turns = scriptTurns(40);
    const reference = new ScriptedModel();
    const memory = new MemorySession();
    const model = new ScriptedModel();
    const options = { store: url, sessionId: "support chat #7", userId: "alice", manager: { defaultTtlMs: null } };

    let session = new FrontdeskSession(options);
    for (const [i, turn] of turns.entries()) {
      if (i === 20) {
        // Half way, the conversation continues elsewhere: a new session object, its own store connection.
        await session.close();
        session = new FrontdeskSession(options);
      }
      const expected = await run(weatherAgent(reference), turn, { session: memory });
      const actual = await run(weatherAgent(model), turn, { session });
      expect(actual.finalOutput).toBe(expected.finalOutput);
    }
    expect(model.inputs).toHaveLength(reference.inputs.length);
    expect(JSON.stringify(model.inputs)).toBe(JSON.stringify(reference.inputs));
    expect(JSON.stringify(await session.getItems())).toBe(JSON.stringify(await memory.getItems()));
    await session.close();

    // What Frontdesk holds is a first-class conversation: messages and tool cards, and the compaction as a marker.
    const sessions = await createSessionManager({ store: url, defaultTtlMs: null });
    cleanups.push(() => sessions.store.close());
    const alice = sessions.forUser("alice");
    const [stored] = (await alice.listSessions()).items;
    expect(stored?.metadata).toEqual({ openaiAgents: { sessionId: "support chat #7" } });
    const events = await alice.readEvents(stored?.id as string);
    const calls = events.filter((event) => event.type === "tool_call");
    expect(calls.length).toBe(turns.filter((turn) => turn.startsWith("weather")).length);
    expect(events.filter((event) => event.type === "tool_result")).toHaveLength(calls.length);
    // A compacting turn's own input is inside the compaction, as on MemorySession.
    const compactions = turns.filter((turn) => turn === "compact now").length;
    expect(compactions).toBeGreaterThan(1);
    expect(events.filter((event) => event.type === "message" && event.role === "user")).toHaveLength(
      turns.length - compactions,
    );
    const markers = events.flatMap((event) => (event.type === "custom" && event.name === MARKER_EVENT ? [event] : []));
    expect(markers.map((event) => (event.data as { op: string }).op)).toEqual(Array(compactions).fill("compaction"));
    expect(stored?.stats).toMatchObject({ toolCalls: calls.length, toolsUsed: ["get_weather"] });
  });
});
