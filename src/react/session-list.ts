/**
 * A live list of sessions, without React ({@link useSessions} is this behind `useSyncExternalStore`):
 * cursor pages, most recently active first, loaded on request; kept live by asking every `pollMs`
 * for the sessions changed since the newest change seen (`updatedAfter`, oldest first, so a burst
 * bigger than a page is walked through rather than skipped) and merging them in: new sessions
 * appear, changed ones move up. Polling, because the server has no cross-session change stream;
 * one small request per interval, skipped while the page is hidden.
 */
import type { FrontdeskClient, FrontdeskError } from "../client/index.ts";
import type { Session, SessionStatus } from "../index.ts";
import { clientOf, type FrontdeskConnection, wait } from "./connection.ts";
import { LiveFeed } from "./feed.ts";

/** Which sessions to list (the filters of `GET /v1/sessions`). */
export interface SessionFilter {
  status?: SessionStatus | readonly SessionStatus[];
  /** Sessions carrying every one of these tags. */
  tags?: readonly string[];
  /** Full-text search over title, purpose and id. */
  text?: string;
  createdAfter?: number;
  createdBefore?: number;
  updatedAfter?: number;
  updatedBefore?: number;
  /** Admin keys: one user's sessions (otherwise every user's). */
  userId?: string;
}

export interface SessionListOptions {
  /** Sessions per page. @default 100 */
  pageSize?: number;
  /** Interval between checks for changes. @default 3000 */
  pollMs?: number;
}

export interface SessionListSnapshot {
  sessions: readonly Session[];
  /** More pages to load (`loadMore`). */
  hasMore: boolean;
  status: "loading" | "ready" | "error";
  error: FrontdeskError | Error | undefined;
  loadingMore: boolean;
  /** `userId\0id` of the sessions that arrived by the last check, for a brief highlight. */
  fresh: ReadonlySet<string>;
  /** Epoch ms of the last successful read. */
  refreshedAt: number;
}

export const EMPTY_LIST_SNAPSHOT: SessionListSnapshot = Object.freeze({
  sessions: Object.freeze([]) as readonly Session[],
  hasMore: false,
  status: "loading",
  error: undefined,
  loadingMore: false,
  fresh: new Set<string>(),
  refreshedAt: 0,
});

/** A session's identity in a list that may hold several users' sessions. */
export const sessionKey = (session: Pick<Session, "userId" | "id">): string =>
  `${session.userId ?? ""}\u0000${session.id}`;

const byActivity = (a: Session, b: Session): number =>
  b.updatedAt - a.updatedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** A browser tab in the background (no DOM types here: this module runs in Node too). */
const pageHidden = (): boolean => (globalThis as { document?: { hidden?: boolean } }).document?.hidden === true;

/** Pages of changes read per check, at most (200 sessions each). */
const CHANGE_PAGES = 5;

export class SessionListFeed extends LiveFeed<SessionListSnapshot> {
  private readonly client: FrontdeskClient;
  private readonly pageSize: number;
  private readonly pollMs: number;
  private cursor: string | null = null;
  /** The newest `updatedAt` seen: changes after it are what a check asks for. */
  private watermark = 0;

  constructor(
    connection: FrontdeskConnection,
    private readonly filter: SessionFilter = {},
    options: SessionListOptions = {},
  ) {
    super(EMPTY_LIST_SNAPSHOT);
    this.client = clientOf(connection);
    this.pageSize = options.pageSize ?? 100;
    this.pollMs = options.pollMs ?? 3000;
  }

  /** Reads the first page and starts checking for changes (again after `stop`, from scratch). */
  override start(): void {
    super.start();
  }

  /** Reads the list again from its first page (after an error, say). */
  refresh(): void {
    this.stop();
    this.start();
  }

  async loadMore(): Promise<void> {
    const signal = this.signal;
    if (!signal || signal.aborted || !this.cursor || this.snapshot.loadingMore || this.snapshot.status !== "ready") {
      return;
    }
    this.update({ loadingMore: true });
    try {
      const page = await this.client.listSessions({ ...this.query(), cursor: this.cursor, limit: this.pageSize });
      if (signal.aborted) return;
      this.cursor = page.nextCursor;
      const known = new Set(this.snapshot.sessions.map(sessionKey));
      const added = page.items.filter((item) => !known.has(sessionKey(item)));
      this.update({
        sessions: [...this.snapshot.sessions, ...added],
        hasMore: this.cursor !== null,
        loadingMore: false,
      });
    } catch {
      if (!signal.aborted) this.update({ loadingMore: false });
    }
  }

  private query() {
    const f = this.filter;
    return {
      status: f.status as SessionStatus[] | undefined,
      tags: f.tags === undefined ? undefined : [...f.tags],
      text: f.text?.trim() || undefined,
      createdAfter: f.createdAfter,
      createdBefore: f.createdBefore,
      updatedAfter: f.updatedAfter,
      updatedBefore: f.updatedBefore,
      userId: f.userId,
      orderBy: "updatedAt" as const,
      order: "desc" as const,
    };
  }

  protected async run(signal: AbortSignal): Promise<void> {
    this.snapshot = EMPTY_LIST_SNAPSHOT;
    this.update({});
    try {
      const page = await this.client.listSessions({ ...this.query(), limit: this.pageSize });
      if (signal.aborted) return;
      this.cursor = page.nextCursor;
      this.watermark = Math.max(0, ...page.items.map((s) => s.updatedAt));
      this.update({
        sessions: page.items,
        hasMore: page.nextCursor !== null,
        status: "ready",
        refreshedAt: Date.now(),
      });
    } catch (error) {
      if (!signal.aborted) this.update({ status: "error", error: error as Error });
      return;
    }
    while (!signal.aborted) {
      await wait(this.pollMs, signal);
      if (signal.aborted) return;
      if (pageHidden()) continue;
      try {
        this.merge(await this.changes(signal));
      } catch {
        // Offline or refused for now: keep the list as it is and check again next time.
      }
    }
  }

  private async changes(signal: AbortSignal): Promise<Session[]> {
    const changed: Session[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < CHANGE_PAGES && !signal.aborted; pages++) {
      const page = await this.client.listSessions({
        ...this.query(),
        // One ms back: another session may have changed in the same ms as the newest one seen.
        updatedAfter: Math.max(this.watermark - 1, this.filter.updatedAfter ?? 0),
        order: "asc",
        limit: 200,
        cursor,
      });
      changed.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return changed;
  }

  private merge(changed: readonly Session[]): void {
    for (const session of changed) this.watermark = Math.max(this.watermark, session.updatedAt);
    const byKey = new Map(this.snapshot.sessions.map((item) => [sessionKey(item), item]));
    const fresh = new Set<string>();
    let touched = false;
    for (const session of changed) {
      const key = sessionKey(session);
      const old = byKey.get(key);
      if (old && old.version === session.version && old.updatedAt === session.updatedAt) continue;
      if (!old) fresh.add(key);
      byKey.set(key, session);
      touched = true;
    }
    if (!touched) {
      this.update({ refreshedAt: Date.now(), error: undefined });
      return;
    }
    this.update({
      sessions: [...byKey.values()].sort(byActivity),
      fresh,
      refreshedAt: Date.now(),
      error: undefined,
    });
  }
}
