import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isFrontdeskError } from "../../core/errors.ts";
import { LruMap } from "../../core/lru-map.ts";
import type { Session } from "../../core/session-manager.ts";
import { noneMatchHits } from "../conditional.ts";
import {
  etagOf,
  expectedVersionOf,
  listingManager,
  type ServerContext,
  scopedManager,
  toArray,
  ttlMsOf,
} from "../context.ts";
import { notFound } from "../http-errors.ts";
import {
  ConditionalReadHeaders,
  CreateSessionBody,
  CreateSessionQuery,
  ERROR_RESPONSES,
  ForkBody,
  IdParams,
  IfMatchHeaders,
  ImportQuery,
  ListSessionsQuery,
  MessagesQuery,
  MessagesSchema,
  NdjsonBody,
  PatchSessionBody,
  ScopeHeaders,
  ScopeQuery,
  SessionPageSchema,
  SessionSchema,
  StatsSchema,
  wireEvents,
} from "../schemas.ts";

const SECURED = [{ bearerAuth: [] }];
const TAGS = ["sessions"];

/**
 * The manager hands out one deep-frozen session per stored version for as long as its store keeps
 * it, so a repeated `GET` of an unchanged session can send the body encoded the first time. Kept
 * for the most recently read sessions only, and only small bodies, so the copies (and the old
 * versions they keep alive) stay within ENCODED_SESSIONS × MAX_ENCODED_BYTES whatever states hold.
 */
const ENCODED_SESSIONS = 1024;
const MAX_ENCODED_BYTES = 16 * 1024;
const encodedSessions = new LruMap<Session, Buffer>(ENCODED_SESSIONS);

const locationOf = (session: Session): string => `/v1/sessions/${encodeURIComponent(session.id)}`;

/** 201 for a new session (create, import, fork): its ETag and Location, and the created counter. */
const sendCreated = (context: ServerContext, reply: FastifyReply, session: Session) => {
  context.metrics.sessionsCreated.inc();
  return reply.code(201).header("etag", etagOf(session.version)).header("location", locationOf(session)).send(session);
};

