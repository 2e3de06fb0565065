/**
 * The privacy routes (docs/http-api.md, "Privacy"): erasure is for admin keys only, a redaction is
 * conditional on If-Match, and a pruned session streams and exports from its marker.
 */

import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { FrontdeskClient } from "../../src/client/http-client.ts";
import { FrontdeskError } from "../../src/core/errors.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { encryptedStore, type MasterKeyProvider, memoryKeyRing, staticMasterKeys } from "../../src/encryption/index.ts";
import { createApiKey } from "../../src/server/api-keys.ts";
import { type RunningServer, startServer } from "../../src/server/listen.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";
import { createHarness, errorCodeOf, type Harness } from "./helpers.ts";

let harness: Harness | undefined;
let server: RunningServer | undefined;
afterEach(async () => {
  await harness?.close();
  await server?.close();
  harness = undefined;
  server = undefined;
});

async function seed(h: Harness, key: string, id: string, messages: string[]): Promise<void> {
  expect((await h.send(key, "POST", "/v1/sessions", { id })).statusCode).toBe(201);
  for (const content of messages) {
    const response = await h.send(key, "POST", `/v1/sessions/${id}/events`, { type: "message", role: "user", content });
    expect(response.statusCode).toBe(201);
  }
}

describe("DELETE /v1/users/{userId}", () => {
  it("is refused to non-admin keys, for another user and for themselves, and changes nothing", async () => {
    const h = (harness = await createHarness({ keyCacheTtlMs: 0 }));
    expect((await h.send(h.keys.admin, "GET", "/v1/erasures")).json()).toEqual({ items: [], nextAfter: null });
    await seed(h, h.keys.bob, "b1", ["bob's secret"]);
    for (const [key, user] of [
      [h.keys.alice, "bob"],
      [h.keys.bob, "bob"],
    ] as const) {
      const response = await h.send(key, "DELETE", `/v1/users/${user}`);
      expect(response.statusCode).toBe(403);
      expect(errorCodeOf(response)).toBe("forbidden");
    }
    expect((await h.send(h.keys.bob, "GET", "/v1/sessions/b1")).statusCode).toBe(200);
    expect((await h.send(undefined, "DELETE", "/v1/users/bob")).statusCode).toBe(401);
  });

  it("erases the user's sessions and keys for an admin, answers with counts, and is harmless again", async () => {
    const h = (harness = await createHarness({ keyCacheTtlMs: 0 }));
    await seed(h, h.keys.bob, "b1", ["one", "two"]);
    await seed(h, h.keys.bob, "b2", ["three"]);
    await seed(h, h.keys.alice, "a1", ["alice stays"]);
    const response = await h.send(h.keys.admin, "DELETE", "/v1/users/bob");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ userId: "bob", sessions: 2, events: 3, apiKeys: 1, scrub: "none" });
    // Bob's key is revoked: it no longer opens anything.
    expect((await h.send(h.keys.bob, "GET", "/v1/sessions/b1")).statusCode).toBe(401);
    const asAdmin = await h.send(h.keys.admin, "GET", "/v1/sessions?userId=bob");
    expect(asAdmin.json().items).toEqual([]);
    expect((await h.send(h.keys.alice, "GET", "/v1/sessions/a1")).statusCode).toBe(200);
    const again = await h.send(h.keys.admin, "DELETE", "/v1/users/bob");
    expect(again.json()).toMatchObject({ sessions: 0, events: 0, apiKeys: 0 });
    // The audit log: who, when, which user and the counts, and none of the erased content.
    expect((await h.send(h.keys.alice, "GET", "/v1/erasures")).statusCode).toBe(403);
    const log = await h.send(h.keys.admin, "GET", "/v1/erasures?limit=3");
    expect(log.statusCode).toBe(200);
    const records = log.json().items as { name: string; data: Record<string, unknown> }[];
    expect(records.map((record) => record.name)).toEqual([
      "frontdesk.erasure.started",
      "frontdesk.erasure.finished",
      "frontdesk.erasure.started",
    ]);
    expect(records[1]?.data).toMatchObject({ userId: "bob", sessions: 2, events: 3, apiKeys: 1 });
    expect(log.json().nextAfter).toBe(3);
    expect(log.body).not.toMatch(/"one"|"two"|"three"/);
    expect((await h.send(h.keys.admin, "DELETE", "/v1/users/not%20valid")).statusCode).toBe(400);
  });
});

