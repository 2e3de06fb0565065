// biome-ignore-all lint/a11y/useSemanticElements: virtualised rows are absolutely positioned <div>s, which <table> layout cannot do; ARIA table roles carry the semantics
/**
 * Every session the key may see, most recently active first. Filters live in the URL (so a view
 * can be shared and the back button works); rows are virtualised, so ten thousand sessions scroll
 * like ten; the list follows changes live.
 */
import { useVirtualizer } from "@tanstack/react-virtual";
import { type KeyboardEvent, useEffect, useId, useMemo, useRef, useState } from "react";
import { describeError, type Session } from "../api/client.ts";
import { Spinner, StatusBadge } from "../components/badges.tsx";
import { cost, count, dateTime, timeAgo, tokens } from "../format.ts";
import { followLink, navigate, sessionHref } from "../router.ts";
import { isTyping } from "../typing.ts";
import { NewSessionDialog } from "./new-session.tsx";
import { type ListFilters, POLL_MS, sessionKey, useSessionList } from "./use-session-list.ts";

const STATUSES = ["active", "completed", "failed", "abandoned"] as const;
const ROW_HEIGHT = 60;

function filtersOf(search: URLSearchParams): ListFilters {
  return {
    q: search.get("q") ?? "",
    status: search.getAll("status"),
    tags: search.getAll("tag"),
    createdAfter: search.get("createdAfter") ?? "",
    createdBefore: search.get("createdBefore") ?? "",
    updatedAfter: search.get("updatedAfter") ?? "",
    updatedBefore: search.get("updatedBefore") ?? "",
    user: search.get("user") ?? "",
  };
}

function hrefOf(filters: ListFilters): string {
  const params = new URLSearchParams();
  if (filters.q) params.set("q", filters.q);
  for (const status of filters.status) params.append("status", status);
  for (const tag of filters.tags) params.append("tag", tag);
  for (const name of ["createdAfter", "createdBefore", "updatedAfter", "updatedBefore", "user"] as const) {
    if (filters[name]) params.set(name, filters[name]);
  }
  const text = params.toString();
  return text ? `/?${text}` : "/";
}

const isFiltered = (f: ListFilters): boolean =>
  Boolean(
    f.q ||
      f.status.length ||
      f.tags.length ||
      f.createdAfter ||
      f.createdBefore ||
      f.updatedAfter ||
      f.updatedBefore ||
      f.user,
  );

const parseTags = (text: string): string[] =>
  text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

export function SessionsPage({ search, admin }: { search: URLSearchParams; admin: boolean }) {
  const filters = useMemo(() => filtersOf(search), [search]);
  const { state, loadMore, retry } = useSessionList(filters);
  const setFilters = (next: Partial<ListFilters>) => navigate(hrefOf({ ...filters, ...next }), { replace: true });
  const [creating, setCreating] = useState(false);
  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (event.key !== "n" || isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (document.querySelector("dialog[open]")) return;
      event.preventDefault();
      setCreating(true);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const users = useMemo(
    () => [...new Set(state.items.map((s) => s.userId).filter((u): u is string => Boolean(u)))].sort(),
    [state.items],
  );

  return (
    <div className="sessions-page">
      <div className="page-head">
        <div>
          <h1>Sessions</h1>
          <LiveNote refreshedAt={state.refreshedAt} count={state.items.length} more={state.hasMore} />
        </div>
        <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
          New session
        </button>
      </div>
      <NewSessionDialog open={creating} admin={admin} onClose={() => setCreating(false)} />
      <FilterBar filters={filters} setFilters={setFilters} admin={admin} users={users} />
      {state.phase === "loading" && (
        <div className="list-message">
          <Spinner /> Loading sessions…
        </div>
      )}
      {state.phase === "error" && (
        <div className="list-message" role="alert">
          <p>
            <strong>The sessions could not be loaded.</strong> {describeError(state.error)}
          </p>
          <button type="button" className="button" onClick={retry}>
            Try again
          </button>
        </div>
      )}
      {state.phase === "ready" && state.items.length === 0 && (
        <EmptyList filtered={isFiltered(filters)} clear={() => navigate("/", { replace: true })} />
      )}
      {state.phase === "ready" && state.items.length > 0 && (
        <SessionGrid
          items={state.items}
          fresh={state.fresh}
          hasMore={state.hasMore}
          loadingMore={state.loadingMore}
          loadMore={loadMore}
        />
      )}
    </div>
  );
}

function LiveNote({ refreshedAt, count: n, more }: { refreshedAt: number; count: number; more: boolean }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((t) => t + 1), 1000);
    return () => clearInterval(timer);
  }, []);
  const stale = refreshedAt > 0 && Date.now() - refreshedAt > POLL_MS * 4;
  return (
    <p className="page-sub">
      <span className={`live-dot ${stale || refreshedAt === 0 ? "live-dot-off" : ""}`} aria-hidden="true" />
      {refreshedAt === 0 ? "Connecting…" : stale ? "Live updates paused" : "Live"}
      {refreshedAt > 0 && (
        <>
          {" · "}
          {count(n)} {n === 1 ? "session" : "sessions"} loaded{more ? ", more as you scroll" : ""}
        </>
      )}
    </p>
  );
}

