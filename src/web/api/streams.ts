/**
 * Server-Sent Events over `fetch`, because EventSource cannot send an Authorization header.
 *
 * - {@link followEvents}: `GET /v1/sessions/{id}/events/stream`, resumed after every drop with
 *   `Last-Event-ID` = the newest seq the caller holds, so nothing is missed; the caller dedupes by
 *   seq, so nothing shows twice.
 * - {@link runTurn}: `POST /v1/sessions/{id}/turns`, one agent turn streamed as `delta` frames,
 *   persisted events (`id:` = seq) and a final `done`.
 */
import { type SseMessage, SseParser } from "../../client/sse-parser.ts";
import { ApiError, type FrontdeskEvent, isAbort, ownerQuery, send, sessionPath } from "./client.ts";
import { backoffDelay } from "./connection.ts";

/** Reads a `text/event-stream` body and hands over whole messages, a chunk's worth at a time. */
export async function readSse(
  response: Response,
  onMessages: (messages: SseMessage[]) => void,
  signal?: AbortSignal,
): Promise<void> {
  const body = response.body;
  if (!body) return;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const messages = parser.push(value);
      if (messages.length > 0) onMessages(messages);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

export type FollowStatus = "connecting" | "live" | "reconnecting" | "gone";

export interface FollowOptions {
  sessionId: string;
  userId: string | null;
  /** The newest seq the caller holds: the stream resumes after it, on every (re)connect. */
  lastSeq: () => number;
  onEvents: (events: FrontdeskEvent[]) => void;
  onStatus: (status: FollowStatus, detail?: string) => void;
  signal: AbortSignal;
}

/** Follows a session's events until `signal` aborts or the session is gone. Never throws. */
export async function followEvents(options: FollowOptions): Promise<void> {
  const { signal } = options;
  let failures = 0;
  while (!signal.aborted) {
    options.onStatus(failures === 0 ? "connecting" : "reconnecting");
    let ended: "gone" | "retry" = "retry";
    try {
      const after = options.lastSeq();
      const response = await send(sessionPath(options.sessionId, "/events/stream"), {
        query: { ...ownerQuery(options.userId), after },
        headers: { accept: "text/event-stream", "last-event-id": String(after) },
        signal,
      });
      options.onStatus("live");
      await readSse(
        response,
        (messages) => {
          const events: FrontdeskEvent[] = [];
          for (const message of messages) {
            if (message.event === "end") ended = "gone";
            // overflow, shutdown, stream_error: the server ends the stream; resume from our own seq.
            if (message.id === undefined || message.event === "end") continue;
            try {
              events.push(JSON.parse(message.data) as FrontdeskEvent);
            } catch {
              // A frame we cannot read is skipped; the seq check below refetches what is missing.
            }
          }
          if (events.length > 0) {
            failures = 0;
            options.onEvents(events);
          }
        },
        signal,
      );
    } catch (error) {
      if (signal.aborted || isAbort(error)) return;
      if (error instanceof ApiError && (error.status === 404 || error.status === 403)) ended = "gone";
      else if (error instanceof ApiError && error.status === 401) return;
      // Anything else (unreachable, 429, a body cut mid-stream) is resumed below, after a backoff.
    }
    if (signal.aborted) return;
    if (ended === "gone") {
      options.onStatus("gone");
      return;
    }
    options.onStatus("reconnecting");
    await sleep(backoffDelay(Math.min(failures, 5)), signal);
    failures++;
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

export type TurnDone = { status: "completed" | "cancelled" | "error"; message?: string };

export interface TurnOptions {
  sessionId: string;
  userId: string | null;
  message: string;
  agent?: string;
  onDelta: (text: string) => void;
  onEvent: (event: FrontdeskEvent) => void;
  signal: AbortSignal;
}

/**
 * Runs one agent turn. Resolves with the `done` frame; when the stream ends without one (the
 * connection dropped, or the fetch was aborted to cancel) it resolves `cancelled` or `error`.
 * Throws {@link ApiError} when the server refuses the turn (409: one is already running).
 */
export async function runTurn(options: TurnOptions): Promise<TurnDone> {
  const response = await send(sessionPath(options.sessionId, "/turns"), {
    method: "POST",
    query: ownerQuery(options.userId),
    headers: { accept: "text/event-stream" },
    body: options.agent ? { message: options.message, agent: options.agent } : { message: options.message },
    signal: options.signal,
  });
  let done: TurnDone | undefined;
  try {
    await readSse(
      response,
      (messages) => {
        for (const message of messages) {
          if (message.event === "delta") {
            const text = (JSON.parse(message.data) as { text?: unknown }).text;
            if (typeof text === "string") options.onDelta(text);
          } else if (message.event === "done") {
            done = JSON.parse(message.data) as TurnDone;
          } else if (message.id !== undefined) {
            options.onEvent(JSON.parse(message.data) as FrontdeskEvent);
          }
        }
      },
      options.signal,
    );
  } catch (error) {
    if (!options.signal.aborted && !isAbort(error)) {
      return { status: "error", message: "The connection dropped during the turn; its events keep arriving live." };
    }
  }
  if (done) return done;
  if (options.signal.aborted) return { status: "cancelled" };
  return { status: "error", message: "The turn's stream ended without a result." };
}