describe("POST /v1/sessions/{id}/events/{seq}/redact", () => {
  it("a stale If-Match is 412 and changes nothing; the current one redacts, with a new ETag", async () => {
    const h = (harness = await createHarness());
    await seed(h, h.keys.alice, "s", ["my password is hunter2", "later"]);
    const stale = await h.send(
      h.keys.alice,
      "POST",
      "/v1/sessions/s/events/1/redact",
      { reason: "password" },
      { "if-match": '"2"' },
    );
    expect(stale.statusCode).toBe(412);
    expect(errorCodeOf(stale)).toBe("precondition_failed");
    const unchanged = await h.send(h.keys.alice, "GET", "/v1/sessions/s/events");
    expect(unchanged.body).toContain("hunter2");
    const current = (await h.send(h.keys.alice, "GET", "/v1/sessions/s")).headers.etag as string;
    const done = await h.send(
      h.keys.alice,
      "POST",
      "/v1/sessions/s/events/1/redact",
      { reason: "password" },
      { "if-match": current },
    );
    expect(done.statusCode).toBe(200);
    expect(done.headers.etag).toBe(`"${Number(JSON.parse(current)) + 1}"`);
    expect(done.json().events[0]).toMatchObject({ seq: 1, type: "message", content: "[redacted]" });
    expect(done.json().events[0].redacted).toMatchObject({ reason: "password" });
    const read = await h.send(h.keys.alice, "GET", "/v1/sessions/s/events");
    expect(read.body).not.toContain("hunter2");
    const exported = await h.send(h.keys.alice, "GET", "/v1/sessions/s/export");
    expect(exported.body).not.toContain("hunter2");
  });

  it("another user's session is 404 for a non-admin, and a bad seq or reason is 400", async () => {
    const h = (harness = await createHarness());
    await seed(h, h.keys.alice, "s", ["mine"]);
    const foreign = await h.send(h.keys.bob, "POST", "/v1/sessions/s/events/1/redact", { reason: "x" });
    expect(foreign.statusCode).toBe(404);
    expect((await h.send(h.keys.alice, "POST", "/v1/sessions/s/events/0/redact", { reason: "x" })).statusCode).toBe(
      400,
    );
    expect((await h.send(h.keys.alice, "POST", "/v1/sessions/s/events/1/redact", {})).statusCode).toBe(400);
    expect((await h.send(h.keys.alice, "POST", "/v1/sessions/s/events/7/redact", { reason: "x" })).statusCode).toBe(
      404,
    );
    expect((await h.send(h.keys.alice, "GET", "/v1/sessions/s/events")).body).toContain("mine");
  });

  it("redact-last hides the newest items in one commit and returns them as they were", async () => {
    const h = (harness = await createHarness());
    await seed(h, h.keys.alice, "s", ["a", "b", "c"]);
    const response = await h.send(h.keys.alice, "POST", "/v1/sessions/s/events/redact-last", {
      count: 2,
      reason: "rewind",
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().hidden.map((e: { content: string }) => e.content)).toEqual(["b", "c"]);
    expect(response.json().version).toBe(5);
  });
});

describe("a pruned session over HTTP", () => {
  it("streams over SSE and exports from its marker, with its seqs unchanged", async () => {
    const store = createMemoryStore();
    server = await startServer({ store, port: 0, logger: false, agents: false });
    const { key } = await createApiKey(store, { userId: "alice" });
    const client = new FrontdeskClient({ baseUrl: server.url, apiKey: key });
    await client.create({ sessionId: "long" });
    for (let i = 1; i <= 30; i++) await client.addMessage("long", { role: "user", content: `m${i}` });
    const sessions = new SessionManager(() => ({}), store).forUser("alice");
    expect(await sessions.prune("long", { keepLastEvents: 10, onlySummarized: false })).toEqual({
      removed: 20,
      prunedThrough: 20,
    });
    const seen: number[] = [];
    const subscription = client.subscribe("long");
    for await (const event of subscription) {
      seen.push(event.seq);
      if (event.seq === 31) break;
    }
    await subscription.close();
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 20));
    const response = await fetch(`${server.url}/v1/sessions/long/export`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const lines = (await response.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines[0].session.lastSeq).toBe(31);
    expect(lines[1].event).toMatchObject({ seq: 20, type: "custom", name: "frontdesk.pruned" });
    expect(lines.slice(1).map((line: { event: { seq: number } }) => line.event.seq)).toEqual(seen);
  });
});

describe("encryption at rest over HTTP", () => {
  it("a key provider that is down answers 503 with an error body, and nothing is written", async () => {
    let down = false;
    const keys = staticMasterKeys([{ id: "m1", key: randomBytes(32) }]);
    const flaky: MasterKeyProvider = {
      currentKeyId: () => keys.currentKeyId(),
      wrap: (dataKey) => (down ? Promise.reject(new Error("KMS timeout")) : keys.wrap(dataKey)),
      unwrap: (id, wrapped) => (down ? Promise.reject(new Error("KMS timeout")) : keys.unwrap(id, wrapped)),
    };
    const inner = createMemoryStore();
    const h = (harness = await createHarness({
      store: encryptedStore(inner, { masterKeys: flaky, keyRing: memoryKeyRing() }),
    }));
    down = true;
    const create = await h.send(h.keys.alice, "POST", "/v1/sessions", { id: "s", state: { secret: "x" } });
    expect(create.statusCode).toBe(503);
    expect(errorCodeOf(create)).toBe("unavailable");
    expect(create.body).not.toContain("KMS timeout");
    const listed = await inner.list({ namespace: "default", orderBy: "createdAt", order: "asc", limit: 10, now: 0 });
    expect(listed.items).toEqual([]);
    down = false;
    expect((await h.send(h.keys.alice, "POST", "/v1/sessions", { id: "s", state: { secret: "x" } })).statusCode).toBe(
      201,
    );
  });
});

describe("a write whose outcome the store cannot confirm", () => {
  it("is a 503 that says so, with the details a client needs to retry with its Idempotency-Key", async () => {
    const store = createMemoryStore();
    const unconfirmed = new Proxy(store, {
      get(target, property, receiver) {
        if (property === "append") return undefined;
        if (property === "commit") {
          return async (...args: Parameters<typeof store.commit>) => {
            await target.commit(...args);
            throw new FrontdeskError("unavailable", "1 of 2 replicas acknowledged", {
              details: { outcome: "unknown", replicasAcknowledged: 1, replicasRequired: 2 },
            });
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const h = (harness = await createHarness({ store: unconfirmed }));
    const response = await h.send(h.keys.alice, "POST", "/v1/sessions", { id: "s" });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.json().error).toEqual({
      code: "unavailable",
      message: "The write may or may not have been stored; retry with the same Idempotency-Key",
      details: { outcome: "unknown", replicasAcknowledged: 1, replicasRequired: 2 },
    });
  });
});
