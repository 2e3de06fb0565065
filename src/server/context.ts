import type { FastifyRequest } from "fastify";
import type { Clock } from "../core/clock.ts";
import { FrontdeskError } from "../core/errors.ts";
import { LruMap } from "../core/lru-map.ts";
import type { SessionManager } from "../core/session-manager.ts";
import type { SessionStore } from "../stores/types.ts";
import type { AgentHost } from "./agents.ts";
import { type Authenticator, actingUserOf, listingUserOf, type Principal, unauthorized } from "./auth.ts";
import type { ServerLimits } from "./limits.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { StreamHub } from "./streams.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the auth hook on every authenticated route; null elsewhere. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Who may call the route: any key (`user`), admin keys only (`admin`), or anyone (`none`). @default "none" */
    auth?: "user" | "admin" | "none";
  }
}

/** What every route module needs; built once per app. */
export interface ServerContext {
  readonly store: SessionStore;
  /** Not bound to a user: routes never call it directly, only through {@link scopedManager}. */
  readonly manager: SessionManager;
  readonly auth: Authenticator;
  readonly limits: ServerLimits;
  readonly clock: Clock;
  readonly metrics: ServerMetrics;
  readonly hub: StreamHub;
  readonly heartbeatMs: number;
  readonly streamGraceMs: number;
  /** The agent runtime, or undefined when the app was built with `agents: false`. */
  readonly agents: AgentHost | undefined;
  /** The per-key request rate (HTTP requests and WebSocket agent messages); undefined for no limit. */
  readonly rateLimiter: RateLimiter | undefined;
  /** True once the app has started to close: new requests get 503. */
  draining: boolean;
}

const principalOf = (request: FastifyRequest): Principal => {
  // Fail closed: a route that forgot its auth config, or a principal without a user, never serves unscoped data.
  if (typeof request.principal?.userId !== "string") throw unauthorized();
  return request.principal;
};

/** The manager bound to the user this request acts for. Every session route goes through it. */
/** Bound views are immutable (every field readonly, no cached data), so one per user is reused. */
const VIEW_CACHE_SIZE = 1024;
const boundViews = new WeakMap<SessionManager, LruMap<string, SessionManager>>();

function managerFor(manager: SessionManager, userId: string): SessionManager {
  let views = boundViews.get(manager);
  if (!views) {
    views = new LruMap(VIEW_CACHE_SIZE);
    boundViews.set(manager, views);
  }
  let view = views.get(userId);
  if (!view) {
    view = manager.forUser(userId);
    views.set(userId, view);
  }
  return view;
}

export function scopedManager(context: ServerContext, request: FastifyRequest): SessionManager {
  const principal = principalOf(request);
  return managerFor(context.manager, actingUserOf(principal, request.query, request.headers));
}

/** For listing: admins without a named user get the unbound view (every owner); everyone else a bound one. */
export function listingManager(context: ServerContext, request: FastifyRequest): SessionManager {
  const principal = principalOf(request);
  const userId = listingUserOf(principal, request.query, request.headers);
  if (userId === undefined) {
    if (!principal.admin) throw new FrontdeskError("forbidden", "Only admin keys may list every user");
    return context.manager;
  }
  return managerFor(context.manager, userId);
}

/** `If-Match: "<version>"` → the expected version; `*` or no header → none. Weak tags never match (RFC 9110). */
export function expectedVersionOf(header: unknown): number | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== "string") throw new FrontdeskError("invalid_request", 'If-Match must be one ETag like "3"');
  const value = header.trim();
  if (value === "*") return undefined;
  if (/^W\/"\d{1,15}"$/.test(value)) {
    throw new FrontdeskError("precondition_failed", "If-Match needs a strong ETag");
  }
  const match = /^"(\d{1,15})"$/.exec(value) ?? /^(\d{1,15})$/.exec(value);
  if (!match) throw new FrontdeskError("invalid_request", 'If-Match must be one ETag like "3"');
  return Number(match[1]);
}

/** `Last-Event-ID` (wins) or `?after=`; a seq ≥ 0. */
export function resumeAfterOf(lastEventId: unknown, after: number | undefined): number {
  if (typeof lastEventId === "string" && lastEventId.trim() !== "") {
    const value = lastEventId.trim();
    if (!/^\d{1,15}$/.test(value)) throw new FrontdeskError("invalid_request", "Last-Event-ID must be an event seq");
    return Number(value);
  }
  return after ?? 0;
}

export const etagOf = (version: number): string => `"${version}"`;

export const toArray = <T>(value: T | T[] | undefined): T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

export const ttlMsOf = (ttlSeconds: number | null | undefined): number | null | undefined =>
  ttlSeconds === undefined ? undefined : ttlSeconds === null ? null : ttlSeconds * 1000;
