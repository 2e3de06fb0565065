/**
 * Two FrontdeskSaver instances (two processes' worth of caches) on one store and one thread: turns
 * that alternate between them give MemorySaver's transcript, because a saver whose view is stale
 * fails its compare-and-set and re-plans instead of writing over the other's checkpoint; and puts
 * racing on one thread all land, each once.
 */

import { MemorySaver } from "@langchain/langgraph";
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it, onTestFinished } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { chatGraph, transcript, userTurn } from "../fixtures/langgraph-chat.ts";
import { STORES } from "./langgraph-stores.ts";

const sqlite = STORES.find((store) => store.name === "sqlite");

describe.skipIf(!sqlite?.available)("two savers writing one thread", () => {
  it("alternate turns and end with MemorySaver's transcript, each message stored once", async () => {
    const opened = await (sqlite as NonNullable<typeof sqlite>).open();
    onTestFinished(() => opened.close());
    const graphs = [
      chatGraph(new FrontdeskSaver({ sessions: opened.sessions })),
      chatGraph(new FrontdeskSaver({ sessions: opened.sessions })),
    ];
    const reference = chatGraph(new MemorySaver());
    const config = { configurable: { thread_id: "shared-thread" } };
    let ours: ReturnType<typeof transcript> = [];
    let theirs: ReturnType<typeof transcript> = [];
    for (let n = 1; n <= 12; n += 1) {
      ours = transcript(
        (await (graphs[n % 2] as (typeof graphs)[0]).invoke({ messages: [userTurn(n)] }, config)).messages,
      );
      theirs = transcript((await reference.invoke({ messages: [userTurn(n)] }, config)).messages);
    }
    expect(ours).toEqual(theirs);
    expect((await opened.sessions.get("shared-thread")).stats.messages).toBe(theirs.length);
  });

  it("lands every one of many racing puts", async () => {
    const opened = await (sqlite as NonNullable<typeof sqlite>).open();
    onTestFinished(() => opened.close());
    const savers = [
      new FrontdeskSaver({ sessions: opened.sessions }),
      new FrontdeskSaver({ sessions: opened.sessions }),
    ];
    const config = { configurable: { thread_id: "race" } };
    const ids = Array.from({ length: 20 }, () => uuid6(-3));
    await Promise.all(
      ids.map((id, i) =>
        (savers[i % 2] as FrontdeskSaver).put(
          config,
          { ...emptyCheckpoint(), id, channel_values: { count: i }, channel_versions: { count: 1 } },
          { source: "loop", step: i, parents: {} },
          { count: 1 },
        ),
      ),
    );
    const listed: string[] = [];
    for await (const tuple of (savers[0] as FrontdeskSaver).list(config)) listed.push(tuple.checkpoint.id);
    expect(listed).toEqual([...ids].sort().reverse());
    expect((await (savers[1] as FrontdeskSaver).getTuple(config))?.checkpoint.id).toBe([...ids].sort().at(-1));
  });
});
