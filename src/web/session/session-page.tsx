/**
 * One session: header and actions, the live timeline with the chat box under it, and a side panel
 * with the state (JSON tree, version, TTL) and statistics (charts). Loaded lazily by the shell.
 */
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { useSession } from "../../react/index.ts";
import {
  ApiError,
  describeError,
  type FrontdeskEvent,
  getJson,
  isAbort,
  NetworkError,
  ownerQuery,
  request,
  type Session,
  send,
  sessionPath,
} from "../api/client.ts";
import { connection } from "../api/connection.ts";
import { consoleConnection } from "../api/live.ts";
import { Spinner, StatusBadge, Tag } from "../components/badges.tsx";
import { toast } from "../components/toasts.tsx";
import { takeFirstMessage } from "../first-message.ts";
import { count, dateTime, duration, timeAgo } from "../format.ts";
import { NotFoundPage } from "../pages/not-found.tsx";
import { followLink, navigate, sessionHref } from "../router.ts";
import { isTyping } from "../typing.ts";
import { StatsPanel } from "./charts.tsx";
import { Chat, type ChatHandle, type PendingApproval, type TurnEnd } from "./chat.tsx";
import { DeleteDialog } from "./delete-dialog.tsx";
import { EditDialog } from "./edit-dialog.tsx";
import { EventLog, INITIAL_WINDOW, loadRange } from "./event-log.ts";
import type { RedactTarget } from "./history-views.tsx";
import { JsonTree } from "./json-tree.tsx";
import { RedactDialog } from "./redact-dialog.tsx";
import { EVENT_GROUPS, type EventGroup, Timeline, type TimelineHandle } from "./timeline.tsx";

type Phase = "loading" | "ready" | "gone" | "error";
type FollowStatus = "connecting" | "live" | "reconnecting" | "gone";

/** The header (state, stats, version), refreshed when events arrive. */
function useSessionHeader(id: string, userId: string | null) {
  const [session, setSession] = useState<Session | null>(null);
  const [phase, setPhase] = useState<Phase>("loading");
  const [error, setError] = useState<unknown>(null);
  const inflight = useRef<Promise<Session | null> | null>(null);

  const refresh = useCallback(async (): Promise<Session | null> => {
    if (inflight.current) return inflight.current;
    const run = (async () => {
      try {
        const fresh = await getJson<Session>(sessionPath(id), { query: ownerQuery(userId) });
        setSession(fresh);
        setPhase("ready");
        return fresh;
      } catch (failure) {
        if (failure instanceof ApiError && (failure.status === 404 || failure.status === 403)) setPhase("gone");
        else {
          setError(failure);
          setPhase((p) => (p === "ready" ? p : "error"));
        }
        return null;
      } finally {
        inflight.current = null;
      }
    })();
    inflight.current = run;
    return run;
  }, [id, userId]);

  useEffect(() => {
    void refresh();
    return connection.onReconnect(() => void refresh());
  }, [refresh]);

  return { session, setSession, phase, setPhase, error, refresh };
}

export default function SessionPage({ id, userId: routeUser }: { id: string; userId: string | null }) {
  const header = useSessionHeader(id, routeUser);
  const { session, phase } = header;
  const userId = routeUser ?? session?.userId ?? null;

  if (phase === "gone") {
    return (
      <NotFoundPage
        title="Session not found"
        message={`There is no session “${id}”${routeUser ? ` for user ${routeUser}` : ""} that this key can see. It may have been deleted or have expired.`}
      />
    );
  }
  if (phase === "error" && !session) {
    return (
      <div className="list-message" role="alert">
        <p>
          <strong>The session could not be loaded.</strong> {describeError(header.error)}
        </p>
        <button type="button" className="button" onClick={() => void header.refresh()}>
          Try again
        </button>
      </div>
    );
  }
  if (!session) {
    return (
      <div className="page-loading">
        <Spinner /> Loading session…
      </div>
    );
  }
  return <SessionView session={session} userId={userId} header={header} />;
}

