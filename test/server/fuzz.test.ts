/**
 * Property-based fuzzing of every route: malformed bodies, params, query strings and headers.
 * Whatever is sent, the server never answers 5xx, and every 4xx carries the error body with the
 * status that belongs to its code.
 */
import fc from "fast-check";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS } from "../../src/core/errors.ts";
import { EVENT_TYPES } from "../../src/core/model.ts";
import { createHarness, type Harness } from "./helpers.ts";

let h: Harness;
let streamApp: Harness;
let exported = "";

beforeAll(async () => {
  h = await createHarness({ limits: { maxBodyBytes: 64 * 1024, maxEventsPerSession: 1_000_000 } });
  await ensureSession();
  await h.call(h.keys.alice, {
    method: "POST",
    url: "/v1/sessions/s/events",
    payload: {
      events: [
        { type: "message", role: "user", content: "hello" },
        { type: "tool_call", invocationId: "i", tool: "t" },
        { type: "approval_request", approvalId: "s", invocationId: "i", tool: "t" },
      ],
    },
  });
  exported = (await h.call(h.keys.alice, { method: "GET", url: "/v1/sessions/s/export" })).body;
  streamApp = await createHarness();
  await streamApp.call(streamApp.keys.alice, { method: "POST", url: "/v1/sessions", payload: { id: "s" } });
});
afterAll(async () => {
  await h.close();
  await streamApp.close();
});

async function ensureSession(): Promise<void> {
  await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions?ifExists=return", payload: { id: "s" } });
}

const statuses = new Map<number, number>();

function assertWellFormed(response: LightMyRequestResponse, what: string): void {
  statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
  if (response.statusCode >= 500) throw new Error(`${what} → ${response.statusCode} ${response.body.slice(0, 300)}`);
  if (response.statusCode >= 400) {
    let body: { error?: { code?: unknown; message?: unknown } };
    try {
      body = JSON.parse(response.body);
    } catch {
      throw new Error(`${what} → ${response.statusCode} without a JSON body: ${response.body.slice(0, 200)}`);
    }
    const code = body.error?.code;
    if (typeof code !== "string" || typeof body.error?.message !== "string") {
      throw new Error(`${what} → ${response.statusCode} without the error body: ${response.body.slice(0, 200)}`);
    }
    if (ERROR_STATUS[code as keyof typeof ERROR_STATUS] !== response.statusCode) {
      throw new Error(`${what} → ${response.statusCode} with code ${code}`);
    }
  }
}

// ── arbitraries ────────────────────────────────────────────────────────────────────────────────

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) });
const anyText = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), printable);
const json = fc.jsonValue({ maxDepth: 4 });
const weird = fc.oneof(
  json,
  anyText,
  fc.constantFrom(null, true, 0, -1, 1e308, -0, "", "null", [], {}, "../..", "%00", "\u0000", "s", "1".repeat(300)),
);

const sessionId = fc.oneof(
  { weight: 3, arbitrary: fc.constant("s") },
  { weight: 2, arbitrary: fc.constantFrom("absent", "a.b:c-d", "x".repeat(128), "x".repeat(129), "..", ".", "-a") },
  { weight: 3, arbitrary: anyText },
);

const segment = (id: string, raw: boolean): string => (raw ? id.replace(/[^\x21-\x7e]/g, "") : encodeURIComponent(id));

const queryValue = fc.oneof(
  printable,
  fc.constantFrom("1", "0", "-1", "1e3", "abc", "", "999999999999999999999", "true"),
);
const queryKeys = fc.constantFrom(
  "after",
  "limit",
  "last",
  "type",
  "status",
  "tag",
  "q",
  "createdAfter",
  "updatedAfter",
  "createdBefore",
  "orderBy",
  "order",
  "cursor",
  "userId",
  "tokenBudget",
  "ifExists",
  "id",
  "__proto__",
  "constructor",
  "random",
);
const query = fc
  .array(fc.tuple(queryKeys, queryValue), { maxLength: 6 })
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"));

const headerValue = fc.oneof(
  printable,
  fc.constantFrom('"1"', '"2"', "*", 'W/"1"', "1", "", "abc", '"99999999999999999"'),
);
const headers = fc.record(
  {
    "if-match": headerValue,
    "idempotency-key": headerValue,
    "last-event-id": headerValue,
    "x-frontdesk-user": fc.oneof(headerValue, fc.constantFrom("alice", "bob")),
    "content-type": fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "text/plain",
      "application/x-ndjson",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "",
    ),
    accept: printable,
  },
  { requiredKeys: [] },
);

