import type { JsonObject, SessionEvent, SessionHeader, SessionStats, SessionStatus } from "../../core/model.ts";

/** A session as the CLI shows it, whichever way it was read. */
export type SessionView = Readonly<Omit<SessionHeader, "state">> & { readonly state: Readonly<JsonObject> };

/**
 * Names a session. `userId` undefined: the owner is not known, and a target that can see every
 * owner looks the id up (failing when two owners have a session with that id).
 */
export interface SessionTargetRef {
  readonly id: string;
  readonly userId?: string | null;
}

export interface SessionFilters {
  readonly userId?: string;
  readonly status?: SessionStatus[];
  readonly tags?: string[];
  readonly text?: string;
  readonly limit?: number;
  readonly cursor?: string;
}

export interface SessionListing {
  readonly items: readonly SessionView[];
  readonly nextCursor: string | null;
}

/**
 * Where a `sessions` command acts: a store opened directly (`--store`) or a running server
 * (`--server` with `--key`). Both give the same answers and the same error codes.
 */
export interface SessionTarget {
  /** `store` or `server`, for messages. */
  readonly kind: "store" | "server";
  list(filters: SessionFilters): Promise<SessionListing>;
  /** Throws `not_found`. */
  get(ref: SessionTargetRef): Promise<SessionView>;
  /** The newest `count` events, oldest first. */
  lastEvents(ref: SessionTargetRef, count: number): Promise<readonly SessionEvent[]>;
  stats(ref: SessionTargetRef): Promise<Readonly<SessionStats>>;
  /** Throws `not_found` when there was nothing to delete. */
  delete(ref: SessionTargetRef): Promise<void>;
  /** NDJSON lines: the header line, then one line per event. */
  exportSession(ref: SessionTargetRef): AsyncIterable<string>;
  /** Keeps the exported owner unless `userId` names another. */
  importSession(lines: AsyncIterable<string>, options: { sessionId?: string; userId?: string }): Promise<SessionView>;
  close(): Promise<void>;
}
