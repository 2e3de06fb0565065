/**
 * The sessions list's filters (the form's fields) mapped onto `useSessions` of frontdesk/react,
 * which loads the pages and keeps them live; the console adds only "read again when the server
 * answers again after an error".
 */
import { useEffect, useMemo } from "react";
import { type SessionFilter, sessionKey, useSessions } from "../../react/index.ts";
import type { Session } from "../api/client.ts";
import { connection } from "../api/connection.ts";
import { consoleConnection } from "../api/live.ts";

export { sessionKey };

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

export const POLL_MS = 3000;

/** A `datetime-local` value (local time) as epoch ms for the API. */
const instantOf = (value: string): number | undefined => {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
};

export function filterOf(filters: ListFilters): SessionFilter {
  return {
    text: filters.q.trim() || undefined,
    status: filters.status.length > 0 ? (filters.status as Session["status"][]) : undefined,
    tags: filters.tags.length > 0 ? filters.tags : undefined,
    createdAfter: instantOf(filters.createdAfter),
    createdBefore: instantOf(filters.createdBefore),
    updatedAfter: instantOf(filters.updatedAfter),
    updatedBefore: instantOf(filters.updatedBefore),
    userId: filters.user.trim() || undefined,
  };
}

export interface ListState {
  items: readonly Session[];
  hasMore: boolean;
  phase: "loading" | "ready" | "error";
  error: unknown;
  loadingMore: boolean;
  /** Keys that arrived by polling, for a brief highlight. */
  fresh: ReadonlySet<string>;
  /** Epoch ms of the last successful refresh. */
  refreshedAt: number;
}

export function useSessionList(filters: ListFilters) {
  const filterKey = JSON.stringify(filters);
  // biome-ignore lint/correctness/useExhaustiveDependencies: filterKey stands for filters
  const filter = useMemo(() => filterOf(filters), [filterKey]);
  const list = useSessions(filter, { ...consoleConnection(), pollMs: POLL_MS });
  const { refresh, status } = list;
  useEffect(() => connection.onReconnect(() => (status === "error" ? refresh() : undefined)), [refresh, status]);
  const state: ListState = {
    items: list.sessions,
    hasMore: list.hasMore,
    phase: list.status,
    error: list.error,
    loadingMore: list.loadingMore,
    fresh: list.fresh,
    refreshedAt: list.refreshedAt,
  };
  return { state, loadMore: list.loadMore, retry: refresh };
}
