import { FrontdeskError } from "../../core/errors.ts";
import type { Commit } from "../../core/store-contract.ts";

/**
 * Defence in depth: the core always builds well-formed commits, but a store must never persist a
 * header that names another session or events that leave a gap, whoever the caller is.
 */
export function assertCommitShape(commit: Commit, previousLastSeq: number): void {
  const { key, header, events } = commit;
  if (header.namespace !== key.namespace || header.userId !== key.userId || header.id !== key.id) {
    throw new FrontdeskError("invalid_request", "The commit's header names another session");
  }
  if (header.version !== commit.expectedVersion + 1) {
    throw new FrontdeskError("invalid_request", "The commit's header version must be expectedVersion + 1");
  }
  let expected = previousLastSeq;
  for (const event of events) {
    if (event.seq !== ++expected)
      throw new FrontdeskError("invalid_request", "The commit's events must continue the log without a gap");
  }
  if (header.lastSeq !== expected) {
    throw new FrontdeskError("invalid_request", "The commit's header lastSeq must equal its last event's seq");
  }
  const removed = commit.removeEvents;
  if (removed && !(Number.isInteger(removed.after) && Number.isInteger(removed.before) && removed.after >= 0)) {
    throw new FrontdeskError("invalid_request", "The commit's removeEvents bounds must be whole numbers ≥ 0");
  }
  for (const event of commit.rewrites ?? []) {
    if (!Number.isInteger(event.seq) || event.seq < 1 || event.seq > previousLastSeq) {
      throw new FrontdeskError("invalid_request", "A commit may only rewrite events already in the log");
    }
    if (removed && event.seq > removed.after && event.seq < removed.before) {
      throw new FrontdeskError("invalid_request", "A commit may not rewrite an event it removes");
    }
  }
}
