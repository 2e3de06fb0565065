/**
 * The wire contract of HTTP API v1 (docs/http-api.md) as zod schemas. Fastify validates every request
 * and serializes every response with these, and `/openapi.json` is generated from the very same
 * objects, so the document cannot drift from what the server does.
 *
 * Request schemas check shape and bounds; the SessionManager then checks semantics (a state is
 * plain JSON, an event's payload fits its type…) and answers `invalid_request` itself.
 */
import { z } from "zod";
import { ERROR_STATUS } from "../core/errors.ts";
import { SESSION_ID_PATTERN, USER_ID_PATTERN } from "../core/ids.ts";
import { EVENT_TYPES, SESSION_STATUSES } from "../core/model.ts";

/** Named schemas become `components.schemas` in the OpenAPI document. */
export const schemaRegistry = z.registry<{ id: string; description?: string }>();

const named = <T extends z.ZodType>(schema: T, id: string, description: string): T => {
  schemaRegistry.add(schema, { id, description });
  return schema;
};

export const JsonValue = z.unknown().describe("Any JSON value");
export const JsonObject = z.record(z.string(), JsonValue);

export const SessionIdSchema = z
  .string()
  .regex(SESSION_ID_PATTERN, "session ids match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
  .describe("A session id, scoped to its owner");
export const UserIdSchema = z
  .string()
  .regex(USER_ID_PATTERN, "user ids match ^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
  .describe("Admin keys only: act for this user");

const SessionStatusSchema = z.enum(SESSION_STATUSES);
const EventTypeSchema = z.enum(EVENT_TYPES as [string, ...string[]]);

export const StatsSchema = named(
  z.object({
    messages: z.number(),
    toolCalls: z.number(),
    toolErrors: z.number(),
    toolsUsed: z.array(z.string()),
    inputTokens: z.number(),
    outputTokens: z.number(),
    costUsd: z.number(),
    durationMs: z.number(),
  }),
  "SessionStats",
  "Running statistics kept in the header; reading them never scans events.",
);

export const SessionSchema = named(
  z.object({
    namespace: z.string(),
    userId: z.string().nullable().describe("The owner"),
    id: z.string(),
    status: SessionStatusSchema,
    title: z.string().nullable(),
    purpose: z.string().nullable(),
    tags: z.array(z.string()),
    metadata: JsonObject,
    state: JsonObject.describe("The session state with the owner's `user:` and the namespace's `app:` keys merged in"),
    version: z.number().int().describe("+1 on every write; also the ETag"),
    lastSeq: z.number().int().describe("Seq of the newest event; 0 when there is none"),
    stats: StatsSchema,
    createdAt: z.number().describe("Epoch milliseconds"),
    updatedAt: z.number().describe("Epoch milliseconds"),
    lastAccessedAt: z.number().describe("Epoch milliseconds"),
    ttlMs: z.number().nullable().describe("Sliding time to live in ms; null never expires"),
    expiresAt: z.number().nullable().describe("Epoch milliseconds; null never"),
    absoluteExpiresAt: z.number().nullable().describe("Epoch milliseconds; null none"),
    parent: z.object({ sessionId: z.string(), seq: z.number().int() }).nullable().describe("Set on forks"),
  }),
  "Session",
  "A session header: every timestamp is epoch milliseconds.",
);

export const EventSchema = named(
  z.looseObject({
    seq: z.number().int().describe("1, 2, 3… gapless per session"),
    id: z.string(),
    at: z.number().describe("Epoch milliseconds"),
    type: z.string().describe(`One of ${EVENT_TYPES.join(", ")}`),
  }),
  "Event",
  "An immutable event: its envelope (seq, id, at) and its payload fields, which depend on `type`.",
);

export const EventInputSchema = named(
  z.looseObject({
    type: EventTypeSchema,
    stateDelta: JsonObject.optional().describe("Top-level state keys to set (null deletes), applied atomically"),
  }),
  "NewEvent",
  "An event to append: `type` and its payload. `message`: role, content, name?, toolCallId?, usage?; " +
    "`tool_call`: invocationId, tool, input?; `tool_result`: invocationId, tool, status, output?, error?, durationMs?; " +
    "`state`; `status`: status; `summary`: text, throughSeq; `custom`: name, data?; " +
    "`approval_request`: approvalId, invocationId, tool; `approval_response`: approvalId, decision.",
);

export const ErrorBodySchema = named(
  z.object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
      message: z.string(),
      details: JsonObject.optional().describe("Safe extra facts, e.g. currentVersion on 412"),
    }),
  }),
  "Error",
  "Every error has this body.",
);

const Text = (max: number) => z.string().max(max);
const TtlSeconds = z
  .number()
  .int()
  .positive()
  .max(2 ** 31)
  .nullable()
  .describe("Sliding time to live in seconds; null never expires");

