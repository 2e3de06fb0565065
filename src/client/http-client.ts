/**
 * A typed client of HTTP API v1 that speaks the SessionManager's throwing API: the same method
 * names, options and results, and the same `FrontdeskError` codes (taken from the error body), so
 * code written against a local manager runs unchanged against a server.
 *
 * @example
 * const client = new FrontdeskClient({ baseUrl: "http://127.0.0.1:7420", apiKey: process.env.FRONTDESK_KEY! });
 * const session = await client.create({ title: "support" });
 * await client.appendEvents(session.id, [{ type: "message", role: "user", content: "hi" }]);
 * for await (const event of client.subscribe(session.id)) console.log(event.seq, event.type);
 *
 * It runs in browsers too (frontdesk/react builds on it): nothing of Node is imported up front, and
 * `node:http` is loaded only for streams in Node when no custom `fetch` is given.
 */
import { ERROR_STATUS, type ErrorCode, FrontdeskError, isErrorCode } from "../core/errors.ts";
import type { Json, JsonObject, SessionEvent, SessionStats } from "../core/model.ts";
import type {
  AppendOptions,
  AppendResult,
  CreateSessionOptions,
  EventSubscription,
  ForkOptions,
  ImportOptions,
  InvocationInput,
  ListSessionsOptions,
  MessageInput,
  MessagesOptions,
  PatchSessionInput,
  ReadEventsOptions,
  Session,
  SessionPage,
  SessionRef,
  WriteOptions,
} from "../core/session-manager.ts";
import { SseParser } from "./sse-parser.ts";

export interface FrontdeskClientOptions {
  /** Where the server listens, e.g. `http://127.0.0.1:7420`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`, never in a URL. */
  apiKey: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Admin keys: the user to act for when a ref does not name one. */
  userId?: string;
  /** Time to wait for a response's headers. @default 30_000 */
  timeoutMs?: number;
  /** Reconnects of `subscribe` without receiving an event before it gives up with `unavailable`. @default 10 */
  maxReconnects?: number;
}

type Query = Record<string, string | number | boolean | readonly (string | number)[] | undefined | null>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Raw body with its content type (NDJSON import). */
  text?: { body: string; contentType: string };
  headers?: Record<string, string | undefined>;
  /** Keeps the response unread (streams) and times out only the wait for headers. */
  stream?: boolean;
  signal?: AbortSignal;
}

const CODE_BY_STATUS = new Map<number, ErrorCode>(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]),
);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** No wait for the first retry (a cut connection, an overflow, a restart), then 100 ms doubling up to 2 s. */
const backoff = (failures: number): Promise<void> =>
  failures <= 1 ? Promise.resolve() : sleep(Math.min(100 * 2 ** (failures - 2), 2_000));

const invalid = (message: string): FrontdeskError => new FrontdeskError("invalid_request", message);

const refParts = (ref: SessionRef): { id: string; userId: string | undefined } => {
  if (typeof ref === "string") return { id: ref, userId: undefined };
  if (ref === null || typeof ref !== "object" || typeof ref.id !== "string") {
    throw invalid("A session is named by its id");
  }
  if (ref.userId === null) throw invalid("Sessions served over HTTP always have an owner");
  return { id: ref.id, userId: ref.userId };
};

const ttlSecondsOf = (ttlMs: number | null | undefined): number | null | undefined => {
  if (ttlMs === undefined || ttlMs === null) return ttlMs;
  if (typeof ttlMs !== "number" || !Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs % 1000 !== 0) {
    throw invalid("Over HTTP a TTL is a whole number of seconds (ttlMs a positive multiple of 1000)");
  }
  return ttlMs / 1000;
};

