/** A few lines of history routing: the console has two pages and a not-found. */
import { type MouseEvent, useSyncExternalStore } from "react";

export type Route =
  | { page: "sessions"; search: URLSearchParams }
  | { page: "session"; id: string; userId: string | null; search: URLSearchParams }
  | { page: "not-found" };

const listeners = new Set<() => void>();
let location = `${window.location.pathname}${window.location.search}`;

function update(): void {
  const next = `${window.location.pathname}${window.location.search}`;
  if (next === location) return;
  location = next;
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", update);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  update();
  if (!options.replace) window.scrollTo(0, 0);
}

export function parseRoute(pathname: string, searchText: string): Route {
  const search = new URLSearchParams(searchText);
  if (pathname === "/" || pathname === "/sessions" || pathname === "/sessions/") return { page: "sessions", search };
  const match = /^\/sessions\/([^/]+)\/?$/.exec(pathname);
  if (match) {
    try {
      return { page: "session", id: decodeURIComponent(match[1]!), userId: search.get("user"), search };
    } catch {
      return { page: "not-found" };
    }
  }
  return { page: "not-found" };
}

export function useLocation(): string {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => location,
  );
}

export const sessionHref = (id: string, userId: string | null): string =>
  `/sessions/${encodeURIComponent(id)}${userId ? `?user=${encodeURIComponent(userId)}` : ""}`;

/** For <a href> clicks: client-side navigation unless the user asked for a new tab or window. */
export function followLink(event: MouseEvent<HTMLAnchorElement>): void {
  if (
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey ||
    event.altKey
  ) {
    return;
  }
  event.preventDefault();
  navigate(event.currentTarget.getAttribute("href") ?? "/");
}
