/**
 * What the append path does for privacy besides storing: masking secrets before an event is
 * stored, and pruning a session that outgrew its retention policy once the append is done.
 */
import type { EventInput, SessionKey } from "../model.ts";
import { maskSecretsInEvent } from "../privacy/secret-masking.ts";
import type { ManagerContext } from "./context.ts";
import { prune } from "./history-edits.ts";
import { retentionFor } from "./retention.ts";

/** The event with known secret formats masked and the spans recorded; the event itself when none. */
export function maskEvent(event: EventInput): EventInput {
  const { event: masked, masked: spans } = maskSecretsInEvent(event);
  return spans.length === 0 ? event : ({ ...masked, masked: spans } as EventInput);
}

/** A session's retention is looked at once every this many seqs: one header read, amortised. */
const RETENTION_CHECK_EVERY = 64;

/**
 * Prunes the session when an append carried it across a check point and its policy (own or the
 * manager's) is exceeded by a margin, so a pruning commit removes a batch rather than one event.
 * Best effort: a failed prune leaves the events for the next check point, and never fails the append.
 */
export async function pruneWhenDue(
  context: ManagerContext,
  key: SessionKey,
  lastSeq: number,
  appended: number,
): Promise<void> {
  if (Math.floor((lastSeq - appended) / RETENTION_CHECK_EVERY) === Math.floor(lastSeq / RETENTION_CHECK_EVERY)) return;
  try {
    const header = await context.store.get(key, context.clock.now());
    if (!header) return;
    const policy = retentionFor(context.retention, header);
    if (!policy) return;
    const margin = Math.max(RETENTION_CHECK_EVERY, Math.ceil(policy.keepLastEvents / 10));
    if (header.lastSeq - policy.keepLastEvents < margin) return;
    // A summary older than this window was acted on at an earlier check, or is left to an
    // explicit prune (`frontdesk sessions prune`), which searches the whole log.
    const summaryAfter = Math.max(0, header.lastSeq - policy.keepLastEvents - 4 * margin);
    await prune(context, key, policy, margin, summaryAfter);
  } catch {
    // The next check point tries again.
  }
}
