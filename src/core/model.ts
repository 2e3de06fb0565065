import { z } from "zod";
import { copyJson, copyJsonObject, type Json, JsonFault, type JsonObject } from "./json.ts";

/** Plain JSON, the only thing a session stores. */
export type { Json, JsonObject };

/**
 * A zod schema over one of the JSON copiers: its output is a fresh plain-JSON copy, and a fault
 * becomes an issue at the path where the value stops being JSON. A recursive zod union did the
 * same check, but walking it allocated several objects per value, and with every stored state and
 * event passing through it that garbage was a visible share of an agent turn.
 */
const jsonCopySchema = <T extends Json>(copy: (value: unknown) => T): z.ZodType<T> =>
  z.unknown().transform((value, ctx) => {
    try {
      return copy(value);
    } catch (error) {
      if (!(error instanceof JsonFault)) throw error;
      ctx.addIssue({ code: "custom", path: error.path, message: error.message, input: value });
      return z.NEVER;
    }
  });

export const JsonSchema: z.ZodType<Json> = jsonCopySchema(copyJson);
export const JsonObjectSchema: z.ZodType<JsonObject> = jsonCopySchema(copyJsonObject);

/** Top-level keys to set; `null` deletes the key (JSON merge patch, one level). */
export type StateDelta = { [key: string]: Json };
export const StateDeltaSchema = JsonObjectSchema;

export const SESSION_STATUSES = ["active", "completed", "failed", "abandoned"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const SessionStatusSchema = z.enum(SESSION_STATUSES);

export const MESSAGE_ROLES = ["system", "user", "assistant", "tool"] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/** Identifies one session: nothing is ever looked up by `id` alone, only with its namespace and user. */
export interface SessionKey {
  readonly namespace: string;
  /** The owner; `null` only for library use without users. */
  readonly userId: string | null;
  readonly id: string;
}

/**
 * One string per session key, for maps and locks. No valid namespace, user id or session id holds
 * a NUL, so joining on it names exactly one session (a null owner is the empty string).
 */
export const sessionKeyId = (key: SessionKey): string => `${key.namespace}\u0000${key.userId ?? ""}\u0000${key.id}`;

/** One string per scoped state, for maps: `user:` keys belong to one owner, `app:` keys to the namespace. */
export const scopeKeyId = (namespace: string, scope: "user" | "app", userId: string | null): string =>
  `${namespace}\u0000${scope}\u0000${scope === "app" ? "" : (userId ?? "")}`;

export interface SessionStats {
  messages: number;
  toolCalls: number;
  toolErrors: number;
  toolsUsed: string[];
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Sum of tool invocation durations. */
  durationMs: number;
}

export const emptyStats = (): SessionStats => ({
  messages: 0,
  toolCalls: 0,
  toolErrors: 0,
  toolsUsed: [],
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  durationMs: 0,
});

export interface SessionLineage {
  sessionId: string;
  seq: number;
}

/**
 * One record per session, rewritten on every write: its size never grows with history.
 * `state` holds the session's own keys; `user:`/`app:` keys live in their scopes and are merged in
 * by the manager when it serves the session.
 */
export interface SessionHeader<S extends JsonObject = JsonObject> {
  namespace: string;
  userId: string | null;
  id: string;
  status: SessionStatus;
  title: string | null;
  purpose: string | null;
  tags: string[];
  metadata: JsonObject;
  state: S;
  /** +1 on every commit, never on a touch. Exposed as the HTTP ETag. */
  version: number;
  /** Seq of the newest event; 0 when there is none. */
  lastSeq: number;
  stats: SessionStats;
  createdAt: number;
  updatedAt: number;
  lastAccessedAt: number;
  /** Sliding time to live; `null` never expires. */
  ttlMs: number | null;
  /** When the session stops being served; `null` never. Always ≤ absoluteExpiresAt. */
  expiresAt: number | null;
  /** Hard cap however often the session is touched; `null` none. */
  absoluteExpiresAt: number | null;
  parent: SessionLineage | null;
}

/**
 * A loose object whose extra (passthrough) fields must be plain JSON. The declared fields are
 * parsed by their own schemas; the extras are kept as copies, so nothing a caller passed in is
 * stored, shared or frozen by reference.
 */
const looseJsonObject = <Shape extends z.ZodRawShape>(shape: Shape) => {
  const declared = new Set(Object.keys(shape));
  return z.looseObject(shape).transform((value, ctx) => {
    // zod's output is its own object (the input is never returned), so the copies replace in place.
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (declared.has(key) || fields[key] === undefined) continue;
      try {
        fields[key] = copyJson(fields[key]);
      } catch (error) {
        if (!(error instanceof JsonFault)) throw error;
        ctx.addIssue({ code: "custom", path: [key, ...error.path], message: error.message, input: fields[key] });
      }
    }
    return value;
  });
};

