/**
 * What this process knows of the ADK session objects it handed out: the version each was read or
 * last written at (what `appendEvent` commits against), a queue per object so appends through one
 * object never race each other, and where each of its events sits, so adding an event to the
 * caller's object costs O(1) however long the conversation is.
 *
 * The maps are weak, keyed by the object: a session object its caller drops takes its entries with
 * it. They are shared by every service instance, so a session read through one service can be
 * appended through another on the same store.
 */
import type { Event, Session } from "@google/adk";
import { FrontdeskError } from "../../index.ts";

const versions = new WeakMap<Session, number>();
const queues = new WeakMap<Session, Promise<unknown>>();
/** Event id → index in `session.events`, and the length of the array it was built for. */
const positions = new WeakMap<Session, { length: number; byId: Map<string, number> }>();

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

/**
 * Puts an appended event into the caller's `session.events` as ADK does: in place of an event with
 * the same id, else at the end. ADK's own base class finds that place with a scan of every event
 * on every append; the index here is built once per object (again only if the caller changed the
 * array's length itself).
 */
export function placeEvent(session: Session, event: Event): void {
  let index = positions.get(session);
  if (!index || index.length !== session.events.length) {
    const byId = new Map<string, number>();
    for (const [i, known] of session.events.entries()) byId.set(known.id, i);
    index = { length: session.events.length, byId };
    positions.set(session, index);
  }
  const at = index.byId.get(event.id);
  if (at !== undefined && session.events[at]?.id === event.id) {
    session.events[at] = event;
    return;
  }
  index.byId.set(event.id, session.events.length);
  session.events.push(event);
  index.length = session.events.length;
}
