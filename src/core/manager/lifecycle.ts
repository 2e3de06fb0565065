/**
 * A session's life as a whole: creating it (with the owner's session cap and AgentDock's
 * return-the-existing-one), changing its state and header, and deleting it with its history.
 */
import { FrontdeskError, isFrontdeskError } from "../errors.ts";
import { assertSessionId, newEventId, newSessionId } from "../ids.ts";
import { assertWithin, jsonBytes } from "../limits.ts";
import {
  emptyStats,
  type JsonObject,
  JsonObjectSchema,
  type SessionEvent,
  type SessionHeader,
  type SessionKey,
  SessionStatusSchema,
  sessionKeyId,
  TagsSchema,
} from "../model.ts";
import { deepFreeze, isEmpty, mergePatch } from "../state.ts";
import { keyOf, type ManagerContext, ownerFor, present } from "./context.ts";
import { expiryOf, serve } from "./expiry.ts";
import { applyScopes, readScopes, scopesAfter, splitStateChange } from "./scopes.ts";
import type { CreateSessionOptions, PatchSessionInput, Session, SessionRef, WriteOptions } from "./types.ts";
import { nonNegativeInt, optionalText, parseWith, validTtl } from "./validation.ts";
import { type HeaderChanges, write } from "./write-path.ts";

export async function create<S extends object>(
  context: ManagerContext,
  options: CreateSessionOptions<S>,
): Promise<Session<S>> {
  const id = options.sessionId === undefined ? newSessionId() : assertSessionId(options.sessionId);
  const userId = ownerFor(context, options.userId);
  const key: SessionKey = { namespace: context.namespace, userId, id };
  const title = optionalText(options.title, "title", 512);
  const purpose = optionalText(options.purpose, "purpose", 4096);
  const tags = options.tags === undefined ? [] : parseWith(TagsSchema, options.tags, "tags");
  const metadata = options.metadata === undefined ? {} : parseWith(JsonObjectSchema, options.metadata, "metadata");
  assertWithin("metadata", jsonBytes(metadata), context.limits.maxMetadataBytes);
  const ttlMs = options.ttlMs === undefined ? context.defaultTtlMs : validTtl(options.ttlMs);
  const absoluteTtlMs = options.absoluteTtlMs === undefined ? context.absoluteTtlMs : validTtl(options.absoluteTtlMs);
  const initial = options.state ?? context.defaultState(id);
  const state = parseWith(JsonObjectSchema, initial, "state");
  const { store, limits } = context;

  return context.mutex.run(sessionKeyId(key), async () => {
    const now = context.clock.now();
    const existing = await store.get(key, now);
    if (existing) {
      if (options.ifExists === "error") {
        throw new FrontdeskError("conflict", "A session with this id already exists", {
          details: { currentVersion: existing.version },
        });
      }
      return serve<S>(context, existing, now);
    }
    if (limits.maxSessionsPerUser !== null && userId !== null) {
      const owned = await store.count(context.namespace, userId, now);
      if (owned >= limits.maxSessionsPerUser) {
        throw new FrontdeskError("payload_too_large", `This user already has ${owned} sessions`, {
          details: { limit: limits.maxSessionsPerUser },
        });
      }
    }
    const scopes = await readScopes(context, key);
    // The user's and the namespace's shared keys exist before the session does: the initial state
    // sets the ones it names and leaves the others as they are (diffing against {} deleted them).
    const { sessionState, delta, scopedWrites } = splitStateChange(
      {},
      { ...applyScopes({}, scopes), ...state },
      scopes,
    );
    assertWithin("session state", jsonBytes(sessionState), limits.maxStateBytes);
    const absoluteExpiresAt = absoluteTtlMs === null ? null : now + absoluteTtlMs;
    const events: SessionEvent[] = isEmpty(delta)
      ? []
      : [{ seq: 1, id: newEventId(), at: now, type: "state", stateDelta: delta }];
    const header: SessionHeader = {
      namespace: context.namespace,
      userId,
      id,
      status: "active",
      title,
      purpose,
      tags,
      metadata,
      state: sessionState,
      version: 1,
      lastSeq: events.length,
      stats: emptyStats(),
      createdAt: now,
      updatedAt: now,
      lastAccessedAt: now,
      ttlMs,
      expiresAt: expiryOf(now, ttlMs, absoluteExpiresAt),
      absoluteExpiresAt,
      parent: null,
    };
    try {
      await store.commit({ key, expectedVersion: 0, header, events, scoped: scopedWrites, now });
    } catch (error) {
      // Another writer created it between our read and our commit: AgentDock returns that one.
      if (isFrontdeskError(error, "conflict") && options.ifExists !== "error") {
        const raced = await store.get(key, now);
        if (raced) return serve<S>(context, raced, now);
      }
      throw error;
    }
    return present<S>(header, applyScopes(sessionState, scopesAfter(scopes, scopedWrites)));
  });
}

