import { FrontdeskError } from "../core/errors.ts";
import { DEFAULT_LIMITS, type Limits } from "../core/limits.ts";

/**
 * Every bound the server enforces (docs/http-api.md, "Limits"). The core's own limits (event, state, events per
 * session, sessions per user…) are passed to the manager; the rest are enforced at the HTTP edge.
 * Exceeding one gives its error code, never a crash.
 */
export interface ServerLimits extends Limits {
  /** Size of one request body. Over it: 413 `payload_too_large`. @default 1_048_576 (1 MiB) */
  maxBodyBytes: number;
  /** Size of an NDJSON import body (an export is header + events, so it may exceed maxBodyBytes). @default 67_108_864 (64 MiB) */
  maxImportBytes: number;
  /** Nesting depth of a JSON body; deeper is 400 `invalid_request`. @default 64 */
  maxJsonDepth: number;
  /** Live streams (SSE + WebSocket) one API key may hold open at once on this instance. Over it: 429. @default 16 */
  maxStreamsPerKey: number;
  /**
   * Requests one API key may make per second on this instance (token bucket; bursts up to
   * `rateLimitBurst`), unless the key has a rate of its own (`keys create --rate-limit`). High
   * enough for a backend serving all its users through one key, low enough that a runaway client
   * cannot take a whole instance. `null`: keys without their own rate are not limited. Over it:
   * 429 with `Retry-After`. @default 1_000
   */
  requestsPerSecond: number | null;
  /** Bucket size of the default rate (a key's own rate always has 2 × that rate). @default 2 × requestsPerSecond */
  rateLimitBurst: number | null;
  /** Events a stream consumer may have written but not yet taken off the socket before it is closed with a resume hint. @default 1_000 */
  streamBufferEvents: number;
  /** Bytes a stream consumer may have buffered before it is closed with a resume hint. @default 4_194_304 (4 MiB) */
  streamBufferBytes: number;
  /** Size of one incoming WebSocket message. @default 65_536 */
  maxWsMessageBytes: number;
  /** Keys (API key lookups, rate-limit buckets) kept in memory; the least recently used go first. @default 10_000 */
  maxCachedKeys: number;
  /**
   * Time from a request's first byte to the end of its headers. Over it: `408` and the connection
   * is closed, so a client trickling header lines cannot hold a socket. Checked every
   * `min(1 s, headersTimeoutMs / 8)`. @default 10_000
   */
  headersTimeoutMs: number;
  /**
   * Time to receive a whole request, headers and body, plus the time its body takes at
   * `minBodyBytesPerSecond`: a bound that grows with the body's size. Over it: `408`, connection
   * closed. A response that has started (SSE, WebSocket, an export) is not bounded by it.
   * @default 30_000
   */
  requestTimeoutMs: number;
  /**
   * The slowest upload served: a body of N bytes may take `requestTimeoutMs` + N / this rate, so a
   * 64 MiB import over a slow link is not cut at 30 s while a client trickling a small body is.
   * @default 65_536 (64 KiB/s)
   */
  minBodyBytesPerSecond: number;
  /** How long a keep-alive connection may sit idle between requests. @default 5_000 */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed; live streams are exempt. @default 120_000 */
  idleTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  ...DEFAULT_LIMITS,
  maxBodyBytes: 1024 * 1024,
  maxImportBytes: 64 * 1024 * 1024,
  maxJsonDepth: 64,
  maxStreamsPerKey: 16,
  requestsPerSecond: 1_000,
  rateLimitBurst: null,
  streamBufferEvents: 1_000,
  streamBufferBytes: 4 * 1024 * 1024,
  maxWsMessageBytes: 64 * 1024,
  maxCachedKeys: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  minBodyBytesPerSecond: 64 * 1024,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
});

/** The core's share of the limits, for the SessionManager. */
export const coreLimitsOf = (limits: ServerLimits): Limits => ({
  maxEventBytes: limits.maxEventBytes,
  maxStateBytes: limits.maxStateBytes,
  maxEventsPerSession: limits.maxEventsPerSession,
  maxEventsPerAppend: limits.maxEventsPerAppend,
  maxSessionsPerUser: limits.maxSessionsPerUser,
  maxMetadataBytes: limits.maxMetadataBytes,
});

export const resolveLimits = (given: Partial<ServerLimits> | undefined): ServerLimits => {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS };
  for (const [key, value] of Object.entries(given ?? {})) {
    if (value !== undefined) (limits as unknown as Record<string, unknown>)[key] = value;
  }
  for (const key of [
    "maxBodyBytes",
    "maxImportBytes",
    "maxJsonDepth",
    "maxStreamsPerKey",
    "streamBufferEvents",
    "streamBufferBytes",
    "maxWsMessageBytes",
    "maxCachedKeys",
    "headersTimeoutMs",
    "requestTimeoutMs",
    "minBodyBytesPerSecond",
    "keepAliveTimeoutMs",
    "idleTimeoutMs",
  ] as const) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new FrontdeskError("invalid_request", `limits.${key} must be a positive integer`);
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new FrontdeskError("invalid_request", "limits.headersTimeoutMs must not exceed limits.requestTimeoutMs");
  }
  if (limits.requestsPerSecond !== null && !(limits.requestsPerSecond > 0)) {
    throw new FrontdeskError("invalid_request", "limits.requestsPerSecond must be positive, or null for no limit");
  }
  if (limits.rateLimitBurst !== null && !(limits.rateLimitBurst >= 1)) {
    throw new FrontdeskError(
      "invalid_request",
      "limits.rateLimitBurst must be at least 1, or null for 2 × requestsPerSecond",
    );
  }
  if (
    limits.maxSessionsPerUser !== null &&
    !(Number.isSafeInteger(limits.maxSessionsPerUser) && limits.maxSessionsPerUser > 0)
  ) {
    throw new FrontdeskError(
      "invalid_request",
      "limits.maxSessionsPerUser must be a positive integer, or null for no bound",
    );
  }
  return limits;
};
