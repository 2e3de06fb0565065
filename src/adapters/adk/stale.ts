/**
 * What a session object knows of the stored session: the version it was read or last written at.
 * `appendEvent` commits only against that version, so a session object that another writer has
 * overtaken is refused with {@link StaleSessionError} instead of being reloaded and merged.
 */
import type { Session } from "@google/adk";
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

/**
 * The versions of the session objects this process handed out. Shared by every service instance,
 * so a session read through one service can be appended through another on the same store; weak,
 * so a session object dropped by its caller takes its entry with it.
 */
const versions = new WeakMap<Session, number>();
/** Appends through one session object queue, so the second sees the version the first wrote. */
const queues = new WeakMap<Session, Promise<unknown>>();

export const rememberVersion = (session: Session, version: number): void => {
  versions.set(session, version);
};

export function versionOf(session: Session): number {
  const version = versions.get(session);
  if (version === undefined) {
    throw new FrontdeskError(
      "invalid_request",
      "appendEvent needs a session object returned by this service's createSession or getSession",
    );
  }
  return version;
}

/** Runs `work` after every earlier append through the same session object has settled. */
export function queued<T>(session: Session, work: () => Promise<T>): Promise<T> {
  const before = queues.get(session) ?? Promise.resolve();
  const run = before.then(work, work);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(session, settled);
  return run;
}
