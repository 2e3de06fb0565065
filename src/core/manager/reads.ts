/**
 * Reading one session: its header (the hottest path there is: one round trip, no event read), a
 * range or the newest of its events, and the conversation view that fits a token budget. Every
 * read serves only a live session and slides its TTL when due.
 */

import { yieldToEventLoop } from "../event-loop.ts";
import { jsonBytes } from "../limits.ts";
import type { MessagePayload, SessionEvent } from "../model.ts";
import { deepFreeze } from "../state.ts";
import type { EventRange } from "../store-contract.ts";
import { keyOf, type ManagerContext, notFound, present, READ_BATCH } from "./context.ts";
import { live, needsTouch, slide } from "./expiry.ts";
import { applyScopes, scopeReads } from "./scopes.ts";
import type { EventPage, EventPageOptions, MessagesOptions, ReadEventsOptions, Session, SessionRef } from "./types.ts";
import { nonNegativeInt, positiveInt } from "./validation.ts";

export async function get<S extends object>(context: ManagerContext, ref: SessionRef): Promise<Session<S>> {
  const key = keyOf(context, ref);
  const now = context.clock.now();
  // Issued together: one round trip on a networked store, one freshness check on an embedded one.
  // The hottest read there is, so the three calls share one Promise.all and an untouched TTL no await.
  const [header, user, app] = await Promise.all([context.store.get(key, now), ...scopeReads(context, key)]);
  if (!header) throw notFound();
  const served = needsTouch(context, header, now) ? await slide(context, header, now) : header;
  return present<S>(served, applyScopes(served.state, { user, app }));
}

export async function readEvents(
  context: ManagerContext,
  ref: SessionRef,
  options: ReadEventsOptions,
): Promise<readonly SessionEvent[]> {
  const key = keyOf(context, ref);
  const range = rangeOf(options);
  const last = options.last === undefined ? undefined : positiveInt(options.last, "last");
  const limit = last !== undefined || options.limit === undefined ? undefined : positiveInt(options.limit, "limit");
  // The liveness check and the read go together: one round trip, not two, on a networked store.
  // What was read for a session that turns out absent or expired is dropped with the not_found.
  const [, events] = await Promise.all([
    live(context, key),
    last !== undefined
      ? context.store.readEvents(key, { ...range, limit: last, order: "desc" })
      : context.store.readEvents(key, limit === undefined ? range : { ...range, limit }),
  ]);
  return deepFreeze(last !== undefined ? events.reverse() : events);
}

function rangeOf(options: ReadEventsOptions): EventRange {
  return {
    after: nonNegativeInt(options.after ?? 0, "after"),
    ...(options.before === undefined ? {} : { before: positiveInt(options.before, "before") }),
    types: options.types === undefined ? undefined : [...options.types],
  };
}

export const DEFAULT_PAGE_BYTES = 4 * 1024 * 1024;
const DEFAULT_PAGE_LIMIT = 100;
/**
 * Events read per store call while a page fills: at the default 256 KiB event limit, 4 MiB
 * parsed and measured between two turns of the event loop.
 */
const PAGE_CHUNK = 16;

/**
 * A page of events that also fits a byte budget, so that no page of big events costs more to
 * read and send than the budget (a `limit` of 1000 events of 256 KiB would be 256 MiB). It is
 * read in chunks, the event loop turning between them; `last` walks back from the newest (or
 * from `before`). One event more than each chunk needs tells whether events remain past the page.
 */
export async function readEventPage(
  context: ManagerContext,
  ref: SessionRef,
  options: EventPageOptions,
): Promise<EventPage> {
  const key = keyOf(context, ref);
  await live(context, key);
  const range = rangeOf(options);
  const backwards = options.last !== undefined;
  const wanted = positiveInt(
    backwards ? (options.last as number) : (options.limit ?? DEFAULT_PAGE_LIMIT),
    backwards ? "last" : "limit",
  );
  const maxBytes = positiveInt(options.maxBytes ?? DEFAULT_PAGE_BYTES, "maxBytes");
  const items: SessionEvent[] = [];
  let bytes = 0;
  let more = false;
  let cursor = backwards ? range.before : range.after;
  fill: for (;;) {
    const want = Math.min(PAGE_CHUNK, wanted - items.length);
    const chunk = await context.store.readEvents(
      key,
      backwards
        ? { ...range, before: cursor, limit: want + 1, order: "desc" }
        : { ...range, after: cursor, limit: want + 1 },
    );
    for (const [index, event] of chunk.entries()) {
      // The one read past the chunk: events remain beyond a full page; else the next chunk reads on.
      if (index === want) {
        if (items.length < wanted) break;
        more = true;
        break fill;
      }
      const size = jsonBytes(event);
      if (items.length > 0 && bytes + size > maxBytes) {
        more = true;
        break fill;
      }
      items.push(event);
      bytes += size;
    }
    if (chunk.length <= want) break;
    cursor = (items[items.length - 1] as SessionEvent).seq;
    await yieldToEventLoop();
  }
  if (backwards) items.reverse();
  const edge = backwards ? items[0] : items[items.length - 1];
  return {
    items: deepFreeze(items),
    nextAfter: !backwards && more && edge ? edge.seq : null,
    nextBefore: backwards && more && edge ? edge.seq : null,
  };
}

const messageText = (event: SessionEvent): string => {
  if (event.type !== "message") return "";
  const content = (event as MessagePayload).content;
  return typeof content === "string" ? content : JSON.stringify(content);
};

/** The conversation view: message events, with the latest summary standing in for what it covers. */
export async function getMessages(
  context: ManagerContext,
  ref: SessionRef,
  options: MessagesOptions,
): Promise<readonly SessionEvent[]> {
  const key = keyOf(context, ref);
  await live(context, key);
  const budget = options.tokenBudget === undefined ? undefined : positiveInt(options.tokenBudget, "tokenBudget");
  const max = options.last === undefined ? Number.POSITIVE_INFINITY : positiveInt(options.last, "last");
  const picked: SessionEvent[] = [];
  const costs: number[] = [];
  let used = 0;
  let floor = 0;
  let before: number | undefined;
  let summary: (SessionEvent & { type: "summary" }) | undefined;
  // Newest first, in pages, so a long history is read only as far as the window reaches.
  scan: for (;;) {
    const page = await context.store.readEvents(key, {
      before,
      limit: READ_BATCH,
      types: ["message", "summary"],
      order: "desc",
    });
    for (const event of page) {
      if (event.seq <= floor) break scan;
      if (event.type === "summary") {
        if (!summary) {
          summary = event;
          floor = Math.max(floor, event.throughSeq);
        }
        continue;
      }
      if (picked.length >= max) break scan;
      const cost = budget === undefined ? 0 : context.countTokens(messageText(event));
      if (budget !== undefined && used + cost > budget) break scan;
      used += cost;
      picked.push(event);
      costs.push(cost);
    }
    if (page.length < READ_BATCH) break;
    before = (page.at(-1) as SessionEvent).seq;
  }
  if (summary) {
    // The summary stands in for everything before it, so it is kept first; the oldest messages make room.
    const summaryCost = budget === undefined ? 0 : context.countTokens(summary.text);
    while (budget !== undefined && picked.length > 0 && used + summaryCost > budget) {
      used -= costs.pop() ?? 0;
      picked.pop();
    }
    if (budget === undefined || used + summaryCost <= budget) picked.push(summary);
  }
  return deepFreeze(picked.reverse());
}
