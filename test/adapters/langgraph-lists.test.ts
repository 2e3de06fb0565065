/**
 * A step looks only at what it adds to the messages list: the saver recognises the parent's
 * messages by identity and shares its decoded list with the child. These tests hold the cases
 * where that shortcut must not be taken: two branches from one parent (time travel), and a
 * message stored without an id that LangGraph's reducer names in place later.
 */
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { FrontdeskSaver } from "../../src/adapters/langgraph/index.ts";
import { createSessionManager } from "../../src/index.ts";

const thread = { configurable: { thread_id: "lists", checkpoint_ns: "" } };

function checkpoint(messages: BaseMessage[], version: number): Checkpoint {
  return {
    ...emptyCheckpoint(),
    id: uuid6(-3),
    channel_values: { messages },
    channel_versions: { messages: version },
  };
}

async function put(saver: FrontdeskSaver, parentId: string | undefined, cp: Checkpoint): Promise<void> {
  const config = { configurable: { ...thread.configurable, ...(parentId ? { checkpoint_id: parentId } : {}) } };
  await saver.put(
    config,
    cp,
    { source: "loop", step: 0, parents: {} },
    { messages: cp.channel_versions.messages ?? 1 },
  );
}

async function contents(saver: FrontdeskSaver, id: string): Promise<[string | undefined, unknown][]> {
  const tuple = await saver.getTuple({ configurable: { ...thread.configurable, checkpoint_id: id } });
  return ((tuple?.checkpoint.channel_values.messages ?? []) as BaseMessage[]).map((m) => [m.id, m.content]);
}

describe("the messages list a put shares with its parent", () => {
  it("keeps two branches from one parent apart, in this process and in a fresh one", async () => {
    const sessions = await createSessionManager({ store: "memory:", defaultTtlMs: null });
    const saver = new FrontdeskSaver({ sessions });
    const [a, b] = [new HumanMessage({ id: "a", content: "hi" }), new AIMessage({ id: "b", content: "hello" })];
    const parent = checkpoint([a, b], 1);
    await put(saver, undefined, parent);
    const left = checkpoint([a, b, new HumanMessage({ id: "c", content: "left" })], 2);
    await put(saver, parent.id, left);
    // Time travel: a second child of the same parent, whose list extends the parent's differently.
    const right = checkpoint([a, b, new HumanMessage({ id: "d", content: "right" })], 2);
    await put(saver, parent.id, right);
    const further = checkpoint([...(right.channel_values.messages as BaseMessage[]), new AIMessage("more")], 3);
    await put(saver, right.id, further);

    for (const reader of [saver, new FrontdeskSaver({ sessions })]) {
      expect(await contents(reader, parent.id)).toEqual([
        ["a", "hi"],
        ["b", "hello"],
      ]);
      expect((await contents(reader, left.id)).map(([, text]) => text)).toEqual(["hi", "hello", "left"]);
      expect((await contents(reader, right.id)).map(([, text]) => text)).toEqual(["hi", "hello", "right"]);
      expect((await contents(reader, further.id)).map(([, text]) => text)).toEqual(["hi", "hello", "right", "more"]);
    }
    // Four distinct messages past the parent's two, each stored once.
    expect((await sessions.get("lists")).stats.messages).toBe(5);
  });

  it("stores again a message that had no id when it was put and was named in place since", async () => {
    const sessions = await createSessionManager({ store: "memory:", defaultTtlMs: null });
    const saver = new FrontdeskSaver({ sessions });
    const unnamed = new HumanMessage("no id yet");
    const first = checkpoint([unnamed], 1);
    await put(saver, undefined, first);
    // What LangGraph's messages reducer does to a message without an id: it names it, on the same object.
    unnamed.id = "named-later";
    (unnamed.lc_kwargs as Record<string, unknown>).id = "named-later";
    const second = checkpoint([unnamed, new AIMessage({ id: "r", content: "reply" })], 2);
    await put(saver, first.id, second);

    expect(await contents(new FrontdeskSaver({ sessions }), second.id)).toEqual([
      ["named-later", "no id yet"],
      ["r", "reply"],
    ]);
    expect(await contents(saver, second.id)).toEqual([
      ["named-later", "no id yet"],
      ["r", "reply"],
    ]);
  });
});
