import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { createFrontdeskMcpServer, MCP_PAGE_BYTES, RESOURCE_NOT_FOUND } from "../../src/mcp/server.ts";
import type { SessionStore } from "../../src/stores/types.ts";
import { call, connect, eventually, resourceJson, structured, testStores, textOf } from "./helpers.ts";

const TOOLS = [
  "session_add_message",
  "session_complete",
  "session_create",
  "session_events",
  "session_get",
  "session_link_invocation",
  "session_list",
  "session_search",
  "session_stats",
  "session_update_metadata",
];

type Json = Record<string, unknown>;

const stores = testStores();

describe.each(stores)("Frontdesk MCP server on %s", (storeName, open) => {
  let store: SessionStore;
  let close: () => Promise<void>;
  let root: SessionManager;
  let alice: Client;
  let bob: Client;

  beforeEach(async () => {
    ({ store, close } = await open());
    root = new SessionManager(() => ({}), store);
    alice = await connect(createFrontdeskMcpServer({ sessions: root.forUser("alice") }), "alice");
    bob = await connect(createFrontdeskMcpServer({ sessions: root.forUser("bob") }), "bob");
  });

  afterEach(async () => {
    await alice.close();
    await bob.close();
    await close();
  });

  it("lists its tools with input schemas, and its resource templates", async () => {
    const { tools } = await alice.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(tool.description, tool.name).toBeTruthy();
      expect(tool.inputSchema.type).toBe("object");
    }
    const get = tools.find((t) => t.name === "session_get");
    expect(get?.inputSchema.required).toEqual(["session_id"]);
    expect(get?.annotations?.readOnlyHint).toBe(true);
    const { resourceTemplates } = await alice.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
      "frontdesk://sessions/{id}",
      "frontdesk://sessions/{id}/events",
    ]);
    expect(alice.getServerCapabilities()?.resources?.subscribe).toBe(true);
  });

  it("runs every tool", async () => {
    const created = structured<{ session: Json }>(
      await call(alice, "session_create", {
        session_id: "trip",
        title: "Trip to Lisbon",
        purpose: "plan a weekend",
        tags: ["travel"],
        metadata: { budget: 500 },
        state: { step: 1 },
        ttl_seconds: 3600,
      }),
    );
    expect(created.session).toMatchObject({ id: "trip", userId: "alice", status: "active", state: { step: 1 } });
    expect(created.session.ttlMs).toBe(3_600_000);

    const other = structured<{ session: Json }>(await call(alice, "session_create", { title: "Groceries" }));
    expect(other.session.id).toMatch(/^[0-9a-f]{32}$/);

    const message = structured<{ event: Json }>(
      await call(alice, "session_add_message", {
        session_id: "trip",
        role: "user",
        content: "Find a hotel near Alfama",
      }),
    );
    // The initial state was seq 1.
    expect(message.event).toMatchObject({ type: "message", role: "user", seq: 2 });
    await call(alice, "session_add_message", {
      session_id: "trip",
      role: "assistant",
      content: [{ type: "text", text: "Looking at hotels…" }],
    });

    const linked = structured<{ invocationId: string; seqs: number[] }>(
      await call(alice, "session_link_invocation", {
        session_id: "trip",
        tool: "hotel_search",
        invocation_id: "inv-1",
        input: { area: "Alfama" },
        output: { hotels: 3 },
        duration_ms: 120.5,
      }),
    );
    expect(linked).toEqual({ invocationId: "inv-1", seqs: [4, 5] });
    await call(alice, "session_link_invocation", {
      session_id: "trip",
      tool: "booking",
      error: "sold out",
      duration_ms: 30,
    });

    const updated = structured<{ session: Json }>(
      await call(alice, "session_update_metadata", {
        session_id: "trip",
        title: "Lisbon weekend",
        tags: ["travel", "2025"],
        metadata: { party: 2 },
      }),
    );
    expect(updated.session).toMatchObject({ title: "Lisbon weekend", tags: ["travel", "2025"] });
    expect(updated.session.metadata).toEqual({ budget: 500, party: 2 });

    const stats = structured<{ stats: Json }>(await call(alice, "session_stats", { session_id: "trip" }));
    expect(stats.stats).toMatchObject({ messages: 2, toolCalls: 2, toolErrors: 1, durationMs: 150.5 });
    expect(stats.stats.toolsUsed).toEqual(["hotel_search", "booking"]);

    const got = structured<{ session: Json }>(await call(alice, "session_get", { session_id: "trip" }));
    expect(got.session).toMatchObject({ id: "trip", lastSeq: 7, title: "Lisbon weekend" });

    const events = structured<{ items: Json[]; nextAfter: number | null }>(
      await call(alice, "session_events", { session_id: "trip", limit: 2 }),
    );
    expect(events.items.map((e) => e.seq)).toEqual([1, 2]);
    expect(events.nextAfter).toBe(2);
    const rest = structured<{ items: Json[] }>(await call(alice, "session_events", { session_id: "trip", after: 2 }));
    expect(rest.items.map((e) => e.type)).toEqual(["message", "tool_call", "tool_result", "tool_call", "tool_result"]);
    const newest = structured<{ items: Json[] }>(
      await call(alice, "session_events", { session_id: "trip", last: 1, types: ["tool_result"] }),
    );
    expect(newest.items).toHaveLength(1);
    expect(newest.items[0]).toMatchObject({ tool: "booking", status: "error", error: { message: "sold out" } });

    const listed = structured<{ items: Json[]; nextCursor: string | null }>(
      await call(alice, "session_list", { limit: 1 }),
    );
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0]).not.toHaveProperty("state");
    const page2 = structured<{ items: Json[]; nextCursor: string | null }>(
      await call(alice, "session_list", { limit: 1, cursor: listed.nextCursor }),
    );
    expect(page2.items).toHaveLength(1);
    expect(page2.items[0]?.id).not.toBe(listed.items[0]?.id);
    const travel = structured<{ items: Json[] }>(
      await call(alice, "session_list", { tags: ["travel"], status: "active" }),
    );
    expect(travel.items.map((s) => s.id)).toEqual(["trip"]);
    const byText = structured<{ items: Json[] }>(await call(alice, "session_list", { text: "grocer" }));
    expect(byText.items.map((s) => s.title)).toEqual(["Groceries"]);

    const byTitle = structured<{ items: { sessionId: string; matches: Json[] }[] }>(
      await call(alice, "session_search", { query: "LISBON" }),
    );
    expect(byTitle.items.map((i) => i.sessionId)).toEqual(["trip"]);
    expect(byTitle.items[0]?.matches[0]).toMatchObject({ field: "title", snippet: "Lisbon weekend" });
    const byMessage = structured<{ items: { sessionId: string; matches: Json[] }[]; searched: Json }>(
      await call(alice, "session_search", { query: "alfama" }),
    );
    expect(byMessage.items.map((i) => i.sessionId)).toEqual(["trip"]);
    expect(byMessage.items[0]?.matches).toEqual([
      { field: "message", seq: 2, role: "user", snippet: "Find a hotel near Alfama" },
    ]);
    expect(byMessage.searched.complete).toBe(true);
    const titlesOnly = structured<{ items: Json[] }>(
      await call(alice, "session_search", { query: "alfama", in_messages: false }),
    );
    expect(titlesOnly.items).toEqual([]);

    const completed = structured<{ session: Json }>(await call(alice, "session_complete", { session_id: "trip" }));
    expect(completed.session.status).toBe("completed");
    const failed = structured<{ session: Json }>(
      await call(alice, "session_complete", { session_id: other.session.id, status: "abandoned" }),
    );
    expect(failed.session.status).toBe("abandoned");
    const done = structured<{ items: Json[] }>(
      await call(alice, "session_list", { status: ["completed", "abandoned"] }),
    );
    expect(done.items).toHaveLength(2);
  });

  it("answers bad input with an MCP error result and stays up", async () => {
    const cases: [string, Json][] = [
      ["session_get", {}],
      ["session_get", { session_id: "../../etc" }],
      ["session_get", { session_id: 42 }],
      ["session_create", { tags: "not-a-list" }],
      ["session_create", { ttl_seconds: -5 }],
      ["session_list", { limit: 0 }],
      ["session_list", { status: "sleeping" }],
      ["session_add_message", { session_id: "x", role: "robot", content: "hi" }],
      ["session_add_message", { session_id: "x", role: "user", content: [{ text: "no type" }] }],
      ["session_link_invocation", { session_id: "x" }],
      ["session_link_invocation", { session_id: "x", tool: "t", duration_ms: -1 }],
      ["session_complete", { session_id: "x", status: "active" }],
      ["session_search", { query: "" }],
      ["session_events", { session_id: "x", limit: 10_000 }],
    ];
    for (const [tool, args] of cases) {
      const result = await call(alice, tool, args);
      expect(result.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      expect(textOf(result)).toMatch(/Input validation error|invalid/i);
    }
    // Input that passes the schema but not the core: still an error result, with its code.
    await call(alice, "session_create", { session_id: "x" });
    const invalidTag = await call(alice, "session_update_metadata", { session_id: "x", tags: ["a,b"] });
    expect(invalidTag.isError).toBe(true);
    expect(invalidTag.structuredContent).toMatchObject({ error: { code: "invalid_request" } });
    const nonJson = await call(alice, "session_link_invocation", { session_id: "x", tool: "t", error: { nope: 1 } });
    expect(nonJson.isError).toBe(true);
    const conflict = await call(alice, "session_create", { session_id: "x" });
    expect(conflict.structuredContent).toEqual({ error: { code: "conflict", message: expect.any(String) } });
    const unknown = await call(alice, "no_such_tool", {});
    expect(unknown.isError).toBe(true);
    // Still serving.
    expect(structured<{ session: Json }>(await call(alice, "session_get", { session_id: "x" })).session.id).toBe("x");
  });

  it("lists and reads sessions as resources", async () => {
    await call(alice, "session_create", { session_id: "r1", title: "First", purpose: "testing resources" });
    await call(alice, "session_add_message", { session_id: "r1", role: "user", content: "hello" });
    const { resources } = await alice.listResources();
    expect(resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ uri: "frontdesk://sessions/r1", name: "First", description: "testing resources" }),
        expect.objectContaining({ uri: "frontdesk://sessions/r1/events", mimeType: "application/json" }),
      ]),
    );
    const read = await alice.readResource({ uri: "frontdesk://sessions/r1" });
    const session = resourceJson(read) as Json;
    expect(session).toMatchObject({ id: "r1", title: "First", lastSeq: 1 });
    expect(read.contents[0]?.mimeType).toBe("application/json");
    const events = resourceJson<{ items: unknown[] }>(
      await alice.readResource({ uri: "frontdesk://sessions/r1/events" }),
    );
    expect(events).toMatchObject({ sessionId: "r1", lastSeq: 1, truncated: false });
    expect(events.items).toEqual([expect.objectContaining({ seq: 1, type: "message", content: "hello" })]);

    const missing = await alice.readResource({ uri: "frontdesk://sessions/nope" }).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(McpError);
    expect((missing as McpError).code).toBe(RESOURCE_NOT_FOUND);
  });

  it("keeps a page of big events within 1 MiB of JSON, with the cursors to the rest", async () => {
    await call(alice, "session_create", { session_id: "big" });
    // 12 events of 200 KiB: 5 fit a page of 1 MiB.
    await root.forUser("alice").appendEvents(
      "big",
      Array.from({ length: 12 }, (_, i) => ({
        type: "message",
        role: "user",
        content: String.fromCharCode(97 + i).repeat(200 * 1024),
      })),
    );
    const seqsOf = (page: { items: Json[] }) => page.items.map((event) => event.seq as number);
    const bytesOf = (result: { content: unknown }) =>
      JSON.stringify((result.content as { text: string }[])[0]?.text).length;

    const forward: number[] = [];
    for (let after = 0, pages = 0; pages < 12; pages++) {
      const result = await call(alice, "session_events", { session_id: "big", after });
      expect(bytesOf(result)).toBeLessThanOrEqual(MCP_PAGE_BYTES + 1024);
      const page = structured<{ items: Json[]; nextAfter: number | null }>(result);
      expect(page.items.length).toBeLessThanOrEqual(5);
      forward.push(...seqsOf(page));
      if (page.nextAfter === null) break;
      after = page.nextAfter;
    }
    expect(forward).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));

    const newest = structured<{ items: Json[]; nextBefore: number | null }>(
      await call(alice, "session_events", { session_id: "big", last: 100 }),
    );
    expect(seqsOf(newest)).toEqual([8, 9, 10, 11, 12]);
    expect(newest.nextBefore).toBe(8);
    const older = structured<{ items: Json[]; nextBefore: number | null }>(
      await call(alice, "session_events", { session_id: "big", last: 100, before: 8 }),
    );
    expect(seqsOf(older)).toEqual([3, 4, 5, 6, 7]);

    const resource = resourceJson<{ items: Json[]; truncated: boolean; nextBefore: number | null }>(
      await alice.readResource({ uri: "frontdesk://sessions/big/events" }),
    );
    expect(seqsOf(resource)).toEqual([8, 9, 10, 11, 12]);
    expect(resource).toMatchObject({ truncated: true, nextBefore: 8 });
  });

  it("keeps users apart: another user's session is not found through tools, resources or subscriptions", async () => {
    await call(alice, "session_create", { session_id: "secret", title: "Alice's plans" });
    await call(alice, "session_add_message", { session_id: "secret", role: "user", content: "classified words" });
    const missing = async (tool: string, args: Json) => {
      const result = await call(bob, tool, args);
      expect(result.isError, tool).toBe(true);
      expect(result.structuredContent, tool).toMatchObject({ error: { code: "not_found" } });
    };
    await missing("session_get", { session_id: "secret" });
    await missing("session_stats", { session_id: "secret" });
    await missing("session_events", { session_id: "secret" });
    await missing("session_add_message", { session_id: "secret", role: "user", content: "hi" });
    await missing("session_link_invocation", { session_id: "secret", tool: "t" });
    await missing("session_update_metadata", { session_id: "secret", title: "mine" });
    await missing("session_complete", { session_id: "secret" });
    expect(structured<{ items: Json[] }>(await call(bob, "session_list", {})).items).toEqual([]);
    expect(structured<{ items: Json[] }>(await call(bob, "session_search", { query: "classified" })).items).toEqual([]);
    expect(structured<{ items: Json[] }>(await call(bob, "session_search", { query: "alice" })).items).toEqual([]);
    expect((await bob.listResources()).resources).toEqual([]);
    for (const uri of ["frontdesk://sessions/secret", "frontdesk://sessions/secret/events"]) {
      const read = await bob.readResource({ uri }).catch((error: unknown) => error);
      expect((read as McpError).code).toBe(RESOURCE_NOT_FOUND);
      const sub = await bob.subscribeResource({ uri }).catch((error: unknown) => error);
      expect((sub as McpError).code).toBe(RESOURCE_NOT_FOUND);
    }
    // Bob may use the same id for his own session; Alice's stays untouched.
    await call(bob, "session_create", { session_id: "secret", title: "Bob's" });
    expect(
      structured<{ session: Json }>(await call(alice, "session_get", { session_id: "secret" })).session.title,
    ).toBe("Alice's plans");
  });

  it("notifies resource subscribers when a session changes, and stops after unsubscribe", async () => {
    await call(alice, "session_create", { session_id: "live" });
    const updates: string[] = [];
    alice.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updates.push(notification.params.uri);
    });
    await alice.subscribeResource({ uri: "frontdesk://sessions/live" });
    await alice.subscribeResource({ uri: "frontdesk://sessions/live/events" });

    // A change made elsewhere (another client of the same store) is seen too.
    await root.forUser("alice").addMessage("live", { role: "user", content: "ping" });
    await eventually(() => (updates.length >= 2 ? true : undefined));
    expect(new Set(updates)).toEqual(new Set(["frontdesk://sessions/live", "frontdesk://sessions/live/events"]));

    // A header-only change (no event) notifies as well: made through this server…
    updates.length = 0;
    await call(alice, "session_update_metadata", { session_id: "live", title: "renamed" });
    await eventually(() => (updates.includes("frontdesk://sessions/live") ? true : undefined));
    // …or elsewhere, on stores whose hints cover commits without events (Redis dedupes hints by lastSeq).
    if (storeName !== "redis") {
      updates.length = 0;
      await root.forUser("alice").updateMetadata("live", { tags: ["elsewhere"] });
      await eventually(() => (updates.includes("frontdesk://sessions/live") ? true : undefined));
    }

    await alice.unsubscribeResource({ uri: "frontdesk://sessions/live" });
    await alice.unsubscribeResource({ uri: "frontdesk://sessions/live/events" });
    updates.length = 0;
    await root.forUser("alice").addMessage("live", { role: "user", content: "pong" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(updates).toEqual([]);
  });
});
