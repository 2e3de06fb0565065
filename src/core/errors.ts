/**
 * The one error catalogue. Codes are the HTTP API's wire codes (docs/http-api.md, "Errors"); the status is derived
 * so a code can never drift from its HTTP meaning.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface FrontdeskErrorOptions {
  cause?: unknown;
  /** Safe to show the caller, e.g. `{ currentVersion: 7 }`. Never secrets. */
  details?: Record<string, unknown>;
}

/** Every failure Frontdesk reports on purpose. Assert on `code`, never on `message`. */
export class FrontdeskError extends Error {
  override readonly name = "FrontdeskError";
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: FrontdeskErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Name-based so it holds across duplicated module copies (two installs of frontdesk). */
export const isFrontdeskError = (error: unknown, code?: ErrorCode): error is FrontdeskError =>
  (error as Error | undefined)?.name === "FrontdeskError" &&
  typeof (error as FrontdeskError).code === "string" &&
  (code === undefined || (error as FrontdeskError).code === code);

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === "string" && Object.hasOwn(ERROR_STATUS, value);
