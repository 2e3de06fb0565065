/**
 * The AI SDK's chat protocol, proven with the AI SDK's own client: `Chat` (the class `useChat`
 * wraps) over `DefaultChatTransport`, unchanged, against real servers. Send, stream, stop,
 * approvals, and resume after a cut at random points, on one instance and across two instances
 * on a shared store. A reply stops at an exact point because the model is paced by the test.
 */
import { Chat } from "@ai-sdk/react";
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses, type UIMessage } from "ai";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config.ts";
import type { SessionEvent } from "../../src/core/model.ts";
import { turnDeltaOf } from "../../src/core/turn-deltas.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { openStore } from "../../src/stores/registry.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { PacedModel, pacedModelConfig, QUICK_PIECES } from "../support/paced-model.ts";
import { seeded } from "../support/seeded.ts";
import { storeLocations } from "../support/store-locations.ts";

const REPLY =
  "Frontdesk keeps every reply in the log while it is written, so a reader that comes late sees it from its first word.";

const configFor = (model: PacedModel) =>
  parseConfig({
    agents: {
      assistant: {
        model: "paced",
        persistDeltas: QUICK_PIECES,
        tools: ["calculator", "clock"],
        approval: { calculator: "ask" },
        systemPrompt: "Be brief.",
      },
    },
    models: { paced: pacedModelConfig(model.url) },
    summarization: { enabled: false },
  });

interface Deployment {
  /** The first instance, and (on a shared store) a second one on its own store handle. */
  servers: RunningServer[];
  key: string;
  close(): Promise<void>;
}

async function deploy(url: string, model: PacedModel, instances: number): Promise<Deployment> {
  const stores: SessionStore[] = [];
  const open = async () => {
    const store = await openStore(url);
    stores.push(store);
    return store;
  };
  const key = (await createApiKey(await open(), { userId: "alice" })).key;
  const servers: RunningServer[] = [];
  for (let i = 0; i < instances; i++) {
    servers.push(
      await startServer({
        store: url === "memory:" ? (stores[0] as SessionStore) : await open(),
        port: 0,
        logger: false,
        closeStore: false,
        agents: { config: configFor(model) },
        limits: { requestsPerSecond: null },
      }),
    );
  }
  return {
    servers,
    key,
    async close() {
      await Promise.all(servers.map((server) => server.close()));
      await Promise.all(stores.map((store) => store.close().catch(() => undefined)));
    },
  };
}