/** The RFC 7396 merge patch that turns `before` into `after` (arrays and scalars are replaced whole). */
export function createMergePatch(before: JsonObject, after: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key) || after[key] === undefined) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined) continue;
    const old = before[key];
    const isObject = (v: Json | undefined): v is JsonObject => v !== null && typeof v === "object" && !Array.isArray(v);
    if (isObject(value) && isObject(old)) {
      const nested = createMergePatch(old, value);
      if (Object.keys(nested).length > 0) patch[key] = nested;
    } else if (old === undefined || JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

export class FrontdeskClient<S extends object = JsonObject> {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;
  private readonly customFetch: boolean;
  private readonly userId: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxReconnects: number;

  constructor(options: FrontdeskClientOptions) {
    if (!options || typeof options.baseUrl !== "string" || typeof options.apiKey !== "string") {
      throw invalid("FrontdeskClient needs a baseUrl and an apiKey");
    }
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw invalid(`Not a URL: ${options.baseUrl}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid("The server URL must be http(s)");
    if (url.username || url.password || url.search) throw invalid("Put no credentials or query in the server URL");
    this.baseUrl = url.toString().replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    // Outside Node (a browser) streams go through fetch, which there does drop the connection on abort.
    this.customFetch = options.fetch !== undefined || typeof process === "undefined" || !process.versions?.node;
    this.userId = options.userId;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxReconnects = options.maxReconnects ?? 10;
  }

  // ── sessions ─────────────────────────────────────────────────────────────────────────────────

  /** Creates a session. Like the manager, a taken id returns that session unless `ifExists: "error"` (then `conflict`). */
  async create(options: CreateSessionOptions<S> = {}): Promise<Session<S>> {
    if (options.absoluteTtlMs !== undefined) throw invalid("absoluteTtlMs is not available over HTTP");
    if (options.userId === null) throw invalid("Sessions served over HTTP always have an owner");
    const body: Record<string, unknown> = {};
    if (options.sessionId !== undefined) body.id = options.sessionId;
    if (options.state !== undefined) body.state = options.state;
    if (options.tags !== undefined) body.tags = options.tags;
    if (options.title !== undefined) body.title = options.title;
    if (options.purpose !== undefined) body.purpose = options.purpose;
    if (options.metadata !== undefined) body.metadata = options.metadata;
    const ttl = ttlSecondsOf(options.ttlMs);
    if (ttl !== undefined) body.ttlSeconds = ttl;
    const response = await this.request("POST", "/v1/sessions", {
      body,
      query: { userId: options.userId ?? this.userId, ifExists: options.ifExists ?? "return" },
    });
    return (await response.json()) as Session<S>;
  }

  async get(ref: SessionRef): Promise<Session<S>> {
    return this.json<Session<S>>("GET", ref, "");
  }

  /** Header fields and a JSON merge patch of the state, in one write; `expectedVersion` is sent as `If-Match`. */
  async patch(ref: SessionRef, input: PatchSessionInput, options: WriteOptions = {}): Promise<Session<S>> {
    const body: Record<string, unknown> = {};
    for (const key of ["state", "title", "purpose", "tags", "metadata", "status"] as const) {
      if (input[key] !== undefined) body[key] = input[key];
    }
    const ttl = ttlSecondsOf(input.ttlMs);
    if (ttl !== undefined) body.ttlSeconds = ttl;
    return this.json<Session<S>>("PATCH", ref, "", { body, headers: this.ifMatch(options) });
  }

  /**
   * Applies `fn` to the current state and writes the difference as a conditional merge patch;
   * on a concurrent change (412) it re-reads and re-applies, like the manager (bounded retries).
   */
  async update(ref: SessionRef, fn: (state: Readonly<S>) => S, options: WriteOptions & { maxRetries?: number } = {}) {
    const attempts = options.maxRetries ?? 20;
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(ref);
      if (options.expectedVersion !== undefined && current.version !== options.expectedVersion) {
        throw new FrontdeskError("precondition_failed", "The session is not at the expected version", {
          details: { currentVersion: current.version },
        });
      }
      const next = fn(current.state as Readonly<S>) as unknown as JsonObject;
      const patch = createMergePatch(current.state as unknown as JsonObject, next);
      try {
        return await this.patch(ref, { state: patch }, { expectedVersion: current.version });
      } catch (error) {
        const retry = error instanceof FrontdeskError && error.code === "precondition_failed";
        if (!retry || options.expectedVersion !== undefined) throw error;
        if (attempt + 1 >= attempts) throw new FrontdeskError("conflict", `Gave up after ${attempts} attempts`);
        await sleep(Math.random() * Math.min(2 ** attempt, 50));
      }
    }
  }

  /** False when there was no such session (like the manager). */
  async delete(ref: SessionRef, options: WriteOptions = {}): Promise<boolean> {
    try {
      await this.request("DELETE", this.sessionPath(ref, ""), {
        query: this.scopeQuery(ref),
        headers: this.ifMatch(options),
      });
      return true;
    } catch (error) {
      if (error instanceof FrontdeskError && error.code === "not_found") return false;
      throw error;
    }
  }

  /** A page of sessions; pass `nextCursor` back as `cursor`. Admin keys see every user unless `userId` is given. */
  async listSessions(options: ListSessionsOptions = {}): Promise<SessionPage<S>> {
    if (options.userId === null) throw invalid("Sessions served over HTTP always have an owner");
    const status =
      options.status === undefined ? undefined : Array.isArray(options.status) ? options.status : [options.status];
    const response = await this.request("GET", "/v1/sessions", {
      query: {
        status,
        tag: options.tags,
        q: options.text,
        createdAfter: options.createdAfter,
        createdBefore: options.createdBefore,
        updatedAfter: options.updatedAfter,
        updatedBefore: options.updatedBefore,
        orderBy: options.orderBy,
        order: options.order,
        limit: options.limit,
        cursor: options.cursor,
        userId: options.userId ?? this.userId,
      },
    });
    return (await response.json()) as SessionPage<S>;
  }

  /** Alias of {@link listSessions}. */
  list(options: ListSessionsOptions = {}): Promise<SessionPage<S>> {
    return this.listSessions(options);
  }

  async getStatistics(ref: SessionRef): Promise<Readonly<SessionStats>> {
    return this.json<SessionStats>("GET", ref, "/stats");
  }

  /** Alias of {@link getStatistics}. */
  stats(ref: SessionRef): Promise<Readonly<SessionStats>> {
    return this.getStatistics(ref);
  }

  /** The conversation view (at most 1000 messages per call over HTTP). */
  async getMessages(ref: SessionRef, options: MessagesOptions = {}): Promise<readonly SessionEvent[]> {
    const page = await this.json<{ items: SessionEvent[] }>("GET", ref, "/messages", {
      query: { last: options.last, tokenBudget: options.tokenBudget },
    });
    return page.items;
  }

  /** Alias of {@link getMessages}. */
  messages(ref: SessionRef, options: MessagesOptions = {}): Promise<readonly SessionEvent[]> {
    return this.getMessages(ref, options);
  }

  async fork(ref: SessionRef, options: ForkOptions = {}): Promise<Session<S>> {
    const body: Record<string, unknown> = {};
    if (options.atSeq !== undefined) body.atSeq = options.atSeq;
    if (options.sessionId !== undefined) body.id = options.sessionId;
    if (options.title !== undefined) body.title = options.title;
    return this.json<Session<S>>("POST", ref, "/fork", { body });
  }

  /** The session as NDJSON lines (no trailing newlines), streamed: one header line, then one line per event. */
  async *exportSession(ref: SessionRef): AsyncGenerator<string> {
    const stream = await this.openStream(this.sessionPath(ref, "/export"), this.scopeQuery(ref), {
      accept: "application/x-ndjson",
    });
    const decoder = new TextDecoder();
    let rest = "";
    try {
      for await (const chunk of stream.chunks) {
        rest += decoder.decode(chunk, { stream: true });
        const lines = rest.split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) if (line !== "") yield line;
      }
    } finally {
      stream.close();
    }
    rest += decoder.decode();
    if (rest !== "") yield rest;
  }

  /** Imports an export (lines or one NDJSON text) for the caller; a taken id is `conflict`. */
  async importSession(
    source: string | Iterable<string> | AsyncIterable<string>,
    options: ImportOptions & { userId?: string } = {},
  ): Promise<Session<S>> {
    let text: string;
    if (typeof source === "string") text = source;
    else {
      const lines: string[] = [];
      for await (const line of source as AsyncIterable<string>) lines.push(String(line).replace(/\n+$/, ""));
      text = lines.join("\n");
    }
    const response = await this.request("POST", "/v1/sessions/import", {
      text: { body: text, contentType: "application/x-ndjson" },
      query: { id: options.sessionId, userId: options.userId ?? this.userId },
    });
    return (await response.json()) as Session<S>;
  }

  // ── events ───────────────────────────────────────────────────────────────────────────────────

  /** Appends atomically; `expectedVersion` → `If-Match`, `idempotencyKey` → `Idempotency-Key`. */
  async appendEvents(ref: SessionRef, inputs: readonly unknown[], options: AppendOptions = {}): Promise<AppendResult> {
    if (!Array.isArray(inputs) || inputs.length === 0) throw invalid("Append at least one event");
    const result = await this.json<AppendResult & { seqs?: number[] }>("POST", ref, "/events", {
      body: { events: inputs },
      headers: { ...this.ifMatch(options), "idempotency-key": options.idempotencyKey },
    });
    return { version: result.version, lastSeq: result.lastSeq, events: result.events, replayed: result.replayed };
  }

  async addMessage(ref: SessionRef, message: MessageInput, options: AppendOptions = {}): Promise<SessionEvent> {
    const { events } = await this.appendEvents(ref, [{ ...message, type: "message" }], options);
    return events[0] as SessionEvent;
  }

  async linkInvocation(ref: SessionRef, invocation: InvocationInput, options: AppendOptions = {}) {
    const invocationId = invocation.invocationId ?? `inv_${globalThis.crypto.randomUUID().replace(/-/g, "")}`;
    const error = typeof invocation.error === "string" ? { message: invocation.error } : invocation.error;
    const call: Record<string, unknown> = { type: "tool_call", invocationId, tool: invocation.tool };
    if (invocation.input !== undefined) call.input = invocation.input;
    const result: Record<string, unknown> = {
      type: "tool_result",
      invocationId,
      tool: invocation.tool,
      status: invocation.status ?? (error ? "error" : "success"),
    };
    if (invocation.input !== undefined) result.input = invocation.input;
    if (invocation.output !== undefined) result.output = invocation.output;
    if (error !== undefined) result.error = error;
    if (invocation.durationMs !== undefined) result.durationMs = invocation.durationMs;
    if (invocation.stateDelta !== undefined) result.stateDelta = invocation.stateDelta;
    return (await this.appendEvents(ref, [call, result], options)).events;
  }

  /**
   * Events in seq order; without `limit`, every event after `after` (read in pages of up to 1000).
   * Pages the server ended early, for their size, are followed until `limit` or `last` is met.
   */
  async readEvents(ref: SessionRef, options: ReadEventsOptions = {}): Promise<readonly SessionEvent[]> {
    const types = options.types === undefined ? undefined : [...options.types];
    if (options.last !== undefined) {
      // A page of big events ends early (the server's byte budget); the pages before it fill the rest.
      const newestFirst: SessionEvent[][] = [];
      let got = 0;
      for (let before = options.before; ; ) {
        const want = Number.isSafeInteger(options.last) && options.last > 0 ? options.last - got : options.last;
        const page = await this.json<{ items: SessionEvent[]; nextBefore?: number | null }>("GET", ref, "/events", {
          query: { after: options.after, before, last: want, type: types },
        });
        newestFirst.push(page.items);
        got += page.items.length;
        if (page.nextBefore == null || page.items.length === 0 || got >= options.last) break;
        before = page.nextBefore;
      }
      return newestFirst.reverse().flat();
    }
    const want = options.limit;
    const out: SessionEvent[] = [];
    let after = options.after;
    for (;;) {
      // An invalid limit goes to the server as given, so it answers the same invalid_request as the manager.
      const limit =
        want === undefined
          ? 1000
          : out.length === 0 && !(Number.isSafeInteger(want) && want > 0)
            ? want
            : Math.min(1000, want - out.length);
      const page = await this.json<{ items: SessionEvent[]; nextAfter: number | null }>("GET", ref, "/events", {
        query: { after, before: options.before, limit, type: types },
      });
      out.push(...page.items);
      if (page.nextAfter === null || page.items.length === 0) return out;
      if (want !== undefined && out.length >= want) return out;
      after = page.nextAfter;
    }
  }

  /**
   * Replays events after `after`, then follows live ones over Server-Sent Events. A dropped
   * connection, an overflow or a server shutdown resumes with `Last-Event-ID`: no gap, no duplicate.
   * Ends when the session is deleted or expires; `close()` ends it early.
   */
  subscribe(ref: SessionRef, options: { after?: number } = {}): EventSubscription {
    const path = this.sessionPath(ref, "/events/stream");
    const scope = this.scopeQuery(ref);
    let after = options.after ?? 0;
    let closed = false;
    let current: ByteStream | undefined;
    const client = this;

    async function* follow(): AsyncGenerator<SessionEvent> {
      let failures = 0;
      while (!closed) {
        let stream: ByteStream;
        try {
          stream = await client.openStream(path, scope, {
            accept: "text/event-stream",
            "last-event-id": String(after),
          });
        } catch (error) {
          if (closed) return;
          const transient =
            error instanceof FrontdeskError && (error.code === "unavailable" || error.code === "rate_limited");
          if (!transient || ++failures > client.maxReconnects) throw error;
          await backoff(failures);
          continue;
        }
        current = stream;
        let finished = false;
        try {
          const parser = new SseParser();
          const decoder = new TextDecoder();
          read: for await (const chunk of stream.chunks) {
            for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
              if (message.event === "end") {
                finished = true;
                break read;
              }
              if (message.event === "overflow" || message.event === "shutdown" || message.event === "stream_error") {
                break read;
              }
              const event = JSON.parse(message.data) as SessionEvent;
              if (typeof event?.seq !== "number" || event.seq <= after) continue;
              after = event.seq;
              failures = 0;
              yield event;
              if (closed) return;
            }
          }
        } catch {
          // The connection dropped mid-stream: resume after the last event received.
          if (closed) return;
          if (++failures > client.maxReconnects) {
            throw new FrontdeskError("unavailable", "The event stream keeps failing");
          }
        } finally {
          stream.close();
          current = undefined;
        }
        if (finished) return;
        await backoff(failures);
      }
    }

    const iterator = follow();
    return {
      [Symbol.asyncIterator]: () => iterator,
      async close() {
        closed = true;
        current?.close();
        await iterator.return(undefined);
      },
    };
  }

  // ── agent turns ──────────────────────────────────────────────────────────────────────────────

  /**
   * Starts a turn of the server's agent (`agent`, default the server's defaultAgent) on `message`,
   * detached: resolves with `{turnId, startSeq}` once the turn holds the session's lock, and the
   * turn runs to its end whatever this client does. Follow it with
   * `subscribe(ref, { after: startSeq - 1 })` (its reply streams as `turn.delta` events, see
   * `LiveReply`); stop it with {@link cancelTurn}. `conflict` when a turn already runs there.
   */
  async startTurn(ref: SessionRef, message: string, options: { agent?: string } = {}): Promise<DetachedTurn> {
    const body: Record<string, unknown> = { message, detach: true };
    if (options.agent !== undefined) body.agent = options.agent;
    return this.json<DetachedTurn>("POST", ref, "/turns", { body });
  }

  /** Asks the running turn to stop (its partial reply is kept); `conflict` when none runs. */
  async cancelTurn(ref: SessionRef, options: { reason?: string } = {}): Promise<{ turnId: string; local: boolean }> {
    return this.json("POST", ref, "/cancel", { body: options.reason === undefined ? {} : { reason: options.reason } });
  }

  /** Approval requests of the running turn still waiting for an answer. */
  async pendingApprovals(ref: SessionRef): Promise<readonly PendingApprovalView[]> {
    return (await this.json<{ items: PendingApprovalView[] }>("GET", ref, "/approvals")).items;
  }

  /** Answers an approval request; `conflict` when it was answered already or its call is closed. */
  async answerApproval(
    ref: SessionRef,
    approvalId: string,
    decision: "approve" | "deny",
    reason?: string,
  ): Promise<{ approvalId: string; decision: "approve" | "deny"; seq: number }> {
    return this.json("POST", ref, `/approvals/${encodeURIComponent(approvalId)}`, {
      body: reason === undefined ? { decision } : { decision, reason },
    });
  }

  // ── plumbing ─────────────────────────────────────────────────────────────────────────────────

  private sessionPath(ref: SessionRef, suffix: string): string {
    return `/v1/sessions/${encodeURIComponent(refParts(ref).id)}${suffix}`;
  }

  private scopeQuery(ref: SessionRef): Query {
    return { userId: refParts(ref).userId ?? this.userId };
  }

  private ifMatch(options: WriteOptions): Record<string, string | undefined> {
    return { "if-match": options.expectedVersion === undefined ? undefined : `"${options.expectedVersion}"` };
  }

  private async json<T>(method: string, ref: SessionRef, suffix: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, this.sessionPath(ref, suffix), {
      ...options,
      query: { ...this.scopeQuery(ref), ...options.query },
    });
    return (await response.json()) as T;
  }

  private async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.urlOf(path, options.query);
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}`, accept: "application/json" };
    for (const [key, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[key] = value;
    let body: string | undefined;
    if (options.text) {
      body = options.text.body;
      headers["content-type"] = options.text.contentType;
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    // The timeout covers the wait for the response's headers; a stream may then run as long as it likes.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    const onAbort = () => timeout.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers, body, signal: timeout.signal });
    } catch (cause) {
      throw new FrontdeskError("unavailable", `Could not reach the Frontdesk server at ${this.baseUrl}`, { cause });
    } finally {
      clearTimeout(timer);
      if (!options.stream) options.signal?.removeEventListener("abort", onAbort);
    }
    if (!response.ok) {
      throw await errorFrom(
        response.status,
        (name) => response.headers.get(name),
        () => response.text(),
      );
    }
    return response;
  }

  /**
   * A streaming GET (SSE, export) that can be torn down for sure. Without a custom `fetch` it uses
   * `node:http`: aborting a `fetch` body lets undici keep reading it to reuse the connection,
   * which would hold an endless event stream open on the server.
   */
  private async openStream(path: string, query: Query, headers: Record<string, string>): Promise<ByteStream> {
    const url = this.urlOf(path, query);
    const all = { ...headers, authorization: `Bearer ${this.apiKey}` };
    if (this.customFetch) {
      const controller = new AbortController();
      const response = await this.request("GET", path, { query, headers, stream: true, signal: controller.signal });
      const reader = response.body?.getReader();
      return {
        chunks: (async function* () {
          if (!reader) return;
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            if (value) yield value;
          }
        })(),
        close() {
          controller.abort();
          reader?.cancel().catch(() => undefined);
        },
      };
    }
    const send = url.protocol === "https:" ? (await import("node:https")).request : (await import("node:http")).request;
    return new Promise<ByteStream>((resolve, reject) => {
      const req = send(url, { method: "GET", headers: all });
      const timer = setTimeout(() => req.destroy(new Error("timed out waiting for the server")), this.timeoutMs);
      req.on("error", (cause) => {
        clearTimeout(timer);
        reject(new FrontdeskError("unavailable", `Could not reach the Frontdesk server at ${this.baseUrl}`, { cause }));
      });
      req.on("response", (res) => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        const header = (name: string): string | null => {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
        };
        if (status < 200 || status >= 300) {
          const parts: Buffer[] = [];
          res.on("data", (chunk: Buffer) => parts.push(chunk));
          res.on("error", () => undefined);
          res.on("end", () => {
            const text = Buffer.concat(parts).toString("utf8");
            errorFrom(status, header, async () => text).then(reject, reject);
          });
          return;
        }
        resolve({
          chunks: (async function* () {
            for await (const chunk of res as AsyncIterable<Buffer>) yield new Uint8Array(chunk);
          })(),
          close: () => req.destroy(),
        });
      });
      req.end();
    });
  }

  private urlOf(path: string, query: Query | undefined): URL {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) for (const item of value) url.searchParams.append(key, String(item));
      else url.searchParams.append(key, String(value));
    }
    return url;
  }
}

