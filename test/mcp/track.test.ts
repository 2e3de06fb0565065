import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer, type RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import * as z3 from "zod/v3";
import type { SessionEvent } from "../../src/core/model.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { MCP_SESSION_PURPOSE, trackSessions } from "../../src/mcp/track.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { call, connect, flakyStore, testStores, textOf } from "./helpers.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Seen {
  args: unknown[];
}

/** A demo tool server: tools of every registration style, some before tracking and some after. */
function demoServer(seen: Seen[]): { server: McpServer; early: RegisteredTool } {
  const server = new McpServer({ name: "demo", version: "1.0.0" });
  const early = server.registerTool(
    "word_count",
    { description: "Counts words", inputSchema: { text: z.string() } },
    async (args) => {
      seen.push({ args: [args] });
      await sleep(15);
      return { content: [{ type: "text", text: String(args.text.split(/\s+/).filter(Boolean).length) }] };
    },
  );
  server.registerTool("no_args", { description: "Takes nothing" }, async () => {
    seen.push({ args: [] });
    return { content: [{ type: "text", text: "pong" }] };
  });
  return { server, early };
}

function addLateTools(server: McpServer, seen: Seen[]): void {
  server.registerTool("strict_upper", { inputSchema: z.object({ text: z.string() }).strict() }, async (args) => {
    seen.push({ args: [args] });
    return {
      content: [{ type: "text", text: args.text.toUpperCase() }],
      structuredContent: { upper: args.text.toUpperCase() },
    };
  });
  server.registerTool("fails_softly", { inputSchema: { why: z.string() } }, async ({ why }) => ({
    isError: true,
    content: [{ type: "text", text: `cannot: ${why}` }],
  }));
  server.registerTool("throws", { inputSchema: { why: z.string() } }, async ({ why }) => {
    throw new Error(`boom: ${why}`);
  });
  server.registerTool("own_session_arg", { inputSchema: { session_id: z.string(), n: z.number() } }, async (args) => {
    seen.push({ args: [args] });
    return { content: [{ type: "text", text: `mine ${args.session_id}` }] };
  });
  // The deprecated form still works and is tracked too.
  server.tool("legacy_echo", { text: z.string() }, async ({ text }) => ({ content: [{ type: "text", text }] }));
  // A zod 3 schema (the SDK accepts both majors).
  server.registerTool("v3_echo", { inputSchema: z3.z.object({ text: z3.z.string() }) as never }, (async (args: {
    text: string;
  }) => {
    seen.push({ args: [args] });
    return { content: [{ type: "text", text: args.text }] };
  }) as never);
}

const stores = testStores();

