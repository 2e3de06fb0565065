/**
 * The append path: events validated and sized, then written with the next seqs in one commit.
 * Unconditional appends to one session that arrive together share a commit (group commit); an
 * idempotency key replays the first result of a retried request; events that change neither state
 * nor status go through the store's one-step `append` when it has one.
 */
import type { MemberOutcome } from "../append-groups.ts";
import { FrontdeskError, isFrontdeskError } from "../errors.ts";
import { assertIdempotencyKey, newEventId } from "../ids.ts";
import { assertWithin, jsonBytes } from "../limits.ts";
import {
  type EventInput,
  EventInputSchema,
  type SessionEvent,
  type SessionKey,
  type StateDelta,
  sessionKeyId,
} from "../model.ts";
import { deepFreeze, isEmpty, statsDeltaOf } from "../state.ts";
import type { IdempotencyRecord } from "../store-contract.ts";
import { keyOf, type ManagerContext, notFound } from "./context.ts";
import { RESERVED_CUSTOM_NAMES } from "./history-edits.ts";
import { maskEvent, pruneWhenDue } from "./privacy-hooks.ts";
import type { AppendOptions, AppendResult, InvocationInput, MessageInput, SessionRef } from "./types.ts";
import { fingerprint, invalid, nonNegativeInt, parseWith } from "./validation.ts";
import { writeUnpresented } from "./write-path.ts";

/**
 * An event a store may append on its own: it carries no state change, and no `seq` of its own that
 * would override the one assigned (the commit path refuses such an event as malformed).
 */
const isPlainAppend = (event: EventInput): boolean => event.stateDelta === undefined && !Object.hasOwn(event, "seq");

const eventLimitReached = (limit: number): FrontdeskError =>
  new FrontdeskError("payload_too_large", "The session has reached its event limit", { details: { limit } });

const idempotencyKeyReused = (): FrontdeskError =>
  new FrontdeskError("conflict", "This Idempotency-Key was used with a different request body");

/**
 * Appends events atomically with the next seqs, applying their `stateDelta`s in the same commit.
 * Without `expectedVersion` a concurrent write is retried; with it, a mismatch is
 * `precondition_failed`.
 */
export async function appendEvents(
  context: ManagerContext,
  ref: SessionRef,
  inputs: readonly unknown[],
  options: AppendOptions = {},
): Promise<AppendResult> {
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalid("Append at least one event");
  if (inputs.length > context.limits.maxEventsPerAppend) {
    throw new FrontdeskError("payload_too_large", `At most ${context.limits.maxEventsPerAppend} events per append`, {
      details: { limit: context.limits.maxEventsPerAppend },
    });
  }
  const parsed = inputs.map((input, i) => {
    const event = parseWith(EventInputSchema, input, `event ${i}`);
    assertNotReserved(event, i);
    assertWithin(`event ${i}`, jsonBytes(event), context.limits.maxEventBytes);
    if (!context.maskSecrets) return event;
    // A placeholder and its span record can outweigh the secret they stand for (a text dense with
    // short `;pwd='…'` values grows tenfold), so the limit holds for what is stored, not only for
    // what was sent.
    const masked = maskEvent(event);
    if (masked !== event) {
      assertWithin(`event ${i} with its secrets masked`, jsonBytes(masked), context.limits.maxEventBytes);
    }
    return masked;
  });
  const idempotencyKey =
    options.idempotencyKey === undefined ? undefined : assertIdempotencyKey(options.idempotencyKey);
  const print = idempotencyKey === undefined ? undefined : fingerprint(parsed);
  const key = keyOf(context, ref);
  const result = await appendParsed(context, key, parsed, options, idempotencyKey, print);
  if (!result.replayed) await pruneWhenDue(context, key, result.lastSeq, parsed.length);
  return result;
}

/** Refuses what only Frontdesk writes: tombstones, masking records, the log's own markers. */
function assertNotReserved(event: EventInput, index: number): void {
  if (Object.hasOwn(event, "redacted") || Object.hasOwn(event, "masked")) {
    throw invalid(`event ${index}: \`redacted\` and \`masked\` are set by Frontdesk, never by a writer`);
  }
  if (event.type === "custom" && RESERVED_CUSTOM_NAMES.has(event.name)) {
    throw invalid(`event ${index}: the custom name "${event.name}" is Frontdesk's own`);
  }
}