export async function update<S extends object>(
  context: ManagerContext,
  ref: SessionRef,
  fn: (state: Readonly<S>) => S,
  options: WriteOptions,
): Promise<Session<S>> {
  return write<S>(context, keyOf(context, ref), options, async (current, loadScopes) => {
    // `current` is this call's own copy from the store, so freezing it in place aliases nothing.
    const merged = deepFreeze(applyScopes(current.state, await loadScopes())) as Readonly<S>;
    const next = fn(merged);
    const state = parseWith(JsonObjectSchema, next, "state returned by the update function");
    return { state };
  });
}

export async function patch<S extends object>(
  context: ManagerContext,
  ref: SessionRef,
  input: PatchSessionInput,
  options: WriteOptions,
): Promise<Session<S>> {
  const statePatch = input.state === undefined ? undefined : parseWith(JsonObjectSchema, input.state, "state");
  const changes: HeaderChanges = {};
  if (input.title !== undefined) changes.title = optionalText(input.title, "title", 512);
  if (input.purpose !== undefined) changes.purpose = optionalText(input.purpose, "purpose", 4096);
  if (input.tags !== undefined) changes.tags = parseWith(TagsSchema, input.tags, "tags");
  if (input.metadata !== undefined) {
    changes.metadata = parseWith(JsonObjectSchema, input.metadata, "metadata");
    assertWithin("metadata", jsonBytes(changes.metadata), context.limits.maxMetadataBytes);
  }
  if (input.status !== undefined) changes.status = parseWith(SessionStatusSchema, input.status, "status");
  if (input.ttlMs !== undefined) changes.ttlMs = validTtl(input.ttlMs);
  return write<S>(context, keyOf(context, ref), options, async (current, loadScopes) => {
    const state =
      statePatch === undefined
        ? undefined
        : (mergePatch(applyScopes(current.state, await loadScopes()), statePatch) as JsonObject);
    return { state, changes };
  });
}

export async function updateMetadata<S extends object>(
  context: ManagerContext,
  ref: SessionRef,
  input: { purpose?: string | null; title?: string | null; tags?: string[]; metadata?: JsonObject },
  options: WriteOptions,
): Promise<Session<S>> {
  const metadataPatch =
    input.metadata === undefined ? undefined : parseWith(JsonObjectSchema, input.metadata, "metadata");
  const changes: HeaderChanges = {};
  if (input.title !== undefined) changes.title = optionalText(input.title, "title", 512);
  if (input.purpose !== undefined) changes.purpose = optionalText(input.purpose, "purpose", 4096);
  if (input.tags !== undefined) changes.tags = parseWith(TagsSchema, input.tags, "tags");
  return write<S>(context, keyOf(context, ref), options, async (current) => {
    const metadata = metadataPatch === undefined ? undefined : { ...current.metadata, ...metadataPatch };
    if (metadata) assertWithin("metadata", jsonBytes(metadata), context.limits.maxMetadataBytes);
    return { changes: metadata ? { ...changes, metadata } : changes };
  });
}

/** Deletes the header and every event together; see `SessionManager.delete`. */
export async function remove(context: ManagerContext, ref: SessionRef, options: WriteOptions): Promise<boolean> {
  const key = keyOf(context, ref);
  const { store, clock } = context;
  const expected =
    options.expectedVersion === undefined ? undefined : nonNegativeInt(options.expectedVersion, "expectedVersion");
  return context.mutex.run(sessionKeyId(key), async () => {
    if (expected !== undefined) {
      try {
        return await store.delete(key, { expectedVersion: expected, now: clock.now() });
      } catch (error) {
        if (!isFrontdeskError(error, "conflict")) throw error;
        throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
          details: { currentVersion: error.details?.currentVersion },
        });
      }
    }
    const live = await store.get(key, clock.now());
    const deleted = await store.delete(key);
    return deleted && live !== undefined;
  });
}