const eventLike = fc.record(
  {
    type: fc.oneof(fc.constantFrom(...EVENT_TYPES), anyText),
    role: fc.oneof(fc.constantFrom("user", "assistant", "system", "tool"), weird),
    content: fc.oneof(anyText, fc.array(fc.record({ type: fc.oneof(fc.constant("text"), weird), text: weird }))),
    name: weird,
    stateDelta: fc.oneof(fc.dictionary(fc.string(), json, { maxKeys: 4 }), weird),
    invocationId: weird,
    tool: weird,
    status: weird,
    text: weird,
    throughSeq: weird,
    data: weird,
    usage: fc.oneof(fc.record({ inputTokens: weird, outputTokens: weird, costUsd: weird }), weird),
    approvalId: weird,
    decision: weird,
  },
  { requiredKeys: [] },
);

const word = fc.stringMatching(/^[a-z][a-z0-9]{0,11}$/);

const bodies = {
  create: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record(
        {
          id: fc.oneof(sessionId, weird),
          state: fc.oneof(fc.dictionary(fc.string(), json, { maxKeys: 5 }), weird),
          tags: fc.oneof(fc.array(anyText, { maxLength: 70 }), weird),
          purpose: weird,
          title: weird,
          metadata: fc.oneof(fc.dictionary(fc.string(), json, { maxKeys: 5 }), weird),
          ttlSeconds: weird,
          extra: weird,
        },
        { requiredKeys: [] },
      ),
    },
    {
      // Well-formed creates under fresh ids, so the create path runs to the end (201) in every run,
      // whatever the seed: the malformed bodies above reach it only a couple of times in 300.
      weight: 1,
      arbitrary: fc.record(
        {
          id: fc.uuid(),
          state: fc.dictionary(word, json, { maxKeys: 3 }),
          tags: fc.uniqueArray(word, { maxLength: 3 }),
          title: printable,
          ttlSeconds: fc.integer({ min: 60, max: 86_400 }),
        },
        { requiredKeys: ["id"] },
      ),
    },
  ),
  patch: fc.record(
    {
      state: fc.oneof(fc.dictionary(fc.string(), json, { maxKeys: 5 }), weird),
      tags: fc.oneof(fc.array(anyText, { maxLength: 5 }), weird),
      title: weird,
      purpose: weird,
      metadata: weird,
      status: fc.oneof(fc.constantFrom("active", "completed", "failed", "abandoned"), weird),
      ttlSeconds: weird,
      extra: weird,
    },
    { requiredKeys: [] },
  ),
  events: fc.oneof(eventLike, fc.record({ events: fc.oneof(fc.array(eventLike, { maxLength: 5 }), weird) }), weird),
  fork: fc.record({ atSeq: weird, id: fc.oneof(sessionId, weird), title: weird }, { requiredKeys: [] }),
  none: fc.oneof(fc.constant(undefined), weird),
  turn: fc.oneof(
    fc.record(
      {
        message: fc.oneof(
          anyText,
          fc.constantFrom("compute 2+3*4", "what time is it", "recall hello", "run `ls`", "use the t tool"),
          fc.array(fc.record({ type: fc.oneof(fc.constant("text"), weird), text: weird }, { requiredKeys: [] }), {
            maxLength: 3,
          }),
          weird,
        ),
        agent: fc.oneof(fc.constantFrom("assistant", "ghost"), weird),
        extra: weird,
      },
      { requiredKeys: [] },
    ),
    weird,
  ),
  approval: fc.oneof(
    fc.record(
      { decision: fc.oneof(fc.constantFrom("approve", "deny"), weird), reason: weird, extra: weird },
      { requiredKeys: [] },
    ),
    weird,
  ),
  cancel: fc.oneof(fc.constant(undefined), fc.record({ reason: weird, extra: weird }, { requiredKeys: [] }), weird),
  redact: fc.oneof(fc.record({ reason: fc.oneof(anyText, weird) }, { requiredKeys: [] }), weird),
  redactLast: fc.oneof(
    fc.record({ count: fc.oneof(fc.integer({ min: -2, max: 1002 }), weird), reason: fc.oneof(anyText, weird) }),
    weird,
  ),
  chat: fc.oneof(
    fc.record(
      {
        id: fc.oneof(sessionId, weird),
        messages: fc.oneof(
          fc.array(
            fc.record(
              {
                id: fc.oneof(sessionId, weird),
                role: fc.oneof(fc.constantFrom("user", "assistant", "system"), weird),
                parts: fc.oneof(
                  fc.array(
                    fc.record(
                      {
                        type: fc.oneof(fc.constantFrom("text", "dynamic-tool"), weird),
                        text: fc.oneof(anyText, weird),
                        state: fc.oneof(fc.constant("approval-responded"), weird),
                        approval: weird,
                      },
                      { requiredKeys: [] },
                    ),
                    { maxLength: 3 },
                  ),
                  weird,
                ),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
          weird,
        ),
        trigger: fc.oneof(fc.constantFrom("submit-message", "regenerate-message"), weird),
        extra: weird,
      },
      { requiredKeys: [] },
    ),
    weird,
  ),
  agUi: fc.oneof(
    fc.record(
      {
        threadId: fc.oneof(sessionId, weird),
        runId: fc.oneof(fc.constant("run"), weird),
        messages: fc.oneof(
          fc.array(
            fc.record(
              {
                id: fc.oneof(sessionId, weird),
                role: fc.oneof(fc.constantFrom("user", "assistant", "tool", "system"), weird),
                content: fc.oneof(anyText, weird),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
          weird,
        ),
        resume: fc.oneof(
          fc.array(
            fc.record(
              {
                interruptId: fc.oneof(sessionId, weird),
                status: fc.oneof(fc.constantFrom("resolved", "cancelled"), weird),
                payload: fc.oneof(fc.record({ approved: fc.boolean() }), weird),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 2 },
          ),
          weird,
        ),
        state: weird,
        forwardedProps: weird,
      },
      { requiredKeys: [] },
    ),
    weird,
  ),
};

/** A body as sent: JSON of a structured value, or raw text that may not be JSON at all. */
const payloadOf = (structured: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 6, arbitrary: structured.map((value) => (value === undefined ? undefined : JSON.stringify(value))) },
    { weight: 1, arbitrary: anyText },
    { weight: 1, arbitrary: fc.constantFrom("{", "[]", '{"a":', "\u0000", "[".repeat(200), '{"__proto__":{}}') },
  );

const ndjsonPayload = fc.oneof(
  fc.constant(() => exported),
  fc.nat(5000).map((n) => () => exported.slice(0, n)),
  fc.tuple(fc.nat(3000), anyText).map(
    ([n, text]) =>
      () =>
        exported.slice(0, n) + text + exported.slice(n),
  ),
  anyText.map((text) => () => text),
  fc.array(json, { maxLength: 4 }).map((lines) => () => lines.map((l) => JSON.stringify(l)).join("\n")),
);

interface RouteCase {
  method: InjectOptions["method"];
  path: (id: string) => string;
  body?: fc.Arbitrary<unknown>;
  ndjson?: boolean;
  /** Never fuzz this route with the live session and valid input: it would open an endless stream. */
  stream?: boolean;
}

const ROUTES: Record<string, RouteCase> = {
  "POST /v1/sessions": { method: "POST", path: () => "/v1/sessions", body: bodies.create },
  "GET /v1/sessions": { method: "GET", path: () => "/v1/sessions" },
  "GET /v1/sessions/:id": { method: "GET", path: (id) => `/v1/sessions/${id}` },
  "PATCH /v1/sessions/:id": { method: "PATCH", path: (id) => `/v1/sessions/${id}`, body: bodies.patch },
  "DELETE /v1/sessions/:id": { method: "DELETE", path: (id) => `/v1/sessions/${id}`, body: bodies.none },
  "POST /v1/sessions/:id/events": { method: "POST", path: (id) => `/v1/sessions/${id}/events`, body: bodies.events },
  "GET /v1/sessions/:id/events": { method: "GET", path: (id) => `/v1/sessions/${id}/events` },
  "GET /v1/sessions/:id/events/stream": {
    method: "GET",
    path: (id) => `/v1/sessions/${id}/events/stream`,
    stream: true,
  },
  "GET /v1/sessions/:id/messages": { method: "GET", path: (id) => `/v1/sessions/${id}/messages` },
  "GET /v1/sessions/:id/stats": { method: "GET", path: (id) => `/v1/sessions/${id}/stats` },
  "POST /v1/sessions/:id/fork": { method: "POST", path: (id) => `/v1/sessions/${id}/fork`, body: bodies.fork },
  "GET /v1/sessions/:id/export": { method: "GET", path: (id) => `/v1/sessions/${id}/export` },
  "POST /v1/sessions/import": { method: "POST", path: () => "/v1/sessions/import", ndjson: true },
  "POST /v1/sessions/:id/turns": { method: "POST", path: (id) => `/v1/sessions/${id}/turns`, body: bodies.turn },
  "GET /v1/sessions/:id/approvals": { method: "GET", path: (id) => `/v1/sessions/${id}/approvals` },
  "POST /v1/sessions/:id/approvals/:approvalId": {
    method: "POST",
    // The session id doubles as the approval id: "s" answers the request seeded above (200, then 409).
    path: (id) => `/v1/sessions/${id}/approvals/${id}`,
    body: bodies.approval,
  },
  "POST /v1/sessions/:id/cancel": { method: "POST", path: (id) => `/v1/sessions/${id}/cancel`, body: bodies.cancel },
  "POST /v1/chat": { method: "POST", path: () => "/v1/chat", body: bodies.chat },
  "GET /v1/chat/:id/stream": { method: "GET", path: (id) => `/v1/chat/${id}/stream` },
  "GET /v1/chat/:id/messages": { method: "GET", path: (id) => `/v1/chat/${id}/messages` },
  "POST /v1/ag-ui": { method: "POST", path: () => "/v1/ag-ui", body: bodies.agUi },
  "GET /v1/sessions/:id/ws": { method: "GET", path: (id) => `/v1/sessions/${id}/ws` },
  "GET /healthz": { method: "GET", path: () => "/healthz" },
  "GET /readyz": { method: "GET", path: () => "/readyz" },
  "GET /metrics": { method: "GET", path: () => "/metrics" },
  "GET /openapi.json": { method: "GET", path: () => "/openapi.json" },
  "POST /v1/sessions/:id/events/:seq/redact": {
    method: "POST",
    path: (id) => `/v1/sessions/${id}/events/${id.length % 3}/redact`,
    body: bodies.redact,
  },
  "POST /v1/sessions/:id/events/redact-last": {
    method: "POST",
    path: (id) => `/v1/sessions/${id}/events/redact-last`,
    body: bodies.redactLast,
  },
  "GET /v1/erasures": { method: "GET", path: () => "/v1/erasures" },
  // Last: an erasure revokes the erased user's keys, which the routes above still use.
  "DELETE /v1/users/:userId": { method: "DELETE", path: (id) => `/v1/users/${id}`, body: bodies.none },
};

const RUNS_PER_ROUTE = 300;

describe("fuzzing every route", () => {
  let total = 0;
  afterAll(() => {
    // Thousands of malformed requests in total.
    expect(total).toBeGreaterThanOrEqual(RUNS_PER_ROUTE * Object.keys(ROUTES).length);
    // The inputs reach the handlers, not only the validators: some succeed, many are refused.
    for (const status of [200, 201, 400, 401, 404]) {
      expect(statuses.get(status) ?? 0, `responses with status ${status}`).toBeGreaterThan(0);
    }
  });

  for (const [name, route] of Object.entries(ROUTES)) {
    it(`${name}: no 5xx, and every 4xx has the error body`, async () => {
      const key = fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(h.keys.alice, h.keys.admin, h.keys.bob) },
        { weight: 1, arbitrary: fc.oneof(printable, fc.constant(`fd_${"A".repeat(43)}`)) },
      );
      const body = route.ndjson
        ? ndjsonPayload.map((make) => make())
        : route.body
          ? payloadOf(route.body)
          : fc.constant(undefined);
      await fc.assert(
        fc.asyncProperty(
          sessionId,
          fc.boolean(),
          query,
          headers,
          key,
          body,
          fc.boolean(),
          // One request in five carries only a valid key and a JSON content type, so that whatever
          // the seed, well-formed bodies get past the headers to their handler.
          fc.nat(4).map((n) => n === 0),
          async (id, raw, qs, hdrs, apiKey, payload, authScheme, plainHeaders) => {
            total++;
            const path = route.path(segment(id, raw));
            const url = qs ? `${path}?${qs}` : path;
            const requestHeaders: Record<string, string> = plainHeaders
              ? { "content-type": route.ndjson ? "application/x-ndjson" : "application/json" }
              : { ...hdrs };
            // The stream route runs on its own app whose only session is "s": with a bad Last-Event-ID
            // it must be refused before any stream starts (valid streams are tested over real sockets).
            if (route.stream) requestHeaders["last-event-id"] = "not-a-seq";
            if (route.ndjson && requestHeaders["content-type"] === undefined) {
              requestHeaders["content-type"] = "application/x-ndjson";
            }
            if (payload === undefined || requestHeaders["content-type"] === "") delete requestHeaders["content-type"];
            if (plainHeaders) requestHeaders.authorization = `Bearer ${h.keys.alice}`;
            else requestHeaders.authorization = authScheme ? `Bearer ${apiKey}` : apiKey;
            const app = route.stream ? streamApp.app : h.app;
            const response = await app.inject({
              method: route.method,
              url,
              headers: requestHeaders,
              ...(payload === undefined ? {} : { payload: payload as string }),
            });
            assertWellFormed(response, `${route.method} ${url.slice(0, 80)}`);
            if (route.method === "DELETE" || route.method === "POST") await ensureSession();
          },
        ),
        { numRuns: RUNS_PER_ROUTE },
      );
    });
  }

  it("agent routes with a valid key on a live session: fuzzed bodies run turns or are refused, never 5xx", async () => {
    const seen = new Map<string, number>();
    // Mostly well-shaped bodies (so turns really run, with odd text and parts), some anything at all.
    const turnBody = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record(
          {
            message: fc.oneof(
              fc.constantFrom("compute 2+3*4", "what time is it", "recall hello", "use the t tool", "hi"),
              anyText,
              fc.array(fc.record({ type: fc.constantFrom("text", "image", "x"), text: weird }), {
                minLength: 1,
                maxLength: 3,
              }),
            ),
            agent: fc.constantFrom("assistant", "ghost"),
          },
          { requiredKeys: ["message"] },
        ),
      },
      { weight: 1, arbitrary: bodies.turn },
    );
    const request = fc.oneof(
      fc.tuple(fc.constant("/v1/sessions/s/turns"), payloadOf(turnBody)),
      fc.tuple(fc.constant("/v1/sessions/s/approvals/s"), payloadOf(bodies.approval)),
      fc.tuple(fc.constant("/v1/sessions/s/cancel"), payloadOf(bodies.cancel)),
    );
    await fc.assert(
      fc.asyncProperty(request, async ([url, payload]) => {
        total++;
        const response = await h.app.inject({
          method: "POST",
          url,
          headers: {
            authorization: `Bearer ${h.keys.alice}`,
            ...(payload === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(payload === undefined ? {} : { payload }),
        });
        assertWellFormed(response, `POST ${url}`);
        const done = /event: done\ndata: \{"status":"(\w+)"/.exec(response.body)?.[1];
        const key = `${url} ${response.statusCode}${done ? ` ${done}` : ""}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        await ensureSession();
      }),
      { numRuns: 300 },
    );
    // Valid turns ran to the end; malformed ones were refused.
    expect(seen.get("/v1/sessions/s/turns 200 completed") ?? 0).toBeGreaterThan(0);
    expect(seen.get("/v1/sessions/s/turns 400") ?? 0).toBeGreaterThan(0);
    expect(seen.get("/v1/sessions/s/approvals/s 400") ?? 0).toBeGreaterThan(0);
    // What the edge accepts never breaks a turn (a stored message the model refuses would break every later one).
    expect([...seen.keys()].filter((key) => key.endsWith(" error"))).toEqual([]);
  });

  it("random methods and paths: no 5xx, and every 4xx has the error body", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
        fc.array(fc.oneof(printable, fc.constantFrom("v1", "sessions", "s", "events", "ws", "..", "%2F", "%")), {
          maxLength: 6,
        }),
        async (method, parts) => {
          total++;
          const url = `/${parts.map((p) => p.replace(/[?#\s\\]/g, "")).join("/")}`;
          const response = await h.app.inject({
            method: method as InjectOptions["method"],
            url,
            headers: { authorization: `Bearer ${h.keys.alice}` },
          });
          if (method === "HEAD") {
            expect(response.statusCode).toBeLessThan(500);
            return;
          }
          assertWellFormed(response, `${method} ${url.slice(0, 80)}`);
        },
      ),
      { numRuns: 600 },
    );
  });
});
