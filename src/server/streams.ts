/**
 * Live event streams (SSE and WebSocket) share one pump: it follows `manager.subscribe` (which
 * replays from the durable log by seq, so nothing is missed or duplicated) and writes each event
 * to a transport. Memory stays flat: a consumer that stops reading is closed with a resume hint
 * (`{ after: lastSentSeq }`) as soon as it has more than `bufferEvents` events or `bufferBytes`
 * bytes unflushed, and the server forgets it.
 */
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { FastifyReply } from "fastify";
import type { WebSocket } from "ws";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import type { SessionEvent } from "../core/model.ts";
import type { EventSubscription } from "../core/session-manager.ts";
import { toHttpError } from "./http-errors.ts";
import type { ServerMetrics } from "./metrics.ts";

/**
 * Takes the response over for a Server-Sent Events stream (200): the rate-limit headers set before
 * the hijack are kept, and the socket is exempt from the idle timeout (heartbeats keep it busy;
 * injected requests have no real socket).
 */
export function openSse(reply: FastifyReply, extraHeaders: OutgoingHttpHeaders = {}): ServerResponse {
  reply.hijack();
  const raw = reply.raw;
  if (typeof raw.socket?.setTimeout === "function") raw.socket.setTimeout(0);
  raw.writeHead(200, {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "close",
    "x-accel-buffering": "no",
    ...extraHeaders,
  });
  return raw;
}

export type StreamKind = "sse" | "ws";
/** Why a stream ended: the session is gone, the consumer fell behind, the server is draining, or the store failed. */
export type StreamEnd = "end" | "overflow" | "shutdown" | "error";

/** How one kind of stream puts frames on the wire. */
export interface StreamTransport {
  /** Writes one event; `flushed` runs when it has left the process. */
  send(event: SessionEvent, flushed: () => void): void;
  /** Bytes written but not yet handed to the kernel. */
  buffered(): number;
  heartbeat(): void;
  /** Writes the last frame (with the resume hint) and starts a graceful close. */
  finish(reason: StreamEnd, after: number, error?: unknown): void;
  /** Drops the connection now. */
  destroy(): void;
  /** Calls back once when the connection is gone, whoever closed it. */
  onGone(callback: () => void): void;
}

export interface PumpOptions {
  after: number;
  heartbeatMs: number;
  bufferEvents: number;
  bufferBytes: number;
  /** How long a finished stream may take to flush its last frames before it is dropped. */
  graceMs: number;
  /** Told once why the server ended the stream (not called when the client went away first). */
  onEnd?: (reason: StreamEnd) => void;
}

export class EventPump {
  private lastSent: number;
  private pending = 0;
  private state: "open" | "closing" | "closed" = "open";
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private resolveClosed!: () => void;
  private sentWaiters: { seq: number; resolve: () => void }[] = [];
  /** Resolves when the connection is gone. */
  readonly closed: Promise<void>;

  constructor(
    private readonly subscription: EventSubscription,
    private readonly transport: StreamTransport,
    private readonly options: PumpOptions,
  ) {
    this.lastSent = options.after;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    transport.onGone(() => this.gone());
  }

  /** The seq a client should resume after. */
  get resumeAfter(): number {
    return this.lastSent;
  }

  /** Resolves once every event up to `seq` has been written to the transport, or the stream is ending. */
  sentThrough(seq: number): Promise<void> {
    if (this.lastSent >= seq || this.state !== "open") return Promise.resolve();
    return new Promise((resolve) => this.sentWaiters.push({ seq, resolve }));
  }

  private releaseWaiters(): void {
    if (this.sentWaiters.length === 0) return;
    const open = this.state === "open";
    this.sentWaiters = this.sentWaiters.filter((waiter) => {
      if (open && waiter.seq > this.lastSent) return true;
      waiter.resolve();
      return false;
    });
  }

