/**
 * One session followed live, without React: the header, the events after a seq, the reply being
 * written and whether a turn runs. {@link useSession} is this feed behind `useSyncExternalStore`.
 *
 * The events come from `GET /v1/sessions/{id}/events/stream` through {@link FrontdeskClient.subscribe},
 * which resumes a cut stream with `Last-Event-ID`; when it gives up, the feed opens a new one from
 * the last seq it holds. Either way every seq is taken once and in order: no gap, no duplicate.
 *
 * A `frontdesk.history_changed` event says that events already taken were redacted or pruned: the
 * feed reads them again and puts what the server now stores in their place (history-rewrite.ts),
 * so a view never keeps showing content that was removed.
 */
import {
  type FrontdeskClient,
  FrontdeskError,
  isFrontdeskError,
  isHistoryChanged,
  LiveReply,
  type OpenReply,
  TURN_DELTA_EVENT,
} from "../client/index.ts";
import type { EventSubscription, JsonObject, Session, SessionEvent } from "../index.ts";
import { clientOf, type FrontdeskConnection, postToSession, reconnectDelayMs, wait } from "./connection.ts";
import { LiveFeed } from "./feed.ts";
import { applyRewrite, type HistoryRewrite, readRewrite } from "./history-rewrite.ts";

/** Where the stream stands: `gone` once the session is deleted or expires; `error` for a refusal (a bad key). */
export type SessionStreamStatus = "connecting" | "live" | "reconnecting" | "gone" | "error";

export interface SessionSnapshot {
  /** The header (title, status, version, state…), read at open and again after events that change it. */
  session: Session | undefined;
  /** `session.state`. */
  state: JsonObject | undefined;
  /** The events received, in seq order, each once (empty with `keepEvents: false`). */
  events: readonly SessionEvent[];
  /** The newest seq received. */
  lastSeq: number;
  /** The reply being written (folded from `turn.delta` events), until its assistant message lands. */
  reply: OpenReply | undefined;
  /** An agent turn is running in the session (in any tab or process). */
  running: boolean;
  status: SessionStreamStatus;
  /** Why the stream stopped (`status` "error"), or the last failed read while it retries. */
  error: FrontdeskError | undefined;
}

export interface SessionFeedOptions {
  /**
   * Receive events after this seq. When a turn is running at open, its events from its start are
   * received too (even if before `after`), so its reply shows from the first word.
   * @default 0 (the whole log)
   */
  after?: number;
  /** Hold the events in the snapshot. Pass false when `onEvents` keeps them elsewhere. @default true */
  keepEvents?: boolean;
  /** Re-read the header after events that change it (not after reply pieces). @default true */
  refreshSession?: boolean;
  /** Called with each batch of new events, in seq order, before the snapshot changes. */
  onEvents?: (events: readonly SessionEvent[]) => void;
  /**
   * Called when events already received were redacted or pruned, with what the server now stores
   * (after `events` in the snapshot changed). A holder of events kept through `onEvents` applies it
   * with the rewrite's `prunedThrough` and `events`: drop what is before, replace what it names.
   */
  onRewrite?: (rewrite: HistoryRewrite) => void;
}

/** A detached turn, as `POST /v1/sessions/{id}/turns` answers it. */
export interface StartedTurn {
  turnId: string;
  /** The seq of the turn's user message. */
  startSeq: number;
}

export interface SendOptions {
  /** The agent to run (a name from the server's agent config). @default the server's default agent */
  agent?: string;
}

const AGENT_STATE_KEY = "process:agent";
const REFRESH_GAP_MS = 250;

type AgentTurn = { startSeq?: unknown } | undefined;
const runningTurnOf = (state: JsonObject | undefined): { startSeq: number } | undefined => {
  const turn = (state?.[AGENT_STATE_KEY] as { turn?: AgentTurn } | undefined)?.turn;
  return turn && typeof turn.startSeq === "number" ? { startSeq: turn.startSeq } : undefined;
};

export const EMPTY_SESSION_SNAPSHOT: SessionSnapshot = Object.freeze({
  session: undefined,
  state: undefined,
  events: Object.freeze([]) as readonly SessionEvent[],
  lastSeq: 0,
  reply: undefined,
  running: false,
  status: "connecting",
  error: undefined,
});

