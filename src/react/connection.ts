/**
 * Where the hooks reach the server, and the two writes the typed client does not have (a detached
 * turn, cancel). Reads go through {@link FrontdeskClient}, so errors carry the same codes.
 */
import { ERROR_STATUS, type ErrorCode, FrontdeskClient, FrontdeskError } from "../client/index.ts";

/** A server and a key: what every hook needs. */
export interface FrontdeskConnection {
  /** Where `frontdesk serve` listens, e.g. `http://127.0.0.1:7420` (in a page served by it: `location.origin`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Admin keys: the owner of the sessions to act on. */
  userId?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** A connection's identity, for hook dependencies: a new object with the same fields is the same connection. */
export const connectionKey = (connection: FrontdeskConnection): string =>
  JSON.stringify([connection.baseUrl, connection.apiKey, connection.userId ?? null]);

export function clientOf(connection: FrontdeskConnection, fetchImpl?: typeof fetch): FrontdeskClient {
  return new FrontdeskClient({
    baseUrl: connection.baseUrl,
    apiKey: connection.apiKey,
    userId: connection.userId,
    fetch: fetchImpl ?? connection.fetch ?? globalThis.fetch.bind(globalThis),
  });
}

/** POSTs JSON to a session's `suffix`; answers the parsed body, or throws the error body's FrontdeskError. */
export async function postToSession<T>(
  connection: FrontdeskConnection,
  sessionId: string,
  suffix: string,
  body: unknown,
): Promise<T> {
  const url = new URL(
    `${connection.baseUrl.replace(/\/+$/, "")}/v1/sessions/${encodeURIComponent(sessionId)}${suffix}`,
  );
  if (connection.userId) url.searchParams.set("userId", connection.userId);
  const fetchImpl = connection.fetch ?? globalThis.fetch.bind(globalThis);
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${connection.apiKey}`,
        accept: "application/json",
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    throw new FrontdeskError("unavailable", `Could not reach the Frontdesk server at ${connection.baseUrl}`, { cause });
  }
  const text = await response.text();
  if (!response.ok) throw errorOf(response.status, text);
  return (text ? JSON.parse(text) : undefined) as T;
}

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  429: "rate_limited",
  503: "unavailable",
};

function errorOf(status: number, text: string): FrontdeskError {
  const fallback = CODE_BY_STATUS[status] ?? (status >= 500 ? "internal" : "invalid_request");
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const code = typeof error?.code === "string" && Object.hasOwn(ERROR_STATUS, error.code) ? error.code : fallback;
    const message = typeof error?.message === "string" ? error.message : `HTTP ${status}`;
    const details = error?.details;
    return new FrontdeskError(
      code as ErrorCode,
      message,
      details && typeof details === "object" ? { details: details as Record<string, unknown> } : {},
    );
  } catch {
    // Not our error body (a proxy's page): the status says enough.
    return new FrontdeskError(fallback, `HTTP ${status}`);
  }
}

/** How long to wait before reconnect `n` (1-based): at once, then 250 ms doubling up to 5 s. */
export const reconnectDelayMs = (n: number): number => (n <= 1 ? 0 : Math.min(250 * 2 ** (n - 2), 5_000));

export const wait = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