function SessionView({
  session,
  userId,
  header,
}: {
  session: Session;
  userId: string | null;
  header: ReturnType<typeof useSessionHeader>;
}) {
  const id = session.id;
  const [followFrom, setFollowFrom] = useState<number | null>(null);
  const [loading, setLoading] = useState<{ loaded: number; total: number } | null>({ loaded: 0, total: 0 });
  const [loadError, setLoadError] = useState<unknown>(null);
  const [hidden, setHidden] = useState<ReadonlySet<EventGroup>>(() => new Set());
  const [tab, setTab] = useState<"state" | "stats">("state");
  const [dialog, setDialog] = useState<"edit" | "delete" | null>(null);
  const [redacting, setRedacting] = useState<RedactTarget[] | null>(null);
  const timelineRef = useRef<TimelineHandle>(null);
  const chatRef = useRef<ChatHandle>(null);
  const { refresh } = header;

  const log = useMemo(
    () =>
      new EventLog((after, limit) => {
        void loadRange(id, userId, after, after + limit, new AbortController().signal)
          .then((events) => log.add(events))
          .catch(() => {});
      }),
    [id, userId],
  );
  const events = useSyncExternalStore(log.subscribe, log.snapshot);

  // Load the newest events (up to INITIAL_WINDOW), then follow live from the last one held.
  // biome-ignore lint/correctness/useExhaustiveDependencies: once per session; lastSeq is read at open
  useEffect(() => {
    const abort = new AbortController();
    const upTo = session.lastSeq;
    const base = Math.max(0, upTo - INITIAL_WINDOW);
    (async () => {
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        try {
          const loaded = await loadRange(id, userId, base, upTo, abort.signal, (n, total) =>
            setLoading({ loaded: n, total }),
          );
          log.reset(base, loaded);
          setLoading(null);
          setLoadError(null);
          setFollowFrom(log.lastSeq);
          return;
        } catch (error) {
          if (isAbort(error)) return;
          if (error instanceof ApiError && error.status === 404) {
            header.setPhase("gone");
            return;
          }
          setLoadError(error);
          if (!(error instanceof NetworkError)) return;
          await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** attempt)));
        }
      }
    })();
    return () => {
      abort.abort();
      log.dispose();
    };
  }, [log]);

  // From there on the page follows the session through frontdesk/react's useSession: the events
  // go into the log, the reply being written (from its first word, even after a reload mid-reply)
  // is the timeline's draft, and a turn started in any tab shows as running here.
  const liveConnection = useMemo(() => consoleConnection(userId), [userId]);
  const live = useSession(followFrom === null ? undefined : id, {
    ...liveConnection,
    after: followFrom ?? 0,
    keepEvents: false,
    refreshSession: false,
    onEvents: (batch) => log.add(batch),
    // A redaction or prune made anywhere: what the log holds becomes the tombstones, or the marker.
    onRewrite: (rewrite) => log.rewrite(rewrite),
  });
  const followStatus: FollowStatus =
    followFrom === null ? "connecting" : live.status === "error" ? "gone" : live.status;
  useEffect(() => {
    if (live.status === "gone") header.setPhase("gone");
  }, [live.status, header.setPhase]);
  const draft = live.reply ? live.reply.text : live.running ? "" : null;
  const lastTurnEnd = useMemo(() => lastTurnEndOf(events), [events]);

  // New events change the header (version, stats, state): re-read it within 400 ms, at most that often,
  // even while events keep coming.
  const lastSeq = events.at(-1)?.seq ?? 0;
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    if (lastSeq <= session.lastSeq || refreshTimer.current !== undefined) return;
    refreshTimer.current = setTimeout(() => {
      void refresh().finally(() => {
        refreshTimer.current = undefined;
      });
    }, 400);
  }, [lastSeq, session.lastSeq, refresh]);
  useEffect(() => () => clearTimeout(refreshTimer.current), []);

  // An approval can be answered only while the turn that asked holds the session's turn lock (or
  // the stream shows a turn running, before the header shows the lock): a fork or import copies
  // the request but never the lock, and answering it there is refused.
  const answerable = turnLockHeld(session.state) || live.running;
  const pending = useMemo(() => (answerable ? pendingApprovals(events) : []), [events, answerable]);

  // A session made with "New session" sends its first message once the (empty) log is loaded, so
  // the turn's events land on a log that is already following.
  const loaded = loading === null;
  useEffect(() => {
    if (!loaded) return;
    const first = takeFirstMessage(id);
    if (first !== undefined) chatRef.current?.send(first);
  }, [loaded, id]);

  const fork = useCallback(
    async (atSeq?: number) => {
      try {
        const { data } = await request<Session>(sessionPath(id, "/fork"), {
          method: "POST",
          query: ownerQuery(userId),
          body: atSeq === undefined ? {} : { atSeq },
        });
        toast(`Forked ${atSeq === undefined ? "at the latest event" : `at #${atSeq}`} into a new session.`);
        navigate(sessionHref(data.id, data.userId));
      } catch (error) {
        toast(`Fork failed: ${describeError(error)}`, "error");
      }
    },
    [id, userId],
  );

  const answer = useCallback(
    async (approvalId: string, decision: "approve" | "deny", reason?: string) => {
      try {
        await send(sessionPath(id, `/approvals/${encodeURIComponent(approvalId)}`), {
          method: "POST",
          query: ownerQuery(userId),
          body: reason ? { decision, reason } : { decision },
        });
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) throw new Error("This request was already answered.");
        throw error;
      }
    },
    [id, userId],
  );

  const setStatus = async (status: Session["status"]) => {
    try {
      const { data } = await request<Session>(sessionPath(id), {
        method: "PATCH",
        query: ownerQuery(userId),
        body: { status },
      });
      header.setSession(data);
      toast(`Marked ${status}.`);
    } catch (error) {
      toast(`Could not change the status: ${describeError(error)}`, "error");
    }
  };

  const exportNdjson = async () => {
    try {
      const response = await send(sessionPath(id, "/export"), {
        query: ownerQuery(userId),
        headers: { accept: "application/x-ndjson" },
      });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = `${id}.ndjson`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      toast(`Export failed: ${describeError(error)}`, "error");
    }
  };

  // Session-page shortcuts: c chat, l latest, b back.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (document.querySelector("dialog[open]")) return;
      if (event.key === "c") {
        event.preventDefault();
        chatRef.current?.focus();
      } else if (event.key === "l") {
        event.preventDefault();
        timelineRef.current?.jumpToLatest();
      } else if (event.key === "b") {
        event.preventDefault();
        navigate("/");
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const agentState = session.state.agent as { name?: unknown; phase?: unknown } | undefined;
  const currentAgent = typeof agentState?.name === "string" ? agentState.name : null;
  // A record copied mid-turn still says "running", but no turn runs without the lock.
  const agentPhase = agentState?.phase === "running" && !turnLockHeld(session.state) ? "idle" : agentState?.phase;
  const name = session.title || session.purpose || session.id;

  return (
    <div className="session-page">
      <header className="session-head">
        <nav aria-label="Breadcrumb" className="crumbs">
          <a href="/" onClick={followLink}>
            Sessions
          </a>
          <span aria-hidden="true"> / </span>
          <span className="mono">{session.id}</span>
        </nav>
        <div className="session-title-row">
          <h1 className="session-title">{name}</h1>
          <StatusBadge status={session.status} />
          {typeof agentPhase === "string" && (
            <span className="chip-mini" title="The agent's lifecycle phase">
              agent {agentPhase}
            </span>
          )}
        </div>
        <div className="session-meta">
          {session.title && session.purpose && <span className="meta-purpose">{session.purpose}</span>}
          <span>
            <span className="muted">user</span> <span className="mono">{session.userId ?? "—"}</span>
          </span>
          <span title={dateTime(session.createdAt)}>
            <span className="muted">created</span> {timeAgo(session.createdAt)}
          </span>
          <span title={dateTime(session.updatedAt)}>
            <span className="muted">updated</span> {timeAgo(session.updatedAt)}
          </span>
          {session.parent && (
            <span>
              <span className="muted">forked from</span>{" "}
              <a href={sessionHref(session.parent.sessionId, session.userId)} onClick={followLink} className="mono">
                {session.parent.sessionId}
              </a>{" "}
              <span className="muted">at #{session.parent.seq}</span>
            </span>
          )}
          {session.tags.length > 0 && (
            <span className="tags">
              {session.tags.map((tag) => (
                <Tag key={tag}>{tag}</Tag>
              ))}
            </span>
          )}
        </div>
        <div className="session-actions" role="toolbar" aria-label="Session actions">
          <button type="button" className="button" onClick={() => setDialog("edit")}>
            Edit title &amp; tags
          </button>
          {session.status === "active" ? (
            <>
              <button type="button" className="button" onClick={() => void setStatus("completed")}>
                Complete
              </button>
              <button type="button" className="button" onClick={() => void setStatus("abandoned")}>
                Abandon
              </button>
            </>
          ) : (
            <button type="button" className="button" onClick={() => void setStatus("active")}>
              Reactivate
            </button>
          )}
          <button type="button" className="button" onClick={() => void fork()}>
            Fork
          </button>
          <button type="button" className="button" onClick={() => void exportNdjson()}>
            Export NDJSON
          </button>
          <button type="button" className="button button-danger-outline" onClick={() => setDialog("delete")}>
            Delete
          </button>
        </div>
      </header>

      <div className="session-body">
        <section className="timeline-col" aria-label="Timeline">
          <div className="timeline-toolbar">
            <FollowBadge status={followStatus} />
            <span className="muted">{count(events.length)} events</span>
            <fieldset className="type-filter">
              <legend className="sr-only">Show event types</legend>
              {(Object.keys(EVENT_GROUPS) as EventGroup[]).map((group) => (
                <label key={group} className={`chip chip-small ${hidden.has(group) ? "" : "chip-on"}`}>
                  <input
                    type="checkbox"
                    checked={!hidden.has(group)}
                    onChange={() =>
                      setHidden((previous) => {
                        const next = new Set(previous);
                        if (next.has(group)) next.delete(group);
                        else next.add(group);
                        return next;
                      })
                    }
                  />
                  {EVENT_GROUPS[group].label}
                </label>
              ))}
            </fieldset>
          </div>
          {loading ? (
            <div className="timeline-loading">
              {loadError ? (
                <span role="alert">Could not load the events: {describeError(loadError)} Retrying…</span>
              ) : (
                <>
                  <Spinner /> Loading events
                  {loading.total > 0 ? ` ${count(loading.loaded)} / ${count(loading.total)}` : "…"}
                </>
              )}
            </div>
          ) : (
            <Timeline
              ref={timelineRef}
              events={events}
              hidden={hidden}
              draft={draft}
              onFork={(seq) => void fork(seq)}
              onRedact={setRedacting}
              onAnswer={answer}
              answerable={answerable}
              header={
                log.base > 0 ? (
                  <p className="timeline-older">
                    {count(log.base)} older events are not loaded. <OlderLoader log={log} id={id} userId={userId} />
                  </p>
                ) : undefined
              }
            />
          )}
          <Chat
            ref={chatRef}
            sessionId={id}
            userId={userId}
            currentAgent={currentAgent}
            pending={pending}
            running={live.running}
            lastTurnEnd={lastTurnEnd}
            onSend={live.send}
            onCancel={live.cancel}
            onAnswer={answer}
            onShow={(seq) => timelineRef.current?.showSeq(seq)}
          />
        </section>

        <aside className="side-col" aria-label="State and statistics">
          <SideTabs tab={tab} setTab={setTab} />
          <div
            className="side-panel"
            role="tabpanel"
            id={`panel-${tab}`}
            aria-labelledby={`tab-${tab}`}
            // biome-ignore lint/a11y/noNoninteractiveTabindex: a tab panel is focusable (WAI-ARIA tabs)
            tabIndex={0}
          >
            {tab === "state" ? <StatePanel session={session} /> : <StatsPanel session={session} events={events} />}
          </div>
        </aside>
      </div>

      <EditDialog
        open={dialog === "edit"}
        session={session}
        userId={userId}
        onClose={() => setDialog(null)}
        onSaved={(saved) => {
          header.setSession(saved);
          setDialog(null);
          toast("Saved.");
        }}
        reload={refresh}
      />
      <RedactDialog
        targets={redacting}
        session={session}
        userId={userId}
        onClose={() => setRedacting(null)}
        onRedacted={(tombstones) => log.rewrite({ events: tombstones, prunedThrough: 0 })}
        reload={refresh}
      />
      <DeleteDialog open={dialog === "delete"} session={session} userId={userId} onClose={() => setDialog(null)} />
    </div>
  );
}

