/**
 * The server's one error mapping: a known error becomes its status and
 * `{"error":{"code","message"}}`; a request the framework refused (bad JSON, wrong content type,
 * body too large, failed validation) becomes the 4xx that fits; anything else is logged without
 * a stack and answered `500 internal` with a generic message.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from "fastify-type-provider-zod";
import { ERROR_STATUS, type ErrorCode, FrontdeskError, isErrorCode, isFrontdeskError } from "../core/errors.ts";
import { describeIssues, type IssueLike } from "../core/issues.ts";
import { challengeOf } from "./auth.ts";

const SERVER_UNAVAILABLE = new WeakSet<object>();

/** A 503 the server decides itself (draining, not ready): its message is shown and it is not logged as a failure. */
export const serverUnavailable = (message: string, cause?: unknown): FrontdeskError => {
  const error = new FrontdeskError("unavailable", message, cause === undefined ? {} : { cause });
  SERVER_UNAVAILABLE.add(error);
  return error;
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

export interface HttpError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Unexpected: log it as an error. */
  unexpected: boolean;
}

const CODE_BY_STATUS = new Map<number, ErrorCode>(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]),
);

/** Removes the password of any URL-like credentials (`scheme://user:pass@host`). */
export const scrubSecrets = (text: string): string =>
  text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s:@/]+):([^\s@/]+)@/gi, "$1$2:***@")
    .replace(/fd_[A-Za-z0-9_-]{20,}/g, "fd_***")
    .slice(0, 1000);

const body = (code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody =>
  details === undefined ? { error: { code, message } } : { error: { code, message, details } };

/** How a failure of a whole request part is named: `body: must be an object, not string`. */
const PART_NAMES: Record<string, string> = {
  body: "body",
  querystring: "query string",
  params: "path",
  headers: "headers",
};

/**
 * `field: what it must be`, for each failed field (at most three): the validator's issues are the
 * zod issues (their code and fields kept as `keyword` and `params`), read the same way as the
 * library's own validation failures.
 */
const validationMessage = (error: FastifyError): string => {
  const context = error.validationContext ?? "request";
  const issues: IssueLike[] = (error.validation ?? []).map((item) => ({
    ...(item.params as Record<string, unknown>),
    code: item.keyword,
    path: (item.instancePath ?? "").split("/").filter((part) => part !== ""),
    message: item.message ?? "is not valid",
  }));
  return issues.length > 0 ? describeIssues(issues, { root: PART_NAMES[context] ?? context }) : `Invalid ${context}`;
};

/** What the request sent and what its route takes, for a body in a content type it does not parse. */
export interface MediaTypeContext {
  contentType?: string;
  accepted?: readonly string[];
}

const mediaTypeMessage = ({ contentType, accepted }: MediaTypeContext): string => {
  const sent = contentType?.split(";")[0]?.trim().slice(0, 100);
  const wanted = accepted && accepted.length > 0 ? accepted : ["application/json"];
  const send =
    wanted[0] === "application/json"
      ? "send the body as JSON with Content-Type: application/json"
      : `send it as Content-Type: ${wanted.join(" or ")}`;
  return sent ? `Content-Type ${sent} is not accepted here: ${send}` : `A body needs a Content-Type: ${send}`;
};

/** Facts about a FrontdeskError that are safe to send: plain JSON of at most a few keys. */
const safeDetails = (details: Record<string, unknown> | undefined): Record<string, unknown> | undefined => {
  if (!details) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (value === null || typeof value === "number" || typeof value === "boolean") out[key] = value;
    else if (typeof value === "string") out[key] = scrubSecrets(value).slice(0, 200);
  }
  return Object.keys(out).length > 0 ? out : undefined;
};

