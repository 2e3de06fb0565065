/**
 * A refused request says which field is wrong and what it must be, a body in a type no route reads
 * is a 415 naming the type to send, and a create with a `null` body is a create with `{}` (as
 * docs/http-api.md says). Every refusal leaves the store as it was.
 */
import type { LightMyRequestResponse } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHarness, type Harness } from "./helpers.ts";

const ALL_EVENT_TYPES =
  "message, tool_call, tool_result, state, status, summary, custom, approval_request, approval_response";

describe("400 and 415 messages name the field and what it must be", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
    const created = await h.call(h.keys.alice, { method: "POST", url: "/v1/sessions", payload: { id: "s1" } });
    expect(created.statusCode).toBe(201);
  });
  afterEach(async () => {
    await h.close();
  });

  const call = (method: "GET" | "POST" | "PATCH", url: string, payload?: unknown, headers?: Record<string, string>) =>
    h.send(h.keys.alice, method, url, payload, headers);
  const errorOf = (res: LightMyRequestResponse) => (JSON.parse(res.body) as { error: unknown }).error;
  /** What a refusal must leave untouched: alice's sessions, and s1's version and events. */
  const stored = async () => {
    const list = JSON.parse((await call("GET", "/v1/sessions?limit=100")).body) as { items: { id: string }[] };
    const session = JSON.parse((await call("GET", "/v1/sessions/s1")).body) as { version: number; lastSeq: number };
    return { ids: list.items.map((item) => item.id).sort(), version: session.version, lastSeq: session.lastSeq };
  };

  const refusals: [string, () => Promise<LightMyRequestResponse>, number, { code: string; message: string }][] = [
    [
      "an event of an unknown type, in a batch",
      () => call("POST", "/v1/sessions/s1/events", { events: [{ type: "nope" }] }),
      400,
      { code: "invalid_request", message: `events.0.type: must be one of ${ALL_EVENT_TYPES}` },
    ],
    [
      "an event of an unknown type, alone",
      () => call("POST", "/v1/sessions/s1/events", { type: "nope" }),
      400,
      { code: "invalid_request", message: `type: must be one of ${ALL_EVENT_TYPES}` },
    ],
    [
      "a message with an unknown role",
      () => call("POST", "/v1/sessions/s1/events", { type: "message", role: "bot", content: "hi" }),
      400,
      { code: "invalid_request", message: "Invalid event 0: role: must be one of system, user, assistant, tool" },
    ],
    [
      "an empty batch",
      () => call("POST", "/v1/sessions/s1/events", { events: [] }),
      400,
      { code: "invalid_request", message: "events: must not be empty" },
    ],
    [
      "a patch to an unknown status",
      () => call("PATCH", "/v1/sessions/s1", { status: "done" }),
      400,
      { code: "invalid_request", message: "status: must be one of active, completed, failed, abandoned" },
    ],
    [
      "a patch with a misspelt field",
      () => call("PATCH", "/v1/sessions/s1", { statuss: "completed" }),
      400,
      { code: "invalid_request", message: "statuss: is not a known field" },
    ],
    [
      "a patch whose body is null",
      () => call("PATCH", "/v1/sessions/s1", "null", { "content-type": "application/json" }),
      400,
      { code: "invalid_request", message: "body: must be an object, not null" },
    ],
    [
      "a create with fields of the wrong types",
      () => call("POST", "/v1/sessions", { id: "s2", tags: 5, ttlSeconds: "x" }),
      400,
      {
        code: "invalid_request",
        message: "tags: must be an array, not number; ttlSeconds: must be a number, not string",
      },
    ],
    [
      "a create whose body is an array",
      () => call("POST", "/v1/sessions", "[]", { "content-type": "application/json" }),
      400,
      { code: "invalid_request", message: "body: must be an object, not array" },
    ],
    [
      "a create sent as text/plain",
      () => call("POST", "/v1/sessions", '{"id":"s2"}', { "content-type": "text/plain" }),
      415,
      {
        code: "unsupported_media_type",
        message:
          "Content-Type text/plain is not accepted here: send the body as JSON with Content-Type: application/json",
      },
    ],
    [
      "an append sent as a form",
      () =>
        call("POST", "/v1/sessions/s1/events", "type=state", { "content-type": "application/x-www-form-urlencoded" }),
      415,
      {
        code: "unsupported_media_type",
        message:
          "Content-Type application/x-www-form-urlencoded is not accepted here: send the body as JSON with Content-Type: application/json",
      },
    ],
    [
      "an import sent as text/plain",
      () => call("POST", "/v1/sessions/import?id=s2", "{}", { "content-type": "text/plain; charset=utf-8" }),
      415,
      {
        code: "unsupported_media_type",
        message: "Content-Type text/plain is not accepted here: send it as Content-Type: application/x-ndjson",
      },
    ],
    [
      "a list filtered by an unknown status",
      () => call("GET", "/v1/sessions?status=done"),
      400,
      { code: "invalid_request", message: "status: must be one of active, completed, failed, abandoned" },
    ],
    [
      "a list with limit 0",
      () => call("GET", "/v1/sessions?limit=0"),
      400,
      { code: "invalid_request", message: "limit: must be at least 1" },
    ],
    [
      "a turn without a message",
      () => call("POST", "/v1/sessions/s1/turns", {}),
      400,
      { code: "invalid_request", message: "message: is required" },
    ],
    [
      "a turn whose message is a number",
      () => call("POST", "/v1/sessions/s1/turns", { message: 5 }),
      400,
      { code: "invalid_request", message: "message: must be a string or an array, not number" },
    ],
    [
      "an approval answered with neither approve nor deny",
      () => call("POST", "/v1/sessions/s1/approvals/a1", { decision: "maybe" }),
      400,
      { code: "invalid_request", message: "decision: must be one of approve, deny" },
    ],
  ];

  it.each(refusals)("%s", async (_name, send, status, error) => {
    const before = await stored();
    const res = await send();
    expect(res.statusCode).toBe(status);
    expect(errorOf(res)).toEqual(error);
    expect(await stored()).toEqual(before);
  });

  it("a create whose body is null is a create with {}: a new session with every default", async () => {
    const res = await call("POST", "/v1/sessions", "null", { "content-type": "application/json" });
    expect(res.statusCode).toBe(201);
    const session = JSON.parse(res.body) as Record<string, unknown>;
    expect(session).toMatchObject({ status: "active", title: null, tags: [], state: {}, lastSeq: 0 });
    expect(session.id).toMatch(/^[0-9a-f]{32}$/);
    expect((await stored()).ids).toEqual([session.id, "s1"].sort());
  });
});