export const CreateSessionBody = z
  .strictObject({
    id: SessionIdSchema.optional().describe("Client-chosen id; else 128 random bits"),
    state: JsonObject.optional(),
    tags: z.array(z.string().max(64)).max(64).optional(),
    purpose: Text(4096).nullable().optional(),
    title: Text(512).nullable().optional(),
    metadata: JsonObject.optional(),
    ttlSeconds: TtlSeconds.optional(),
  })
  .nullish();

export const PatchSessionBody = z.strictObject({
  state: JsonObject.optional().describe("RFC 7396 JSON merge patch of the state: objects merge, null deletes"),
  tags: z.array(z.string().max(64)).max(64).optional(),
  title: Text(512).nullable().optional(),
  purpose: Text(4096).nullable().optional(),
  metadata: JsonObject.optional().describe("Replaces the metadata object"),
  status: SessionStatusSchema.optional(),
  ttlSeconds: TtlSeconds.optional(),
});

export const AppendEventsBody = z.union([
  z.strictObject({ events: z.array(EventInputSchema).min(1).describe("Appended atomically, in order") }),
  EventInputSchema,
]);

export const AppendResultSchema = named(
  z.object({
    version: z.number().int(),
    lastSeq: z.number().int(),
    seqs: z.array(z.number().int()),
    events: z.array(EventSchema),
    replayed: z.boolean().describe("True when an earlier request with the same Idempotency-Key appended these"),
  }),
  "AppendResult",
  "What an append wrote (or, on an idempotent replay, what the first request wrote).",
);

export const ForkBody = z
  .strictObject({
    atSeq: z.number().int().nonnegative().optional().describe("Copy events 1..atSeq; default the last"),
    id: SessionIdSchema.optional().describe("Id of the new session; else 128 random bits"),
    title: Text(512).nullable().optional(),
  })
  .nullish();

const intParam = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** ISO-8601 or epoch milliseconds, as a query parameter. */
const InstantParam = z
  .string()
  .max(64)
  .transform((text, ctx) => {
    const ms = /^\d{1,16}$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isSafeInteger(ms) || ms < 0) {
      ctx.addIssue({ code: "custom", message: "expected ISO-8601 or epoch milliseconds" });
      return z.NEVER;
    }
    return ms;
  })
  .describe("ISO-8601 or epoch milliseconds");

const repeatable = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).max(64)]);

export const ScopeQuery = z.object({ userId: UserIdSchema.optional() });

export const CreateSessionQuery = ScopeQuery.extend({
  ifExists: z
    .enum(["error", "return"])
    .optional()
    .describe("When the id is taken: 409 (error, the default) or 200 with that session (return)"),
});

export const ListSessionsQuery = z.object({
  status: repeatable(SessionStatusSchema).optional(),
  tag: repeatable(z.string().max(64)).optional().describe("Repeatable; every tag must be present"),
  q: z.string().max(256).optional().describe("Case-insensitive substring of the title or purpose"),
  createdAfter: InstantParam.optional(),
  createdBefore: InstantParam.optional(),
  updatedAfter: InstantParam.optional(),
  updatedBefore: InstantParam.optional(),
  orderBy: z.enum(["createdAt", "updatedAt"]).optional(),
  order: z.enum(["asc", "desc"]).optional(),
  limit: intParam(1, 1000).optional().describe("Default 50"),
  cursor: z.string().max(2048).optional().describe("The nextCursor of the previous page"),
  userId: UserIdSchema.optional().describe("Admin keys only: one owner's sessions; without it admins see all"),
});

export const SessionPageSchema = named(
  z.object({ items: z.array(SessionSchema), nextCursor: z.string().nullable() }),
  "SessionPage",
  "One page of sessions; pass nextCursor back as cursor for the next one.",
);

export const ReadEventsQuery = ScopeQuery.extend({
  after: intParam(0, Number.MAX_SAFE_INTEGER).optional().describe("Only events with seq > after"),
  before: intParam(1, Number.MAX_SAFE_INTEGER)
    .optional()
    .describe("Only events with seq < before (with `last`: the page older than a `nextBefore`)"),
  limit: intParam(1, 1000).optional().describe("Default 100"),
  last: intParam(1, 1000).optional().describe("The newest `last` events, oldest first"),
  type: repeatable(EventTypeSchema).optional().describe("Repeatable: only these types"),
});

export const EventPageSchema = named(
  z.object({
    items: z.array(EventSchema),
    nextAfter: z.number().int().nullable().describe("Pass as `after` for the next page; null at the end"),
    nextBefore: z
      .number()
      .int()
      .nullable()
      .optional()
      .describe("With `last`: pass as `before` (with `last`) for the older events; null when none are left"),
  }),
  "EventPage",
  "One page of events in seq order, at most 4 MiB of JSON: a page of big events ends early, its cursor says where to go on.",
);

export const MessagesQuery = ScopeQuery.extend({
  last: intParam(1, 1000).optional().describe("At most this many messages, the newest (at most 1000)"),
  tokenBudget: intParam(1, Number.MAX_SAFE_INTEGER).optional(),
});

