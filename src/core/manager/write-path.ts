/**
 * The one read-modify-commit loop behind every write: read the header, let the caller plan the
 * change against it, build one commit (header, events, scoped writes, idempotency record) and
 * commit it against the version read. On a conflict the loop reads again and re-plans, bounded and
 * with jittered backoff; a caller-given `expectedVersion` is checked instead of retried.
 */
import { FrontdeskError, isFrontdeskError } from "../errors.ts";
import { newEventId } from "../ids.ts";
import { assertWithin, jsonBytes } from "../limits.ts";
import type { JsonObject, SessionEvent, SessionHeader, SessionKey, SessionStatus, StateDelta } from "../model.ts";
import { sessionKeyId } from "../model.ts";
import { accumulateStats, applyDelta, isEmpty, splitDelta } from "../state.ts";
import type { Commit, IdempotencyRecord, ScopedWrite } from "../store-contract.ts";
import { type ManagerContext, notFound, present } from "./context.ts";
import { expiryOf } from "./expiry.ts";
import {
  applyScopes,
  hasScopedKeys,
  NO_SCOPES,
  readScopes,
  type Scopes,
  scopedWritesOf,
  scopesAfter,
  splitStateChange,
} from "./scopes.ts";
import type { Session, WriteOptions } from "./types.ts";
import { nonNegativeInt } from "./validation.ts";

export interface HeaderChanges {
  title?: string | null;
  purpose?: string | null;
  tags?: string[];
  metadata?: JsonObject;
  status?: SessionStatus;
  ttlMs?: number | null;
}

export interface WritePlan {
  /** The whole new state (session + scoped keys), diffed against the current one. */
  state?: JsonObject;
  /** Or: a delta to apply (from events' stateDelta). */
  delta?: StateDelta;
  events?: SessionEvent[];
  changes?: HeaderChanges;
  idempotency?: (version: number) => IdempotencyRecord;
  /** Stored events replaced in the same commit (redaction tombstones, the pruned marker). */
  rewrites?: SessionEvent[];
  /** Stored events removed in the same commit (pruning). */
  removeEvents?: { after: number; before: number };
}

/** Plans one attempt from the header read; "skip" commits nothing and answers the header as it is. */
export type Planner = (
  current: SessionHeader,
  loadScopes: () => Promise<Scopes>,
  now: number,
) => Promise<WritePlan | "skip">;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function write<S extends object>(
  context: ManagerContext,
  key: SessionKey,
  options: WriteOptions,
  plan: Planner,
): Promise<Session<S>> {
  const { header, state } = await writeUnpresented(context, key, options, plan);
  return present<S>(header, state);
}

/**
 * {@link write} without building (and deep-freezing) the resulting session: for callers that only
 * need the committed header's version and seq, never handed out.
 */
export async function writeUnpresented(
  context: ManagerContext,
  key: SessionKey,
  options: WriteOptions,
  plan: Planner,
  lockHeld = false,
): Promise<{ header: SessionHeader; state: JsonObject }> {
  const expected =
    options.expectedVersion === undefined ? undefined : nonNegativeInt(options.expectedVersion, "expectedVersion");
  const locked = async (): Promise<{ header: SessionHeader; state: JsonObject }> => {
    for (let attempt = 0; ; attempt++) {
      const now = context.clock.now();
      const current = await context.store.get(key, now);
      if (!current) throw notFound();
      // Shared scopes are read only when the change involves them: appends stay two round trips.
      let scopes: Scopes | undefined;
      const loadScopes = async (): Promise<Scopes> => {
        scopes ??= await readScopes(context, key);
        return scopes;
      };
      // The plan runs before the version check so a retried idempotent append replays its first
      // result even though that first append moved the version past the retry's If-Match.
      const step = await plan(current, loadScopes, now);
      if (step === "skip") return { header: current, state: current.state };
      if (expected !== undefined && current.version !== expected) {
        throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
          details: { currentVersion: current.version },
        });
      }
      if (step.state !== undefined || (step.delta !== undefined && hasScopedKeys(step.delta))) await loadScopes();
      const commit = buildCommit(context, key, current, scopes ?? NO_SCOPES, step, now);
      try {
        await context.store.commit(commit);
        const state = scopes
          ? applyScopes(commit.header.state, scopesAfter(scopes, commit.scoped))
          : commit.header.state;
        return { header: commit.header, state };
      } catch (error) {
        const retryable = isFrontdeskError(error, "conflict") && error.details?.currentVersion !== undefined;
        const scopeRace = isFrontdeskError(error, "conflict") && error.details?.scope !== undefined;
        if (!(retryable || scopeRace)) throw error;
        if (expected !== undefined && !scopeRace) {
          throw new FrontdeskError("precondition_failed", "The session changed while writing", {
            details: error.details,
          });
        }
        if (attempt + 1 >= context.maxRetries) {
          throw new FrontdeskError("conflict", `Gave up after ${context.maxRetries} conflicting attempts`, {
            details: error.details,
          });
        }
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  };
  return lockHeld ? locked() : context.mutex.run(sessionKeyId(key), locked);
}

/** The commit a plan makes of the header read: new state, `state` and `status` events, stats, TTL. */
function buildCommit(
  context: ManagerContext,
  key: SessionKey,
  current: SessionHeader,
  scopes: Scopes,
  step: WritePlan,
  now: number,
): Commit {
  const events: SessionEvent[] = step.events ? [...step.events] : [];
  let sessionState = current.state;
  let scopedWrites: ScopedWrite[] = [];
  if (step.state !== undefined) {
    const change = splitStateChange(current.state, step.state, scopes);
    sessionState = change.sessionState;
    scopedWrites = change.scopedWrites;
    if (!isEmpty(change.delta)) {
      events.push({
        seq: current.lastSeq + events.length + 1,
        id: newEventId(),
        at: now,
        type: "state",
        stateDelta: change.delta,
      });
    }
  } else if (step.delta !== undefined) {
    const parts = splitDelta(step.delta);
    sessionState = applyDelta(current.state, parts.session);
    scopedWrites = scopedWritesOf(parts, scopes);
  }
  const changes = step.changes ?? {};
  if (changes.status !== undefined && changes.status !== current.status) {
    events.push({
      seq: current.lastSeq + events.length + 1,
      id: newEventId(),
      at: now,
      type: "status",
      scope: "session",
      status: changes.status,
      previous: current.status,
    });
  }
  if (sessionState !== current.state)
    assertWithin("session state", jsonBytes(sessionState), context.limits.maxStateBytes);
  const ttlMs = changes.ttlMs === undefined ? current.ttlMs : changes.ttlMs;
  const version = current.version + 1;
  const header: SessionHeader = {
    ...current,
    ...changes,
    ttlMs,
    state: sessionState,
    version,
    lastSeq: current.lastSeq + events.length,
    stats: accumulateStats(current.stats, events),
    updatedAt: now,
    lastAccessedAt: now,
    expiresAt: expiryOf(now, ttlMs, current.absoluteExpiresAt),
  };
  return {
    key,
    expectedVersion: current.version,
    header,
    events,
    scoped: scopedWrites.length > 0 ? scopedWrites : undefined,
    idempotency: step.idempotency?.(version),
    ...(step.rewrites && step.rewrites.length > 0 ? { rewrites: step.rewrites } : {}),
    ...(step.removeEvents ? { removeEvents: step.removeEvents } : {}),
    now,
  };
}