/** Sessions: create, list, read, patch, delete, statistics, messages, fork, export, import. */
export function sessionRoutes(context: ServerContext) {
  return async (root: FastifyInstance): Promise<void> => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    const config = { auth: "user" as const };

    app.post(
      "/v1/sessions",
      {
        config,
        schema: {
          summary: "Create a session",
          description:
            "Creates a session owned by the caller (admins: by `userId`). A client-chosen `id` the caller already " +
            "uses is 409 `conflict`, unless `ifExists=return`, which answers 200 with that session.",
          tags: TAGS,
          security: SECURED,
          body: CreateSessionBody,
          querystring: CreateSessionQuery,
          headers: ScopeHeaders,
          response: { 200: SessionSchema, 201: SessionSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const manager = scopedManager(context, request);
        const body = request.body ?? {};
        const options = {
          sessionId: body.id,
          state: body.state as Session["state"] | undefined,
          tags: body.tags,
          title: body.title,
          purpose: body.purpose,
          metadata: body.metadata as Session["metadata"] | undefined,
          ttlMs: ttlMsOf(body.ttlSeconds),
        };
        let session: Session;
        try {
          session = await manager.create({ ...options, ifExists: "error" });
        } catch (error) {
          if (request.query.ifExists === "return" && body.id !== undefined && isFrontdeskError(error, "conflict")) {
            const existing = await manager.get(body.id);
            return reply.code(200).header("etag", etagOf(existing.version)).send(existing);
          }
          throw error;
        }
        return sendCreated(context, reply, session);
      },
    );

    app.get(
      "/v1/sessions",
      {
        config,
        schema: {
          summary: "List sessions",
          description:
            "Newest first by default. Non-admin keys see their own sessions; admin keys see every user's, or one " +
            "user's with `userId`. Pass `nextCursor` back as `cursor` for the next page.",
          tags: TAGS,
          security: SECURED,
          querystring: ListSessionsQuery,
          headers: ScopeHeaders,
          response: { 200: SessionPageSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => {
        const manager = listingManager(context, request);
        const query = request.query;
        const page = await manager.listSessions({
          status: toArray(query.status),
          tags: toArray(query.tag),
          text: query.q,
          createdAfter: query.createdAfter,
          createdBefore: query.createdBefore,
          updatedAfter: query.updatedAfter,
          updatedBefore: query.updatedBefore,
          orderBy: query.orderBy,
          order: query.order,
          limit: query.limit ?? 50,
          cursor: query.cursor,
        });
        return { items: [...page.items], nextCursor: page.nextCursor };
      },
    );

    app.post(
      "/v1/sessions/import",
      {
        config,
        bodyLimit: context.limits.maxImportBytes,
        schema: {
          summary: "Import a session",
          description:
            "Body: an export (`application/x-ndjson`). The session is created for the caller under its exported id, " +
            "or `id`; a taken id is 409 `conflict`.",
          tags: TAGS,
          security: SECURED,
          consumes: ["application/x-ndjson"],
          body: NdjsonBody,
          querystring: ImportQuery,
          headers: ScopeHeaders,
          response: { 201: SessionSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const manager = scopedManager(context, request);
        const session = await manager.importSession(request.body, { sessionId: request.query.id });
        return sendCreated(context, reply, session);
      },
    );

    app.get(
      "/v1/sessions/:id",
      {
        config,
        schema: {
          summary: "Get a session",
          description:
            "The header with state (user:/app: keys merged) and stats. `ETag` is its version; with `If-None-Match` " +
            "naming it, the answer is 304 without a body (the read still refreshes the sliding TTL).",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: ConditionalReadHeaders,
          response: {
            200: SessionSchema,
            304: z.null().describe("Not modified: the session is still at the version If-None-Match names"),
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const session = await scopedManager(context, request).get(request.params.id);
        const etag = etagOf(session.version);
        const known = request.headers["if-none-match"];
        // Checked before any encoding: a client revalidating an unchanged session costs the read alone.
        if (known !== undefined && noneMatchHits(known, etag)) return reply.code(304).header("etag", etag).send(null);
        let body = encodedSessions.get(session);
        if (body === undefined) {
          body = Buffer.from(reply.serialize(session) as string);
          if (body.length <= MAX_ENCODED_BYTES) encodedSessions.set(session, body);
        }
        // Encoded by this route's own serializer above; the type provider knows only the object form.
        const encoded = body as unknown as Session;
        return reply.header("etag", etag).type("application/json; charset=utf-8").send(encoded);
      },
    );

    app.patch(
      "/v1/sessions/:id",
      {
        config,
        schema: {
          summary: "Change a session",
          description:
            "`state` is a JSON merge patch (RFC 7396); the other fields replace. With `If-Match`, a session at " +
            "another version is 412 `precondition_failed` and nothing is written.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: IfMatchHeaders,
          body: PatchSessionBody,
          response: { 200: SessionSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const expectedVersion = expectedVersionOf(request.headers["if-match"]);
        const body = request.body;
        const session = await scopedManager(context, request).patch(
          request.params.id,
          {
            state: body.state as Session["state"] | undefined,
            tags: body.tags,
            title: body.title,
            purpose: body.purpose,
            metadata: body.metadata as Session["metadata"] | undefined,
            status: body.status,
            ttlMs: ttlMsOf(body.ttlSeconds),
          },
          { expectedVersion },
        );
        return reply.header("etag", etagOf(session.version)).send(session);
      },
    );

    app.delete(
      "/v1/sessions/:id",
      {
        config,
        schema: {
          summary: "Delete a session",
          description: "Removes the header and every event together. With `If-Match`, another version is 412.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: IfMatchHeaders,
          response: { 204: z.null().describe("Deleted"), ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const expectedVersion = expectedVersionOf(request.headers["if-match"]);
        // With If-Match the store checks the version and deletes in one atomic step (412 on a mismatch).
        const deleted = await scopedManager(context, request).delete(request.params.id, { expectedVersion });
        if (!deleted) throw notFound();
        return reply.code(204).send(null);
      },
    );

    app.get(
      "/v1/sessions/:id/stats",
      {
        config,
        schema: {
          summary: "Session statistics",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          response: { 200: StatsSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => scopedManager(context, request).getStatistics(request.params.id),
    );

    app.get(
      "/v1/sessions/:id/messages",
      {
        config,
        schema: {
          summary: "The conversation view",
          description:
            "Message events oldest first, with the latest summary standing in for what it covers; `last` newest " +
            "messages (at most 1000, the default) and/or as many as fit `tokenBudget`.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: MessagesQuery,
          headers: ScopeHeaders,
          response: { 200: MessagesSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => {
        const items = await scopedManager(context, request).getMessages(request.params.id, {
          last: request.query.last ?? 1000,
          tokenBudget: request.query.tokenBudget,
        });
        return { items: wireEvents(items) };
      },
    );

    app.post(
      "/v1/sessions/:id/fork",
      {
        config,
        schema: {
          summary: "Fork a session",
          description: "A new session with the events up to `atSeq` (default: all) and the state as it stood then.",
          tags: TAGS,
          security: SECURED,
          params: IdParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          body: ForkBody,
          response: { 201: SessionSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const body = request.body ?? {};
        const session = await scopedManager(context, request).fork(request.params.id, {
          atSeq: body.atSeq,
          sessionId: body.id,
          title: body.title,
        });
        return sendCreated(context, reply, session);
      },
    );

    app.get(
      "/v1/sessions/:id/export",
      {
        config,
        schema: {
          summary: "Export a session",
          description:
            'NDJSON: `{"kind":"session","format":"frontdesk.session.v1","session":{…}}` then one ' +
            '`{"kind":"event","event":{…}}` line per event. Lossless; import it with POST /v1/sessions/import.',
          tags: TAGS,
          security: SECURED,
          produces: ["application/x-ndjson"],
          params: IdParams,
          querystring: ScopeQuery,
          headers: ScopeHeaders,
          response: {
            200: { description: "The export", content: { "application/x-ndjson": { schema: NdjsonBody } } },
            ...ERROR_RESPONSES,
          },
        },
      },
      async (request, reply) => {
        const lines = scopedManager(context, request).exportSession(request.params.id);
        // Pull the header line first so a missing session is a JSON 404, not a broken stream.
        const first = await lines.next();
        if (first.done) throw notFound();
        async function* ndjson(): AsyncGenerator<string> {
          yield `${first.value}\n`;
          for await (const line of lines) yield `${line}\n`;
        }
        const body = Readable.from(ndjson(), { objectMode: false });
        body.on("error", (error) => request.log.error({ err: error }, "export failed mid-stream"));
        return reply
          .code(200)
          .type("application/x-ndjson; charset=utf-8")
          .header("content-disposition", "attachment")
          .send(body as never);
      },
    );
  };
}
