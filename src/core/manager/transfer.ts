/**
 * Copies of a session: a fork at a seq (its state as it stood then, with lineage), the lossless
 * NDJSON export, and its import under the same or another id. A copy is written in chunks and is
 * not served before its last one. State under the `process:` prefix belongs to a live process (a
 * running turn's lock) and never travels with a copy.
 */
import { FrontdeskError } from "../errors.ts";
import { yieldToEventLoop } from "../event-loop.ts";
import { assertSessionId, assertUserId, newSessionId } from "../ids.ts";
import { assertWithin, jsonBytes } from "../limits.ts";
import { isPrunedMarker } from "../log-markers.ts";
import {
  EventEnvelopeSchema,
  EventInputSchema,
  emptyStats,
  type JsonObject,
  type SessionEvent,
  type SessionHeader,
  SessionHeaderSchema,
  type SessionKey,
  sessionKeyId,
} from "../model.ts";
import { accumulateStats, applyDelta, cloneJson, splitDelta, withoutProcessKeys } from "../state.ts";
import { keyOf, keyOfHeader, type ManagerContext, notFound, present, READ_BATCH } from "./context.ts";
import { expiryOf } from "./expiry.ts";
import { get } from "./reads.ts";
import { applyScopes, readScopes } from "./scopes.ts";
import { EXPORT_FORMAT, type ForkOptions, type ImportOptions, type Session, type SessionRef } from "./types.ts";
import { invalid, nonNegativeInt, optionalText, parseWith } from "./validation.ts";

/** Fork and import write in chunks so no backend gets one unbounded commit. */
const COPY_CHUNK = 500;
/** Characters of an import parsed between two turns of the event loop (a few ms of JSON.parse). */
const IMPORT_YIELD_CHARS = 1 << 20;

/** A new session with the events up to `atSeq`, its state as it stood then, and its lineage. */
export async function fork<S extends object>(
  context: ManagerContext,
  ref: SessionRef,
  options: ForkOptions,
): Promise<Session<S>> {
  const source = await get<S>(context, ref);
  const atSeq = options.atSeq === undefined ? source.lastSeq : nonNegativeInt(options.atSeq, "atSeq");
  if (atSeq > source.lastSeq) throw invalid(`atSeq ${atSeq} is beyond the last event (${source.lastSeq})`);
  const events = await collectEvents(context, keyOf(context, ref), atSeq);
  refuseIfPruned(events[0]);
  let state: JsonObject = {};
  for (const event of events) if (event.stateDelta) state = applyDelta(state, splitDelta(event.stateDelta).session);
  state = withoutProcessKeys(state);
  const now = context.clock.now();
  const header: SessionHeader = {
    ...cloneJson(source as SessionHeader),
    id: options.sessionId === undefined ? newSessionId() : assertSessionId(options.sessionId),
    title: options.title === undefined ? source.title : optionalText(options.title, "title", 512),
    status: "active",
    state,
    lastSeq: atSeq,
    stats: accumulateStats(emptyStats(), events),
    createdAt: now,
    updatedAt: now,
    lastAccessedAt: now,
    expiresAt: expiryOf(
      now,
      source.ttlMs,
      source.absoluteExpiresAt === null ? null : now + (source.absoluteExpiresAt - source.createdAt),
    ),
    absoluteExpiresAt: source.absoluteExpiresAt === null ? null : now + (source.absoluteExpiresAt - source.createdAt),
    parent: { sessionId: source.id, seq: atSeq },
    version: 0,
  };
  return writeCopy<S>(context, header, events);
}

/** The session as NDJSON lines: one header line, then one line per event. Lossless. */
export async function* exportSession(context: ManagerContext, ref: SessionRef): AsyncGenerator<string> {
  const key = keyOf(context, ref);
  const now = context.clock.now();
  const header = await context.store.get(key, now);
  if (!header) throw notFound();
  const exported = { ...header, state: withoutProcessKeys(header.state) };
  yield JSON.stringify({ kind: "session", format: EXPORT_FORMAT, session: exported });
  let after = 0;
  while (after < header.lastSeq) {
    const batch = await context.store.readEvents(key, { after, before: header.lastSeq + 1, limit: READ_BATCH });
    if (batch.length === 0) break;
    for (const event of batch) yield JSON.stringify({ kind: "event", event });
    after = (batch.at(-1) as SessionEvent).seq;
  }
}

