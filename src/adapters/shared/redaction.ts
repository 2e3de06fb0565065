/**
 * What every adapter reads in a log that Frontdesk edited (docs/privacy.md): a redacted event is a
 * tombstone (its seq, id, time, type and the fields that pair things stay; content becomes
 * "[redacted]", everything else the adapter stored on it is gone), each edit appends a
 * `frontdesk.history_changed` notice, and a pruned log starts at a `frontdesk.pruned` marker
 * standing for every event before it. Adapters rebuild placeholders from what a tombstone keeps,
 * and skip the notices and the marker, which are not theirs.
 *
 * The two names are the documented wire names of those records: adapters import only Frontdesk's
 * public surface, which does not export core's constants.
 */
import type { SessionEvent } from "../../index.ts";

/** The text a tombstone holds in place of a message's content, and that placeholders show. */
export const REDACTED_TEXT = "[redacted]";
/** The custom event standing, at its own seq, for every event before it that pruning removed. */
export const PRUNED_MARKER = "frontdesk.pruned";
/** The custom event every redaction and prune appends. */
export const HISTORY_CHANGED = "frontdesk.history_changed";

/** The event is a tombstone: its content was redacted. */
export const isRedacted = (event: SessionEvent): boolean => event.redacted !== undefined;

export const isPrunedMarker = (event: SessionEvent): boolean => event.type === "custom" && event.name === PRUNED_MARKER;

export const isHistoryChanged = (event: SessionEvent): boolean =>
  event.type === "custom" && event.name === HISTORY_CHANGED;

/** One of Frontdesk's own records of an edit: never an adapter's item. */
export const isEditRecord = (event: SessionEvent): boolean => isPrunedMarker(event) || isHistoryChanged(event);
