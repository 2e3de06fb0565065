import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isFrontdeskError } from "../../core/errors.ts";
import type { SessionEvent } from "../../core/model.ts";
import { ERASURE_LOG_ID, type RedactResult } from "../../core/session-manager.ts";
import { etagOf, expectedVersionOf, type ServerContext, scopedManager } from "../context.ts";
import {
  ERROR_RESPONSES,
  EventPageSchema,
  EventSchema,
  IdParams,
  IfMatchHeaders,
  UserIdSchema,
  wireEvents,
} from "../schemas.ts";

const SECURED = [{ bearerAuth: [] }];

const RedactBody = z.object({
  reason: z.string().min(1).max(4096).describe("Why the content was removed; kept in the tombstone"),
});
const RedactLastBody = RedactBody.extend({
  count: z.number().int().min(1).max(1000).describe("How many of the newest items to hide"),
});
const RedactResultSchema = z.object({
  version: z.number().int(),
  lastSeq: z.number().int(),
  events: z.array(EventSchema).describe("The tombstones as now stored"),
});
const RedactLastResultSchema = RedactResultSchema.extend({
  hidden: z.array(EventSchema).describe("The items as they were before, oldest first (OpenAI Agents `popItem`)"),
});
const ErasureLogQuery = z.object({
  after: z.coerce.number().int().min(0).optional().describe("Only records with seq > after"),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("Default 100"),
});
const SeqParams = IdParams.extend({ seq: z.coerce.number().int().min(1) });
const ErasureSchema = z.object({
  erasureId: z.string(),
  userId: z.string(),
  namespace: z.string(),
  sessions: z.number().int().describe("Sessions removed by this call"),
  events: z.number().int().describe("Events those sessions held"),
  scopes: z.number().int().describe("`user:` state records removed (0 or 1)"),
  apiKeys: z.number().int().describe("API keys of the user revoked by this call"),
  scrub: z
    .enum(["done", "pending", "none"])
    .describe("`pending`: a reader holds the SQLite WAL; the scrub of the files finishes as soon as it can"),
});

/** What both redaction routes pass on: the caller's bound manager, who asks and why, and If-Match. */
function redactionOf(context: ServerContext, request: FastifyRequest, reason: string) {
  return {
    manager: scopedManager(context, request),
    input: { reason, by: request.principal?.keyId ?? "unknown" },
    options: { expectedVersion: expectedVersionOf(request.headers["if-match"]) },
  };
}

const answerOf = (result: RedactResult) => ({
  version: result.session.version,
  lastSeq: result.session.lastSeq,
  events: wireEvents(result.events),
});

/** Redaction of events (owners and admins) and the erasure of a user (admins): docs/privacy.md. */
export function privacyRoutes(context: ServerContext) {
  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();

    app.post(
      "/v1/sessions/:id/events/:seq/redact",
      {
        config: { auth: "user" },
        schema: {
          summary: "Redact an event",
          description:
            "Replaces the event's content with a tombstone keeping its seq, type, time, who redacted it and why. One " +
            "commit with a new version (`If-Match` makes it conditional: 412 on another version); subscribers get a " +
            "`frontdesk.history_changed` event. Redacting a tombstone again changes nothing.",
          tags: ["events"],
          security: SECURED,
          params: SeqParams,
          headers: IfMatchHeaders,
          body: RedactBody,
          response: { 200: RedactResultSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const { manager, input, options } = redactionOf(context, request, request.body.reason);
        const result = await manager.redactEvent(request.params.id, request.params.seq, input, options);
        return reply.header("etag", etagOf(result.session.version)).send(answerOf(result));
      },
    );

    app.post(
      "/v1/sessions/:id/events/redact-last",
      {
        config: { auth: "user" },
        schema: {
          summary: "Hide the newest items",
          description:
            "Redacts the newest `count` items (events other than Frontdesk's own markers, not yet redacted) in one " +
            "commit, and returns them as they were: OpenAI Agents' `popItem`, or a rewind. The log stays gapless.",
          tags: ["events"],
          security: SECURED,
          params: IdParams,
          headers: IfMatchHeaders,
          body: RedactLastBody,
          response: { 200: RedactLastResultSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const { manager, input, options } = redactionOf(context, request, request.body.reason);
        const result = await manager.hideLastEvents(request.params.id, request.body.count, input, options);
        return reply
          .header("etag", etagOf(result.session.version))
          .send({ ...answerOf(result), hidden: wireEvents(result.hidden) });
      },
    );

    app.get(
      "/v1/erasures",
      {
        config: { auth: "admin" },
        schema: {
          summary: "The erasure audit log",
          description:
            "Admin keys only. The `frontdesk.erasures` log of this server's namespace: a `frontdesk.erasure.started` " +
            "and a `frontdesk.erasure.finished` custom event per erasure (who, when, which user, the counts), and " +
            "`frontdesk.erasure.scrubbed` when a pending scrub finished. Paged like the events of a session.",
          tags: ["users"],
          security: SECURED,
          querystring: ErasureLogQuery,
          response: { 200: EventPageSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 100;
        let read: readonly SessionEvent[];
        try {
          read = await context.manager.readEvents(
            { id: ERASURE_LOG_ID, userId: null },
            { after: request.query.after ?? 0, limit: limit + 1 },
          );
        } catch (error) {
          // No erasure yet: the log is created by the first one.
          if (!isFrontdeskError(error, "not_found")) throw error;
          read = [];
        }
        const items = read.slice(0, limit);
        const last = items.at(-1);
        return { items: wireEvents(items), nextAfter: read.length > limit && last ? last.seq : null };
      },
    );

    app.delete(
      "/v1/users/:userId",
      {
        config: { auth: "admin" },
        schema: {
          summary: "Erase a user",
          description:
            "Admin keys only. Removes every session, event, `user:` state, idempotency record and index entry of the " +
            "user in this server's namespace, revokes their API keys, destroys their data key where the store " +
            "encrypts, ends their live streams and scrubs SQLite's files. Answers with counts; running it again is " +
            "harmless. Each erasure is recorded (who, when, which user, the counts) in the `frontdesk.erasures` " +
            "session.",
          tags: ["users"],
          security: SECURED,
          params: z.object({ userId: UserIdSchema }),
          querystring: z.object({
            vacuum: z
              .enum(["true", "false"])
              .optional()
              .describe(
                "SQLite: also rebuild the file (VACUUM) so no stale copy of the user's rows stays in pages' unused " +
                  "space. It locks the store while it runs: for a maintenance window",
              ),
          }),
          response: { 200: ErasureSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) =>
        context.manager.eraseUser(request.params.userId, {
          by: request.principal?.keyId ?? "unknown",
          vacuum: request.query.vacuum === "true",
        }),
    );
  };
}