const chatOn = (server: RunningServer, key: string, id: string, messages: UIMessage[] = []) =>
  new Chat({
    id,
    messages,
    transport: new DefaultChatTransport({ api: `${server.url}/v1/chat`, headers: { Authorization: `Bearer ${key}` } }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });

const request = async (server: RunningServer, key: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
};

const storedMessages = async (server: RunningServer, key: string, id: string): Promise<UIMessage[]> => {
  const res = await request(server, key, "GET", `/v1/chat/${id}/messages`);
  expect(res.status).toBe(200);
  return res.body.messages as UIMessage[];
};

const textOf = (message: UIMessage | undefined): string =>
  (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("");

/** Polls a condition with a deadline: the assertion is on the state, never on the time waited. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const turnIdle = async (server: RunningServer, key: string, id: string): Promise<boolean> => {
  const res = await request(server, key, "GET", `/v1/sessions/${id}`);
  return res.status === 200 && !(res.body.state?.["process:agent"] as { turn?: unknown } | undefined)?.turn;
};

/** JSON with every object's keys sorted. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );

describe("the AI SDK chat protocol on one instance (memory store)", () => {
  const model = new PacedModel();
  let world: Deployment;
  let server: RunningServer;
  beforeAll(async () => {
    await model.start();
    world = await deploy("memory:", model, 1);
    server = world.servers[0] as RunningServer;
  });
  afterAll(async () => {
    await world.close();
    await model.stop();
  });
  beforeEach(() => {
    model.script = () => ({ text: REPLY });
    model.free();
  });

  it("sends a message and streams the reply; the message the Chat holds equals the stored one", async () => {
    const chat = chatOn(server, world.key, "plain-1");
    // useChat({ resume: true }) reconnects on mount, a brand-new chat too: nothing in flight, no error.
    await chat.resumeStream();
    expect(chat.status).toBe("ready");
    expect(chat.messages).toEqual([]);
    await chat.sendMessage({ text: "hello" });
    expect(chat.status).toBe("ready");
    const reply = chat.messages.at(-1) as UIMessage;
    expect(reply.role).toBe("assistant");
    expect(textOf(reply)).toBe(REPLY);
    expect(reply.metadata).toMatchObject({ finish: "complete" });
    expect(reply.parts.some((part) => part.type === "data-frontdesk-status")).toBe(true);
    const stored = await storedMessages(server, world.key, "plain-1");
    expect(stored).toHaveLength(2);
    expect(stored[1]).toEqual(reply);
    expect(textOf(stored[0])).toBe("hello");
    // The next message builds on the stored history; the reconnect answers 204 once nothing runs.
    await chat.sendMessage({ text: "again" });
    expect(textOf(chat.messages.at(-1))).toBe(REPLY);
    expect((await request(server, world.key, "GET", "/v1/chat/plain-1/stream")).status).toBe(204);
  });

  it("a step with text and a tool call: each text once, the tool part between, one step part per model call", async () => {
    model.script = (req) =>
      req.messages.at(-1)?.role === "tool"
        ? { text: "It is later than you think." }
        : { text: "Let me look at the clock.", toolCall: { name: "clock", input: {} } };
    const chat = chatOn(server, world.key, "steps-1");
    await chat.sendMessage({ text: "what time is it?" });
    const reply = chat.messages.at(-1) as UIMessage;
    expect(reply.parts.filter((part) => part.type !== "data-frontdesk-status").map((part) => part.type)).toEqual([
      "step-start",
      "text",
      "dynamic-tool",
      "step-start",
      "text",
    ]);
    expect(reply.parts.filter((part) => part.type === "text").map((part) => (part as { text: string }).text)).toEqual([
      "Let me look at the clock.",
      "It is later than you think.",
    ]);
    expect(reply.parts.find((part) => part.type === "dynamic-tool")).toMatchObject({
      toolName: "clock",
      state: "output-available",
    });
    expect((await storedMessages(server, world.key, "steps-1")).at(-1)).toEqual(reply);
  });

  it("stop: POST cancel then chat.stop() keeps the partial reply, marked cancelled; resume then answers 204", async () => {
    model.hold();
    const chat = chatOn(server, world.key, "stop-1");
    const sending = chat.sendMessage({ text: "tell me" });
    model.release(5);
    await until("five pieces shown", () => textOf(chat.messages.at(-1)).length > 0 && model.written >= 5);
    await until("the pieces in the Chat", () => chat.messages.at(-1)?.role === "assistant");
    expect((await request(server, world.key, "POST", "/v1/sessions/stop-1/cancel", {})).status).toBe(202);
    await chat.stop();
    await sending;
    await until("the turn ended", () => turnIdle(server, world.key, "stop-1"));
    const stored = await storedMessages(server, world.key, "stop-1");
    const reply = stored.at(-1) as UIMessage;
    expect(reply.metadata).toMatchObject({ finish: "cancelled" });
    expect(REPLY.startsWith(textOf(reply))).toBe(true);
    expect(textOf(reply).length).toBeGreaterThan(0);
    expect(textOf(reply).length).toBeLessThan(REPLY.length);
    expect((await request(server, world.key, "GET", "/v1/chat/stop-1/stream")).status).toBe(204);
    // A reload shows it, and nothing resumes.
    const reloaded = chatOn(server, world.key, "stop-1", stored);
    await reloaded.resumeStream();
    expect(reloaded.messages).toEqual(stored);
  });

  it("an approval ends the stream; the answer comes back as the next message and the turn goes on", async () => {
    model.script = (req) => {
      const last = req.messages.at(-1);
      if (last?.role === "tool") return { text: `The result is ${String(last.content)}.` };
      return { toolCall: { name: "calculator", input: { expression: "6*7" } } };
    };
    const chat = chatOn(server, world.key, "approve-1");
    await chat.sendMessage({ text: "compute 6*7" });
    const asked = chat.messages.at(-1) as UIMessage;
    const part = asked.parts.find((p) => p.type === "dynamic-tool") as
      | { state: string; approval?: { id: string }; toolName: string }
      | undefined;
    expect(part).toMatchObject({ state: "approval-requested", toolName: "calculator" });
    // The turn is still running on the server, waiting; a reconnect replays up to the request.
    const replay = chatOn(server, world.key, "approve-1", await storedMessages(server, world.key, "approve-1"));
    await replay.resumeStream();
    expect(replay.messages.at(-1)?.parts.find((p) => p.type === "dynamic-tool")).toMatchObject({
      state: "approval-requested",
    });
    await chat.addToolApprovalResponse({ id: part?.approval?.id as string, approved: true });
    await until("the answer", () => chat.status === "ready" && textOf(chat.messages.at(-1)).includes("result"));
    const done = chat.messages.at(-1) as UIMessage;
    expect(done.parts.find((p) => p.type === "dynamic-tool")).toMatchObject({
      state: "output-available",
      output: { expression: "6*7", result: 42 },
    });
    expect(done.metadata).toMatchObject({ finish: "complete" });
    await until("the turn ended", () => turnIdle(server, world.key, "approve-1"));
    const stored = (await storedMessages(server, world.key, "approve-1")).at(-1) as UIMessage;
    expect(textOf(stored)).toBe(textOf(done));
    expect(stored.id).toBe(done.id);
  });

  it("a failed turn: the Chat reports the error, and the stored message says it ended in error", async () => {
    model.script = () => ({ failWith: 400 });
    const chat = chatOn(server, world.key, "fail-1");
    await chat.sendMessage({ text: "hello" });
    expect(chat.status).toBe("error");
    expect(chat.error?.message).toMatch(/paced model failure 400/);
    await until("the turn ended", () => turnIdle(server, world.key, "fail-1"));
    const stored = (await storedMessages(server, world.key, "fail-1")).at(-1) as UIMessage;
    expect(stored.metadata).toMatchObject({ finish: "error", error: { code: "model_error" } });
    expect(chat.messages.at(-1)).toEqual(stored);
  });

  it("refuses what would rewrite the stored history, and regenerate", async () => {
    const chat = chatOn(server, world.key, "guard-1");
    await chat.sendMessage({ text: "first" });
    const stored = await storedMessages(server, world.key, "guard-1");
    const send = (messages: unknown[], trigger = "submit-message") =>
      request(server, world.key, "POST", "/v1/chat", { id: "guard-1", messages, trigger });
    const next = { id: "n1", role: "user", parts: [{ type: "text", text: "second" }] };
    const edited = [{ ...stored[0], parts: [{ type: "text", text: "rewritten" }] }, stored[1], next];
    expect(await send(edited)).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
    expect(await send([next])).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
    expect(await send([...stored, next], "regenerate-message")).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_request" } },
    });
    expect(await send([])).toMatchObject({ status: 400 });
    expect(await storedMessages(server, world.key, "guard-1")).toEqual(stored);
  });

  it("200 random cuts: after a reload and resumeStream(), the Chat's message equals the stored one, text once", async () => {
    const random = seeded(18);
    const pieces = REPLY.match(/\s*\S+\s*/g)?.length ?? 0;
    let resumed = 0;
    for (let cut = 0; cut < 200; cut++) {
      const id = `cut-${cut}`;
      model.hold();
      const requests = model.requests.length;
      const written = model.written;
      const first = chatOn(server, world.key, id);
      const sending = first.sendMessage({ text: `question ${cut}` });
      const before = Math.floor(random() * (pieces + 1));
      model.release(before);
      await until(
        `cut ${cut}: ${before} pieces out`,
        () => model.requests.length > requests && model.written >= written + before,
      );
      // The connection dies (stop() aborts the fetch; the server cannot tell it from a lost network).
      await first.stop();
      await sending;
      // A reload: the stored history, then the reconnect replays the reply in flight and follows it.
      const reloaded = chatOn(server, world.key, id, await storedMessages(server, world.key, id));
      const resuming = reloaded.resumeStream();
      // The rest of the reply goes out once the reconnect holds the replay, so the reply is still in flight.
      await until(`cut ${cut}: the replay under way`, () => reloaded.messages.at(-1)?.role === "assistant");
      model.free();
      await resuming;
      await until(`cut ${cut}: the turn ended`, () => turnIdle(server, world.key, id));
      const stored = await storedMessages(server, world.key, id);
      if (reloaded.messages.length < stored.length) {
        // The reply ended before the reconnect: nothing was in flight (204) and the load missed its end.
        expect((await request(server, world.key, "GET", `/v1/chat/${id}/stream`)).status).toBe(204);
        reloaded.messages = stored;
      } else resumed++;
      // Byte for byte: the resumed message serializes exactly as the stored one (keys in one order:
      // the order JavaScript keeps them in is how each side built the object, not its content).
      expect(canonicalJson(reloaded.messages.at(-1))).toBe(canonicalJson(stored.at(-1)));
      expect(textOf(reloaded.messages.at(-1))).toBe(REPLY);
    }
    // Only a cut after the last piece can find the turn over before the reconnect.
    expect(resumed).toBeGreaterThan(180);
  }, 120_000);
});