export class SessionFeed extends LiveFeed<SessionSnapshot> {
  private readonly client: FrontdeskClient;
  private readonly live = new LiveReply();
  private readonly keepEvents: boolean;
  private readonly refreshSession: boolean;
  /** The newest seq taken (flushed or waiting to be): the stream resumes after it. */
  private seen: number;
  private opened = false;
  private pending: SessionEvent[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private subscription: EventSubscription | undefined;
  private refreshing = false;
  private refreshAgain = false;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** History notices taken whose rewrite is not applied yet, oldest first; kept across stop and start. */
  private notices: SessionEvent[] = [];
  private rewriting = false;
  onEvents: ((events: readonly SessionEvent[]) => void) | undefined;
  onRewrite: ((rewrite: HistoryRewrite) => void) | undefined;

  constructor(
    readonly sessionId: string,
    private readonly connection: FrontdeskConnection,
    options: SessionFeedOptions = {},
  ) {
    super({ ...EMPTY_SESSION_SNAPSHOT, lastSeq: Math.max(0, options.after ?? 0) });
    this.seen = Math.max(0, options.after ?? 0);
    this.keepEvents = options.keepEvents ?? true;
    this.refreshSession = options.refreshSession ?? true;
    this.onEvents = options.onEvents;
    this.onRewrite = options.onRewrite;
    this.client = clientOf(connection, this.trackedFetch(connection.fetch ?? globalThis.fetch.bind(globalThis)));
  }

  /** Opens the stream (again after `stop`, from the last seq held). */
  override start(): void {
    super.start();
    void this.rewriteHeld();
  }

  override stop(): void {
    super.stop();
    void this.subscription?.close().catch(() => undefined);
    this.subscription = undefined;
    clearTimeout(this.refreshTimer);
    this.flush();
  }

  /** Starts a detached turn: it runs to its end whatever happens to this page; its events arrive on the stream. */
  async send(message: string, options: SendOptions = {}): Promise<StartedTurn> {
    const body: Record<string, unknown> = { message, detach: true };
    if (options.agent) body.agent = options.agent;
    const started = await postToSession<StartedTurn>(this.connection, this.sessionId, "/turns", body);
    // Unless the stream already brought the turn's start (and maybe its end), it runs from now on.
    if (this.seen < started.startSeq && !this.snapshot.running) this.update({ running: true });
    return started;
  }

  /** Cancels the running turn (in any process); it ends with status cancelled and keeps its partial reply. */
  async cancel(reason?: string): Promise<void> {
    await postToSession(this.connection, this.sessionId, "/cancel", reason ? { reason } : {});
  }

  protected async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.opened) {
          const session = await this.client.get(this.sessionId);
          if (signal.aborted) return;
          // A turn running at open: read from its start, so the reply shows from its first word.
          const turn = runningTurnOf(session.state as JsonObject);
          if (turn) this.seen = Math.min(this.seen, Math.max(0, turn.startSeq - 1));
          this.opened = true;
          this.update({ session, state: session.state as JsonObject, running: turn !== undefined, lastSeq: this.seen });
        }
        const subscription = this.client.subscribe(this.sessionId, { after: this.seen });
        this.subscription = subscription;
        if (signal.aborted) {
          await subscription.close();
          return;
        }
        for await (const event of subscription) {
          if (event.seq <= this.seen) continue;
          this.seen = event.seq;
          this.pending.push(event);
          failures = 0;
          this.flushTimer ??= setTimeout(() => this.flush(), 0);
        }
        if (signal.aborted) return;
        // The stream ended on its own: the session was deleted or expired.
        this.flush();
        this.update({ status: "gone" });
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.flush();
        const failure = isFrontdeskError(error)
          ? error
          : new FrontdeskError("unavailable", "The event stream failed", { cause: error });
        if (failure.code === "not_found" || failure.code === "forbidden") {
          this.update({ status: "gone", error: failure });
          return;
        }
        if (failure.code !== "unavailable" && failure.code !== "rate_limited" && failure.code !== "internal") {
          this.update({ status: "error", error: failure });
          return;
        }
        failures++;
        this.update({ status: "reconnecting", error: failure });
        await wait(reconnectDelayMs(failures), signal);
      } finally {
        this.subscription = undefined;
      }
    }
  }

  /** Hands the events taken since the last flush over in one batch: one render per burst, not per event. */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let running = this.snapshot.running;
    let changesHeader = false;
    for (const event of batch) {
      this.live.observe(event);
      if (event.type === "status" && event.scope === "agent") {
        if (event.status === "running") running = true;
        else if (event.previous === "running") running = false;
      }
      if (!(event.type === "custom" && event.name === TURN_DELTA_EVENT)) changesHeader = true;
      if (isHistoryChanged(event)) this.notices.push(event);
    }
    this.onEvents?.(batch);
    const open = this.live.open;
    this.update({
      events: this.keepEvents ? [...this.snapshot.events, ...batch] : this.snapshot.events,
      lastSeq: (batch.at(-1) as SessionEvent).seq,
      reply: open ? { ...open } : undefined,
      running,
    });
    if (changesHeader && this.refreshSession) this.refreshSoon();
    if (this.notices.length > 0) void this.rewriteHeld();
  }

  /**
   * Applies the notices taken, one at a time and in order, so that a redaction read late never
   * undoes a later prune. A failed read is retried (the stream reconnects meanwhile); a stopped
   * feed keeps its notices and goes on when started again.
   */
  private async rewriteHeld(): Promise<void> {
    if (this.rewriting) return;
    this.rewriting = true;
    try {
      let failures = 0;
      for (;;) {
        const signal = this.signal;
        const notice = this.notices[0];
        if (!notice || !signal || signal.aborted) return;
        // Nobody holds the events: nothing to read again.
        if (!this.keepEvents && !this.onRewrite) {
          this.notices.shift();
          continue;
        }
        try {
          const rewrite = await readRewrite(this.client, this.sessionId, notice, this.heldLookup());
          this.notices.shift();
          failures = 0;
          if (!rewrite) continue;
          if (this.keepEvents) {
            const events = applyRewrite(this.snapshot.events, rewrite);
            if (events !== this.snapshot.events) this.update({ events });
          }
          this.onRewrite?.(rewrite);
        } catch (error) {
          if (signal.aborted) return;
          if (isFrontdeskError(error, "not_found") || isFrontdeskError(error, "forbidden")) {
            // The session is gone: the stream says so; nothing is left to show.
            this.notices = [];
            return;
          }
          failures++;
          await wait(reconnectDelayMs(failures + 1), signal);
        }
      }
    } finally {
      this.rewriting = false;
    }
  }

  /** With events held here only, the reads skip what is not held; a holder elsewhere needs every seq. */
  private heldLookup(): ((seq: number) => SessionEvent | undefined) | undefined {
    if (!this.keepEvents || this.onRewrite) return undefined;
    const bySeq = new Map(this.snapshot.events.map((event) => [event.seq, event]));
    return (seq) => bySeq.get(seq);
  }

  /** One header read at a time, at most every {@link REFRESH_GAP_MS}, the last one after the last change. */
  private refreshSoon(): void {
    if (this.refreshing || this.refreshTimer !== undefined) {
      this.refreshAgain = true;
      return;
    }
    this.refreshTimer = setTimeout(async () => {
      this.refreshing = true;
      this.refreshAgain = false;
      try {
        const session = await this.client.get(this.sessionId);
        if (!this.signal?.aborted) this.update({ session, state: session.state as JsonObject });
      } catch {
        // The stream reports what matters (gone, offline); the next change reads the header again.
      } finally {
        this.refreshing = false;
        this.refreshTimer = undefined;
        if (this.refreshAgain && !this.signal?.aborted) this.refreshSoon();
      }
    }, REFRESH_GAP_MS);
  }

  /** The client's fetch, watched so the feed can tell "connected" from "reconnecting" (the client does not say). */
  private trackedFetch(base: typeof fetch): typeof fetch {
    return async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const isStream = url.includes("/events/stream");
      if (isStream && this.snapshot.status === "live") this.update({ status: "reconnecting" });
      const response = await base(input, init);
      if (isStream && response.ok) this.update({ status: "live", error: undefined });
      return response;
    };
  }
}
