/**
 * One thread's messages on its append-only event log.
 *
 * A message's first write is a `message` event: its place in the thread. A later version (Mastra
 * upserts by id, `updateMessages`) is a `custom` revision event, and a deletion a `custom` event
 * naming the ids; the small `MessageLog` state says which places are live and where their newest
 * version is. So a write appends O(its messages), and a page of the newest or oldest messages reads
 * O(page + deleted) events from one end of the log. Filters, several threads, and a thread whose
 * messages arrived out of `createdAt` order read the whole thread, as Mastra's own stores scan
 * their rows.
 */
import type { MastraDBMessage } from "@mastra/core/memory";
import { FrontdeskError, isFrontdeskError, type JsonObject, type SessionEvent } from "../../index.ts";
import { findSession } from "../shared/backend.ts";
import {
  deletionEvent,
  EMPTY_LOG,
  logOf,
  type MessageLog,
  messageEvents,
  redactedMessageOf,
  revisionEvent,
  storedMessageOf,
} from "./codec.ts";
import type { ThreadSession } from "./directory.ts";

/** A live message: the seq of its place in the thread and its newest stored version. */
export interface PlacedMessage {
  at: number;
  latest: number;
  stored: JsonObject;
  /** When its place was redacted, while its newest version is still to be read. */
  redactedAt?: number | undefined;
  /** Its place was redacted and no version of it is left to tell its `createdAt`. */
  timeLost?: boolean | undefined;
}

const READ_CHUNK = 1000;
const MAX_ATTEMPTS = 50;

const createdAtOf = (stored: JsonObject): number => new Date(stored.createdAt as string).getTime();
const cloneLog = (log: MessageLog): MessageLog => ({ ...log, changed: { ...log.changed } });

const isLivePlace = (log: MessageLog, id: string, seq: number): boolean => {
  const changed = log.changed[id];
  return changed === undefined || (changed[0] === seq && changed[1] !== 0);
};

async function eventAt(thread: ThreadSession, seq: number): Promise<SessionEvent | undefined> {
  const [event] = await thread.sessions.readEvents(thread.id, { after: seq - 1, limit: 1 });
  return event?.seq === seq ? event : undefined;
}

/**
 * The live places among `events` (originals, in seq order), each resolved to its newest version. A
 * message reads "[redacted]" when the version it reads was redacted, or when its place was redacted
 * after its newest version was written (the redaction was meant for the message, and every version
 * of it holds what it removed); a version written after the redaction is new, and reads as it is.
 */
async function placesIn(thread: ThreadSession, log: MessageLog, events: readonly SessionEvent[]) {
  const places: PlacedMessage[] = [];
  let byPlace: Map<number, string> | undefined;
  for (const event of events) {
    if (event.type !== "message") continue;
    if (event.redacted) {
      // Its id went with the redaction; the log still names it if the message was revised or moved.
      byPlace ??= new Map(Object.entries(log.changed).map(([id, [at]]) => [at, id]));
      const id = byPlace.get(event.seq);
      const changed = id === undefined ? undefined : log.changed[id];
      if (changed?.[1] === 0) continue;
      places.push({
        at: event.seq,
        latest: changed?.[1] ?? event.seq,
        stored: redactedMessageOf(thread.session, event, { id }),
        redactedAt: (event.redacted as { at: number }).at,
        timeLost: changed === undefined,
      });
      continue;
    }
    const stored = storedMessageOf(event);
    if (!stored || !isLivePlace(log, stored.id as string, event.seq)) continue;
    places.push({ at: event.seq, latest: log.changed[stored.id as string]?.[1] ?? event.seq, stored });
  }
  await Promise.all(
    places
      .filter((place) => place.latest !== place.at)
      .map(async (place) => {
        const newest = await eventAt(thread, place.latest);
        if (!newest) throw new FrontdeskError("internal", `message revision at seq ${place.latest} is missing`);
        const redactedAt = place.redactedAt;
        place.redactedAt = undefined;
        if (newest.redacted) {
          place.stored = redactedMessageOf(thread.session, newest, { place: place.stored });
          // Both its place and its newest version were redacted: nothing tells its time any more.
          place.timeLost = redactedAt !== undefined;
        } else if (redactedAt === undefined || newest.at > redactedAt) {
          place.stored = storedMessageOf(newest) as JsonObject;
        } else {
          // Redacted after this version was written: its id, role and time still place the message.
          place.stored = redactedMessageOf(thread.session, newest, { place: storedMessageOf(newest) });
        }
      }),
  );
  // A redacted message whose time went with it sits where its place is: just after the message
  // before it, or just before the one after it (a tie would put it on the wrong side when sorted).
  places.forEach((place, index) => {
    if (!place.timeLost) return;
    const before = places[index - 1];
    const after = places.slice(index + 1).find((next) => !next.timeLost);
    const next = after && createdAtOf(after.stored);
    let time: number | undefined;
    if (before)
      time = next !== undefined && next <= createdAtOf(before.stored) + 1 ? next : createdAtOf(before.stored) + 1;
    else if (next !== undefined) time = next - 1;
    if (time !== undefined) place.stored = { ...place.stored, createdAt: new Date(time).toISOString() };
    place.timeLost = undefined;
  });
  return places;
}