  start(): void {
    if (this.state !== "open") return;
    this.heartbeatTimer = setInterval(() => {
      if (this.state === "open") this.transport.heartbeat();
    }, this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    void this.run();
  }

  /** Ends the stream with a hint; used for shutdown. */
  stop(reason: StreamEnd, error?: unknown): void {
    if (this.state !== "open") return;
    this.state = "closing";
    this.releaseWaiters();
    this.clearHeartbeat();
    this.options.onEnd?.(reason);
    this.subscription.close().catch(() => undefined);
    try {
      this.transport.finish(reason, this.lastSent, error);
    } catch {
      this.transport.destroy();
    }
    this.graceTimer = setTimeout(() => this.transport.destroy(), this.options.graceMs);
    this.graceTimer.unref();
  }

  private async run(): Promise<void> {
    try {
      for await (const event of this.subscription) {
        if (this.state !== "open") break;
        this.pending++;
        this.transport.send(event, () => {
          this.pending--;
        });
        this.lastSent = event.seq;
        this.releaseWaiters();
        if (this.pending > this.options.bufferEvents || this.transport.buffered() > this.options.bufferBytes) {
          this.stop("overflow");
          break;
        }
      }
      this.stop("end");
    } catch (error) {
      // The session went away between the first check and the subscription: that is an ordinary end.
      if (isFrontdeskError(error, "not_found")) this.stop("end");
      else this.stop("error", isFrontdeskError(error) ? error : new FrontdeskError("internal", "stream failed"));
    }
  }

  private gone(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.releaseWaiters();
    this.clearHeartbeat();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.subscription.close().catch(() => undefined);
    // A client that half-closes its side leaves the socket open until we drop ours.
    this.transport.destroy();
    this.resolveClosed();
  }

  private clearHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}

const errorOf = (error: unknown): { code: string; message: string } => toHttpError(error).body.error;

/** One persisted event as an SSE frame: `id:` = seq, `event:` = type, `data:` = the event as JSON. */
export const sseEventFrame = (event: SessionEvent): string =>
  `id: ${event.seq}\nevent: ${event.type}\ndata: ${eventJsonOf(event)}\n\n`;

/**
 * Every subscriber of a session receives the same deep-frozen event objects (core/live-tail.ts shares
 * one follower per session), so each event is serialized once for all of them, not once per
 * subscriber. Only frozen events are remembered: they cannot change after serialization.
 */
const eventJson = new WeakMap<SessionEvent, string>();
const eventJsonOf = (event: SessionEvent): string => {
  let json = eventJson.get(event);
  if (json === undefined) {
    json = JSON.stringify(event);
    if (Object.isFrozen(event)) eventJson.set(event, json);
  }
  return json;
};

/** `text/event-stream` framing: `id:` = seq, `event:` = type, `data:` = the event as JSON. */
export function sseTransport(raw: ServerResponse): StreamTransport {
  const write = (text: string, done?: () => void): void => {
    if (raw.writableEnded || raw.destroyed) {
      done?.();
      return;
    }
    raw.write(text, done === undefined ? undefined : () => done());
  };
  return {
    send(event, flushed) {
      write(sseEventFrame(event), flushed);
    },
    buffered: () => raw.writableLength,
    heartbeat: () => write(": heartbeat\n\n"),
    finish(reason, after, error) {
      switch (reason) {
        case "end":
          write(`event: end\ndata: ${JSON.stringify({ reason: "gone", after })}\n\n`);
          break;
        case "overflow":
          write(`event: overflow\ndata: ${JSON.stringify({ after })}\n\n`);
          break;
        case "shutdown":
          write(`retry: 1000\nevent: shutdown\ndata: ${JSON.stringify({ after })}\n\n`);
          break;
        case "error":
          write(`event: stream_error\ndata: ${JSON.stringify({ error: errorOf(error), after })}\n\n`);
          break;
      }
      if (!raw.writableEnded) raw.end();
    },
    destroy: () => raw.destroy(),
    onGone(callback) {
      if (raw.destroyed || raw.socket?.destroyed) queueMicrotask(callback);
      else raw.once("close", callback);
    },
  };
}

/** WebSocket close codes per ending; the last frame also carries the hint. */
export const WS_CLOSE_CODES: Record<StreamEnd, number> = { end: 1000, overflow: 4008, shutdown: 1012, error: 1013 };

/** JSON text frames: `{type:"event", event}`; the last one is `{type: <reason>, after}`. */
export function wsTransport(socket: WebSocket): StreamTransport {
  const sendText = (text: string, done?: () => void): void => {
    if (socket.readyState !== socket.OPEN) {
      done?.();
      return;
    }
    socket.send(text, () => done?.());
  };
  const send = (value: unknown, done?: () => void): void => sendText(JSON.stringify(value), done);
  return {
    send(event, flushed) {
      // Byte for byte JSON.stringify({ type: "event", event }), with the event serialized once.
      sendText(`{"type":"event","event":${eventJsonOf(event)}}`, flushed);
    },
    buffered: () => socket.bufferedAmount,
    heartbeat() {
      if (socket.readyState === socket.OPEN) socket.ping();
    },
    finish(reason, after, error) {
      const last =
        reason === "error"
          ? { type: "error", error: errorOf(error), after }
          : reason === "end"
            ? { type: "end", reason: "gone", after }
            : { type: reason, after };
      send(last);
      if (socket.readyState === socket.OPEN) socket.close(WS_CLOSE_CODES[reason], JSON.stringify({ after }));
    },
    destroy: () => socket.terminate(),
    onGone(callback) {
      if (socket.readyState === socket.CLOSED) queueMicrotask(callback);
      else socket.once("close", callback);
    },
  };
}

/** Counts streams per API key (the `maxStreamsPerKey` limit) and ends them all on shutdown. */
export class StreamHub {
  private readonly perKey = new Map<string, number>();
  private readonly live = new Set<EventPump>();

  constructor(
    private readonly maxPerKey: number,
    private readonly metrics: ServerMetrics,
  ) {}

  hasRoom(keyId: string): boolean {
    return (this.perKey.get(keyId) ?? 0) < this.maxPerKey;
  }

  /** Throws `rate_limited` when the key already holds its maximum. */
  assertRoom(keyId: string): void {
    if (!this.hasRoom(keyId)) {
      throw new FrontdeskError("rate_limited", `At most ${this.maxPerKey} open streams per API key`, {
        details: { limit: this.maxPerKey, retryAfterSeconds: 1 },
      });
    }
  }

  /** Registers a started pump; it is forgotten when its connection is gone. */
  track(keyId: string, kind: StreamKind, pump: EventPump): void {
    this.perKey.set(keyId, (this.perKey.get(keyId) ?? 0) + 1);
    this.live.add(pump);
    this.metrics.openStreams.inc({ kind });
    void pump.closed.then(() => {
      this.live.delete(pump);
      const left = (this.perKey.get(keyId) ?? 1) - 1;
      if (left <= 0) this.perKey.delete(keyId);
      else this.perKey.set(keyId, left);
      this.metrics.openStreams.dec({ kind });
    });
  }

  get size(): number {
    return this.live.size;
  }

  /** Ends every stream with a `shutdown` hint and waits (at most `graceMs`) for them to go. */
  async shutdown(graceMs: number): Promise<void> {
    const pumps = [...this.live];
    for (const pump of pumps) pump.stop("shutdown");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pumps.map((pump) => pump.closed)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs + 100);
        timer.unref();
      }),
    ]);
    if (timer) clearTimeout(timer);
  }
}
