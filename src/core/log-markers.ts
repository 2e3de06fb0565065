/**
 * The custom events Frontdesk itself writes into a session's log when its past changes. Readers
 * (the live tail, the protocol views, clients) recognise them by these names.
 */

/** The marker standing, at its own seq, for every event from `fromSeq` through it that pruning removed. */
export const PRUNED_MARKER = "frontdesk.pruned";
/**
 * Appended by every redaction and prune: `{ kind: "redaction", seqs, by, reason }` or
 * `{ kind: "prune", fromSeq, throughSeq }`. A reader holding earlier events re-reads them.
 */
export const HISTORY_CHANGED = "frontdesk.history_changed";

const isCustomNamed = (event: { type: string; name?: unknown }, name: string): boolean =>
  event.type === "custom" && event.name === name;

export const isPrunedMarker = (event: { type: string; name?: unknown }): boolean => isCustomNamed(event, PRUNED_MARKER);
export const isHistoryChanged = (event: { type: string; name?: unknown }): boolean =>
  isCustomNamed(event, HISTORY_CHANGED);
