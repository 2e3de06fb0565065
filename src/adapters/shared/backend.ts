/**
 * What every framework adapter shares: the one options shape (`store` or `sessions`, plus
 * `namespace` and `userId` as defaults), the managers per (namespace, owner) a framework names on
 * each call, and the mapping of framework ids onto Frontdesk's id patterns.
 *
 * Adapters import only Frontdesk's public surface (this file included), so each stays a thin layer
 * that a user could have written, and none reaches into core's internals.
 */
import { createHash } from "node:crypto";
import {
  createSessionManager,
  isFrontdeskError,
  NAMESPACE_PATTERN,
  SESSION_ID_PATTERN,
  type Session,
  type SessionManager,
  type SessionManagerOptions,
  type SessionStore,
  USER_ID_PATTERN,
} from "../../index.ts";

/** The options every adapter takes, so users learn the shape once. */
export interface AdapterOptions {
  /**
   * A store URL (`sqlite:./sessions.db`, `redis://…`, `postgres://…`, `file:./dir`, `memory:`) or
   * an opened store. The adapter closes a store it opened from a URL when it is closed.
   * Ignored when `sessions` is given. @default "memory:"
   */
  store?: string | SessionStore;
  /**
   * An existing manager, of any state type: its store, options and namespace are used as they are.
   * An adapter reads and writes only its own keys of a session's state.
   */
  sessions?: SessionManager<object>;
  /**
   * The namespace of sessions the framework does not name an app for.
   * @default the manager's namespace, else "default"
   */
  namespace?: string;
  /**
   * The owner of sessions the framework names no user for; `null` for none. Identity the
   * framework passes on a call (ADK's `userId`, LangGraph's `configurable.user_id`) wins.
   * @default the manager's owner, else null
   */
  userId?: string | null;
  /**
   * Options of the manager opened from `store` (TTL, limits, clock); unused with `sessions`.
   * Sessions never expire unless `defaultTtlMs` is set here: a framework's own stores keep a
   * conversation until it is deleted, and a user switching stores must not lose it silently after
   * Frontdesk's usual 30 idle minutes.
   */
  manager?: SessionManagerOptions;
}

/** The identity a framework names on a call; absent fields fall back to the adapter's defaults. */
export interface CallIdentity {
  namespace?: string | undefined;
  userId?: string | null | undefined;
}

/**
 * The managers an adapter works through. One per (namespace, owner) is built on first use and
 * kept, so every call is scoped to exactly the owner it names: a saver or service that serves many
 * users can never read one user's session through another's call.
 */
export class AdapterBackend {
  private root: Promise<SessionManager> | undefined;
  private readonly views = new Map<string, SessionManager>();
  private readonly owned: boolean;

  constructor(private readonly options: AdapterOptions = {}) {
    this.owned = options.sessions === undefined && typeof options.store !== "object";
  }

  /** The default manager: the one given, or one opened on `store`. */
  base(): Promise<SessionManager> {
    this.root ??= this.options.sessions
      ? Promise.resolve(this.options.sessions as unknown as SessionManager)
      : createSessionManager({ defaultTtlMs: null, ...this.options.manager, store: this.options.store ?? "memory:" });
    return this.root;
  }

  /** The manager for one call: the framework's identity where it names one, else the defaults. */
  async managerFor(identity: CallIdentity = {}): Promise<SessionManager> {
    const base = await this.base();
    const namespace = externalNamespace(identity.namespace ?? this.options.namespace ?? base.namespace);
    const userId =
      identity.userId !== undefined
        ? externalUserId(identity.userId)
        : this.options.userId !== undefined
          ? externalUserId(this.options.userId)
          : base.userId;
    const key = `${namespace}\u0000${userId ?? ""}`;
    let view = this.views.get(key);
    if (!view) {
      view = base.forNamespace(namespace).forUser(userId);
      this.views.set(key, view);
    }
    return view;
  }

  /** Closes the store when the adapter opened it from a URL; a passed-in store or manager is the caller's. */
  async close(): Promise<void> {
    if (!this.owned || !this.root) return;
    const manager = await this.root;
    this.root = undefined;
    this.views.clear();
    await manager.store.close();
  }
}

/**
 * A framework's id as a Frontdesk id: kept as it is when it already fits the pattern (so the
 * console, the CLI and the HTTP API show the framework's own id), else a stable digest of it.
 * Adapters that must list ids back keep the original beside the session (metadata).
 */
function mapId(kind: string, pattern: RegExp, value: string, maxLength: number): string {
  if (pattern.test(value)) return value;
  const digest = createHash("sha256").update(value).digest("base64url").replaceAll("_", ".");
  return `${kind}:${digest}`.slice(0, maxLength);
}

/** A framework's session or thread id as a Frontdesk session id. */
export const externalSessionId = (value: string): string => mapId("x", SESSION_ID_PATTERN, value, 128);
/** A framework's user id as a Frontdesk owner; `null` stays null (no owner). */
export const externalUserId = (value: string | null): string | null =>
  value === null ? null : mapId("u", USER_ID_PATTERN, value, 128);
/** A framework's app name as a Frontdesk namespace. */
export const externalNamespace = (value: string): string => mapId("n", NAMESPACE_PATTERN, value, 64);

/**
 * The session, or undefined when it does not exist or has expired (for the caller's owner, which
 * reads the same). Any other failure, a store outage say, still throws: unlike the manager's
 * `getSession` result API, which reports every failure as a result.
 */
export async function findSession(sessions: SessionManager, id: string): Promise<Session | undefined> {
  try {
    return await sessions.get(id);
  } catch (error) {
    if (isFrontdeskError(error, "not_found")) return undefined;
    throw error;
  }
}
