/**
 * Retention: how much of a session's history pruning keeps (history-edits.ts does the pruning).
 * A namespace sets it on the manager; a session may carry its own in its metadata.
 */
import type { Json, SessionHeader } from "../model.ts";
import { invalid } from "./validation.ts";

export interface RetentionPolicy {
  /** The newest events always kept. */
  keepLastEvents: number;
  /**
   * Only remove events a summary already stands for (its `throughSeq`): "keep the last N events and
   * everything after the newest summary". False: keep the last N, summary or not. @default true
   */
  onlySummarized?: boolean;
}

/** Per session, in `metadata["frontdesk.retention"]`; it overrides the manager's. */
export const RETENTION_METADATA_KEY = "frontdesk.retention";

const policyOf = (value: unknown, where: string): RetentionPolicy => {
  const policy = value as RetentionPolicy | null;
  if (policy === null || typeof policy !== "object") throw invalid(`${where} must be an object`);
  const keep = policy.keepLastEvents;
  if (!Number.isInteger(keep) || keep < 1) throw invalid(`${where}.keepLastEvents must be a whole number ≥ 1`);
  if (policy.onlySummarized !== undefined && typeof policy.onlySummarized !== "boolean") {
    throw invalid(`${where}.onlySummarized must be true or false`);
  }
  return { keepLastEvents: keep, onlySummarized: policy.onlySummarized ?? true };
};

export const parseRetentionPolicy = (value: unknown): RetentionPolicy => policyOf(value, "retention");

/** The session's own policy (metadata), else the manager's; undefined: keep everything. */
export function retentionFor(
  namespaceDefault: RetentionPolicy | undefined,
  header: SessionHeader,
): RetentionPolicy | undefined {
  const own = (header.metadata as Record<string, Json>)[RETENTION_METADATA_KEY];
  if (own !== undefined && own !== null) {
    try {
      return policyOf(own, `metadata["${RETENTION_METADATA_KEY}"]`);
    } catch {
      return namespaceDefault;
    }
  }
  return namespaceDefault;
}
