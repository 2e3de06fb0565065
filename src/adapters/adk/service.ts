/**
 * `FrontdeskSessionService`: Google ADK's `BaseSessionService` on a Frontdesk store.
 *
 * ADK's `appName` is the Frontdesk namespace and its `userId` the owner, on every call: one service
 * serves many apps and users, and no call can reach another owner's session. `app:` and `user:`
 * state keys are Frontdesk's namespace-wide and user-wide scopes, which have ADK's semantics;
 * `temp:` keys are never persisted. Each `appendEvent` is one atomic commit of the event and its
 * state delta (session, `user:` and `app:` keys together), made against the version the session
 * object was read at: a stale object is refused (see `stale.ts` and docs/adapters/adk.md for why
 * this adapter refuses rather than rebases).
 */
import {
  type AppendEventRequest,
  BaseSessionService,
  type CreateSessionRequest,
  createSession as createAdkSession,
  type DeleteSessionRequest,
  type Event,
  type GetSessionRequest,
  type ListSessionsRequest,
  type ListSessionsResponse,
  type Session,
} from "@google/adk";
import {
  type Session as FrontdeskSession,
  isFrontdeskError,
  type JsonObject,
  newSessionId,
  type SessionManager,
} from "../../index.ts";
import { AdapterBackend, type AdapterOptions, externalNamespace, externalSessionId } from "../shared/backend.ts";
import { copyStored } from "../shared/copy.ts";
import { frontdeskEventsOf, invalidField, jsonOf, persistedDelta, storedForm } from "./events.ts";
import { readAdkEvents } from "./history.ts";
import { placeEvent, queued, rememberVersion, versionOf } from "./session-objects.ts";
import { StaleSessionError } from "./stale.ts";

/** The options of {@link FrontdeskSessionService}: the options every Frontdesk adapter takes. */
export type FrontdeskSessionServiceOptions = AdapterOptions;

/** The metadata field that keeps ADK's own ids, so sessions are listed back under them. */
const ORIGIN_FIELD = "adk";

interface Origin {
  appName: string;
  userId: string;
  sessionId: string;
}

const identityOf = (request: { appName?: unknown; userId?: unknown }): { appName: string; userId: string } => {
  if (typeof request?.appName !== "string") throw invalidField("appName", "a string");
  if (typeof request.userId !== "string") throw invalidField("userId", "a string");
  return { appName: request.appName, userId: request.userId };
};

const sessionIdOf = (value: unknown): string => {
  if (typeof value !== "string" || value === "") throw invalidField("sessionId", "a non-empty string");
  return value;
};

const originOf = (session: FrontdeskSession): Partial<Origin> => {
  const origin = session.metadata[ORIGIN_FIELD];
  return origin !== null && typeof origin === "object" && !Array.isArray(origin) ? (origin as Partial<Origin>) : {};
};

const notFound = (error: unknown): boolean => isFrontdeskError(error, "not_found");

/**
 * Google ADK's session service on Frontdesk: every ADK session is a first-class Frontdesk session
 * (messages and tool cards in the console, SSE, export, TTL, per-user isolation) on any store.
 *
 * @example
 * const sessionService = new FrontdeskSessionService({ store: "sqlite:./sessions.db" });
 * const runner = new Runner({ appName: "travel", agent, sessionService });
 */
export class FrontdeskSessionService extends BaseSessionService {
  private readonly backend: AdapterBackend;

  constructor(options: FrontdeskSessionServiceOptions = {}) {
    super();
    this.backend = new AdapterBackend(options);
  }

  private managerFor(appName: string, userId: string): Promise<SessionManager> {
    return this.backend.managerFor({ namespace: appName, userId });
  }

  /**
   * Creates a session; `app:` and `user:` keys of `state` go to their shared scopes, `temp:` keys
   * are dropped. An id that is taken is refused with `conflict`: a conversation is never replaced.
   */
  override async createSession(request: CreateSessionRequest): Promise<Session> {
    const { appName, userId } = identityOf(request);
    const sessionId = request.sessionId ? sessionIdOf(request.sessionId) : newSessionId();
    let state: JsonObject | undefined;
    if (request.state !== undefined && request.state !== null) {
      state = {};
      for (const [key, value] of Object.entries(jsonOf(request.state) as JsonObject)) {
        if (!key.startsWith("temp:")) state[key] = value;
      }
    }
    const manager = await this.managerFor(appName, userId);
    const origin: Origin = { appName, userId, sessionId };
    const created = await manager.create({
      sessionId: externalSessionId(sessionId),
      state,
      metadata: { [ORIGIN_FIELD]: { ...origin } },
      ifExists: "error",
    });
    return this.handOut(created, origin, []);
  }

  /** Creates the session unless it exists, also when two callers race to create it. */
  override async getOrCreateSession(request: CreateSessionRequest): Promise<Session> {
    if (request.sessionId) {
      const existing = await this.getSession({ ...request, sessionId: request.sessionId });
      if (existing) return existing;
    }
    try {
      return await this.createSession(request);
    } catch (error) {
      if (!request.sessionId || !isFrontdeskError(error, "conflict")) throw error;
      const raced = await this.getSession({ ...request, sessionId: request.sessionId });
      if (!raced) throw error;
      return raced;
    }
  }

