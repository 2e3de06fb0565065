/**
 * The logic under useSession (SessionFeed, no React) against a real server with a paced model: a
 * feed opened mid-reply shows the reply from its first word, streams that keep getting cut resume
 * with no gap and no duplicate, and send / cancel start and stop detached turns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config.ts";
import { SessionFeed, type SessionSnapshot } from "../../src/react/index.ts";
import type { RunningServer } from "../../src/server/listen.ts";
import { api, openWorld, STORE_KINDS, type World } from "../server/agent-helpers.ts";
import { cutText, PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";

const memory = STORE_KINDS.find((kind) => kind.name === "memory") as (typeof STORE_KINDS)[number];
const REPLY = "One two three four five six seven eight nine ten, and — 🚀 — the end.";
const PIECES = cutText(REPLY);

/** A fetch whose event streams break after `chunks` chunks of body, as a flaky network would. */
function cuttingFetch(chunks: number, cuts: { count: number }): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.includes("/events/stream") || !response.body) return response;
    const reader = response.body.getReader();
    let passed = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (passed >= chunks) {
          cuts.count++;
          await reader.cancel();
          controller.error(new Error("connection reset"));
          return;
        }
        const { done, value } = await reader.read();
        if (done) return controller.close();
        passed++;
        controller.enqueue(value);
      },
      cancel: () => reader.cancel(),
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

/** Resolves once the feed's snapshot satisfies `check` (or fails after a deadline). */
function until(feed: SessionFeed, check: (s: SessionSnapshot) => boolean, what: string): Promise<SessionSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(feed.getSnapshot().reply)}`));
    }, 10_000);
    const test = () => {
      const snapshot = feed.getSnapshot();
      if (!check(snapshot)) return;
      clearTimeout(timer);
      off();
      resolve(snapshot);
    };
    const off = feed.subscribe(test);
    test();
  });
}

describe("SessionFeed (useSession without React) against a real server", () => {
  let world: World;
  let server: RunningServer;
  const model = new PacedModel();

  beforeAll(async () => {
    await model.start();
    model.script = () => ({ text: REPLY });
    world = await openWorld(memory);
    server = await world.instance({
      agents: {
        config: parseConfig({
          models: { paced: pacedModelConfig(model.url) },
          agents: { assistant: { model: "paced", persistDeltas: QUICK_PIECES, tools: [] } },
        }),
      },
    });
  });
  afterAll(async () => {
    await world?.close();
    await model.stop();
  });

  it("opened mid-reply, shows the reply from its first word; cut streams resume with every seq once", async () => {
    await api(server, world.keys.alice, "POST", "/v1/sessions", { id: "feed-1" });
    model.hold();
    const connection = { baseUrl: server.url, apiKey: world.keys.alice };
    const starter = new SessionFeed("feed-1", connection);
    starter.start();
    await until(starter, (s) => s.status === "live", "the first feed to connect");
    const started = await starter.send("count to ten");
    model.release(4);
    await until(starter, (s) => s.reply?.text === PIECES.slice(0, 4).join(""), "four pieces");
    expect(starter.getSnapshot().running).toBe(true);

    // A second reader attaches now, asking only for what comes next, over a network that cuts
    // every stream after two chunks: it still gets the reply from its first word.
    const cuts = { count: 0 };
    const late = new SessionFeed(
      "feed-1",
      { ...connection, fetch: cuttingFetch(2, cuts) },
      { after: starter.getSnapshot().lastSeq },
    );
    late.start();
    await until(late, (s) => s.reply?.text === PIECES.slice(0, 4).join(""), "the late reader's first pieces");
    expect(late.getSnapshot().running).toBe(true);

    model.free();
    const done = await until(late, (s) => !s.running && s.reply === undefined, "the end of the turn");
    const seqs = done.events.map((event) => event.seq);
    expect(seqs[0]).toBe(started.startSeq);
    expect(seqs).toEqual(seqs.map((_, i) => started.startSeq + i));
    const assistant = done.events.filter((event) => event.type === "message" && event.role === "assistant");
    expect(assistant.map((event) => (event.type === "message" ? event.content : undefined))).toEqual([REPLY]);
    expect(cuts.count).toBeGreaterThan(0);
    starter.stop();
    late.stop();
  });

  it("cancel stops the running turn; its partial reply is kept and running turns false", async () => {
    await api(server, world.keys.alice, "POST", "/v1/sessions", { id: "feed-2" });
    model.hold();
    const feed = new SessionFeed("feed-2", { baseUrl: server.url, apiKey: world.keys.alice });
    feed.start();
    await until(feed, (s) => s.status === "live", "the feed to connect");
    await feed.send("start");
    model.release(2);
    await until(feed, (s) => s.reply?.text === PIECES.slice(0, 2).join(""), "two pieces");
    await feed.cancel();
    const done = await until(feed, (s) => !s.running, "the cancelled end");
    const end = done.events.filter((event) => event.type === "status").at(-1);
    expect(end?.type === "status" ? end.reason : undefined).toBe("cancelled");
    await expect(feed.cancel()).rejects.toMatchObject({ code: "conflict" });
    feed.stop();
    model.free();
  });
});
