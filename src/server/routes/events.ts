import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { assertIdempotencyKey } from "../../core/ids.ts";
import type { EventType } from "../../core/model.ts";
import { etagOf, expectedVersionOf, type ServerContext, scopedManager, toArray } from "../context.ts";
import {
  AppendEventsBody,
  AppendHeaders,
  AppendResultSchema,
  ERROR_RESPONSES,
  EventPageSchema,
  IdParams,
  ReadEventsQuery,
  ScopeHeaders,
  wireEvents,
} from "../schemas.ts";

const SECURED = [{ bearerAuth: [] }];
const TAGS = ["events"];

/** The event log: append (atomic, idempotent, conditional) and read in pages. */
export function eventRoutes(context: ServerContext) {
  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    const config = { auth: "user" as const };

    app.post(
      "/v1/sessions/:id/events",
      {
        config,
        schema: {
          summary: "Append events",
          description:
            "Body: one event, or `{events:[…]}` appended atomically with the next seqs (their `stateDelta`s applied " +
            "in the same write). `If-Match` makes it conditional (412 on another version). `Idempotency-Key`: a " +
            "retry with the same key and body returns the first result and appends nothing; with another body, 409.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          headers: AppendHeaders,
          body: AppendEventsBody,
          response: { 201: AppendResultSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        // After validation Fastify merges a fresh copy of the headers on every read: read them once.
        const headers = request.headers;
        let expectedVersion = expectedVersionOf(headers["if-match"]);
        const idempotencyKey = headers["idempotency-key"];
        const body = request.body;
        const inputs = "events" in body && Array.isArray(body.events) && !("type" in body) ? body.events : [body];
        const manager = scopedManager(context, request);
        if (expectedVersion !== undefined && idempotencyKey !== undefined) {
          // A retry of a conditional append must replay, not fail with 412 because its own first attempt
          // moved the version. The manager checks the version before the key, so when the key is already
          // recorded (for this caller's session) the version check is dropped and the manager replays it,
          // or answers 409 if the body differs. Records are permanent, so this cannot race.
          const key = { namespace: manager.namespace, userId: manager.userId, id: request.params.id };
          if (await context.store.findIdempotency(key, assertIdempotencyKey(idempotencyKey)))
            expectedVersion = undefined;
        }
        const result = await manager.appendEvents(request.params.id, inputs, {
          expectedVersion,
          idempotencyKey,
        });
        if (!result.replayed) context.metrics.eventsAppended.inc(result.events.length);
        if (result.replayed) reply.header("idempotent-replayed", "true");
        return reply
          .code(201)
          .header("etag", etagOf(result.version))
          .send({
            version: result.version,
            lastSeq: result.lastSeq,
            seqs: result.events.map((event) => event.seq),
            events: wireEvents(result.events),
            replayed: result.replayed,
          });
      },
    );

    app.get(
      "/v1/sessions/:id/events",
      {
        config,
        schema: {
          summary: "Read events",
          description:
            "Events in seq order after `after` (default 0), at most `limit` (default 100, at most 1000), only `type` " +
            "(repeatable) if given. `last` returns the newest events instead (before `before`, when given), and " +
            "`nextBefore` pages back from them. A page holds at most 4 MiB of JSON: a page of big events ends " +
            "early, with its cursor set. `nextAfter` is null at the end.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ReadEventsQuery,
          headers: ScopeHeaders,
          response: { 200: EventPageSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => {
        const query = request.query;
        const types = toArray(query.type) as EventType[] | undefined;
        const page = await scopedManager(context, request).readEventPage(request.params.id, {
          after: query.after,
          before: query.before,
          ...(query.last === undefined ? { limit: query.limit } : { last: query.last }),
          types,
        });
        return {
          items: wireEvents(page.items),
          nextAfter: page.nextAfter,
          ...(query.last === undefined ? {} : { nextBefore: page.nextBefore }),
        };
      },
    );
  };
}