/** The agent keeps its turn lock under the process-local `process:agent` key while a turn runs. */
/** How the newest finished turn in the log ended (its closing agent status). */
function lastTurnEndOf(events: readonly FrontdeskEvent[]): TurnEnd | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i] as FrontdeskEvent;
    if (event.type === "status" && event.scope === "agent" && event.previous === "running") {
      return { seq: event.seq, status: event.status, reason: event.reason ?? null };
    }
  }
  return null;
}

function turnLockHeld(state: Record<string, unknown>): boolean {
  const live = state["process:agent"] as { turn?: unknown } | null | undefined;
  return typeof live?.turn === "object" && live.turn !== null;
}

function pendingApprovals(events: readonly FrontdeskEvent[]): PendingApproval[] {
  const answered = new Set<string>();
  const closed = new Set<string>();
  for (const event of events) {
    if (event.type === "approval_response") answered.add(event.approvalId);
    else if (event.type === "tool_result") closed.add(event.invocationId);
  }
  const open: PendingApproval[] = [];
  for (const event of events) {
    if (event.type === "approval_request" && !answered.has(event.approvalId) && !closed.has(event.invocationId)) {
      open.push({ approvalId: event.approvalId, tool: event.tool, input: event.input, seq: event.seq });
    }
  }
  return open;
}