/** Every live message of the thread, in place order. */
export async function readAllMessages(thread: ThreadSession): Promise<PlacedMessage[]> {
  const log = logOf(thread.session);
  const events: SessionEvent[] = [];
  for (let after = 0; ; ) {
    const chunk = await thread.sessions.readEvents(thread.id, { after, limit: READ_CHUNK, types: ["message"] });
    events.push(...chunk);
    if (chunk.length < READ_CHUNK) break;
    after = chunk[chunk.length - 1]?.seq ?? after;
  }
  return placesIn(thread, log, events);
}

/**
 * Whether a page can be read from one end of the log: one thread whose places are in `createdAt`
 * order, with no filter.
 */
export const canReadFromEnds = (thread: ThreadSession): boolean => logOf(thread.session).ordered;

/**
 * Places read past a newest-first page's edge at once. The edge's group of equal `createdAt` must be
 * read whole (see {@link readEnd}); messages saved in the same millisecond make groups of two or
 * three, so a few places more settle nearly every page in one read.
 */
const TIE_MARGIN = 8;

/**
 * The messages a page `[offset, offset + size)` in `createdAt` order draws from, read from the
 * matching end of the log: enough places to fill the page past the deleted ones.
 *
 * Newest first, Mastra's sort keeps equal `createdAt` in place order, so a page that ends inside
 * such a group takes the group's oldest places. The read goes back, a chunk of older places at a
 * time (never the newer ones again), until the oldest place read is older than the page's edge.
 */
export async function readEnd(
  thread: ThreadSession,
  direction: "ASC" | "DESC",
  needed: number,
  prefetched?: EndRead,
): Promise<PlacedMessage[]> {
  const log = logOf(thread.session);
  const total = thread.session.stats.messages;
  const deleted = log.originals - log.count;
  // The first read is the prefetched one when there is one (undefined when it failed).
  let ready = prefetched?.direction === direction ? await prefetched.events : undefined;
  const firstSize = (computed: number): number => (ready && prefetched ? prefetched.asked : computed);
  if (direction === "ASC") {
    for (let want = firstSize(Math.min(total, needed + deleted)); ; want = Math.min(total, Math.max(want * 2, 16))) {
      const events = ready ?? (await readFromEnd(thread, "ASC", want));
      ready = undefined;
      const places = await placesIn(thread, log, events);
      if (places.length >= needed || events.length >= total || want >= total) return places;
    }
  }
  let events: readonly SessionEvent[] = [];
  for (let chunk = firstSize(Math.min(total, needed + TIE_MARGIN + deleted)); ; chunk = Math.max(chunk * 2, 16)) {
    const older = ready ?? (await readFromEnd(thread, "DESC", chunk, events[0]?.seq));
    ready = undefined;
    events = older.length === 0 ? events : [...older, ...events];
    const places = await placesIn(thread, log, events);
    const startReached = older.length < Math.max(chunk, 1) || events.length >= total;
    // With exactly the page read, its edge is the oldest place read, and an older one may tie with it.
    const edge = places[places.length - needed];
    const edgeGroupWhole =
      places.length > needed && edge !== undefined && createdAtOf(places[0]?.stored ?? {}) !== createdAtOf(edge.stored);
    if (startReached || edgeGroupWhole) return places;
  }
}

/** A first read of a log's end, issued before the thread's session was read (see {@link prefetchEnd}). */
export interface EndRead {
  direction: "ASC" | "DESC";
  asked: number;
  /** Undefined when the read failed. */
  events: Promise<readonly SessionEvent[] | undefined>;
}

/** The `count` oldest message events, or the newest before `before`, in place order. */
function readFromEnd(
  thread: Pick<ThreadSession, "sessions" | "id">,
  direction: "ASC" | "DESC",
  count: number,
  before?: number,
): Promise<readonly SessionEvent[]> {
  const limit = Math.max(count, 1);
  return direction === "ASC"
    ? thread.sessions.readEvents(thread.id, { after: 0, limit, types: ["message"] })
    : thread.sessions.readEvents(thread.id, { last: limit, types: ["message"], ...(before ? { before } : {}) });
}

/**
 * Starts the read of a page's end together with the lookup of its thread, which a page needs first
 * (how many messages were deleted, whether the log is in `createdAt` order): on a networked store,
 * one round trip instead of two. The read is under the resource's own sessions, so it can only
 * find that resource's thread; a read that fails (no such session) leaves the page to read anew.
 */
