/**
 * The error of a stale session object. `appendEvent` commits only against the version the session
 * object was read or last written at, so an object another writer has overtaken is refused instead
 * of being reloaded and merged (docs/adapters/adk.md says why).
 */
import { FrontdeskError, isFrontdeskError } from "../../index.ts";

/**
 * `appendEvent` was given a session object older than the stored session: another writer (another
 * runner, process or server) appended to it since this object was read. Nothing was written, and
 * the object is unchanged. Read the session again with `getSession` and run the turn on that.
 *
 * Its `code` is `precondition_failed`, as for any write made against an outdated version;
 * `details` holds `sessionVersion` (the object's) and `currentVersion` (the store's).
 */
export class StaleSessionError extends FrontdeskError {
  constructor(sessionVersion: number, currentVersion: unknown, cause?: unknown) {
    super(
      "precondition_failed",
      "The session changed since this session object was read: read it again with getSession",
      { cause, details: { reason: "stale_session", sessionVersion, currentVersion } },
    );
  }
}

/** True for a {@link StaleSessionError}, also across two copies of this module. */
export const isStaleSessionError = (error: unknown): error is StaleSessionError =>
  isFrontdeskError(error, "precondition_failed") && error.details?.reason === "stale_session";
