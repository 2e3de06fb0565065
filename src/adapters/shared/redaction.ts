/**
 * What every adapter reads in a log that Frontdesk edited (docs/privacy.md): a redacted event is a
 * tombstone (its seq, id, time, type and the fields that pair things stay; content becomes
 * "[redacted]", everything else the adapter stored on it is gone), each edit appends a
 * `frontdesk.history_changed` notice, and a pruned log starts at a `frontdesk.pruned` marker
 * standing for every event before it. Adapters rebuild placeholders from what a tombstone keeps,
 * and skip the notices and the marker, which are not theirs.
 */
export { isHistoryChanged, isPrunedMarker } from "../../index.ts";

/** The text a tombstone holds in place of a message's content, and that placeholders show. */
export const REDACTED_TEXT = "[redacted]";