export function prefetchEnd(
  thread: Pick<ThreadSession, "sessions" | "id">,
  direction: "ASC" | "DESC",
  needed: number,
): EndRead {
  const asked = direction === "ASC" ? needed : needed + TIE_MARGIN;
  // A failed prefetch reads as nothing (never an unhandled rejection), and readEnd reads again.
  const events = readFromEnd(thread, direction, asked).catch(() => undefined);
  return { direction, asked, events };
}

/** The live message `id` in this thread, newest version first found from the log's end. */
export async function findMessage(thread: ThreadSession, id: string): Promise<PlacedMessage | undefined> {
  const log = logOf(thread.session);
  const changed = log.changed[id];
  if (changed) {
    if (changed[1] === 0) return undefined;
    // Its place too: a redaction of the place hides the versions written before it.
    const place = await eventAt(thread, changed[0]);
    return place ? (await placesIn(thread, log, [place]))[0] : undefined;
  }
  const total = thread.session.stats.messages;
  for (let want = 32; ; want *= 2) {
    const events = await thread.sessions.readEvents(thread.id, { last: want, types: ["message"] });
    for (let index = events.length - 1; index >= 0; index--) {
      const event = events[index] as SessionEvent;
      const stored = storedMessageOf(event);
      if (stored?.id === id && isLivePlace(log, id, event.seq)) return { at: event.seq, latest: event.seq, stored };
    }
    if (want >= total) return undefined;
  }
}

/** Runs one read-plan-commit against the thread's current version, again after a concurrent write. */
async function commitWithRetry(
  thread: ThreadSession,
  plan: (current: ThreadSession) => Promise<{ events: unknown[]; log: MessageLog } | undefined>,
): Promise<void> {
  let current = thread;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const planned = await plan(current);
    if (!planned || planned.events.length === 0) return;
    const events = planned.events as Record<string, unknown>[];
    const last = events[events.length - 1] as Record<string, unknown>;
    events[events.length - 1] = { ...last, stateDelta: { mastra: planned.log as unknown as JsonObject } };
    try {
      await thread.sessions.appendEvents(thread.id, events, { expectedVersion: current.session.version });
      return;
    } catch (error) {
      if (!isFrontdeskError(error, "precondition_failed")) throw error;
      const session = await findSession(thread.sessions, thread.id);
      if (!session) throw new FrontdeskError("not_found", "the thread was deleted while its messages were saved");
      current = { ...thread, session };
    }
  }
  throw new FrontdeskError("conflict", "the thread kept changing while its messages were saved");
}

/**
 * Writes messages into the thread in one commit: a message new to the thread takes a new place;
 * one already live in it gets a revision that keeps its place. `known` are ids the directory had
 * filed before this call (they may hold a place here already).
 */
export function saveToThread(thread: ThreadSession, messages: MastraDBMessage[], known: ReadonlySet<string>) {
  return commitWithRetry(thread, async (current) => {
    const log = cloneLog(logOf(current.session) ?? EMPTY_LOG);
    const events: unknown[] = [];
    let seq = current.session.lastSeq + 1;
    for (const message of messages) {
      const createdAt = new Date(message.createdAt).getTime();
      const prior =
        known.has(message.id) || log.changed[message.id] ? await findMessage(current, message.id) : undefined;
      if (prior) {
        events.push(revisionEvent(message, prior.at));
        if (createdAtOf(prior.stored) !== createdAt) log.ordered = false;
        log.changed[message.id] = [prior.at, seq];
        seq += 1;
        continue;
      }
      const written = messageEvents(message);
      events.push(...written);
      // A place written for an id that held one before must be the only live place for that id.
      if (known.has(message.id) || log.changed[message.id]) log.changed[message.id] = [seq, seq];
      if (createdAt < log.maxCreatedAt) log.ordered = false;
      log.maxCreatedAt = Math.max(log.maxCreatedAt, createdAt);
      log.count += 1;
      log.originals += 1;
      seq += written.length;
    }
    return { events, log };
  });
}

/** Removes messages from the thread in one commit (a deletion event; their places go dead). */
export function deleteFromThread(thread: ThreadSession, ids: readonly string[], movedTo?: string) {
  return commitWithRetry(thread, async (current) => {
    const log = cloneLog(logOf(current.session));
    const gone: string[] = [];
    for (const id of new Set(ids)) {
      const found = await findMessage(current, id);
      if (!found) continue;
      log.changed[id] = [found.at, 0];
      log.count -= 1;
      gone.push(id);
    }
    return gone.length === 0 ? undefined : { events: [deletionEvent(gone, movedTo)], log };
  });
}