export const MessagesSchema = z.object({ items: z.array(EventSchema) });

export const StreamQuery = ScopeQuery.extend({
  after: intParam(0, Number.MAX_SAFE_INTEGER).optional().describe("Resume after this seq (Last-Event-ID wins)"),
});

export const ImportQuery = ScopeQuery.extend({
  id: SessionIdSchema.optional().describe("Import under this id instead of the exported one"),
});

export const IdParams = z.object({ id: SessionIdSchema });

export const IfMatchHeaders = z.looseObject({
  "if-match": z.string().max(256).optional().describe('The ETag ("<version>") the session must have'),
  "x-frontdesk-user": UserIdSchema.optional(),
});

export const AppendHeaders = IfMatchHeaders.extend({
  "idempotency-key": z.string().max(255).optional().describe("A retry with the same key appends nothing"),
});

export const ScopeHeaders = z.looseObject({ "x-frontdesk-user": UserIdSchema.optional() });

export const ConditionalReadHeaders = ScopeHeaders.extend({
  "if-none-match": z
    .string()
    .max(1024)
    .optional()
    .describe('ETags ("<version>") the client has; the current one answers 304 Not Modified'),
});

export const StreamHeaders = ScopeHeaders.extend({
  "last-event-id": z.string().max(32).optional().describe("Resume after this seq"),
});

export const NdjsonBody = z.string().describe("NDJSON: one session header line, then one line per event");

// ── the agent runtime ─────────────────────────────────────────────────────────────────────────

export const AgentNameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, "agent names are 1-64 letters, digits, _ or -, starting with a letter")
  .describe("A configured agent; default: the config's defaultAgent");

const ContentPartSchema = z
  .looseObject({ type: z.string().min(1).max(64) })
  .describe("An AI SDK / OpenAI content part, e.g. {type:'text', text}");

export const TurnMessageSchema = z
  .union([
    z
      .string()
      .max(1_000_000)
      .refine((text) => text.trim() !== "", "the message is empty"),
    z.array(ContentPartSchema).min(1).max(256),
  ])
  .describe("Text, or content parts each with a `type`");

export const TurnBody = z.strictObject({
  message: TurnMessageSchema,
  agent: AgentNameSchema.optional(),
  detach: z
    .boolean()
    .optional()
    .describe(
      "true: answer 202 `{turnId, startSeq}` once the turn holds the lock, and run it to its end whatever " +
        "the connection does; follow it on the events stream from `startSeq` (its reply streams as `turn.delta` events)",
    ),
});

export const DetachedTurnSchema = z.object({
  turnId: z.string(),
  startSeq: z.number().int().positive().describe("Seq of the turn's user message"),
});

export const ApprovalIdSchema = z.string().min(1).max(256).describe("The approvalId of an approval_request event");

export const ApprovalParams = IdParams.extend({ approvalId: ApprovalIdSchema });

export const ApprovalBody = z.strictObject({
  decision: z.enum(["approve", "deny"]),
  reason: z.string().max(4096).optional().describe("Shown to the model on deny; recorded either way"),
});

export const ApprovalAnswerSchema = named(
  z.object({
    approvalId: z.string(),
    decision: z.enum(["approve", "deny"]),
    seq: z.number().int().describe("Seq of the approval_response event written"),
  }),
  "ApprovalAnswer",
  "The answer recorded as an approval_response event.",
);

export const PendingApprovalsSchema = named(
  z.object({
    items: z.array(
      z.object({
        approvalId: z.string(),
        invocationId: z.string(),
        tool: z.string(),
        input: JsonValue.optional(),
        seq: z.number().int(),
        at: z.number(),
      }),
    ),
  }),
  "PendingApprovals",
  "Approval requests with neither an answer nor a tool result yet.",
);

export const CancelBody = z
  .strictObject({ reason: z.string().max(1024).optional().describe("Recorded with the cancel") })
  .nullish();

export const CancelResultSchema = named(
  z.object({
    turnId: z.string().describe("The turn asked to stop"),
    local: z
      .boolean()
      .describe(
        "true: the turn ran on this instance and was cancelled; false: a turn.cancel event was written for the instance running it",
      ),
  }),
  "TurnCancel",
  "The cancel was accepted; the turn ends with status cancelled, keeping its partial reply.",
);

/** 4xx and 5xx answers of every route, for the document and the serializer. */
export const ERROR_RESPONSES = { "4xx": ErrorBodySchema, "5xx": ErrorBodySchema } as const;

export type WireSession = z.infer<typeof SessionSchema>;
export type WireEvent = z.infer<typeof EventSchema>;

/** Events as the wire schema types them (an event is a JSON object with an envelope and a type). */
export const wireEvents = (events: readonly import("../core/model.ts").SessionEvent[]): WireEvent[] =>
  events as unknown as WireEvent[];