function appendParsed(
  context: ManagerContext,
  key: SessionKey,
  parsed: readonly EventInput[],
  options: AppendOptions,
  idempotencyKey: string | undefined,
  print: string | undefined,
): Promise<AppendResult> {
  if (idempotencyKey === undefined && options.expectedVersion === undefined) {
    // Unconditional appends to one session that arrive together share one commit.
    const lock = sessionKeyId(key);
    return context.appendGroups.submit(
      lock,
      parsed,
      parsed.length,
      context.limits.maxEventsPerAppend,
      (members) => appendGroup(context, key, members),
      (work) => context.mutex.run(lock, work),
    );
  }
  return context.mutex.run(sessionKeyId(key), () => appendLocked(context, key, parsed, options, idempotencyKey, print));
}

/**
 * One commit for a group of unconditional appends, run holding the session's lock. Each member
 * gets its own events; a group that would pass the session's event limit is written member by
 * member instead, so only the members that do not fit are refused.
 */
async function appendGroup(
  context: ManagerContext,
  key: SessionKey,
  members: readonly (readonly EventInput[])[],
): Promise<MemberOutcome<AppendResult>[]> {
  if (members.length === 1) {
    // A group of one fails as that member fails.
    return [
      {
        ok: true,
        value: await appendLocked(context, key, members[0] as readonly EventInput[], {}, undefined, undefined),
      },
    ];
  }
  const one = async (events: readonly EventInput[]): Promise<MemberOutcome<AppendResult>> => {
    try {
      return { ok: true, value: await appendLocked(context, key, events, {}, undefined, undefined) };
    } catch (error) {
      return { ok: false, error };
    }
  };
  let written: AppendResult;
  try {
    written = await appendLocked(context, key, members.flat(), {}, undefined, undefined);
  } catch (error) {
    if (!isFrontdeskError(error, "payload_too_large")) throw error;
    const outcomes: MemberOutcome<AppendResult>[] = [];
    for (const member of members) outcomes.push(await one(member));
    return outcomes;
  }
  let offset = 0;
  return members.map((member) => {
    const events = written.events.slice(offset, offset + member.length);
    offset += member.length;
    return { ok: true, value: { ...written, events: Object.freeze(events) } };
  });
}

/** `appendEvents` after validation, holding the session's lock. */
async function appendLocked(
  context: ManagerContext,
  key: SessionKey,
  parsed: readonly EventInput[],
  options: AppendOptions,
  idempotencyKey: string | undefined,
  print: string | undefined,
): Promise<AppendResult> {
  if (context.store.append && parsed.every(isPlainAppend)) {
    const fast = await appendInOneStep(context, key, parsed, options, idempotencyKey, print);
    if (fast) return fast;
  }
  let appended: SessionEvent[] = [];
  let replayed: IdempotencyRecord | undefined;

  // Only the committed version and seq are returned, so the session is never built and frozen.
  const { header: session } = await writeUnpresented(
    context,
    key,
    options,
    async (current, _loadScopes, now) => {
      replayed = undefined;
      if (idempotencyKey !== undefined) {
        const record = await context.store.findIdempotency(key, idempotencyKey);
        if (record) {
          if (record.fingerprint !== print) throw idempotencyKeyReused();
          replayed = record;
          return "skip";
        }
      }
      if (current.lastSeq + parsed.length > context.limits.maxEventsPerSession) {
        throw eventLimitReached(context.limits.maxEventsPerSession);
      }
      appended = parsed.map((event, i) => ({ seq: current.lastSeq + i + 1, id: newEventId(), at: now, ...event }));
      let delta: StateDelta = {};
      for (const event of appended) if (event.stateDelta) delta = { ...delta, ...event.stateDelta };
      return {
        events: appended,
        delta: isEmpty(delta) ? undefined : delta,
        idempotency:
          idempotencyKey === undefined
            ? undefined
            : (version: number) => ({
                key: idempotencyKey,
                fingerprint: print as string,
                firstSeq: current.lastSeq + 1,
                lastSeq: current.lastSeq + appended.length,
                version,
                at: now,
              }),
      };
    },
    true,
  );
  if (replayed) return replay(context, key, replayed);
  return {
    version: session.version,
    lastSeq: session.lastSeq,
    events: deepFreeze(appended),
    replayed: false,
  };
}

