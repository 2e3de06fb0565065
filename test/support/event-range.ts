import type { SessionEvent } from "../../src/core/model.ts";
import type { EventRange } from "../../src/stores/types.ts";

/** What `readEvents(range)` must return from a log held in seq order: the contract's meaning, for model checks. */
export function eventsInRange<E extends Pick<SessionEvent, "seq" | "type">>(
  events: readonly E[],
  range: EventRange,
): E[] {
  const matching = events.filter(
    (e) =>
      e.seq > (range.after ?? 0) &&
      e.seq < (range.before ?? Number.POSITIVE_INFINITY) &&
      (!range.types || range.types.includes(e.type)),
  );
  if (range.order === "desc") matching.reverse();
  return matching.slice(0, range.limit ?? matching.length);
}
