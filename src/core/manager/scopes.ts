/**
 * Scoped state, as in Google ADK: `user:` keys are shared by every session of an owner and `app:`
 * keys by the namespace. They are stored apart from the session and merged into the state it is
 * served with; a change to them is split off into scoped writes, each checked against the version
 * read so two sessions writing one `user:` key never lose an update.
 */
import type { JsonObject, SessionKey, StateDelta } from "../model.ts";
import { applyDelta, diffState, isEmpty, scopeOfKey, splitDelta } from "../state.ts";
import type { ScopedState, ScopedWrite } from "../store-contract.ts";
import type { ManagerContext } from "./context.ts";

export interface Scopes {
  user: ScopedState;
  app: ScopedState;
}

const EMPTY_SCOPE: ScopedState = Object.freeze({ state: Object.freeze({}) as JsonObject, version: 0 });
export const NO_SCOPES: Scopes = Object.freeze({ user: EMPTY_SCOPE, app: EMPTY_SCOPE });

export const hasScopedKeys = (delta: StateDelta): boolean =>
  Object.keys(delta).some((key) => {
    const scope = scopeOfKey(key);
    return scope === "user" || scope === "app";
  });

/** The state a session is served with: its own keys, then the namespace's, then the owner's. */
export const applyScopes = (state: JsonObject, scopes: Scopes): JsonObject => {
  if (isEmpty(scopes.user.state) && isEmpty(scopes.app.state)) return state;
  return { ...state, ...scopes.app.state, ...scopes.user.state };
};

export const scopedWritesOf = (parts: { user: StateDelta; app: StateDelta }, scopes: Scopes): ScopedWrite[] => {
  const writes: ScopedWrite[] = [];
  if (!isEmpty(parts.user)) writes.push({ scope: "user", expectedVersion: scopes.user.version, delta: parts.user });
  if (!isEmpty(parts.app)) writes.push({ scope: "app", expectedVersion: scopes.app.version, delta: parts.app });
  return writes;
};

/** The scopes as a commit that carried `writes` left them, without reading them again. */
export const scopesAfter = (scopes: Scopes, writes: readonly ScopedWrite[] | undefined): Scopes => {
  if (!writes) return scopes;
  const next = { ...scopes };
  for (const write of writes) {
    next[write.scope] = {
      state: applyDelta(scopes[write.scope].state, write.delta),
      version: write.expectedVersion + 1,
    };
  }
  return next;
};

/** Reads of the `user:` and `app:` states merged into a session's own, issued at once. */
export const scopeReads = (context: ManagerContext, key: SessionKey): [Promise<ScopedState>, Promise<ScopedState>] => [
  context.store.readScope(key.namespace, "user", key.userId),
  context.store.readScope(key.namespace, "app", null),
];

export async function readScopes(context: ManagerContext, key: SessionKey): Promise<Scopes> {
  const [user, app] = await Promise.all(scopeReads(context, key));
  return { user, app };
}

/** Splits a whole-state change into the session's own state, the delta, and scoped writes. */
export function splitStateChange(
  before: JsonObject,
  after: JsonObject,
  scopes: Scopes,
): { sessionState: JsonObject; delta: StateDelta; scopedWrites: ScopedWrite[] } {
  const delta = diffState(applyScopes(before, scopes), after);
  const parts = splitDelta(delta);
  return {
    sessionState: applyDelta(before, parts.session),
    delta: { ...parts.session, ...parts.user, ...parts.app },
    scopedWrites: scopedWritesOf(parts, scopes),
  };
}