const UsageSchema = looseJsonObject({
  inputTokens: z.number().int().nonnegative().optional(),
  outputTokens: z.number().int().nonnegative().optional(),
  totalTokens: z.number().int().nonnegative().optional(),
  costUsd: z.number().nonnegative().optional(),
});
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  costUsd?: number;
  [extra: string]: Json | undefined;
}

/** AI SDK / OpenAI content parts: `type` is required, every other field is kept as given. */
const ContentPartSchema = JsonObjectSchema.refine(
  (part) => typeof part.type === "string" && part.type.length > 0,
  "every content part needs a string `type`",
);

/** Who removed an event's content, when and why: the tombstone keeps it in place of the content. */
export interface Redaction {
  at: number;
  /** The API key id, user id or library caller that redacted it. */
  by: string;
  reason: string;
}
const RedactionSchema = z.object({
  at: z.number().int().nonnegative(),
  by: z.string().max(256),
  reason: z.string().max(4096),
});

/** A span of an event's text that secret masking replaced, by kind; never the secret itself. */
export interface MaskedSpan {
  /** Where the string sits in the event, as an RFC 6901 JSON Pointer (`/content`, `/input/headers/authorization`). */
  path: string;
  kind: string;
  /** Offsets of the placeholder in the stored string. */
  start: number;
  end: number;
}
const MaskedSpanSchema = z.object({
  path: z.string().max(4096),
  kind: z.string().max(64),
  start: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});

/**
 * `redacted` and `masked` are written by Frontdesk only (appends refuse them): they are parsed here
 * so that an export carrying them imports unchanged.
 */
const eventBase = {
  stateDelta: StateDeltaSchema.optional(),
  redacted: RedactionSchema.optional(),
  masked: z.array(MaskedSpanSchema).max(10_000).optional(),
};

/**
 * Unknown fields on a message are kept (looseObject) so AI SDK and OpenAI shaped messages
 * (`providerOptions`, `tool_calls`, ids) round-trip without loss.
 */
export const MessagePayloadSchema = looseJsonObject({
  type: z.literal("message"),
  role: z.enum(MESSAGE_ROLES),
  content: z.union([z.string(), z.array(ContentPartSchema)]),
  name: z.string().optional(),
  toolCallId: z.string().optional(),
  usage: UsageSchema.optional(),
  model: z.string().optional(),
  /** `cancelled` keeps a partial reply that was cut off. */
  finish: z.enum(["complete", "cancelled", "error"]).optional(),
  ...eventBase,
});

const InvocationStatusSchema = z.enum(["success", "error", "denied", "cancelled", "pending"]);
export type InvocationStatus = z.infer<typeof InvocationStatusSchema>;

const payloadSchemas = {
  message: MessagePayloadSchema,
  tool_call: z.object({
    type: z.literal("tool_call"),
    invocationId: z.string().min(1).max(256),
    tool: z.string().min(1).max(256),
    input: JsonSchema.optional(),
    ...eventBase,
  }),
  tool_result: z.object({
    type: z.literal("tool_result"),
    invocationId: z.string().min(1).max(256),
    tool: z.string().min(1).max(256),
    input: JsonSchema.optional(),
    output: JsonSchema.optional(),
    error: z.object({ message: z.string(), code: z.string().optional() }).optional(),
    status: InvocationStatusSchema,
    durationMs: z.number().nonnegative().optional(),
    ...eventBase,
  }),
  state: z.object({ type: z.literal("state"), ...eventBase }),
  status: z.object({
    type: z.literal("status"),
    /** A session status, or an agent lifecycle phase (`ready`, `running`…) when `scope` is `agent`. */
    status: z.string().min(1).max(64),
    scope: z.enum(["session", "agent"]).optional(),
    previous: z.string().max(64).optional(),
    reason: z.string().max(4096).optional(),
    ...eventBase,
  }),
  summary: z.object({
    type: z.literal("summary"),
    text: z.string(),
    /** The summary stands in for events 1..throughSeq in context windows; they stay in the log. */
    throughSeq: z.number().int().nonnegative(),
    ...eventBase,
  }),
  custom: z.object({
    type: z.literal("custom"),
    name: z.string().min(1).max(256),
    data: JsonSchema.optional(),
    ...eventBase,
  }),
  approval_request: z.object({
    type: z.literal("approval_request"),
    approvalId: z.string().min(1).max(256),
    invocationId: z.string().min(1).max(256),
    tool: z.string().min(1).max(256),
    input: JsonSchema.optional(),
    ...eventBase,
  }),
  approval_response: z.object({
    type: z.literal("approval_response"),
    approvalId: z.string().min(1).max(256),
    decision: z.enum(["approve", "deny"]),
    reason: z.string().max(4096).optional(),
    ...eventBase,
  }),
} as const;