describe.each(stores)("trackSessions on %s", (_name, open) => {
  let store: SessionStore;
  let close: () => Promise<void>;
  let sessions: SessionManager;
  let warnings: { details: Record<string, unknown>; message: string }[];
  const seen: Seen[] = [];
  let client: Client;
  let server: McpServer;
  let early: RegisteredTool;

  beforeEach(async () => {
    ({ store, close } = await open());
    sessions = new SessionManager(() => ({}), store);
    warnings = [];
    seen.length = 0;
    ({ server, early } = demoServer(seen));
    trackSessions(server, {
      sessions,
      logger: { warn: (details, message) => warnings.push({ details, message }) },
    });
    addLateTools(server, seen);
    client = await connect(server);
  });

  afterEach(async () => {
    await client.close();
    await close();
  });

  const invocations = async (id: string) =>
    (await sessions.readEvents(id)).filter(
      (e): e is SessionEvent & { type: "tool_result" } => e.type === "tool_result",
    );

  it("lists session_id as an optional argument of every tool, before and after tracking started", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        "fails_softly",
        "legacy_echo",
        "no_args",
        "own_session_arg",
        "strict_upper",
        "throws",
        "v3_echo",
        "word_count",
      ].sort(),
    );
    for (const tool of tools) {
      const properties = tool.inputSchema.properties as Record<string, { type?: string; pattern?: string }>;
      expect(properties.session_id?.type, tool.name).toBe("string");
      if (tool.name !== "own_session_arg") expect(tool.inputSchema.required ?? []).not.toContain("session_id");
    }
    const wordCount = tools.find((t) => t.name === "word_count");
    expect(wordCount?.inputSchema.required).toEqual(["text"]);
  });

  it("records a call in the named session (created when missing) and hides session_id from the tool", async () => {
    const result = await call(client, "word_count", { text: "one two three", session_id: "s-1" });
    expect(textOf(result)).toBe("3");
    expect(seen[0]?.args).toEqual([{ text: "one two three" }]);

    const session = await sessions.get("s-1");
    expect(session.purpose).toBe(MCP_SESSION_PURPOSE);
    expect(session.tags).toEqual(["mcp"]);
    expect(session.stats.toolCalls).toBe(1);
    expect(session.stats.toolsUsed).toEqual(["word_count"]);
    const events = await sessions.readEvents("s-1");
    expect(events.map((e) => e.type)).toEqual(["tool_call", "tool_result"]);
    const [callEvent, resultEvent] = events as [
      SessionEvent & { type: "tool_call" },
      SessionEvent & { type: "tool_result" },
    ];
    expect(callEvent.tool).toBe("word_count");
    expect(callEvent.input).toEqual({ text: "one two three" });
    expect(resultEvent.invocationId).toBe(callEvent.invocationId);
    expect(resultEvent.status).toBe("success");
    expect(resultEvent.output).toEqual({ content: [{ type: "text", text: "3" }] });
    expect(resultEvent.durationMs).toBeGreaterThanOrEqual(10);
    expect(resultEvent.durationMs).toBeLessThan(5_000);
  });

  it("records into an existing session without touching its header", async () => {
    await sessions.create({ sessionId: "mine", title: "My work", purpose: "debugging" });
    await call(client, "no_args", { session_id: "mine" });
    await call(client, "strict_upper", { text: "abc", session_id: "mine" });
    const session = await sessions.get("mine");
    expect(session.title).toBe("My work");
    expect(session.purpose).toBe("debugging");
    expect(session.stats.toolCalls).toBe(2);
    const results = await invocations("mine");
    expect(results.map((r) => [r.tool, r.status])).toEqual([
      ["no_args", "success"],
      ["strict_upper", "success"],
    ]);
    expect(results[0]?.input).toBeUndefined();
    expect(results[1]?.output).toEqual({
      content: [{ type: "text", text: "ABC" }],
      structuredContent: { upper: "ABC" },
    });
    // The strict schema still refuses unknown keys: only session_id was added.
    const refused = await call(client, "strict_upper", { text: "abc", extra: 1, session_id: "mine" });
    expect(refused.isError).toBe(true);
  });

  it("records an isError result as an error", async () => {
    const result = await call(client, "fails_softly", { why: "no disk", session_id: "s-err" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe("cannot: no disk");
    const [recorded] = await invocations("s-err");
    expect(recorded?.status).toBe("error");
    expect(recorded?.error).toEqual({ message: "cannot: no disk", code: "tool_error" });
    expect((await sessions.getStatistics("s-err")).toolErrors).toBe(1);
  });

  it("records a tool that throws, then re-throws the same error", async () => {
    const result = await call(client, "throws", { why: "bad", session_id: "s-throw" });
    // The SDK turns a thrown error into an error result with its message.
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe("boom: bad");
    const [recorded] = await invocations("s-throw");
    expect(recorded?.status).toBe("error");
    expect(recorded?.error).toEqual({ message: "boom: bad", code: "Error" });

    // Directly: the very same error object comes out of the wrapped handler.
    const thrown = new TypeError("exact");
    const probe = server.registerTool("probe", { inputSchema: { x: z.number() } }, async () => {
      throw thrown;
    });
    const handler = probe.handler as (args: unknown, extra: unknown) => Promise<unknown>;
    await expect(handler({ x: 1, session_id: "s-throw" }, { sessionId: undefined })).rejects.toBe(thrown);
    expect((await invocations("s-throw")).map((r) => r.error?.code)).toEqual(["Error", "TypeError"]);
  });

  it("passes session_id through to a tool that declares it, and records the call there too", async () => {
    const result = await call(client, "own_session_arg", { session_id: "shared", n: 2 });
    expect(textOf(result)).toBe("mine shared");
    expect(seen[0]?.args).toEqual([{ session_id: "shared", n: 2 }]);
    expect((await invocations("shared")).map((r) => r.tool)).toEqual(["own_session_arg"]);
  });

  it("tracks zod 3 schemas and the deprecated tool() form", async () => {
    expect(textOf(await call(client, "v3_echo", { text: "hi", session_id: "z3" }))).toBe("hi");
    expect(seen[0]?.args).toEqual([{ text: "hi" }]);
    expect(textOf(await call(client, "legacy_echo", { text: "yo", session_id: "z3" }))).toBe("yo");
    expect((await invocations("z3")).map((r) => r.tool)).toEqual(["v3_echo", "legacy_echo"]);
  });

  it("refuses a malformed session_id before the tool runs", async () => {
    const result = await call(client, "word_count", { text: "a", session_id: "../etc/passwd" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/session_id/);
    expect(seen).toHaveLength(0);
  });

  it("leaves a call without any session untracked", async () => {
    expect(textOf(await call(client, "word_count", { text: "a b" }))).toBe("2");
    expect((await sessions.listSessions()).items).toHaveLength(0);
    expect(warnings).toHaveLength(0);
  });

  it("keeps tracking a tool whose callback, schema or name is updated", async () => {
    early.update({
      callback: async (args: { text: string }) => ({ content: [{ type: "text", text: `v2 ${args.text}` }] }),
    } as never);
    expect(textOf(await call(client, "word_count", { text: "x", session_id: "upd" }))).toBe("v2 x");
    early.update({ name: "words" });
    await call(client, "words", { text: "y", session_id: "upd" });
    early.update({ paramsSchema: { text: z.string(), loud: z.boolean().optional() } } as never);
    const { tools } = await client.listTools();
    const words = tools.find((t) => t.name === "words");
    expect(Object.keys(words?.inputSchema.properties ?? {}).sort()).toEqual(["loud", "session_id", "text"]);
    await call(client, "words", { text: "z", loud: true, session_id: "upd" });
    const results = await invocations("upd");
    expect(results.map((r) => r.tool)).toEqual(["word_count", "words", "words"]);
    expect(results[2]?.input).toEqual({ text: "z", loud: true });
  });

  it("lets the call through and logs when the store fails", async () => {
    const flaky = flakyStore(store);
    const server2 = new McpServer({ name: "flaky", version: "1.0.0" });
    const logged: string[] = [];
    trackSessions(server2, {
      sessions: new SessionManager(() => ({}), flaky.store),
      logger: { warn: (details, message) => logged.push(`${message} ${JSON.stringify(details)}`) },
    });
    server2.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: "text", text }],
    }));
    const client2 = await connect(server2);
    flaky.setDown(true);
    expect(textOf(await call(client2, "echo", { text: "still works", session_id: "down" }))).toBe("still works");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/Could not record/);
    expect(logged[0]).toMatch(/"code":"unavailable"/);
    expect(logged[0]).not.toContain('down"');
    flaky.setDown(false);
    expect(textOf(await call(client2, "echo", { text: "back", session_id: "down" }))).toBe("back");
    expect((await invocations("down")).map((r) => r.input)).toEqual([{ text: "back" }]);
    await client2.close();
  });
});