function FilterBar({
  filters,
  setFilters,
  admin,
  users,
}: {
  filters: ListFilters;
  setFilters: (next: Partial<ListFilters>) => void;
  admin: boolean;
  users: string[];
}) {
  const [q, setQ] = useState(filters.q);
  const [tags, setTags] = useState(filters.tags.join(", "));
  const [user, setUser] = useState(filters.user);
  const [showDates, setShowDates] = useState(
    Boolean(filters.createdAfter || filters.createdBefore || filters.updatedAfter || filters.updatedBefore),
  );
  const searchRef = useRef<HTMLInputElement>(null);
  const ids = { q: useId(), tags: useId(), user: useId(), users: useId() };

  // Typing settles for a moment before the list reloads (only typing restarts the wait).
  const latest = useRef({ filters, setFilters });
  latest.current = { filters, setFilters };
  useEffect(() => {
    const current = latest.current.filters;
    if (q === current.q && parseTags(tags).join(",") === current.tags.join(",") && user.trim() === current.user) {
      return;
    }
    const timer = setTimeout(() => latest.current.setFilters({ q, tags: parseTags(tags), user: user.trim() }), 300);
    return () => clearTimeout(timer);
  }, [q, tags, user]);

  // Back/forward or "Clear filters" changes the URL: follow it.
  const urlTags = filters.tags.join(", ");
  useEffect(() => {
    setQ(filters.q);
    setTags(urlTags);
    setUser(filters.user);
  }, [filters.q, urlTags, filters.user]);

  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (event.key === "/" && !isTyping(event.target)) {
        event.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const toggleStatus = (status: string) =>
    setFilters({
      status: filters.status.includes(status)
        ? filters.status.filter((s) => s !== status)
        : [...filters.status, status],
    });

  return (
    <search className="filters" aria-label="Filter sessions">
      <div className="filter-row">
        <div className="field field-grow">
          <label htmlFor={ids.q}>Search</label>
          <input
            ref={searchRef}
            id={ids.q}
            type="search"
            value={q}
            onChange={(e) => setQ(e.target.value)}
            placeholder="Title or purpose  ( / )"
          />
        </div>
        <fieldset className="field status-filter">
          <legend>Status</legend>
          <div className="chips">
            {STATUSES.map((status) => (
              <label key={status} className={`chip ${filters.status.includes(status) ? "chip-on" : ""}`}>
                <input
                  type="checkbox"
                  checked={filters.status.includes(status)}
                  onChange={() => toggleStatus(status)}
                />
                <span className={`dot status-${status}`} aria-hidden="true" />
                {status}
              </label>
            ))}
          </div>
        </fieldset>
        <div className="field">
          <label htmlFor={ids.tags}>Tags</label>
          <input
            id={ids.tags}
            value={tags}
            onChange={(e) => setTags(e.target.value)}
            placeholder="all of: a, b"
            spellCheck={false}
          />
        </div>
        {admin && (
          <div className="field">
            <label htmlFor={ids.user}>User</label>
            <input
              id={ids.user}
              value={user}
              onChange={(e) => setUser(e.target.value)}
              placeholder="every user"
              list={ids.users}
              spellCheck={false}
            />
            <datalist id={ids.users}>
              {users.map((u) => (
                <option key={u} value={u} />
              ))}
            </datalist>
          </div>
        )}
        <button
          type="button"
          className="button button-ghost dates-toggle"
          aria-expanded={showDates}
          onClick={() => setShowDates(!showDates)}
        >
          Dates {showDates ? "▴" : "▾"}
        </button>
      </div>
      {showDates && (
        <div className="filter-row">
          <DateRange
            legend="Created"
            after={filters.createdAfter}
            before={filters.createdBefore}
            onChange={(createdAfter, createdBefore) => setFilters({ createdAfter, createdBefore })}
          />
          <DateRange
            legend="Updated"
            after={filters.updatedAfter}
            before={filters.updatedBefore}
            onChange={(updatedAfter, updatedBefore) => setFilters({ updatedAfter, updatedBefore })}
          />
        </div>
      )}
      {isFiltered(filters) && (
        <button type="button" className="link-button clear-filters" onClick={() => navigate("/", { replace: true })}>
          Clear filters
        </button>
      )}
    </search>
  );
}

function DateRange(props: {
  legend: string;
  after: string;
  before: string;
  onChange: (after: string, before: string) => void;
}) {
  const from = useId();
  const to = useId();
  return (
    <fieldset className="field date-range">
      <legend>{props.legend}</legend>
      <label htmlFor={from} className="sr-only">
        {props.legend} after
      </label>
      <input
        id={from}
        type="datetime-local"
        value={props.after}
        onChange={(e) => props.onChange(e.target.value, props.before)}
      />
      <span aria-hidden="true">→</span>
      <label htmlFor={to} className="sr-only">
        {props.legend} before
      </label>
      <input
        id={to}
        type="datetime-local"
        value={props.before}
        onChange={(e) => props.onChange(props.after, e.target.value)}
      />
    </fieldset>
  );
}

function EmptyList({ filtered, clear }: { filtered: boolean; clear: () => void }) {
  return filtered ? (
    <section className="empty-state">
      <h2>No sessions match these filters</h2>
      <p>Try fewer tags, another status or a wider date range. New matches appear here by themselves.</p>
      <button type="button" className="button" onClick={clear}>
        Clear filters
      </button>
    </section>
  ) : (
    <section className="empty-state">
      <h2>No sessions yet</h2>
      <p>
        Sessions show up here, live, as soon as a client creates one: <code>POST /v1/sessions</code>, the library's{" "}
        <code>createSession</code>, or <code>frontdesk chat</code>.
      </p>
    </section>
  );
}

const COLUMNS = ["Session", "User", "Status", "Messages", "Tools used", "Tokens", "Cost", "Last activity"];

function SessionGrid(props: {
  items: readonly Session[];
  fresh: ReadonlySet<string>;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore: () => void;
}) {
  const { items, hasMore, loadingMore, loadMore } = props;
  const scrollRef = useRef<HTMLDivElement>(null);
  const [active, setActive] = useState(0);
  const focusAfterMove = useRef(false);
  const helpId = useId();
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    getItemKey: (index) => sessionKey(items[index]!),
  });
  const rows = virtualizer.getVirtualItems();
  const lastVisible = rows.at(-1)?.index ?? 0;

  useEffect(() => {
    if (hasMore && !loadingMore && lastVisible >= items.length - 20) loadMore();
  }, [hasMore, loadingMore, lastVisible, items.length, loadMore]);

  const activeIndex = Math.min(active, items.length - 1);
  useEffect(() => {
    if (!focusAfterMove.current) return;
    focusAfterMove.current = false;
    virtualizer.scrollToIndex(activeIndex, { align: "auto" });
    requestAnimationFrame(() => {
      scrollRef.current?.querySelector<HTMLElement>(`[data-index="${activeIndex}"]`)?.focus();
    });
  }, [activeIndex, virtualizer]);

  const move = (to: number) => {
    const index = Math.max(0, Math.min(items.length - 1, to));
    const rendered = scrollRef.current?.querySelector<HTMLElement>(`[data-index="${index}"]`);
    if (rendered) {
      // Focus at once, so the next key press already goes to the new row.
      rendered.focus({ preventScroll: true });
      virtualizer.scrollToIndex(index, { align: "auto" });
      setActive(index);
      return;
    }
    focusAfterMove.current = true;
    setActive(index);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>, index: number) => {
    const session = items[index]!;
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 600) / ROW_HEIGHT) - 1);
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    let target: number | null = null;
    switch (event.key) {
      case "ArrowDown":
      case "j":
        target = index + 1;
        break;
      case "ArrowUp":
      case "k":
        target = index - 1;
        break;
      case "Home":
        target = 0;
        break;
      case "End":
        target = items.length - 1;
        break;
      case "PageDown":
        target = index + page;
        break;
      case "PageUp":
        target = index - page;
        break;
      case "Enter":
        event.preventDefault();
        navigate(sessionHref(session.id, session.userId));
        return;
      default:
        return;
    }
    event.preventDefault();
    move(target);
  };

  return (
    <div
      className="grid"
      role="table"
      aria-label="Sessions"
      aria-rowcount={hasMore ? -1 : items.length + 1}
      aria-colcount={COLUMNS.length}
      aria-describedby={helpId}
    >
      <p id={helpId} className="sr-only">
        Arrow keys or j and k move between sessions; Enter opens one.
      </p>
      {/* biome-ignore lint/a11y/useFocusableInteractive: the header row is not a stop; rows below are */}
      <div className="grid-head" role="row" aria-rowindex={1}>
        {COLUMNS.map((column, i) => (
          // biome-ignore lint/a11y/useFocusableInteractive: column headers are labels, not controls
          <div key={column} role="columnheader" className={`cell col-${i}`}>
            {column}
          </div>
        ))}
      </div>
      <div className="grid-scroll" ref={scrollRef}>
        <div className="grid-body" style={{ height: virtualizer.getTotalSize() }}>
          {rows.map((row) => {
            const session = items[row.index]!;
            const key = sessionKey(session);
            return (
              <div
                key={row.key}
                role="row"
                aria-rowindex={row.index + 2}
                data-index={row.index}
                tabIndex={row.index === activeIndex ? 0 : -1}
                className={`grid-row ${props.fresh.has(key) ? "row-fresh" : ""}`}
                style={{ transform: `translateY(${row.start}px)`, height: ROW_HEIGHT }}
                onKeyDown={(e) => onKeyDown(e, row.index)}
                onFocus={() => setActive(row.index)}
                onClick={(event) => {
                  if (event.target instanceof HTMLElement && event.target.closest("a")) return;
                  navigate(sessionHref(session.id, session.userId));
                }}
              >
                <SessionCells session={session} />
              </div>
            );
          })}
        </div>
        {loadingMore && (
          <div className="grid-more">
            <Spinner /> Loading more…
          </div>
        )}
      </div>
    </div>
  );
}

