/**
 * Reading a session's ADK events back: all of them, or only the newest ones that
 * `GetSessionConfig` asks for, walking the log backwards from the header's last seq so that
 * "the 50 most recent of 10,000" costs a read of about 50 events, never the history.
 *
 * The semantics are those of ADK's `InMemorySessionService`, the reference the adapter is tested
 * against: `numRecentEvents` keeps the newest n events (0 or unset: all), then `afterTimestamp`
 * keeps the events from the newest backwards until the first one older than it (unset or 0: no
 * bound; an event *at* the timestamp is kept). ADK replaces an appended event that has the id of
 * one already in the session; the log is append-only, so the later copy is read in the earlier
 * one's place.
 */
import type { Event, GetSessionConfig } from "@google/adk";
import type { JsonObject, SessionManager } from "../../index.ts";
import { carriedAdkEvent, invalidField, restoreEvent } from "./events.ts";

/** Events per read when the whole log is walked forwards. */
const FORWARD_PAGE = 1000;
/** The most events one backwards read asks for; windows start smaller and double. */
const MAX_BACKWARD_PAGE = 1000;

const positiveOrUnset = (value: unknown, field: string): number | undefined => {
  if (value === undefined || value === null || value === 0) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidField(field, "a non-negative number");
  }
  return value;
};

/**
 * The session's ADK events, oldest first, as of the header at `lastSeq` (events a concurrent
 * writer appended after that header are left out, so events and state describe one version).
 */
export async function readAdkEvents(
  manager: SessionManager,
  sessionId: string,
  lastSeq: number,
  config: GetSessionConfig | undefined,
): Promise<Event[]> {
  const newest = positiveOrUnset(config?.numRecentEvents, "config.numRecentEvents");
  const after = positiveOrUnset(config?.afterTimestamp, "config.afterTimestamp");
  if (newest === undefined && after === undefined) return readAll(manager, sessionId, lastSeq);
  return readNewest(
    manager,
    sessionId,
    lastSeq,
    newest === undefined ? Number.POSITIVE_INFINITY : Math.floor(newest),
    after,
  );
}

async function readAll(manager: SessionManager, sessionId: string, lastSeq: number): Promise<Event[]> {
  const order: string[] = [];
  const byId = new Map<string, JsonObject>();
  for (let seq = 0; seq < lastSeq; ) {
    const page = await manager.readEvents(sessionId, { after: seq, limit: Math.min(FORWARD_PAGE, lastSeq - seq) });
    if (page.length === 0) break;
    for (const event of page) {
      const adk = carriedAdkEvent(event);
      if (!adk) continue;
      const id = adk.id as string;
      if (!byId.has(id)) order.push(id);
      byId.set(id, adk);
    }
    seq = (page.at(-1) as { seq: number }).seq;
  }
  return order.map((id) => restoreEvent(byId.get(id) as JsonObject));
}

async function readNewest(
  manager: SessionManager,
  sessionId: string,
  lastSeq: number,
  count: number,
  after: number | undefined,
): Promise<Event[]> {
  // Newest first; an id met again further back is a replaced event, moved to its older place.
  const newestFirst: string[] = [];
  const byId = new Map<string, JsonObject>();
  // Most ADK events are one Frontdesk event; one with tool calls is a few more.
  let window = Math.min(MAX_BACKWARD_PAGE, Math.max(16, Number.isFinite(count) ? count * 2 : 64));
  let high = lastSeq;
  walk: while (high > 0) {
    const low = Math.max(0, high - window);
    const page = await manager.readEvents(sessionId, { after: low, limit: high - low });
    for (let i = page.length - 1; i >= 0; i--) {
      const adk = carriedAdkEvent(page[i] as (typeof page)[number]);
      if (!adk) continue;
      const id = adk.id as string;
      if (byId.has(id)) {
        newestFirst.splice(newestFirst.indexOf(id), 1);
        newestFirst.push(id);
        continue;
      }
      if (after !== undefined && typeof adk.timestamp === "number" && adk.timestamp < after) break walk;
      if (newestFirst.length >= count) break walk;
      newestFirst.push(id);
      byId.set(id, adk);
    }
    high = low;
    window = Math.min(MAX_BACKWARD_PAGE, window * 2);
  }
  return newestFirst.reverse().map((id) => restoreEvent(byId.get(id) as JsonObject));
}