export type EventType = keyof typeof payloadSchemas;
export const EVENT_TYPES = Object.keys(payloadSchemas) as EventType[];

export const EventInputSchema = z
  .object({ type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]) }, { error: "an event needs a type" })
  .loose()
  .transform((value, ctx) => {
    const parsed = payloadSchemas[value.type].safeParse(value);
    if (!parsed.success) {
      // Each keeps its own code and fields (`values`, `expected`…), so its message can say what the field must be.
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
      return z.NEVER;
    }
    return parsed.data as EventInput;
  });

type Payloads = { [K in EventType]: z.infer<(typeof payloadSchemas)[K]> };
export type MessagePayload = {
  type: "message";
  role: MessageRole;
  content: string | JsonObject[];
  name?: string;
  toolCallId?: string;
  usage?: Usage;
  model?: string;
  finish?: "complete" | "cancelled" | "error";
  stateDelta?: StateDelta;
  redacted?: Redaction;
  masked?: MaskedSpan[];
  [extra: string]: Json | Usage | Redaction | MaskedSpan[] | undefined;
};
export type ToolCallPayload = Payloads["tool_call"];
export type ToolResultPayload = Payloads["tool_result"];
export type EventInput =
  | MessagePayload
  | Payloads["tool_call"]
  | Payloads["tool_result"]
  | Payloads["state"]
  | Payloads["status"]
  | Payloads["summary"]
  | Payloads["custom"]
  | Payloads["approval_request"]
  | Payloads["approval_response"];

export interface EventEnvelope {
  /** 1, 2, 3… gapless per session. */
  seq: number;
  id: string;
  /** Epoch ms. */
  at: number;
}

/** Immutable once written. */
export type SessionEvent = EventEnvelope & EventInput;

export const EventEnvelopeSchema = z.object({
  seq: z.number().int().positive(),
  id: z.string().min(1).max(256),
  at: z.number().int().nonnegative(),
});

const nullableString = z.string().nullable();
export const SessionHeaderSchema = z.object({
  namespace: z.string(),
  userId: nullableString,
  id: z.string(),
  status: SessionStatusSchema,
  title: nullableString,
  purpose: nullableString,
  tags: z.array(z.string()),
  metadata: JsonObjectSchema,
  state: JsonObjectSchema,
  version: z.number().int().nonnegative(),
  lastSeq: z.number().int().nonnegative(),
  stats: z.object({
    messages: z.number().int().nonnegative(),
    toolCalls: z.number().int().nonnegative(),
    toolErrors: z.number().int().nonnegative(),
    toolsUsed: z.array(z.string()),
    inputTokens: z.number().nonnegative(),
    outputTokens: z.number().nonnegative(),
    costUsd: z.number().nonnegative(),
    durationMs: z.number().nonnegative(),
  }),
  createdAt: z.number(),
  updatedAt: z.number(),
  lastAccessedAt: z.number(),
  ttlMs: z.number().int().positive().nullable(),
  expiresAt: z.number().nullable(),
  absoluteExpiresAt: z.number().nullable(),
  parent: z.object({ sessionId: z.string(), seq: z.number().int().nonnegative() }).nullable(),
});

export const TAG_PATTERN = /^[^\s,][^,\n]{0,63}$/;
export const TagsSchema = z
  .array(z.string().regex(TAG_PATTERN, "tags are 1-64 characters, no commas or newlines"))
  .max(64)
  .transform((tags) => [...new Set(tags)]);