function FollowBadge({ status }: { status: FollowStatus }) {
  const text = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    gone: "Ended",
  }[status];
  return (
    <span className={`follow follow-${status}`} role="status">
      <span className="live-dot" aria-hidden="true" /> {text}
    </span>
  );
}

function OlderLoader({ log, id, userId }: { log: EventLog; id: string; userId: string | null }) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      className="link-button"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        try {
          const from = Math.max(0, log.base - INITIAL_WINDOW);
          log.prepend(await loadRange(id, userId, from, log.base, new AbortController().signal));
        } catch (error) {
          toast(`Could not load older events: ${describeError(error)}`, "error");
        } finally {
          setBusy(false);
        }
      }}
    >
      {busy ? "Loading…" : `Load ${count(Math.min(INITIAL_WINDOW, log.base))} more`}
    </button>
  );
}

function SideTabs({ tab, setTab }: { tab: "state" | "stats"; setTab: (t: "state" | "stats") => void }) {
  const tabs = [
    ["state", "State"],
    ["stats", "Statistics"],
  ] as const;
  return (
    <div className="tabs" role="tablist" aria-label="Session details">
      {tabs.map(([value, label]) => (
        <button
          key={value}
          type="button"
          role="tab"
          id={`tab-${value}`}
          aria-selected={tab === value}
          aria-controls={`panel-${value}`}
          tabIndex={tab === value ? 0 : -1}
          className={`tab ${tab === value ? "tab-on" : ""}`}
          onClick={() => setTab(value)}
          onKeyDown={(event) => {
            if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
              event.preventDefault();
              const next = tab === "state" ? "stats" : "state";
              setTab(next);
              document.getElementById(`tab-${next}`)?.focus();
            }
          }}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

function StatePanel({ session }: { session: Session }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((t) => t + 1), 15_000);
    return () => clearInterval(timer);
  }, []);
  return (
    <div className="state-panel">
      <dl className="facts">
        <div>
          <dt>Version</dt>
          <dd className="mono">{session.version}</dd>
        </div>
        <div>
          <dt>Last event</dt>
          <dd className="mono">#{session.lastSeq}</dd>
        </div>
        <div>
          <dt>TTL</dt>
          <dd>{session.ttlMs === null ? "never expires" : `${duration(session.ttlMs)}, sliding`}</dd>
        </div>
        <div>
          <dt>Expires</dt>
          <dd title={session.expiresAt === null ? undefined : dateTime(session.expiresAt)}>
            {session.expiresAt === null ? "never" : timeAgo(session.expiresAt)}
          </dd>
        </div>
        {session.absoluteExpiresAt !== null && (
          <div>
            <dt>Hard limit</dt>
            <dd title={dateTime(session.absoluteExpiresAt)}>{timeAgo(session.absoluteExpiresAt)}</dd>
          </div>
        )}
        <div>
          <dt>Last access</dt>
          <dd title={dateTime(session.lastAccessedAt)}>{timeAgo(session.lastAccessedAt)}</dd>
        </div>
      </dl>
      <h3 className="panel-heading">State</h3>
      {Object.keys(session.state).length === 0 ? (
        <p className="muted">The state is empty.</p>
      ) : (
        <JsonTree value={session.state} openDepth={1} label="Session state" />
      )}
      {Object.keys(session.metadata).length > 0 && (
        <>
          <h3 className="panel-heading">Metadata</h3>
          <JsonTree value={session.metadata} openDepth={1} label="Session metadata" />
        </>
      )}
    </div>
  );
}