describe("trackSessions options", () => {
  it("falls back to the transport's session id, or to sessionFor", async () => {
    const store = createMemoryStore();
    const sessions = new SessionManager(() => ({}), store);
    const server = new McpServer({ name: "t", version: "1.0.0" });
    trackSessions(server, { sessions });
    server.registerTool("ping", {}, async () => ({ content: [{ type: "text", text: "pong" }] }));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    serverSide.sessionId = "conn-42";
    await server.connect(serverSide);
    const client = new Client({ name: "c", version: "1" });
    await client.connect(clientSide);
    await call(client, "ping");
    expect((await sessions.getStatistics("conn-42")).toolCalls).toBe(1);
    await call(client, "ping", { session_id: "explicit" });
    expect((await sessions.getStatistics("explicit")).toolCalls).toBe(1);
    await client.close();

    // sessionFor maps calls to owners on an unbound manager, or opts calls out (null).
    const server2 = new McpServer({ name: "t2", version: "1.0.0" });
    trackSessions(server2, {
      sessions,
      sessionFor: (_extra, requested) =>
        requested === "skip" ? null : { id: requested ?? "default-s", userId: "alice" },
    });
    server2.registerTool("ping", {}, async () => ({ content: [{ type: "text", text: "pong" }] }));
    const client2 = await connect(server2);
    await call(client2, "ping", { session_id: "a1" });
    await call(client2, "ping", { session_id: "skip" });
    await call(client2, "ping");
    const alice = sessions.forUser("alice");
    expect((await alice.getStatistics("a1")).toolCalls).toBe(1);
    expect((await alice.getStatistics("default-s")).toolCalls).toBe(1);
    await expect(sessions.get("a1")).rejects.toMatchObject({ code: "not_found" });
    await expect(alice.get("skip")).rejects.toMatchObject({ code: "not_found" });
    await client2.close();
  });

  it("records in the bound user's sessions only", async () => {
    const store = createMemoryStore();
    const root = new SessionManager(() => ({}), store);
    const server = new McpServer({ name: "t", version: "1.0.0" });
    trackSessions(server, { sessions: root.forUser("bob") });
    server.registerTool("ping", {}, async () => ({ content: [{ type: "text", text: "pong" }] }));
    const client = await connect(server);
    await root.forUser("carol").create({ sessionId: "same" });
    await call(client, "ping", { session_id: "same" });
    expect((await root.forUser("bob").getStatistics("same")).toolCalls).toBe(1);
    expect((await root.forUser("carol").getStatistics("same")).toolCalls).toBe(0);
    await client.close();
  });

  it("does not create missing sessions with createMissing: false", async () => {
    const sessions = new SessionManager(() => ({}), createMemoryStore());
    const server = new McpServer({ name: "t", version: "1.0.0" });
    const logged: string[] = [];
    trackSessions(server, { sessions, createMissing: false, logger: { warn: (_d, m) => logged.push(m) } });
    server.registerTool("ping", {}, async () => ({ content: [{ type: "text", text: "pong" }] }));
    const client = await connect(server);
    expect(textOf(await call(client, "ping", { session_id: "nope" }))).toBe("pong");
    await expect(sessions.get("nope")).rejects.toMatchObject({ code: "not_found" });
    expect(logged).toHaveLength(1);
    await sessions.create({ sessionId: "yes" });
    await call(client, "ping", { session_id: "yes" });
    expect((await sessions.getStatistics("yes")).toolCalls).toBe(1);
    await client.close();
  });

  it("bounds what it records and keeps non-JSON values recordable", async () => {
    const sessions = new SessionManager(() => ({}), createMemoryStore());
    const server = new McpServer({ name: "t", version: "1.0.0" });
    trackSessions(server, { sessions, maxRecordedBytes: 1024 });
    server.registerTool("big", { inputSchema: { n: z.number() } }, async ({ n }) => ({
      content: [{ type: "text", text: "x".repeat(n) }],
    }));
    server.registerTool("dated", { inputSchema: { when: z.string().transform((s) => new Date(s)) } }, async () => ({
      content: [{ type: "text", text: "ok" }],
    }));
    const client = await connect(server);
    await call(client, "big", { n: 5000, session_id: "b" });
    await call(client, "dated", { when: "2024-01-02T03:04:05.000Z", session_id: "b" });
    const results = (await sessions.readEvents("b")).filter((e) => e.type === "tool_result") as (SessionEvent & {
      type: "tool_result";
    })[];
    expect(results[0]?.output).toMatchObject({ truncated: true });
    expect((results[0]?.output as { bytes?: number } | undefined)?.bytes).toBeGreaterThan(5000);
    expect(results[1]?.input).toEqual({ when: "2024-01-02T03:04:05.000Z" });
    await client.close();
  });

  it("refuses to track a server twice", () => {
    const sessions = new SessionManager(() => ({}), createMemoryStore());
    const server = new McpServer({ name: "t", version: "1.0.0" });
    trackSessions(server, { sessions });
    expect(() => trackSessions(server, { sessions })).toThrow(/already tracked/);
  });
});