function SessionCells({ session }: { session: Session }) {
  const name = session.title || session.purpose || session.id;
  const sub = session.title ? session.purpose || session.id : session.purpose ? session.id : null;
  const stats = session.stats;
  const total = stats.inputTokens + stats.outputTokens;
  const tools = stats.toolsUsed;
  return (
    <>
      <div role="cell" className="cell col-0 cell-title">
        <a href={sessionHref(session.id, session.userId)} onClick={followLink} tabIndex={-1} className="row-link">
          {name}
        </a>
        <span className="cell-sub">
          {sub && <span className={sub === session.id ? "mono" : ""}>{sub}</span>}
          {session.tags.slice(0, 3).map((tag) => (
            <span key={tag} className="tag tag-small">
              {tag}
            </span>
          ))}
          {session.tags.length > 3 && <span className="muted">+{session.tags.length - 3}</span>}
        </span>
      </div>
      <div role="cell" className="cell col-1 mono truncate" title={session.userId ?? ""}>
        {session.userId ?? "—"}
      </div>
      <div role="cell" className="cell col-2">
        <StatusBadge status={session.status} />
      </div>
      <div role="cell" className="cell col-3 num">
        {count(stats.messages)}
      </div>
      <div role="cell" className="cell col-4 cell-tools" title={tools.join(", ")}>
        {tools.length === 0 ? (
          <span className="muted">—</span>
        ) : (
          <>
            <span className="tool-chip">{tools[0]}</span>
            {tools.length > 1 && <span className="more">+{tools.length - 1}</span>}
          </>
        )}
      </div>
      <div
        role="cell"
        className="cell col-5 num"
        title={`${stats.inputTokens} input + ${stats.outputTokens} output tokens`}
      >
        {tokens(total)}
      </div>
      <div role="cell" className="cell col-6 num">
        {cost(stats.costUsd)}
      </div>
      <div role="cell" className="cell col-7 num" title={dateTime(session.updatedAt)}>
        {timeAgo(session.updatedAt)}
      </div>
    </>
  );
}
