/**
 * A crowd of HTTP clients writing to many sessions through one or more `frontdesk serve` processes,
 * keeping a ledger of what each was told, so a test can change the store under them (reshard, kill
 * a Redis master) and then prove from the logs what survived (issue 20 §4).
 *
 * Two kinds of write, both the way a careful client makes them:
 * - an increment reads the session and PATCHes `count + 1` with If-Match, retrying on 412. Each
 *   attempt also writes a token of its own (`op`), which the PATCH's `state` event keeps in the log,
 *   so afterwards every attempt is known to be applied or not, including the ones whose answer was
 *   a 503 (outcome unknown);
 * - an append POSTs one event with an Idempotency-Key, retried with the same key and body on a 503
 *   or a failed request until it is acknowledged, as the HTTP docs tell a client to.
 */

export interface LoadSession {
  user: string;
  id: string;
}

export interface LoadTarget {
  /** The base URLs of the servers; each request goes to one of them in turn. */
  urls: string[];
  /** An admin key, so one key writes every owner's sessions (X-Frontdesk-User). */
  adminKey: string;
}

/** A write the server acknowledged: when it was sent and when its 2xx arrived (performance.now()). */
export interface Acknowledged {
  session: string;
  kind: "increment" | "append";
  startedAt: number;
  endedAt: number;
}

/** A write attempt that failed in a way a client must retry (503, or no answer at all). */
export interface Failed {
  session: string;
  kind: "increment" | "append" | "read";
  startedAt: number;
  /** When the failure came back: a request sent before a kill can fail after it. */
  endedAt: number;
  what: string;
}

export interface LedgerCheck {
  sessions: number;
  events: number;
  acknowledgedIncrements: number;
  acknowledgedAppends: number;
  /** Increments answered 503 with `details.outcome: "unknown"` that the log shows applied, and not. */
  unknownIncrementsApplied: number;
  unknownIncrementsNotApplied: number;
  /** Increments answered a plain 503 (no `outcome`) that the log shows applied, and not. */
  unavailableIncrementsApplied: number;
  unavailableIncrementsNotApplied: number;
  /**
   * Appends whose 201 was a replay (`Idempotent-Replayed`) after 503s: the first attempt had been
   * stored. By whether any of those 503s said `outcome: "unknown"`.
   */
  appendsReplayedAfterUnknown: number;
  appendsReplayedAfterPlain503: number;
  /** Appends never acknowledged (still being retried when the load stopped) found in the log. */
  unacknowledgedAppendsApplied: number;
  lostIncrements: string[];
  lostAppends: string[];
  duplicateIncrements: string[];
  duplicateAppends: string[];
  /** A log whose seqs are not exactly 1..lastSeq, once each. */
  gaps: string[];
  /** A counter that is not the number of increments its log holds, or a log whose counts skip. */
  counterErrors: string[];
}

/** A request's outcome: `status` 0 when no answer came. */
interface Answer {
  status: number;
  response?: Response;
  what: string;
}

/** A 503 body that says the write may have been stored (docs/http-api.md, Errors). */
const UNKNOWN = /"outcome":\s*"unknown"/;

const ID = (session: LoadSession) => `${session.user}/${session.id}`;

/** A client's backoff before its next try; clients that retried in step would collide again. */
const backoff = (attempt: number, capMs: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(capMs, 5 * 2 ** attempt)));

export class SessionLoad {
  readonly acknowledged: Acknowledged[] = [];
  readonly failed: Failed[] = [];
  /** Every answer that is neither 2xx, nor the 412 an If-Match write expects, nor a 503. */
  readonly unexpected: string[] = [];
  /** Status counts by "METHOD status" (and "METHOD network error"). */
  readonly statuses = new Map<string, number>();
  preconditionFailures = 0;

