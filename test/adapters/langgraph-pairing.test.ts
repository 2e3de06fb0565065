/**
 * A step's writes and the put LangGraph sends right after them share one commit (one fsync on a
 * durable store), and each call keeps its own outcome: a put refused on its own does not take the
 * writes it was paired with down.
 */
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { createSessionManager, isFrontdeskError } from "../../src/index.ts";
import { chatGraph, userTurn } from "../fixtures/langgraph-chat.ts";

describe("a step's writes and the next put", () => {
  it("are one commit: a turn of two steps and its input costs three commits, not five", async () => {
    const sessions = await createSessionManager({ store: "memory:", defaultTtlMs: null });
    const graph = chatGraph(new FrontdeskSaver({ sessions }));
    const config = { configurable: { thread_id: "paired" } };
    await graph.invoke({ messages: [userTurn(1)] }, config);
    const before = (await sessions.get("paired")).version;
    const { messages } = await graph.invoke({ messages: [userTurn(2)] }, config);
    const after = await sessions.get("paired");
    // The input checkpoint alone, then (input writes + step 0) and (agent writes + step 1).
    expect(after.version - before).toBe(3);
    expect(after.stats.messages).toBe(messages.length);
  });

  it("still gives each call its own outcome when the put is refused", async () => {
    const sessions = await createSessionManager({
      store: "memory:",
      defaultTtlMs: null,
      limits: { maxEventBytes: 16 * 1024 },
    });
    const saver = new FrontdeskSaver({ sessions });
    const thread = { thread_id: "refused", checkpoint_ns: "" };
    const parent = {
      ...emptyCheckpoint(),
      id: uuid6(-3),
      channel_values: { count: 1 },
      channel_versions: { count: 1 },
    };
    await saver.put({ configurable: thread }, parent, { source: "loop", step: 0, parents: {} }, { count: 1 });
    const onParent = { configurable: { ...thread, checkpoint_id: parent.id } };
    // As LangGraph does: the writes are not awaited before the next checkpoint's put.
    const writes = saver.putWrites(onParent, [["count", 2]], "task-1");
    const tooLarge = { ...emptyCheckpoint(), id: uuid6(-3), channel_values: { blob: "x".repeat(32 * 1024) } };
    const put = saver.put(
      onParent,
      { ...tooLarge, channel_versions: { blob: 2 } },
      { source: "loop", step: 1, parents: {} },
      { blob: 2 },
    );
    const [wrote, refused] = await Promise.allSettled([writes, put]);
    expect(wrote.status).toBe("fulfilled");
    expect(refused.status === "rejected" && isFrontdeskError(refused.reason, "payload_too_large")).toBe(true);
    for (const reader of [saver, new FrontdeskSaver({ sessions })]) {
      const tuple = await reader.getTuple({ configurable: thread });
      expect(tuple?.checkpoint.id).toBe(parent.id);
      expect(tuple?.pendingWrites).toEqual([["task-1", "count", 2]]);
    }
  });
});
