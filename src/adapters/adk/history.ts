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
 *
 * An event Frontdesk redacted reads as a placeholder (events.ts, `placeholderAdkEvent`); a pruned
 * log reads from its `frontdesk.pruned` marker on, and the notices of edits are skipped like any
 * event that carries no ADK event.
 */
import type { Event, GetSessionConfig } from "@google/adk";
import type { JsonObject, SessionEvent, SessionManager } from "../../index.ts";
import { isPrunedMarker } from "../shared/redaction.ts";
import {
  carriedAdkEvent,
  fillIdentities,
  invalidField,
  isRedactedCarrier,
  isToolView,
  placeholderAdkEvent,
  restoreEvent,
} from "./events.ts";

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

/** Collects the events of one read, in the order they are met; a redacted carrier waits for its views. */
class Collected {
  readonly order: string[] = [];
  readonly byId = new Map<string, JsonObject>();
}

async function readAll(manager: SessionManager, sessionId: string, lastSeq: number): Promise<Event[]> {
  const collected = new Collected();
  let redacted: { event: SessionEvent; views: SessionEvent[] } | undefined;
  let pruned = false;
  const settle = () => {
    if (!redacted) return;
    const placeholder = placeholderAdkEvent(redacted.event, redacted.views);
    collected.order.push(placeholder.id as string);
    collected.byId.set(placeholder.id as string, placeholder);
    redacted = undefined;
  };
  for (let seq = 0; seq < lastSeq; ) {
    const page = await manager.readEvents(sessionId, { after: seq, limit: Math.min(FORWARD_PAGE, lastSeq - seq) });
    if (page.length === 0) break;
    for (const event of page) {
      if (event.seq > lastSeq) break;
      if (isPrunedMarker(event)) pruned = true;
      if (redacted && isToolView(event)) {
        redacted.views.push(event);
        continue;
      }
      settle();
      if (isRedactedCarrier(event)) {
        redacted = { event, views: [] };
        continue;
      }
      const adk = carriedAdkEvent(event);
      if (!adk) continue;
      const id = adk.id as string;
      if (!collected.byId.has(id)) collected.order.push(id);
      collected.byId.set(id, adk);
    }
    seq = (page.at(-1) as { seq: number }).seq;
  }
  settle();
  const events = collected.order.map((id) => collected.byId.get(id) as JsonObject);
  // Pruning may have cut a call from its response: a response answering nothing is dropped with it.
  if (pruned) while (events[0] && onlyResponses(events[0])) events.shift();
  return restored(events);
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
  // Views met since the last carrier: those of the next (older) carrier, should it be redacted.
  let views: SessionEvent[] = [];
  // Most ADK events are one Frontdesk event; one with tool calls is a few more.
  let window = Math.min(MAX_BACKWARD_PAGE, Math.max(16, Number.isFinite(count) ? count * 2 : 64));
  let high = lastSeq;
  walk: while (high > 0) {
    const low = Math.max(0, high - window);
    // After a prune, a read from before the marker starts at it and runs on past `high`.
    const page = (await manager.readEvents(sessionId, { after: low, limit: high - low })).filter(
      (event) => event.seq <= high,
    );
    for (let i = page.length - 1; i >= 0; i--) {
      const event = page[i] as SessionEvent;
      if (isToolView(event)) {
        views.unshift(event);
        continue;
      }
      const adk = isRedactedCarrier(event) ? placeholderAdkEvent(event, views) : carriedAdkEvent(event);
      views = [];
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
    if (page[0] && isPrunedMarker(page[0])) break;
    high = low;
    window = Math.min(MAX_BACKWARD_PAGE, window * 2);
  }
  return restored(newestFirst.reverse().map((id) => byId.get(id) as JsonObject));
}

const onlyResponses = (stored: JsonObject): boolean => {
  const parts = (stored.content as { parts?: unknown } | undefined)?.parts;
  return (
    Array.isArray(parts) &&
    parts.length > 0 &&
    parts.every((part) => typeof part === "object" && part !== null && "functionResponse" in part)
  );
};

function restored(events: JsonObject[]): Event[] {
  fillIdentities(events);
  return events.map(restoreEvent);
}
