/**
 * Time to live: a sliding TTL that every read or write moves forward, capped by an optional
 * absolute lifetime. A read refreshes it at most once per `touchFraction` of the TTL, so serving a
 * session stays a read; an expired session is never served, whether or not a sweep removed it.
 */
import type { JsonObject, SessionHeader, SessionKey } from "../model.ts";
import { keyOfHeader, type ManagerContext, notFound, present } from "./context.ts";
import { applyScopes, readScopes } from "./scopes.ts";
import type { Session } from "./types.ts";

export const expiryOf = (now: number, ttlMs: number | null, absoluteExpiresAt: number | null): number | null => {
  const sliding = ttlMs === null ? null : now + ttlMs;
  if (absoluteExpiresAt === null) return sliding;
  return sliding === null ? absoluteExpiresAt : Math.min(sliding, absoluteExpiresAt);
};

export const needsTouch = (context: ManagerContext, header: SessionHeader, now: number): boolean =>
  header.ttlMs !== null && now - header.lastAccessedAt >= header.ttlMs * context.touchFraction;

/** The header with its TTL moved to `now`, written only when it is due. */
export async function slide(context: ManagerContext, header: SessionHeader, now: number): Promise<SessionHeader> {
  if (!needsTouch(context, header, now)) return header;
  const expiresAt = expiryOf(now, header.ttlMs, header.absoluteExpiresAt);
  const touched = await context.store.touch(keyOfHeader(header), { expiresAt, lastAccessedAt: now }, now);
  if (!touched) throw notFound();
  return { ...header, expiresAt, lastAccessedAt: now };
}

/** The live header (never an expired one), its TTL slid when due. */
export async function live(context: ManagerContext, key: SessionKey): Promise<SessionHeader> {
  const now = context.clock.now();
  const header = await context.store.get(key, now);
  if (!header) throw notFound();
  return slide(context, header, now);
}

/** A header just read, served: TTL slid when due, scoped state merged in. */
export async function serve<S extends object>(
  context: ManagerContext,
  header: SessionHeader,
  now: number,
): Promise<Session<S>> {
  const served = await slide(context, header, now);
  const state: JsonObject = applyScopes(served.state, await readScopes(context, keyOfHeader(header)));
  return present<S>(served, state);
}