describe.each(storeLocations("postgres", "redis"))("the AI SDK chat protocol across two instances ($name)", (place) => {
  const model = new PacedModel();
  let world: Deployment;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    await model.start();
    const opened = place.open();
    cleanup = opened.cleanup;
    world = await deploy(opened.url, model, 2);
  });
  afterAll(async () => {
    await world.close();
    await cleanup();
    await model.stop();
  });
  afterEach(() => model.free());

  it("a reply started on one instance is resumed on the other, from its first word, and equals the stored one", async () => {
    const [one, two] = world.servers as [RunningServer, RunningServer];
    model.script = () => ({ text: REPLY });
    model.hold();
    const first = chatOn(one, world.key, "across-1");
    const sending = first.sendMessage({ text: "hello from one" });
    model.release(6);
    await until("six pieces out", () => model.written >= 6);
    await first.stop();
    await sending;
    const reloaded = chatOn(two, world.key, "across-1", await storedMessages(two, world.key, "across-1"));
    const resuming = reloaded.resumeStream();
    await until("the resumed reply under way", () => reloaded.messages.at(-1)?.role === "assistant");
    model.free();
    await resuming;
    await until("the turn ended", () => turnIdle(two, world.key, "across-1"));
    const stored = await storedMessages(two, world.key, "across-1");
    expect(reloaded.messages.at(-1)).toEqual(stored.at(-1));
    expect(textOf(stored.at(-1))).toBe(REPLY);
    // The log holds the reply's pieces, joined to exactly the stored text.
    const events = (await request(two, world.key, "GET", "/v1/sessions/across-1/events?limit=1000")).body
      .items as SessionEvent[];
    const joined = events.flatMap((event) => turnDeltaOf(event)?.text ?? []).join("");
    expect(joined).toBe(REPLY);
  });
});