/** Imports an export (lines or one NDJSON text). Fails with `conflict` when the id is taken. */
export async function importSession<S extends object>(
  context: ManagerContext,
  source: string | Iterable<string> | AsyncIterable<string>,
  options: ImportOptions,
): Promise<Session<S>> {
  let header: SessionHeader | undefined;
  const events: SessionEvent[] = [];
  let lineNo = 0;
  let parsedSinceYield = 0;
  for await (const line of splitLines(source)) {
    lineNo++;
    // An export of up to the body limit parses for far longer than one task should hold the
    // event loop: it gets a turn after every few MiB of lines.
    parsedSinceYield += line.length;
    if (parsedSinceYield >= IMPORT_YIELD_CHARS) {
      parsedSinceYield = 0;
      await yieldToEventLoop();
    }
    if (line.trim() === "") continue;
    let record: { kind?: unknown; format?: unknown; session?: unknown; event?: unknown };
    try {
      record = JSON.parse(line);
    } catch {
      throw invalid(`Line ${lineNo} is not JSON`);
    }
    if (header === undefined) {
      if (record?.kind !== "session" || record.format !== EXPORT_FORMAT) {
        throw invalid(`Line ${lineNo} must be the "${EXPORT_FORMAT}" session header`);
      }
      header = parseWith(SessionHeaderSchema, record.session, `session header (line ${lineNo})`) as SessionHeader;
      continue;
    }
    if (record?.kind !== "event") throw invalid(`Line ${lineNo}: expected an event`);
    const raw = record.event as Record<string, unknown> | null;
    if (raw === null || typeof raw !== "object") throw invalid(`Line ${lineNo}: expected an event object`);
    const { seq, id, at, ...payload } = raw;
    const envelope = parseWith(EventEnvelopeSchema, { seq, id, at }, `event (line ${lineNo})`);
    const body = parseWith(EventInputSchema, payload, `event (line ${lineNo})`);
    assertWithin(`event (line ${lineNo})`, jsonBytes(body), context.limits.maxEventBytes);
    if (envelope.seq !== events.length + 1) {
      refuseIfPruned({ ...envelope, ...body } as SessionEvent);
      throw invalid(`Line ${lineNo}: expected seq ${events.length + 1}`);
    }
    events.push({ ...envelope, ...body } as SessionEvent);
    if (events.length > context.limits.maxEventsPerSession) {
      throw new FrontdeskError("payload_too_large", "Too many events for one session");
    }
  }
  if (!header) throw invalid("The export is empty");
  if (header.lastSeq !== events.length) {
    throw invalid(`The header says ${header.lastSeq} events but ${events.length} were given`);
  }
  const now = context.clock.now();
  const id = options.sessionId === undefined ? assertSessionId(header.id) : assertSessionId(options.sessionId);
  const imported: SessionHeader = {
    ...header,
    namespace: context.namespace,
    userId: context.bound ? context.userId : header.userId === null ? null : assertUserId(header.userId),
    id,
    state: withoutProcessKeys(header.state),
    version: 0,
    lastAccessedAt: now,
    expiresAt: expiryOf(now, header.ttlMs, header.absoluteExpiresAt),
  };
  if (imported.expiresAt !== null && imported.expiresAt <= now) throw invalid("The exported session has expired");
  return writeCopy<S>(context, imported, events);
}

/**
 * A copy is written as a gapless log from seq 1, and a pruned log no longer has its start: a fork
 * or an import of one is refused, plainly, rather than renumbered (its seqs are what other records
 * refer to).
 */
function refuseIfPruned(first: SessionEvent | undefined): void {
  if (first && isPrunedMarker(first)) {
    throw new FrontdeskError(
      "conflict",
      `The session was pruned through seq ${first.seq}: forks and imports need the whole log, so copy an unpruned session`,
      { details: { prunedThrough: first.seq } },
    );
  }
}

async function collectEvents(context: ManagerContext, key: SessionKey, throughSeq: number): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  let after = 0;
  while (after < throughSeq) {
    const batch = await context.store.readEvents(key, { after, before: throughSeq + 1, limit: READ_BATCH });
    if (batch.length === 0) break;
    events.push(...batch);
    after = (batch.at(-1) as SessionEvent).seq;
  }
  return events;
}

/** Writes a copied session (fork, import): created with the first chunk, then appended in chunks. */
async function writeCopy<S extends object>(
  context: ManagerContext,
  template: SessionHeader,
  events: readonly SessionEvent[],
): Promise<Session<S>> {
  const key = keyOfHeader(template);
  return context.mutex.run(sessionKeyId(key), async () => {
    const now = context.clock.now();
    let version = 0;
    let written = 0;
    try {
      do {
        const chunk = events.slice(written, written + COPY_CHUNK);
        const upTo = events.slice(0, written + chunk.length);
        const done = written + chunk.length === events.length;
        const header: SessionHeader = {
          ...template,
          version: version + 1,
          lastSeq: written + chunk.length,
          // Stats and state are final only with the last chunk; until then the copy is not served.
          stats: done ? template.stats : accumulateStats(emptyStats(), upTo),
        };
        await context.store.commit({ key, expectedVersion: version, header, events: chunk, now });
        version += 1;
        written += chunk.length;
      } while (written < events.length);
    } catch (error) {
      if (version > 0) await context.store.delete(key).catch(() => undefined);
      throw error;
    }
    const final = await context.store.get(key, now);
    if (!final) throw notFound();
    return present<S>(final, applyScopes(final.state, await readScopes(context, key)));
  });
}

async function* splitLines(source: string | Iterable<string> | AsyncIterable<string>): AsyncGenerator<string> {
  if (typeof source === "string") {
    yield* source.split("\n");
    return;
  }
  for await (const item of source as AsyncIterable<string>) yield* String(item).split("\n");
}
