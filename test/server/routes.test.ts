import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FrontdeskError } from "../../src/core/errors.ts";
import { createApiKey, revokeApiKey } from "../../src/server/api-keys.ts";
import { createApp } from "../../src/server/app.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { bearer, createHarness, errorCodeOf, failingStore, type Harness, outage } from "./helpers.ts";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

const json = (body: string) => JSON.parse(body);

/** Alice's append of one user message to her session `s`. */
const appendMessage = (content: string, headers?: Record<string, string>) =>
  h.send(h.keys.alice, "POST", "/v1/sessions/s/events", { type: "message", role: "user", content }, headers);

async function create(key: string, body: Record<string, unknown> = {}, url = "/v1/sessions") {
  const res = await h.call(key, { method: "POST", url, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return json(res.body);
}

describe("POST /v1/sessions", () => {
  it("creates a session with a server-made id, an ETag and a Location", async () => {
    const res = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions" });
    expect(res.statusCode).toBe(201);
    const session = json(res.body);
    expect(session.id).toMatch(/^[0-9a-f]{32}$/);
    expect(session.userId).toBe("alice");
    expect(session.version).toBe(1);
    expect(res.headers.etag).toBe('"1"');
    expect(res.headers.location).toBe(`/v1/sessions/${session.id}`);
    expect(typeof session.createdAt).toBe("number");
  });

  it("takes id, state, tags, title, purpose, metadata and ttlSeconds", async () => {
    const session = await create(h.keys.alice, {
      id: "chat-1",
      state: { step: 1 },
      tags: ["a", "b"],
      title: "T",
      purpose: "P",
      metadata: { m: true },
      ttlSeconds: 60,
    });
    expect(session).toMatchObject({
      id: "chat-1",
      state: { step: 1 },
      tags: ["a", "b"],
      title: "T",
      purpose: "P",
      metadata: { m: true },
      ttlMs: 60_000,
      expiresAt: h.clock.now() + 60_000,
    });
  });

  it("answers 409 conflict for an id the same user already has, or that session with ifExists=return", async () => {
    await create(h.keys.alice, { id: "dup" });
    const again = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions", payload: { id: "dup" } });
    expect(again.statusCode).toBe(409);
    expect(errorCodeOf(again)).toBe("conflict");
    const returned = await h.send(h.keys.alice, "POST", "/v1/sessions?ifExists=return", { id: "dup" });
    expect(returned.statusCode).toBe(200);
    expect(json(returned.body).id).toBe("dup");
    // Another user may use the same id: it is a different session.
    await create(h.keys.bob, { id: "dup" });
  });

  it("refuses bad ids, unknown fields and non-JSON state with 400 invalid_request", async () => {
    for (const payload of [
      { id: "../etc" },
      { id: "" },
      { nope: 1 },
      { state: [] },
      { ttlSeconds: -1 },
      { tags: "x" },
    ]) {
      const res = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions", payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorCodeOf(res)).toBe("invalid_request");
    }
  });
});

describe("GET/PATCH/DELETE /v1/sessions/:id", () => {
  it("GET returns the header with state and stats and an ETag; a missing one is 404", async () => {
    await create(h.keys.alice, { id: "s", state: { a: 1 } });
    const res = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s" });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe('"1"');
    expect(json(res.body)).toMatchObject({ id: "s", state: { a: 1 }, stats: { messages: 0 } });
    const missing = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/nope" });
    expect(missing.statusCode).toBe(404);
    expect(json(missing.body)).toEqual({ error: { code: "not_found", message: "Session not found" } });
  });

  it("PATCH merge-patches the state (RFC 7396) and replaces other fields", async () => {
    await create(h.keys.alice, { id: "s", state: { a: { x: 1, y: 2 }, b: 1, keep: [1, 2] } });
    const res = await h.send(h.keys.alice, "PATCH", "/v1/sessions/s", {
      state: { a: { y: null, z: 3 }, b: null, keep: [3] },
      title: "new",
      tags: ["t"],
      status: "completed",
    });
    expect(res.statusCode, res.body).toBe(200);
    const session = json(res.body);
    expect(session.state).toEqual({ a: { x: 1, z: 3 }, keep: [3] });
    expect(session).toMatchObject({ title: "new", tags: ["t"], status: "completed", version: 2 });
    expect(res.headers.etag).toBe('"2"');
  });

  it("PATCH with a stale If-Match is 412 and writes nothing; the current one succeeds", async () => {
    await create(h.keys.alice, { id: "s", state: { n: 0 } });
    const stale = await h.send(h.keys.alice, "PATCH", "/v1/sessions/s", { state: { n: 1 } }, { "if-match": '"7"' });
    expect(stale.statusCode).toBe(412);
    expect(json(stale.body).error).toMatchObject({ code: "precondition_failed", details: { currentVersion: 1 } });
    const unchanged = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s" });
    expect(json(unchanged.body)).toMatchObject({ version: 1, state: { n: 0 } });
    const ok = await h.send(h.keys.alice, "PATCH", "/v1/sessions/s", { state: { n: 1 } }, { "if-match": '"1"' });
    expect(ok.statusCode).toBe(200);
    const weak = await h.send(h.keys.alice, "PATCH", "/v1/sessions/s", {}, { "if-match": 'W/"2"' });
    expect(weak.statusCode).toBe(412);
    const malformed = await h.send(h.keys.alice, "PATCH", "/v1/sessions/s", {}, { "if-match": "abc" });
    expect(malformed.statusCode).toBe(400);
  });

  it("DELETE is 204 then 404; a stale If-Match is 412", async () => {
    await create(h.keys.alice, { id: "s" });
    const stale = await h.send(h.keys.alice, "DELETE", "/v1/sessions/s", undefined, { "if-match": '"9"' });
    expect(stale.statusCode).toBe(412);
    const ok = await h.call(h.keys.alice, { method: "DELETE", url: "/v1/sessions/s", headers: { "if-match": '"1"' } });
    expect(ok.statusCode).toBe(204);
    expect(ok.body).toBe("");
    const again = await h.call(h.keys.alice, { method: "DELETE", url: "/v1/sessions/s" });
    expect(again.statusCode).toBe(404);
    expect(errorCodeOf(again)).toBe("not_found");
  });
});

describe("events", () => {
  it("appends one event or many atomically, with gapless seqs and the new ETag", async () => {
    await create(h.keys.alice, { id: "s" });
    const one = await h.send(h.keys.alice, "POST", "/v1/sessions/s/events", {
      type: "message",
      role: "user",
      content: "hi",
      stateDelta: { topic: "greeting" },
    });
    expect(one.statusCode, one.body).toBe(201);
    expect(json(one.body)).toMatchObject({ seqs: [1], lastSeq: 1, version: 2, replayed: false });
    expect(one.headers.etag).toBe('"2"');
    const many = await h.call(h.keys.alice, {
      method: "POST",
      url: "/v1/sessions/s/events",
      payload: {
        events: [
          { type: "message", role: "assistant", content: "hello", usage: { inputTokens: 3, outputTokens: 5 } },
          { type: "custom", name: "note", data: { x: 1 } },
        ],
      },
    });
    expect(json(many.body)).toMatchObject({ seqs: [2, 3], lastSeq: 3 });
    const session = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s" })).body);
    expect(session).toMatchObject({
      state: { topic: "greeting" },
      lastSeq: 3,
      stats: { messages: 2, outputTokens: 5 },
    });
  });

  it("Idempotency-Key: a retry returns the first result and appends nothing; another body is 409", async () => {
    await create(h.keys.alice, { id: "s" });
    const send = (content: string) => appendMessage(content, { "idempotency-key": "req-1" });
    const first = await send("once");
    const retry = await send("once");
    expect(retry.statusCode).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    const a = json(first.body);
    const b = json(retry.body);
    expect(b.replayed).toBe(true);
    expect(b.events).toEqual(a.events);
    expect(b.seqs).toEqual(a.seqs);
    const events = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/events" })).body);
    expect(events.items).toHaveLength(1);
    const other = await send("different");
    expect(other.statusCode).toBe(409);
    expect(errorCodeOf(other)).toBe("conflict");
  });

  it("a retried conditional append with the same Idempotency-Key replays instead of failing with 412", async () => {
    await create(h.keys.alice, { id: "s" });
    const send = (content: string) => appendMessage(content, { "if-match": '"1"', "idempotency-key": "cond-1" });
    const first = await send("hello");
    expect(first.statusCode).toBe(201);
    const retry = await send("hello");
    expect(retry.statusCode).toBe(201);
    expect(json(retry.body)).toMatchObject({ replayed: true, seqs: json(first.body).seqs });
    expect((await send("other")).statusCode).toBe(409);
    // Without a recorded key the version still decides.
    const stale = await appendMessage("late", { "if-match": '"1"', "idempotency-key": "cond-2" });
    expect(stale.statusCode).toBe(412);
  });

  it("If-Match on POST events: a stale version is 412 and appends nothing", async () => {
    await create(h.keys.alice, { id: "s" });
    const appendIfMatch = (etag: string) =>
      h.send(h.keys.alice, "POST", "/v1/sessions/s/events", { type: "custom", name: "x" }, { "if-match": etag });
    const res = await appendIfMatch('"5"');
    expect(res.statusCode).toBe(412);
    const ok = await appendIfMatch('"1"');
    expect(ok.statusCode).toBe(201);
  });

  it("reads events in pages with after/limit/nextAfter, by type, and the last ones", async () => {
    await create(h.keys.alice, { id: "s" });
    const events = Array.from({ length: 25 }, (_, i) =>
      i % 5 === 0 ? { type: "custom", name: `c${i}` } : { type: "message", role: "user", content: `m${i}` },
    );
    await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions/s/events", payload: { events } });
    const seen: number[] = [];
    let after = 0;
    for (let page = 0; page < 10; page++) {
      const res = json(
        (await h.call(h.keys.alice, { method: "GET", url: `/v1/sessions/s/events?after=${after}&limit=10` })).body,
      );
      seen.push(...res.items.map((e: { seq: number }) => e.seq));
      if (res.nextAfter === null) break;
      after = res.nextAfter;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const customs = json(
      (await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/events?type=custom" })).body,
    );
    expect(customs.items.map((e: { seq: number }) => e.seq)).toEqual([1, 6, 11, 16, 21]);
    const both = json(
      (await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/events?type=custom&type=message&limit=3" }))
        .body,
    );
    expect(both.items).toHaveLength(3);
    expect(both.nextAfter).toBe(3);
    const last = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/events?last=2" })).body);
    expect(last.items.map((e: { seq: number }) => e.seq)).toEqual([24, 25]);
    expect(last.nextAfter).toBeNull();
    expect(last.nextBefore).toBe(24);
    const older = json(
      (await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/events?last=30&before=24" })).body,
    );
    expect(older.items.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    expect(older.nextBefore).toBeNull();
  });

  it("ends a page of big events at 4 MiB of JSON, with the cursor to the rest", async () => {
    await create(h.keys.alice, { id: "big" });
    // 30 events of 250 KiB: 7.3 MiB of text, sent 3 to a request (the body limit is 1 MiB).
    for (let i = 0; i < 10; i++) {
      const events = Array.from({ length: 3 }, (_, k) => ({
        type: "message",
        role: "user",
        content: String.fromCharCode(97 + i + k).repeat(250 * 1024),
      }));
      await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions/big/events", payload: { events } });
    }
    const forward = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/big/events?limit=1000" });
    expect(forward.statusCode).toBe(200);
    expect(forward.body.length).toBeLessThanOrEqual(4 * 1024 * 1024 + 1024);
    const first = json(forward.body);
    // 16 events of 250 KiB fit 4 MiB; the 17th would not.
    expect(first.items.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(first.nextAfter).toBe(16);
    const backward = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/big/events?last=1000" });
    expect(backward.body.length).toBeLessThanOrEqual(4 * 1024 * 1024 + 1024);
    const newest = json(backward.body);
    expect(newest.items.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 15));
    expect(newest.nextBefore).toBe(15);
  });

  it("refuses invalid events with 400 and an oversized one with 413", async () => {
    await create(h.keys.alice, { id: "s" });
    for (const payload of [{}, { type: "nope" }, { type: "message" }, { events: [] }, []]) {
      const res = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions/s/events", payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(errorCodeOf(res)).toBe("invalid_request");
    }
    // A string payload is sent as text/plain, which no route takes.
    const text = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions/s/events", payload: "x" });
    expect(text.statusCode).toBe(415);
    expect(errorCodeOf(text)).toBe("unsupported_media_type");
    const big = await h.send(h.keys.alice, "POST", "/v1/sessions/s/events", {
      type: "message",
      role: "user",
      content: "x".repeat(300 * 1024),
    });
    expect(big.statusCode).toBe(413);
    expect(errorCodeOf(big)).toBe("payload_too_large");
  });
});

describe("listing", () => {
  it("pages with limit and cursor through every session exactly once", async () => {
    for (let i = 0; i < 7; i++) {
      await create(h.keys.alice, { id: `s${i}` });
      h.clock.advance(1000);
    }
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const url: string = `/v1/sessions?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const res = json((await h.call(h.keys.alice, { method: "GET", url })).body);
      ids.push(...res.items.map((s: { id: string }) => s.id));
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    expect(ids).toEqual(["s6", "s5", "s4", "s3", "s2", "s1", "s0"]);
    const bad = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions?cursor=garbage" });
    expect(bad.statusCode).toBe(400);
  });

  it("filters by status, repeated tags (all must match), q, createdAfter and updatedAfter", async () => {
    const start = h.clock.now();
    await create(h.keys.alice, { id: "a", tags: ["x", "y"], title: "Billing question" });
    h.clock.advance(10_000);
    await create(h.keys.alice, { id: "b", tags: ["x"], purpose: "refund" });
    h.clock.advance(10_000);
    await create(h.keys.alice, { id: "c", tags: ["y"] });
    await h.call(h.keys.alice, { method: "PATCH", url: "/v1/sessions/c", payload: { status: "completed" } });
    const ids = async (query: string) =>
      json((await h.call(h.keys.alice, { method: "GET", url: `/v1/sessions?${query}` })).body)
        .items.map((s: { id: string }) => s.id)
        .sort();
    expect(await ids("tag=x")).toEqual(["a", "b"]);
    expect(await ids("tag=x&tag=y")).toEqual(["a"]);
    expect(await ids("status=completed")).toEqual(["c"]);
    expect(await ids("status=active&status=completed")).toEqual(["a", "b", "c"]);
    expect(await ids("q=billing")).toEqual(["a"]);
    expect(await ids("q=REFUND")).toEqual(["b"]);
    expect(await ids(`createdAfter=${start + 5_000}`)).toEqual(["b", "c"]);
    expect(await ids(`createdAfter=${new Date(start + 15_000).toISOString()}`)).toEqual(["c"]);
    expect(await ids(`updatedAfter=${start + 15_000}`)).toEqual(["c"]);
    const bad = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions?createdAfter=yesterday" });
    expect(bad.statusCode).toBe(400);
  });

  it("scopes: a user lists only their own; an admin lists everyone, or one user with userId", async () => {
    await create(h.keys.alice, { id: "a1" });
    await create(h.keys.bob, { id: "b1" });
    const mine = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions" })).body);
    expect(mine.items.map((s: { id: string }) => s.id)).toEqual(["a1"]);
    const all = json((await h.call(h.keys.admin, { method: "GET", url: "/v1/sessions" })).body);
    expect(all.items.map((s: { userId: string }) => s.userId).sort()).toEqual(["alice", "bob"]);
    const bobs = json((await h.call(h.keys.admin, { method: "GET", url: "/v1/sessions?userId=bob" })).body);
    expect(bobs.items.map((s: { id: string }) => s.id)).toEqual(["b1"]);
    const forbidden = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions?userId=bob" });
    expect(forbidden.statusCode).toBe(403);
    expect(errorCodeOf(forbidden)).toBe("forbidden");
  });
});

describe("admin keys", () => {
  it("act on another user's session with ?userId= or X-Frontdesk-User, and as themselves without", async () => {
    await create(h.keys.alice, { id: "s", state: { v: 1 } });
    const viaQuery = await h.call(h.keys.admin, { method: "GET", url: "/v1/sessions/s?userId=alice" });
    expect(json(viaQuery.body).state).toEqual({ v: 1 });
    const viaHeader = await h.send(
      h.keys.admin,
      "PATCH",
      "/v1/sessions/s",
      { state: { v: 2 } },
      { "x-frontdesk-user": "alice" },
    );
    expect(json(viaHeader.body).state).toEqual({ v: 2 });
    const own = await h.call(h.keys.admin, { method: "GET", url: "/v1/sessions/s" });
    expect(own.statusCode).toBe(404);
    const created = await create(h.keys.admin, { id: "for-bob" }, "/v1/sessions?userId=bob");
    expect(created.userId).toBe("bob");
    const conflicting = await h.send(h.keys.admin, "GET", "/v1/sessions/s?userId=alice", undefined, {
      "x-frontdesk-user": "bob",
    });
    expect(conflicting.statusCode).toBe(400);
    const notAdmin = await h.call(h.keys.bob, { method: "GET", url: "/v1/sessions/s?userId=alice" });
    expect(notAdmin.statusCode).toBe(403);
  });
});

describe("request headers", () => {
  it("a header a route declares is validated by its schema; a bad one is 400 and writes nothing", async () => {
    await create(h.keys.alice, { id: "s" });
    const append = (headers: Record<string, string>) => appendMessage("hi", headers);
    const longKey = await append({ "idempotency-key": "k".repeat(256) });
    expect(longKey.statusCode).toBe(400);
    expect(errorCodeOf(longKey)).toBe("invalid_request");
    const badUser = await h.send(h.keys.admin, "GET", "/v1/sessions/s", undefined, {
      "x-frontdesk-user": "not a user id!",
    });
    expect(badUser.statusCode).toBe(400);
    expect(errorCodeOf(badUser)).toBe("invalid_request");
    expect(json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s" })).body).lastSeq).toBe(0);
    // Validated headers and the rest reach the route together: the key, If-Match and Idempotency-Key.
    const first = await append({ "if-match": '"1"', "idempotency-key": "once", "x-unrelated": "kept" });
    expect(first.statusCode).toBe(201);
    const again = await append({ "if-match": '"1"', "idempotency-key": "once" });
    expect(json(again.body)).toEqual({ ...json(first.body), replayed: true });
  });
});

describe("stats, messages, fork, export and import", () => {
  async function seeded() {
    await create(h.keys.alice, { id: "s", state: { n: 0 } });
    await h.call(h.keys.alice, {
      method: "POST",
      url: "/v1/sessions/s/events",
      payload: {
        events: [
          { type: "message", role: "user", content: "one", stateDelta: { n: 1 } },
          { type: "message", role: "assistant", content: "two two", usage: { inputTokens: 4, costUsd: 0.5 } },
          { type: "tool_call", invocationId: "i1", tool: "search", input: { q: "x" } },
          { type: "tool_result", invocationId: "i1", tool: "search", status: "error", error: { message: "no" } },
          { type: "message", role: "user", content: "three", stateDelta: { n: 2 } },
        ],
      },
    });
  }

  it("stats are the header's running statistics", async () => {
    await seeded();
    const res = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/stats" });
    expect(json(res.body)).toMatchObject({ messages: 3, toolCalls: 1, toolErrors: 1, toolsUsed: ["search"] });
  });

  it("messages are the conversation view with last and tokenBudget", async () => {
    await seeded();
    const all = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/messages" })).body);
    expect(all.items.map((e: { content: string }) => e.content)).toEqual(["one", "two two", "three"]);
    const last = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/messages?last=1" })).body);
    expect(last.items.map((e: { content: string }) => e.content)).toEqual(["three"]);
    const budget = json(
      (await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/messages?tokenBudget=4" })).body,
    );
    expect(budget.items.map((e: { content: string }) => e.content)).toEqual(["two two", "three"]);
  });

  it("fork copies events up to atSeq with the state as it stood then", async () => {
    await seeded();
    const res = await h.send(h.keys.alice, "POST", "/v1/sessions/s/fork", { atSeq: 2, id: "s-fork", title: "branch" });
    expect(res.statusCode, res.body).toBe(201);
    expect(json(res.body)).toMatchObject({
      id: "s-fork",
      title: "branch",
      lastSeq: 2,
      state: { n: 1 },
      parent: { sessionId: "s", seq: 2 },
    });
    const beyond = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions/s/fork", payload: { atSeq: 99 } });
    expect(beyond.statusCode).toBe(400);
    const whole = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions/s/fork" });
    expect(json(whole.body).lastSeq).toBe(6);
  });

  it("export → import is a lossless round trip; a taken id is 409", async () => {
    await seeded();
    const exported = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/export" });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers["content-type"]).toContain("application/x-ndjson");
    const lines = exported.body.trim().split("\n");
    expect(lines).toHaveLength(7);
    const conflict = await h.send(h.keys.alice, "POST", "/v1/sessions/import", exported.body, {
      "content-type": "application/x-ndjson",
    });
    expect(conflict.statusCode).toBe(409);
    const imported = await h.send(h.keys.bob, "POST", "/v1/sessions/import?id=copy", exported.body, {
      "content-type": "application/x-ndjson",
    });
    expect(imported.statusCode, imported.body).toBe(201);
    const copy = json(imported.body);
    const original = json((await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s" })).body);
    expect(copy).toMatchObject({ id: "copy", userId: "bob", state: original.state, stats: original.stats, lastSeq: 6 });
    const read = async (key: string, id: string) =>
      json((await h.call(key, { method: "GET", url: `/v1/sessions/${id}/events` })).body).items;
    expect(await read(h.keys.bob, "copy")).toEqual(await read(h.keys.alice, "s"));
    const garbage = await h.send(h.keys.alice, "POST", "/v1/sessions/import", "not json\n", {
      "content-type": "application/x-ndjson",
    });
    expect(garbage.statusCode).toBe(400);
  });

  it("POST turns answers 404 when the app has no agent runtime (agents: false)", async () => {
    await h.close();
    h = await createHarness({ agents: false });
    await create(h.keys.alice, { id: "s" });
    const res = await h.send(h.keys.alice, "POST", "/v1/sessions/s/turns", { message: "hi" });
    expect(res.statusCode).toBe(404);
    expect(json(res.body).error).toEqual({ code: "not_found", message: "no agent runtime is configured" });
    const anonymous = await h.send(undefined, "POST", "/v1/sessions/s/turns", { message: "hi" });
    expect(anonymous.statusCode).toBe(401);
  });

  it("GET ws without an upgrade is 400; an absent session's stream is 404 before any stream starts", async () => {
    await create(h.keys.alice, { id: "s" });
    const plain = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/ws" });
    expect(plain.statusCode).toBe(400);
    const stream = await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/absent/events/stream" });
    expect(stream.statusCode).toBe(404);
    expect(errorCodeOf(stream)).toBe("not_found");
    const badResume = await h.send(h.keys.alice, "GET", "/v1/sessions/s/events/stream", undefined, {
      "last-event-id": "x",
    });
    expect(badResume.statusCode).toBe(400);
  });
});

describe("auth", () => {
  it("no key, a malformed header, an unknown key and a revoked key are all 401", async () => {
    const cases: Record<string, string | undefined>[] = [
      {},
      { authorization: "Basic abc" },
      { authorization: `Bearer fd_${"A".repeat(43)}` },
      { authorization: "Bearer short" },
      { authorization: `Bearer ${h.keys.alice} extra` },
    ];
    for (const headers of cases) {
      const res = await h.app.inject({
        method: "GET",
        url: "/v1/sessions",
        headers: headers as Record<string, string>,
      });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      expect(errorCodeOf(res)).toBe("unauthorized");
    }
    const { key, record } = await createApiKey(h.store, { userId: "carol", clock: h.clock });
    expect((await h.call(key, { method: "GET", url: "/v1/sessions" })).statusCode).toBe(200);
    expect(await revokeApiKey(h.store, record.id, h.clock)).toBe(true);
    h.clock.advance(1_000);
    expect((await h.call(key, { method: "GET", url: "/v1/sessions" })).statusCode).toBe(401);
  });

  it("a key in the query string is never accepted", async () => {
    const res = await h.app.inject({ method: "GET", url: `/v1/sessions?key=${h.keys.alice}&apiKey=${h.keys.alice}` });
    expect(res.statusCode).toBe(401);
  });
});

describe("limits and hostile input", () => {
  it("a body over maxBodyBytes is 413, a too-large state is 413", async () => {
    const small = await createHarness({ limits: { maxBodyBytes: 2048, maxStateBytes: 1024 } });
    try {
      const big = await small.call(small.keys.alice, {
        method: "POST",
        url: "/v1/sessions",
        payload: { state: { x: "y".repeat(4096) } },
      });
      expect(big.statusCode).toBe(413);
      expect(errorCodeOf(big)).toBe("payload_too_large");
      const state = await small.call(small.keys.alice, {
        method: "POST",
        url: "/v1/sessions",
        payload: { state: { x: "y".repeat(1500) } },
      });
      expect(state.statusCode).toBe(413);
      expect(errorCodeOf(state)).toBe("payload_too_large");
    } finally {
      await small.close();
    }
  });

  it("sessions per user is enforced with its code", async () => {
    const small = await createHarness({ limits: { maxSessionsPerUser: 2 } });
    try {
      for (let i = 0; i < 2; i++) await small.call(small.keys.alice, { method: "POST", url: "/v1/sessions" });
      const third = await small.call(small.keys.alice, { method: "POST", url: "/v1/sessions" });
      expect(third.statusCode).toBe(413);
      expect(errorCodeOf(third)).toBe("payload_too_large");
    } finally {
      await small.close();
    }
  });

  it("rate limits per key with a token bucket: 429 with Retry-After, refilled as time passes", async () => {
    const limited = await createHarness({ limits: { requestsPerSecond: 5, rateLimitBurst: 5 } });
    try {
      const get = (key: string) => limited.call(key, { method: "GET", url: "/v1/sessions" });
      for (let i = 0; i < 5; i++) {
        const ok = await get(limited.keys.alice);
        expect(ok.statusCode).toBe(200);
        expect(ok.headers["x-ratelimit-limit"]).toBe("5");
      }
      const refused = await get(limited.keys.alice);
      expect(refused.statusCode).toBe(429);
      expect(errorCodeOf(refused)).toBe("rate_limited");
      expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      // Another key has its own bucket.
      expect((await get(limited.keys.bob)).statusCode).toBe(200);
      limited.clock.advance(1_000);
      expect((await get(limited.keys.alice)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it("framework refusals have the error body: bad JSON, wrong content type, depth bombs, unknown routes, wrong methods", async () => {
    await create(h.keys.alice, { id: "s" });
    const cases = [
      { method: "POST", url: "/v1/sessions", headers: { "content-type": "application/json" }, payload: "{bad" },
      { method: "POST", url: "/v1/sessions/s/events", headers: { "content-type": "application/json" }, payload: " " },
      { method: "POST", url: "/v1/sessions", headers: { "content-type": "text/xml" }, payload: "<a/>" },
      {
        method: "POST",
        url: "/v1/sessions",
        headers: { "content-type": "application/json" },
        payload: "[".repeat(5000),
      },
      {
        method: "POST",
        url: "/v1/sessions",
        headers: { "content-type": "application/json" },
        payload: '{"__proto__":{"x":1}}',
      },
      { method: "GET", url: "/v1/nothing" },
      { method: "PUT", url: "/v1/sessions/s" },
      { method: "HEAD", url: "/v1/sessions" },
      { method: "GET", url: "/v1/sessions/%E0%A4%A" },
      { method: "GET", url: `/v1/sessions/${"a".repeat(600)}` },
      { method: "GET", url: `/v1/sessions/${"a".repeat(200)}` },
    ] as const;
    for (const c of cases) {
      const res = await h.call(h.keys.alice, c as never);
      expect(res.statusCode, `${c.method} ${c.url.slice(0, 40)} → ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      if (c.method !== "HEAD") errorCodeOf(res);
    }
  });

  it("a backend outage is 503 unavailable with Retry-After, and says nothing about the backend", async () => {
    const store = failingStore(createMemoryStore(), outage);
    const broken = await createHarness({ store });
    try {
      store.failing = true;
      const res = await broken.call(broken.keys.alice, { method: "GET", url: "/v1/sessions/s" });
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      expect(errorCodeOf(res)).toBe("unavailable");
      expect(res.body).not.toContain("s3cret");
      expect(res.body).not.toContain("postgres");
      const ready = await broken.app.inject({ method: "GET", url: "/readyz" });
      expect(ready.statusCode).toBe(503);
    } finally {
      store.failing = false;
      await broken.close();
    }
  });

  it("an unexpected failure is 500 internal with a generic message and no stack", async () => {
    const store = failingStore(createMemoryStore(), () => new TypeError("boom at /secret/path.ts:12"));
    const broken = await createHarness({ store });
    try {
      store.failing = true;
      const res = await broken.call(broken.keys.alice, { method: "GET", url: "/v1/sessions/s" });
      expect(res.statusCode).toBe(500);
      expect(JSON.parse(res.body)).toEqual({ error: { code: "internal", message: "Internal server error" } });
    } finally {
      store.failing = false;
      await broken.close();
    }
  });
});

describe("operations", () => {
  it("/healthz and /readyz need no key", async () => {
    expect(json((await h.app.inject({ method: "GET", url: "/healthz" })).body)).toEqual({ status: "ok" });
    expect(json((await h.app.inject({ method: "GET", url: "/readyz" })).body)).toEqual({ status: "ready" });
  });

  it("/metrics needs an admin key and exposes the request, session, event and stream metrics", async () => {
    await create(h.keys.alice, { id: "s" });
    await h.send(h.keys.alice, "POST", "/v1/sessions/s/events", { type: "custom", name: "x" });
    expect((await h.app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(401);
    expect((await h.call(h.keys.alice, { method: "GET", url: "/metrics" })).statusCode).toBe(403);
    const res = await h.call(h.keys.admin, { method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    expect(res.body).toContain(
      'frontdesk_http_request_duration_seconds_count{method="POST",route="/v1/sessions",status="201"} 1',
    );
    expect(res.body).toContain("frontdesk_sessions_created_total 1");
    expect(res.body).toContain("frontdesk_events_appended_total 1");
    expect(res.body).toContain("frontdesk_open_streams");
    expect(res.body).toContain("frontdesk_store_errors_total");
    // Route templates, never raw ids.
    expect(res.body).not.toContain('route="/v1/sessions/s"');
  });

  it("/metrics can be public", async () => {
    const open = await createHarness({ metricsAuth: "public" });
    try {
      expect((await open.app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(200);
    } finally {
      await open.close();
    }
  });

  it("/openapi.json documents every API route with the schemas that validate it", async () => {
    const res = await h.app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = json(res.body);
    expect(doc.openapi).toBe("3.0.3");
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`),
    );
    for (const route of [
      "POST /v1/sessions",
      "GET /v1/sessions",
      "GET /v1/sessions/{id}",
      "PATCH /v1/sessions/{id}",
      "DELETE /v1/sessions/{id}",
      "POST /v1/sessions/{id}/events",
      "GET /v1/sessions/{id}/events",
      "GET /v1/sessions/{id}/events/stream",
      "GET /v1/sessions/{id}/messages",
      "GET /v1/sessions/{id}/stats",
      "POST /v1/sessions/{id}/fork",
      "GET /v1/sessions/{id}/export",
      "POST /v1/sessions/import",
      "POST /v1/sessions/{id}/events/{seq}/redact",
      "POST /v1/sessions/{id}/events/redact-last",
      "DELETE /v1/users/{userId}",
      "GET /v1/erasures",
      "POST /v1/sessions/{id}/turns",
      "POST /v1/chat",
      "GET /v1/chat/{id}/stream",
      "GET /v1/chat/{id}/messages",
      "GET /v1/sessions/{id}/ws",
      "GET /healthz",
      "GET /readyz",
      "GET /metrics",
    ]) {
      expect(routes).toContain(route);
    }
    expect(doc.components.schemas.Session.properties.createdAt.type).toBe("number");
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain("precondition_failed");
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: "http", scheme: "bearer" });
  });

  it("GET / serves the web console, with a policy that forbids inline scripts", async () => {
    const res = await h.app.inject({ method: "GET", url: "/", headers: { accept: "text/html" } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/html");
    expect(res.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(res.body).toMatch(/id="root"|console is not built/);
  });
});

describe("createApp", () => {
  it("refuses invalid limits with invalid_request", async () => {
    await expect(createApp({ store: createMemoryStore(), limits: { maxBodyBytes: -1 } })).rejects.toBeInstanceOf(
      FrontdeskError,
    );
  });

  it("uses bearer auth headers only", () => {
    expect(bearer("k")).toEqual({ authorization: "Bearer k" });
  });
});