/** A turn started with `detach: true`. */
export interface DetachedTurn {
  turnId: string;
  /** Seq of the turn's user message: the turn's events are the log's from here on. */
  startSeq: number;
}

/** An approval request waiting for an answer, as `GET …/approvals` lists it. */
export interface PendingApprovalView {
  approvalId: string;
  invocationId: string;
  tool: string;
  input?: Json;
  seq: number;
  at: number;
}

/** A response body being streamed; `close()` drops the connection. */
interface ByteStream {
  chunks: AsyncIterable<Uint8Array>;
  close(): void;
}

/** The FrontdeskError of an error response: its body's code and message, else the status's code. */
async function errorFrom(
  status: number,
  header: (name: string) => string | null,
  text: () => Promise<string>,
): Promise<FrontdeskError> {
  let code: ErrorCode | undefined;
  let message: string | undefined;
  let details: Record<string, unknown> | undefined;
  try {
    const body = JSON.parse(await text()) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (isErrorCode(body?.error?.code)) {
      code = body.error.code;
      message = typeof body.error.message === "string" ? body.error.message : undefined;
      const d = body.error.details;
      details = d !== null && typeof d === "object" && !Array.isArray(d) ? (d as Record<string, unknown>) : undefined;
    }
  } catch {
    // Not our error body (a proxy's page, say): fall back to the status.
  }
  code ??= CODE_BY_STATUS.get(status) ?? (status >= 500 ? "internal" : "invalid_request");
  const retryAfter = Number(header("retry-after"));
  if (Number.isFinite(retryAfter) && retryAfter > 0) details = { ...details, retryAfterSeconds: retryAfter };
  return new FrontdeskError(code, message ?? `HTTP ${status}`, details === undefined ? {} : { details });
}
