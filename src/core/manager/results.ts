/**
 * The AgentDock-style API: `{ success, sessionId, data | error }` results that never throw for a
 * session-level failure (missing, expired, conflicting, invalid). Built on the throwing methods, so
 * both APIs behave alike in everything but how they report a failure.
 */
import { type FrontdeskError, isFrontdeskError } from "../errors.ts";
import type { Session, SessionResult } from "./types.ts";

const toResultError = (error: unknown): { code: FrontdeskError["code"]; message: string } =>
  isFrontdeskError(error)
    ? { code: error.code, message: error.message }
    : { code: "internal", message: "Internal error" };

/** `work`'s session as a result whose `data` is its state. */
export function stateResult<S extends object>(
  fallbackId: string,
  work: () => Promise<Session<S>>,
): Promise<SessionResult<S, S>> {
  return asResult<S, S>(fallbackId, async () => {
    const session = await work();
    return { sessionId: session.id, data: session.state as S, session };
  });
}

export async function asResult<D, S extends object>(
  fallbackId: string,
  work: () => Promise<{ sessionId: string; data: D; session?: Session<S> }>,
): Promise<SessionResult<D, S>> {
  try {
    const { sessionId, data, session } = await work();
    return session ? { success: true, sessionId, data, session } : { success: true, sessionId, data };
  } catch (error) {
    return { success: false, sessionId: fallbackId, error: toResultError(error) };
  }
}
