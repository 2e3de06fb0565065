/**
 * The sessions list: cursor pages of 100 (most recently active first), loaded as the user scrolls,
 * and kept live by polling `updatedAfter` the newest change seen every few seconds and merging
 * what comes back (new sessions appear, changed ones move up).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { isAbort, NetworkError, type Query, type Session, type SessionPage, send } from "../api/client.ts";
import { connection } from "../api/connection.ts";

export interface ListFilters {
  q: string;
  status: string[];
  tags: string[];
  createdAfter: string;
  createdBefore: string;
  updatedAfter: string;
  updatedBefore: string;
  user: string;
}

const PAGE_SIZE = 100;
export const POLL_MS = 3000;
/** Changes committed this long before the server's clock at first load are still picked up. */
const SKEW_MS = 5000;

export const sessionKey = (session: Pick<Session, "userId" | "id">): string =>
  `${session.userId ?? ""}\u0000${session.id}`;

/** A `datetime-local` value (local time) as epoch ms for the API. */
const instantOf = (value: string): number | undefined => {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
};

export function queryOf(filters: ListFilters): Query {
  return {
    q: filters.q.trim() || undefined,
    status: filters.status,
    tag: filters.tags,
    createdAfter: instantOf(filters.createdAfter),
    createdBefore: instantOf(filters.createdBefore),
    updatedAfter: instantOf(filters.updatedAfter),
    updatedBefore: instantOf(filters.updatedBefore),
    userId: filters.user.trim() || undefined,
  };
}

const byActivity = (a: Session, b: Session): number =>
  b.updatedAt - a.updatedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export interface ListState {
  items: Session[];
  nextCursor: string | null;
  phase: "loading" | "ready" | "error";
  error: unknown;
  loadingMore: boolean;
  /** Keys that arrived by polling, for a brief highlight. */
  fresh: ReadonlySet<string>;
  /** Epoch ms of the last successful refresh. */
  refreshedAt: number;
}

const initial: ListState = {
  items: [],
  nextCursor: null,
  phase: "loading",
  error: null,
  loadingMore: false,
  fresh: new Set(),
  refreshedAt: 0,
};

export function useSessionList(filters: ListFilters) {
  const [state, setState] = useState<ListState>(initial);
  const stateRef = useRef(state);
  stateRef.current = state;
  const filterKey = JSON.stringify(filters);
  const [attempt, setAttempt] = useState(0);
  const live = useRef({ watermark: 0, abort: new AbortController() });

  // biome-ignore lint/correctness/useExhaustiveDependencies: filterKey stands for filters
  useEffect(() => {
    const abort = new AbortController();
    live.current = { watermark: 0, abort };
    const base = queryOf(filters);
    setState(initial);

    const firstPage = async () => {
      try {
        const response = await send("/v1/sessions", {
          query: { ...base, orderBy: "updatedAt", order: "desc", limit: PAGE_SIZE },
          signal: abort.signal,
        });
        const page = (await response.json()) as SessionPage;
        const serverNow = Date.parse(response.headers.get("date") ?? "") || Date.now();
        live.current.watermark = Math.max(serverNow - SKEW_MS, ...page.items.map((s) => s.updatedAt));
        setState({
          ...initial,
          items: page.items,
          nextCursor: page.nextCursor,
          phase: "ready",
          refreshedAt: Date.now(),
        });
        schedulePoll();
      } catch (error) {
        if (isAbort(error)) return;
        setState({ ...initial, phase: "error", error });
      }
    };

    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedulePoll = () => {
      clearTimeout(timer);
      timer = setTimeout(() => void poll(), POLL_MS);
    };

    const poll = async () => {
      if (document.hidden) {
        schedulePoll();
        return;
      }
      try {
        const changed: Session[] = [];
        let cursor: string | null = null;
        // Oldest change first, so a burst bigger than a page is walked through, not skipped.
        for (let pages = 0; pages < 5; pages++) {
          const page: SessionPage = await (
            await send("/v1/sessions", {
              query: {
                ...base,
                updatedAfter: Math.max(live.current.watermark - 1, Number(base.updatedAfter ?? 0)),
                orderBy: "updatedAt",
                order: "asc",
                limit: 200,
                cursor,
              },
              signal: abort.signal,
            })
          ).json();
          changed.push(...page.items);
          cursor = page.nextCursor;
          if (!cursor) break;
        }
        for (const session of changed) {
          live.current.watermark = Math.max(live.current.watermark, session.updatedAt);
        }
        setState((previous) => merge(previous, changed));
      } catch (error) {
        if (isAbort(error)) return;
        // Offline: the banner says so; keep polling (the connection probe backs off on its own).
        if (!(error instanceof NetworkError)) console.warn("refreshing the sessions list failed", error);
      }
      if (!abort.signal.aborted) schedulePoll();
    };

    void firstPage();
    const offReconnect = connection.onReconnect(() => {
      if (stateRef.current.phase === "error") void firstPage();
    });
    return () => {
      abort.abort();
      clearTimeout(timer);
      offReconnect();
    };
  }, [filterKey, attempt]);

  const loadMore = useCallback(async () => {
    const current = stateRef.current;
    if (!current.nextCursor || current.loadingMore || current.phase !== "ready") return;
    setState((s) => ({ ...s, loadingMore: true }));
    const signal = live.current.abort.signal;
    try {
      const page: SessionPage = await (
        await send("/v1/sessions", {
          query: {
            ...queryOf(JSON.parse(filterKey) as ListFilters),
            orderBy: "updatedAt",
            order: "desc",
            limit: PAGE_SIZE,
            cursor: current.nextCursor,
          },
          signal,
        })
      ).json();
      setState((s) => {
        const known = new Set(s.items.map(sessionKey));
        const added = page.items.filter((item) => !known.has(sessionKey(item)));
        return { ...s, items: [...s.items, ...added], nextCursor: page.nextCursor, loadingMore: false };
      });
    } catch (error) {
      if (!isAbort(error)) setState((s) => ({ ...s, loadingMore: false }));
    }
  }, [filterKey]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);

  return { state, loadMore, retry };
}

function merge(previous: ListState, changed: Session[]): ListState {
  if (changed.length === 0) return { ...previous, refreshedAt: Date.now() };
  const byKey = new Map(previous.items.map((item) => [sessionKey(item), item]));
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
  if (!touched) return { ...previous, refreshedAt: Date.now() };
  return { ...previous, items: [...byKey.values()].sort(byActivity), fresh, refreshedAt: Date.now() };
}