  private readonly ackedIncrements = new Map<string, Set<string>>();
  private readonly unknownIncrements = new Map<string, Set<string>>();
  private readonly unavailableIncrements = new Map<string, Set<string>>();
  private replayedAfterUnknown = 0;
  private replayedAfterPlain503 = 0;
  private readonly ackedAppends = new Map<string, Set<string>>();
  private readonly pendingAppends = new Map<string, Set<string>>();
  private stopping = false;
  private running: Promise<void>[] = [];
  private request = 0;
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly target: LoadTarget,
    readonly sessions: LoadSession[],
    private readonly options: { clients: number; requestTimeoutMs?: number } = { clients: 50 },
  ) {}

  /** Creates every session with `count: 0` and no expiry, 20 at a time. */
  async createSessions(): Promise<void> {
    const queue = [...this.sessions];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let session = queue.shift(); session; session = queue.shift()) {
          const response = await this.call("POST", session, "/v1/sessions", {
            id: session.id,
            state: { count: 0 },
            ttlSeconds: null,
          });
          const text = (await response.response?.text()) ?? "";
          if (response.status !== 201) throw new Error(`creating ${ID(session)}: ${response.what} ${text}`);
        }
      }),
    );
  }

  start(): void {
    this.running = Array.from({ length: this.options.clients }, (_, client) => this.client(client));
  }

  /** Lets each client finish the write it is making (an append goes on until acknowledged), then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  /** Whether `session` had a write acknowledged that was sent at or after `since`. */
  writtenSince(session: LoadSession, since: number): boolean {
    return (this.lastWrite.get(ID(session)) ?? Number.NEGATIVE_INFINITY) >= since;
  }

  private async client(client: number): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const session = this.sessions[Math.floor(Math.random() * this.sessions.length)] as LoadSession;
      if (n % 2 === 0) await this.increment(session, `c${client}-${n}`);
      else await this.append(session, `c${client}-${n}`);
    }
  }

  private async increment(session: LoadSession, op: string): Promise<void> {
    const id = ID(session);
    for (let attempt = 0; !this.stopping; attempt++) {
      const startedAt = performance.now();
      const read = await this.call("GET", session, `/v1/sessions/${encodeURIComponent(session.id)}`);
      if (read.status !== 200 || !read.response) {
        await this.failure(session, "read", read, startedAt);
        await backoff(attempt, 250);
        continue;
      }
      const current = (await read.response.json()) as { state: { count: number } };
      const token = `${op}.${attempt}`;
      const writeStarted = performance.now();
      const write = await this.call(
        "PATCH",
        session,
        `/v1/sessions/${encodeURIComponent(session.id)}`,
        { state: { count: current.state.count + 1, op: token } },
        { "if-match": read.response.headers.get("etag") ?? "" },
      );
      if (write.status === 200) {
        await write.response?.body?.cancel();
        add(this.ackedIncrements, id, token);
        this.ack(session, "increment", writeStarted);
        return;
      }
      if (write.status === 412) {
        await write.response?.body?.cancel();
        this.preconditionFailures++;
      } else {
        // A 503 may have been applied: the log decides; the next attempt is a new increment.
        const text = await this.failure(session, "increment", write, writeStarted);
        if (write.status === 503)
          add(UNKNOWN.test(text) ? this.unknownIncrements : this.unavailableIncrements, id, token);
      }
      await backoff(attempt, 250);
    }
  }

  private async append(session: LoadSession, key: string): Promise<void> {
    const id = ID(session);
    add(this.pendingAppends, id, key);
    const body = { type: "custom", name: "load", data: { key } };
    const path = `/v1/sessions/${encodeURIComponent(session.id)}/events`;
    // Unlike an increment, an append is retried until acknowledged even after stop(): its key must
    // end either acknowledged or provably unanswered, never abandoned mid-outage.
    const deadline = performance.now() + 30_000;
    const answered503 = { unknown: false, plain: false };
    for (let attempt = 0; performance.now() < deadline; attempt++) {
      const startedAt = performance.now();
      const response = await this.call("POST", session, path, body, { "idempotency-key": key });
      if (response.status === 201) {
        await response.response?.body?.cancel();
        if (response.response?.headers.get("idempotent-replayed") === "true") {
          if (answered503.unknown) this.replayedAfterUnknown++;
          else if (answered503.plain) this.replayedAfterPlain503++;
        }
        this.pendingAppends.get(id)?.delete(key);
        add(this.ackedAppends, id, key);
        this.ack(session, "append", startedAt);
        return;
      }
      const text = await this.failure(session, "append", response, startedAt);
      if (response.status === 503) answered503[UNKNOWN.test(text) ? "unknown" : "plain"] = true;
      if (response.status !== 503 && response.status !== 0) return;
      await backoff(attempt, 250);
    }
  }

  private ack(session: LoadSession, kind: Acknowledged["kind"], startedAt: number): void {
    const endedAt = performance.now();
    this.acknowledged.push({ session: ID(session), kind, startedAt, endedAt });
    this.lastWrite.set(ID(session), Math.max(this.lastWrite.get(ID(session)) ?? startedAt, startedAt));
  }

  /** Records a failed attempt; returns the answer's body. */
  private async failure(
    session: LoadSession,
    kind: Failed["kind"],
    answer: Answer,
    startedAt: number,
  ): Promise<string> {
    const endedAt = performance.now();
    const text = (await answer.response?.text()) ?? "";
    const what = `${kind} ${ID(session)}: ${answer.what} ${text.slice(0, 300)}`;
    this.failed.push({ session: ID(session), kind, startedAt, endedAt, what });
    // A 503 is the store saying "retry"; anything else (a 500, a 4xx, no answer at all) is a client-visible error.
    if (answer.status !== 503) this.unexpected.push(what);
    return text;
  }

  /** One request; one that got no answer (refused, reset, timed out) comes back with status 0. */
  private async call(
    method: string,
    session: LoadSession,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const url = this.target.urls[this.request++ % this.target.urls.length] as string;
    let answer: Answer;
    try {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.target.adminKey}`,
          "x-frontdesk-user": session.user,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 15_000),
      });
      answer = { status: response.status, response, what: String(response.status) };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      answer = { status: 0, what: `no answer (${cause})` };
    }
    const label = `${method} ${answer.status === 0 ? "no answer" : answer.status}`;
    this.statuses.set(label, (this.statuses.get(label) ?? 0) + 1);
    return answer;
  }

  /** Reads every session and its whole log, and checks them against what the clients were told. */
  async check(): Promise<LedgerCheck> {
    const result: LedgerCheck = {
      sessions: this.sessions.length,
      events: 0,
      acknowledgedIncrements: total(this.ackedIncrements),
      acknowledgedAppends: total(this.ackedAppends),
      unknownIncrementsApplied: 0,
      unknownIncrementsNotApplied: 0,
      unavailableIncrementsApplied: 0,
      unavailableIncrementsNotApplied: 0,
      appendsReplayedAfterUnknown: this.replayedAfterUnknown,
      appendsReplayedAfterPlain503: this.replayedAfterPlain503,
      unacknowledgedAppendsApplied: 0,
      lostIncrements: [],
      lostAppends: [],
      duplicateIncrements: [],
      duplicateAppends: [],
      gaps: [],
      counterErrors: [],
    };
    for (const session of this.sessions) {
      const id = ID(session);
      const header = (await this.read(session, `/v1/sessions/${encodeURIComponent(session.id)}`)) as {
        state: { count: number };
        lastSeq: number;
      };
      const events: { seq: number; type: string; stateDelta?: { op?: string; count?: number }; data?: unknown }[] = [];
      for (let after: number | null = 0; after !== null; ) {
        const page: { items: typeof events; nextAfter: number | null } = (await this.read(
          session,
          `/v1/sessions/${encodeURIComponent(session.id)}/events?after=${after}&limit=1000`,
        )) as { items: typeof events; nextAfter: number | null };
        events.push(...page.items);
        after = page.nextAfter;
      }
      result.events += events.length;
      const seqs = events.map((event) => event.seq);
      if (seqs.length !== header.lastSeq || seqs.some((seq, i) => seq !== i + 1)) {
        result.gaps.push(`${id}: lastSeq ${header.lastSeq}, seqs ${compress(seqs)}`);
      }

      const ops = events.filter((event) => event.type === "state" && event.stateDelta?.op !== undefined);
      const counts = ops.map((event) => event.stateDelta?.count);
      if (counts.some((count, i) => count !== i + 1) || header.state.count !== ops.length) {
        result.counterErrors.push(`${id}: count ${header.state.count}, increments in the log ${compress(counts)}`);
      }
      const applied = tally(ops.map((event) => event.stateDelta?.op as string));
      for (const [op, times] of applied) if (times > 1) result.duplicateIncrements.push(`${id} ${op} ×${times}`);
      for (const op of this.ackedIncrements.get(id) ?? [])
        if (!applied.has(op)) result.lostIncrements.push(`${id} ${op}`);
      for (const op of this.unknownIncrements.get(id) ?? []) {
        if (applied.has(op)) result.unknownIncrementsApplied++;
        else result.unknownIncrementsNotApplied++;
      }
      for (const op of this.unavailableIncrements.get(id) ?? []) {
        if (applied.has(op)) result.unavailableIncrementsApplied++;
        else result.unavailableIncrementsNotApplied++;
      }

      const appended = tally(
        events
          .filter((event) => event.type === "custom")
          .map((event) => (event.data as { key: string } | undefined)?.key as string),
      );
      for (const [key, times] of appended) if (times > 1) result.duplicateAppends.push(`${id} ${key} ×${times}`);
      for (const key of this.ackedAppends.get(id) ?? [])
        if (!appended.has(key)) result.lostAppends.push(`${id} ${key}`);
      for (const key of this.pendingAppends.get(id) ?? []) if (appended.has(key)) result.unacknowledgedAppendsApplied++;
    }
    return result;
  }

  private async read(session: LoadSession, path: string): Promise<unknown> {
    const url = this.target.urls[0] as string;
    const response = await fetch(`${url}${path}`, {
      headers: { authorization: `Bearer ${this.target.adminKey}`, "x-frontdesk-user": session.user },
    });
    if (response.status !== 200)
      throw new Error(`GET ${path} for ${session.user}: ${response.status} ${await response.text()}`);
    return response.json();
  }
}

/**
 * How long writes stopped around `at` (a kill): for each session that had a request fail after it,
 * the time from `at` to its first acknowledged write sent after its last failure came back; and
 * the longest time between two acknowledged writes of any session from `at` on.
 */
export function writePause(load: SessionLoad, at: number) {
  const lastFailure = new Map<string, number>();
  for (const failure of load.failed) {
    if (failure.endedAt >= at) {
      lastFailure.set(failure.session, Math.max(lastFailure.get(failure.session) ?? 0, failure.endedAt));
    }
  }
  const resumedAfter = new Map<string, number>();
  for (const [session, last] of lastFailure) {
    const first = load.acknowledged
      .filter((write) => write.session === session && write.startedAt > last)
      .reduce((min, write) => Math.min(min, write.endedAt), Number.POSITIVE_INFINITY);
    resumedAfter.set(session, first - at);
  }
  const ends = load.acknowledged
    .map((write) => write.endedAt)
    .filter((end) => end >= at)
    .sort((a, b) => a - b);
  let longestGap = ends.length > 0 ? (ends[0] as number) - at : Number.POSITIVE_INFINITY;
  for (let i = 1; i < ends.length; i++)
    longestGap = Math.max(longestGap, (ends[i] as number) - (ends[i - 1] as number));
  const resumes = [...resumedAfter.values()];
  return {
    affectedSessions: resumedAfter.size,
    /** The last affected session to write again: the pause the worst-placed client saw. */
    pauseMs: resumes.length > 0 ? Math.max(...resumes) : 0,
    firstResumeMs: resumes.length > 0 ? Math.min(...resumes) : 0,
    longestGapMs: longestGap,
    failuresAfter: load.failed.filter((failure) => failure.endedAt >= at).length,
  };
}

function add(map: Map<string, Set<string>>, id: string, value: string): void {
  const set = map.get(id) ?? new Set<string>();
  set.add(value);
  map.set(id, set);
}

function total(map: Map<string, Set<string>>): number {
  let sum = 0;
  for (const set of map.values()) sum += set.size;
  return sum;
}

function tally(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

/** 1,2,3,5,6 → "1-3,5-6": a log's seqs in a line a failure message can hold. */
function compress(values: (number | undefined)[]): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && (values[j + 1] as number) === (values[j] as number) + 1) j++;
    parts.push(i === j ? String(values[i]) : `${values[i]}-${values[j]}`);
    i = j + 1;
  }
  return parts.join(",") || "none";
}