  /**
   * The session with its merged state (own, `app:`, `user:` keys) and its events, or only the
   * newest ones `config` asks for (read from the end of the log: O(events returned)).
   */
  override async getSession(request: GetSessionRequest): Promise<Session | undefined> {
    const { appName, userId } = identityOf(request);
    const sessionId = sessionIdOf(request.sessionId);
    const manager = await this.managerFor(appName, userId);
    const id = externalSessionId(sessionId);
    try {
      const header = await manager.get(id);
      const origin = originOf(header);
      if (origin.sessionId !== undefined && origin.sessionId !== sessionId) return undefined;
      const events = await readAdkEvents(manager, id, header.lastSeq, request.config);
      return this.handOut(header, { appName, userId, sessionId }, events);
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * The app's sessions (of one user, or of every user when `userId` is omitted), without state or
   * events, paged as ADK pages them. Every session of the app is read to count them.
   */
  override async listSessions(request: ListSessionsRequest): Promise<ListSessionsResponse> {
    if (typeof request?.appName !== "string") throw invalidField("appName", "a string");
    const { appName, userId, order } = request;
    if (userId !== undefined && typeof userId !== "string") throw invalidField("userId", "a string");
    if (order !== undefined && order !== "asc" && order !== "desc") throw invalidField("order", '"asc" or "desc"');
    const manager =
      userId === undefined
        ? (await this.backend.base()).forNamespace(externalNamespace(appName))
        : await this.managerFor(appName, userId);
    const all: Session[] = [];
    let cursor: string | undefined;
    do {
      const page = await manager.listSessions({
        // No order asked: creation order, as ADK's in-memory service lists them.
        orderBy: order === undefined ? "createdAt" : "updatedAt",
        order: order ?? "asc",
        limit: 1000,
        cursor,
      });
      for (const session of page.items) {
        const origin = originOf(session);
        all.push(
          createAdkSession({
            id: origin.sessionId ?? session.id,
            appName,
            userId: origin.userId ?? session.userId ?? "",
            state: {},
            events: [],
            lastUpdateTime: session.updatedAt,
          }),
        );
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return pageOf(all, request);
  }

  /** Deletes the session with all its events; deleting an absent session does nothing, as in ADK. */
  override async deleteSession(request: DeleteSessionRequest): Promise<void> {
    const { appName, userId } = identityOf(request);
    const manager = await this.managerFor(appName, userId);
    await manager.delete(externalSessionId(sessionIdOf(request.sessionId)));
  }

  /**
   * Appends the event and applies its state delta (session, `user:` and `app:` keys; `temp:` keys
   * are never stored) in one atomic commit, then updates the caller's session object as ADK does.
   * A partial (streaming) event is returned unstored, as ADK does.
   *
   * @throws StaleSessionError when another writer appended to the session after this object was
   *   read; nothing is written and the object is unchanged.
   */
  override async appendEvent({ session, event }: AppendEventRequest): Promise<Event> {
    if (event?.partial) return event;
    if (session === null || typeof session !== "object") throw invalidField("session", "a session object");
    const { appName, userId } = identityOf(session);
    const id = externalSessionId(sessionIdOf(session.id));
    if (event === null || typeof event !== "object" || typeof event.id !== "string") {
      throw invalidField("event", "an ADK event with an id");
    }
    return queued(session, async () => {
      const version = versionOf(session);
      const inputs = frontdeskEventsOf(storedForm(event), persistedDelta(event));
      const manager = await this.managerFor(appName, userId);
      let written: number;
      try {
        written = (await manager.appendEvents(id, inputs, { expectedVersion: version })).version;
      } catch (error) {
        if (isFrontdeskError(error, "precondition_failed")) {
          throw new StaleSessionError(version, error.details?.currentVersion, error);
        }
        throw error;
      }
      rememberVersion(session, written);
      // The caller's object changes only now that the commit is durable. ADK's own base class
      // trims the event and applies its delta to the object's state; it is handed a view with no
      // events, since it would scan them all to place the event, which `placeEvent` does in O(1).
      const appended = await super.appendEvent({ session: { ...session, events: [] }, event });
      placeEvent(session, appended);
      session.lastUpdateTime = appended.timestamp;
      return appended;
    });
  }

  /** Closes the store when this service opened it from a URL; a passed-in store or manager stays open. */
  close(): Promise<void> {
    return this.backend.close();
  }

  /** A served Frontdesk session as a mutable ADK session object that remembers its version. */
  private handOut(session: FrontdeskSession, origin: Origin, events: Event[]): Session {
    const handed = createAdkSession({
      id: origin.sessionId,
      appName: origin.appName,
      userId: origin.userId,
      state: copyStored(session.state) as Record<string, unknown>,
      events,
      lastUpdateTime: session.updatedAt,
    });
    rememberVersion(handed, session.version);
    return handed;
  }
}

const wholeNumber = (value: unknown, field: string, min: number): number => {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw invalidField(field, `a whole number ≥ ${min}`);
  }
  return value;
};

/** ADK's paging over the listed sessions: `limit` with `offset` or a 1-based `page`, and totals. */
function pageOf(all: Session[], request: ListSessionsRequest): ListSessionsResponse {
  const totalItems = all.length;
  const offset = request.offset === undefined ? 0 : wholeNumber(request.offset, "offset", 0);
  if (request.limit === undefined) {
    return {
      sessions: offset > 0 ? all.slice(offset) : all,
      page: 1,
      limit: totalItems,
      totalItems,
      totalPages: totalItems === 0 ? 0 : 1,
    };
  }
  const limit = wholeNumber(request.limit, "limit", 0);
  const page = request.page === undefined ? undefined : wholeNumber(request.page, "page", 1);
  const start = page === undefined ? offset : (page - 1) * limit;
  return {
    sessions: all.slice(start, start + limit),
    page: page ?? (limit === 0 ? 1 : Math.floor(start / limit) + 1),
    limit,
    totalItems,
    totalPages: limit === 0 ? 0 : Math.ceil(totalItems / limit),
  };
}