/**
 * `appendEvents` through the store's optional one-step `append`, for events that change
 * neither state nor status: the same checks in the same order, the same result and errors.
 * Undefined when the store declines; nothing changed then.
 */
async function appendInOneStep(
  context: ManagerContext,
  key: SessionKey,
  parsed: readonly EventInput[],
  options: AppendOptions,
  idempotencyKey: string | undefined,
  print: string | undefined,
): Promise<AppendResult | undefined> {
  const store = context.store;
  if (!store.append) return undefined;
  const expected =
    options.expectedVersion === undefined ? undefined : nonNegativeInt(options.expectedVersion, "expectedVersion");
  const now = context.clock.now();
  const events: (EventInput & { id: string; at: number })[] = [];
  for (const event of parsed) events.push({ id: newEventId(), at: now, ...event });
  const result = await store.append({
    key,
    events,
    stats: statsDeltaOf(parsed),
    expectedVersion: expected,
    maxEventsPerSession: context.limits.maxEventsPerSession,
    idempotency: idempotencyKey === undefined ? undefined : { key: idempotencyKey, fingerprint: print as string },
    now,
  });
  if (!result) return undefined;
  switch (result.outcome) {
    case "not_found":
      throw notFound();
    case "full":
      throw eventLimitReached(context.limits.maxEventsPerSession);
    case "version_mismatch":
      throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
        details: { currentVersion: result.currentVersion },
      });
    case "replayed":
      if (result.record.fingerprint !== print) throw idempotencyKeyReused();
      return replay(context, key, result.record);
    case "appended": {
      const firstSeq = result.lastSeq - events.length + 1;
      const appended: SessionEvent[] = [];
      for (let i = 0; i < events.length; i++) appended.push({ seq: firstSeq + i, ...events[i] } as SessionEvent);
      return { version: result.version, lastSeq: result.lastSeq, events: deepFreeze(appended), replayed: false };
    }
  }
}

/** What the append that first used an idempotency key wrote, answered again. */
async function replay(context: ManagerContext, key: SessionKey, record: IdempotencyRecord): Promise<AppendResult> {
  const events = await context.store.readEvents(key, { after: record.firstSeq - 1, before: record.lastSeq + 1 });
  return { version: record.version, lastSeq: record.lastSeq, events: deepFreeze(events), replayed: true };
}

/** Appends one message (AI SDK / OpenAI shaped content round-trips unchanged). */
export async function addMessage(
  context: ManagerContext,
  ref: SessionRef,
  message: MessageInput,
  options: AppendOptions = {},
): Promise<SessionEvent> {
  const { events } = await appendEvents(context, ref, [{ ...message, type: "message" }], options);
  return events[0] as SessionEvent;
}

/** Records one finished tool invocation as a `tool_call` and a `tool_result`, atomically. */
export async function linkInvocation(
  context: ManagerContext,
  ref: SessionRef,
  invocation: InvocationInput,
  options: AppendOptions = {},
): Promise<readonly SessionEvent[]> {
  if (invocation === null || typeof invocation !== "object") throw invalid("An invocation is an object");
  const invocationId = invocation.invocationId ?? `inv_${newEventId().slice(3)}`;
  const error =
    invocation.error === undefined
      ? undefined
      : typeof invocation.error === "string"
        ? { message: invocation.error }
        : invocation.error;
  const status = invocation.status ?? (error ? "error" : "success");
  const call: Record<string, unknown> = { type: "tool_call", invocationId, tool: invocation.tool };
  if (invocation.input !== undefined) call.input = invocation.input;
  const result: Record<string, unknown> = { type: "tool_result", invocationId, tool: invocation.tool, status };
  if (invocation.input !== undefined) result.input = invocation.input;
  if (invocation.output !== undefined) result.output = invocation.output;
  if (error !== undefined) result.error = error;
  if (invocation.durationMs !== undefined) result.durationMs = invocation.durationMs;
  if (invocation.stateDelta !== undefined) result.stateDelta = invocation.stateDelta;
  const { events } = await appendEvents(context, ref, [call, result], options);
  return events;
}
