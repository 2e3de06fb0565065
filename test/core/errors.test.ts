import { describe, expect, it } from "vitest";
import { ERROR_STATUS, FrontdeskError, isFrontdeskError } from "../../src/core/errors.ts";

describe("errors", () => {
  it("codes are exactly the wire codes of docs/http-api.md with their statuses", () => {
    expect(ERROR_STATUS).toEqual({
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
    });
  });

  it("a FrontdeskError carries its code, status and safe details, and is recognised by name", () => {
    const error = new FrontdeskError("conflict", "changed", { details: { currentVersion: 3 }, cause: new Error("x") });
    expect(error.status).toBe(409);
    expect(error.toJSON()).toEqual({ code: "conflict", message: "changed", details: { currentVersion: 3 } });
    expect(isFrontdeskError(error, "conflict")).toBe(true);
    expect(isFrontdeskError(error, "not_found")).toBe(false);
    expect(isFrontdeskError(new Error("plain"))).toBe(false);
  });
});
