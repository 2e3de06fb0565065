import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  AppendResultSchema,
  ErrorBodySchema,
  EventPageSchema,
  SessionPageSchema,
  SessionSchema,
} from "../../src/server/schemas.ts";
import { responseSerializerCompiler } from "../../src/server/serializer.ts";

const compile = (schema: z.ZodType) =>
  responseSerializerCompiler({ schema, method: "GET", url: "/test", httpStatus: "200" }) as (data: unknown) => string;

/** What the zod encoder writes: the reference the compiled serializer must match byte for byte. */
const zodWrites = (schema: z.ZodType, value: unknown): string => JSON.stringify(z.encode(schema, value as never));

const json = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);
const jsonObject = fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 4 });
const count = fc.nat({ max: 1_000_000 });
const instant = fc.integer({ min: 0, max: 2 ** 45 });
const nullable = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null });

const session = fc.record({
  namespace: fc.string({ maxLength: 12 }),
  userId: nullable(fc.string({ maxLength: 12 })),
  id: fc.string({ minLength: 1, maxLength: 20 }),
  status: fc.constantFrom("active", "completed", "failed", "abandoned"),
  title: nullable(fc.string({ maxLength: 30 })),
  purpose: nullable(fc.string({ maxLength: 30 })),
  tags: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  metadata: jsonObject,
  state: jsonObject,
  version: count,
  lastSeq: count,
  stats: fc.record({
    messages: count,
    toolCalls: count,
    toolErrors: count,
    toolsUsed: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
    inputTokens: count,
    outputTokens: count,
    costUsd: fc.double({ min: 0, max: 1e6, noNaN: true }),
    durationMs: count,
  }),
  createdAt: instant,
  updatedAt: instant,
  lastAccessedAt: instant,
  ttlMs: nullable(count),
  expiresAt: nullable(instant),
  absoluteExpiresAt: nullable(instant),
  parent: nullable(fc.record({ sessionId: fc.string({ maxLength: 12 }), seq: count })),
});

const event = fc
  .record({
    seq: count,
    id: fc.string({ maxLength: 12 }),
    at: instant,
    type: fc.constantFrom("message", "tool_call", "custom"),
    role: fc.constantFrom("user", "assistant"),
    content: json,
  })
  .map((value) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>);

describe("response serializer compiled from the zod schemas", () => {
  it("writes exactly what the zod encoder writes, for sessions, pages, events and errors", () => {
    const cases: [z.ZodType, fc.Arbitrary<unknown>][] = [
      [SessionSchema, session],
      [SessionPageSchema, fc.record({ items: fc.array(session, { maxLength: 3 }), nextCursor: nullable(fc.string()) })],
      [EventPageSchema, fc.record({ items: fc.array(event, { maxLength: 4 }), nextAfter: nullable(count) })],
      [
        AppendResultSchema,
        fc.record({
          version: count,
          lastSeq: count,
          seqs: fc.array(count, { maxLength: 4 }),
          events: fc.array(event, { maxLength: 4 }),
          replayed: fc.boolean(),
        }),
      ],
      [
        ErrorBodySchema,
        fc.record({
          error: fc.record(
            { code: fc.constantFrom("not_found", "conflict"), message: fc.string(), details: jsonObject },
            { requiredKeys: ["code", "message"] },
          ),
        }),
      ],
    ];
    for (const [schema, arbitrary] of cases) {
      const serialize = compile(schema);
      fc.assert(
        fc.property(arbitrary, (value) => {
          expect(serialize(value)).toBe(zodWrites(schema, value));
        }),
        { numRuns: 300 },
      );
    }
  });

  it("never writes a field the schema does not declare, except in free-form JSON and event payloads", () => {
    const serialize = compile(SessionSchema);
    fc.assert(
      fc.property(session, fc.string({ minLength: 1, maxLength: 10 }), (value, secret) => {
        const leaky = {
          ...value,
          internalKeyHash: secret,
          stats: { ...value.stats, internal: secret },
          parent: value.parent && { ...value.parent, internal: secret },
        };
        const written = JSON.parse(serialize(leaky));
        expect(written).not.toHaveProperty("internalKeyHash");
        expect(written.stats).not.toHaveProperty("internal");
        if (written.parent) expect(written.parent).not.toHaveProperty("internal");
        expect(written).toEqual(JSON.parse(zodWrites(SessionSchema, value)));
      }),
      { numRuns: 200 },
    );
  });

  it("fails a response that lacks a required field instead of sending part of it", () => {
    const serialize = compile(SessionSchema);
    const { version: _dropped, ...partial } = fc.sample(session, 1)[0] as Record<string, unknown>;
    expect(() => serialize(partial)).toThrow(/version/);
  });

  it("falls back to the zod encoder for a schema JSON Schema cannot express", () => {
    const WithDate = z.object({ at: z.date(), extra: z.string().optional() });
    const serialize = compile(WithDate);
    expect(serialize({ at: new Date(0), hidden: 1 })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });
});