export function toHttpError(error: unknown, media: MediaTypeContext = {}): HttpError {
  const headers: Record<string, string> = {};
  if (isFrontdeskError(error)) {
    const code = isErrorCode(error.code) ? error.code : "internal";
    if (code === "internal") {
      return { status: 500, body: body("internal", "Internal server error"), headers, unexpected: true };
    }
    if (code === "unavailable") {
      headers["retry-after"] = "1";
      // The server's own refusals (draining, not ready) say what they are; a backend's failure says nothing about it.
      const own = SERVER_UNAVAILABLE.has(error);
      // A write the store ran but could not confirm (Redis waitReplicas): the client must learn that
      // the outcome is unknown, so it retries with its Idempotency-Key instead of assuming a failure.
      const unknown = error.details?.outcome === "unknown";
      const message = own
        ? error.message
        : unknown
          ? "The write may or may not have been stored; retry with the same Idempotency-Key"
          : "The session store is unavailable; retry shortly";
      return {
        status: 503,
        body: body("unavailable", message, unknown ? safeDetails(error.details) : undefined),
        headers,
        unexpected: !own,
      };
    }
    if (code === "unauthorized") headers["www-authenticate"] = challengeOf(error);
    if (code === "rate_limited") {
      const retry = Number(error.details?.retryAfterSeconds ?? 1);
      headers["retry-after"] = String(Number.isSafeInteger(retry) && retry > 0 ? retry : 1);
    }
    return {
      status: ERROR_STATUS[code],
      body: body(code, scrubSecrets(error.message), safeDetails(error.details)),
      headers,
      unexpected: false,
    };
  }
  const fastifyError = error as FastifyError | undefined;
  if (error === null || typeof error !== "object") {
    return { status: 500, body: body("internal", "Internal server error"), headers, unexpected: true };
  }
  if (hasZodFastifySchemaValidationErrors(fastifyError) || fastifyError?.validation) {
    return {
      status: 400,
      body: body("invalid_request", validationMessage(fastifyError as FastifyError)),
      headers,
      unexpected: false,
    };
  }
  if (isResponseSerializationError(error)) {
    return { status: 500, body: body("internal", "Internal server error"), headers, unexpected: true };
  }
  const status = typeof fastifyError?.statusCode === "number" ? fastifyError.statusCode : 500;
  if (status >= 400 && status < 500) {
    const fastifyCode = typeof fastifyError?.code === "string" ? fastifyError.code : "";
    switch (fastifyCode) {
      case "FST_ERR_BAD_URL":
        // Its message would echo the path (which may hold a session id).
        return { status: 400, body: body("invalid_request", "The URL is not valid"), headers, unexpected: false };
      case "FST_ERR_MAX_PARAM_LENGTH":
        return {
          status: 400,
          body: body("invalid_request", "A path parameter is too long"),
          headers,
          unexpected: false,
        };
      case "FST_ERR_CTP_INVALID_JSON_BODY":
        return { status: 400, body: body("invalid_request", "The body is not valid JSON"), headers, unexpected: false };
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return {
          status: 415,
          body: body("unsupported_media_type", mediaTypeMessage(media)),
          headers,
          unexpected: false,
        };
      default:
        break;
    }
    const code = status === 413 ? "payload_too_large" : (CODE_BY_STATUS.get(status) ?? "invalid_request");
    const message =
      fastifyCode.startsWith("FST_") && typeof fastifyError?.message === "string"
        ? scrubSecrets(fastifyError.message).slice(0, 300)
        : code === "payload_too_large"
          ? "The request body is too large"
          : "Invalid request";
    return { status: ERROR_STATUS[code], body: body(code, message), headers, unexpected: false };
  }
  return { status: 500, body: body("internal", "Internal server error"), headers, unexpected: true };
}

/** What an unexpected error may put in a log line: its kind and a scrubbed message, no stack. */
export const describeError = (error: unknown): Record<string, unknown> => {
  const e = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown } | undefined;
  const out: Record<string, unknown> = {
    type: typeof e?.name === "string" ? e.name : typeof error,
    message: typeof e?.message === "string" ? scrubSecrets(e.message) : undefined,
  };
  if (typeof e?.code === "string") out.code = e.code;
  const cause = e?.cause as { name?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause === "object") {
    out.cause = {
      type: typeof cause.name === "string" ? cause.name : "Error",
      message: typeof cause.message === "string" ? scrubSecrets(cause.message) : undefined,
    };
  }
  return out;
};

export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
  onUnexpected?: () => void,
): FastifyReply {
  const contentType = request.headers["content-type"];
  const consumes = (request.routeOptions.schema as { consumes?: readonly string[] } | undefined)?.consumes;
  const mapped = toHttpError(error, {
    ...(contentType !== undefined ? { contentType } : {}),
    ...(consumes !== undefined ? { accepted: consumes } : {}),
  });
  if (mapped.unexpected) {
    onUnexpected?.();
    request.log.error({ err: describeError(error), status: mapped.status }, "request failed");
  } else {
    request.log.info({ code: mapped.body.error.code, status: mapped.status }, "request refused");
  }
  return reply.code(mapped.status).headers(mapped.headers).type("application/json; charset=utf-8").send(mapped.body);
}

export const notFound = (message = "Session not found"): FrontdeskError => new FrontdeskError("not_found", message);
