/**
 * Structured request logs (pino) that never carry a secret: no Authorization header, no
 * WebSocket subprotocol (it may carry a key), no query string, no raw session id (the route
 * template is logged with a short hash of the id instead), no stack traces.
 */
import { hash as oneShotHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { LoggerOptions } from "pino";
import { describeError } from "./http-errors.ts";

/** First 12 hex of the SHA-256 of a session id: enough to correlate log lines, useless to address a session. */
export const hashSessionId = (id: string): string => oneShotHash("sha256", id, "hex").slice(0, 12);

export type AppLoggerOption =
  | boolean
  | (LoggerOptions & { stream?: { write(line: string): void } })
  | { level: string };

const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["sec-websocket-protocol"]',
  'req.headers["x-frontdesk-user"]',
  "headers.authorization",
  'headers["sec-websocket-protocol"]',
];

const sessionParam = (request: FastifyRequest): string | undefined => {
  const params = request.params as { id?: unknown } | null | undefined;
  return typeof params?.id === "string" && params.id.length > 0 ? params.id : undefined;
};

/** `request.routeOptions.url` is the template (`/v1/sessions/:id`), never the raw path. */
export const routeTemplateOf = (request: FastifyRequest): string => request.routeOptions?.url ?? "(unmatched)";

const serializers = {
  req(request: FastifyRequest) {
    const id = sessionParam(request);
    return {
      method: request.method,
      route: routeTemplateOf(request),
      ...(id === undefined ? {} : { session: hashSessionId(id) }),
      remoteAddress: request.ip,
    };
  },
  res(reply: { statusCode: number }) {
    return { statusCode: reply.statusCode };
  },
  err: describeError,
};

/** Fastify `logger` options from the app's `logger` option: `false` (the default in tests) logs nothing. */
export function loggerOptionsOf(option: AppLoggerOption | undefined): false | (LoggerOptions & { stream?: unknown }) {
  if (option === undefined || option === false) return false;
  const base: LoggerOptions = option === true ? { level: "info" } : { ...(option as LoggerOptions) };
  const given = (base.redact ?? []) as string[] | { paths: string[] };
  const paths = Array.isArray(given) ? given : given.paths;
  return {
    ...base,
    level: base.level ?? "info",
    redact: { paths: [...REDACT, ...paths], censor: "[redacted]" },
    serializers: { ...(base.serializers ?? {}), ...serializers } as LoggerOptions["serializers"],
  };
}
