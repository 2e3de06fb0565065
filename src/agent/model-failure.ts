import { APICallError } from "@ai-sdk/provider";
import { RetryError } from "ai";
import type { ModelConfigView } from "./config.ts";

/**
 * The codes of a turn that failed in the model rather than in a tool or the store. Scripts branch
 * on them: `provider_unavailable` may pass if retried later (the provider could not be reached,
 * timed out, was overloaded or rate limited); `model_error` will not (the provider refused the
 * request: a bad API key, an unknown model, a request it rejects, or a reply it could not give).
 */
export const MODEL_FAILURE_CODES = ["provider_unavailable", "model_error"] as const;
export type ModelFailureCode = (typeof MODEL_FAILURE_CODES)[number];

export interface ModelFailure {
  code: ModelFailureCode;
  message: string;
}

/** How the model is named in a failure: as the user wrote it, with the provider's model id. */
export interface ModelLabel {
  /** The key in the config's `models`. */
  name: string;
  config: Pick<ModelConfigView, "provider" | "model" | "baseUrl">;
  /** The model was given as `provider:modelId` (`--model`, FRONTDESK_MODEL), not as a key of `models`. */
  inline: boolean;
}

const RETRYABLE_STATUS = new Set([408, 409, 425, 429]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/** A network error code anywhere in the cause chain (fetch wraps the socket's error). */
const networkCodeOf = (error: unknown): string | undefined => {
  let current = error;
  for (let depth = 0; current !== null && typeof current === "object" && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const modelLabelText = (label: ModelLabel): string => {
  const ref = `${label.config.provider}:${label.config.model}`;
  return label.inline || label.name === ref ? ref : `"${label.name}" (${ref})`;
};

/**
 * What a failure the model reported means for the user: its code and one message that names the
 * model as they wrote it. A failure after retries is described by its last attempt.
 */
export function describeModelFailure(error: unknown, label: ModelLabel): ModelFailure {
  let last = error;
  let attempts = 1;
  if (RetryError.isInstance(error)) {
    attempts = error.errors.length;
    last = error.lastError;
  }
  const model = `model ${modelLabelText(label)}`;
  const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
  const at = label.config.baseUrl ? ` at ${label.config.baseUrl}` : "";
  const detail = messageOf(last).slice(0, 2000);
  if (APICallError.isInstance(last)) {
    const status = last.statusCode;
    if (status === undefined) {
      return { code: "provider_unavailable", message: `The ${model} could not be reached${at}${tries}: ${detail}` };
    }
    if (status >= 500 || RETRYABLE_STATUS.has(status)) {
      return {
        code: "provider_unavailable",
        message: `The ${model} is unavailable${at}: the provider answered HTTP ${status}${tries}: ${detail}`,
      };
    }
    return {
      code: "model_error",
      message: `The ${model} refused the request: the provider answered HTTP ${status}: ${detail}`,
    };
  }
  if (networkCodeOf(last) !== undefined) {
    return { code: "provider_unavailable", message: `The ${model} could not be reached${at}${tries}: ${detail}` };
  }
  return { code: "model_error", message: `The ${model} failed${tries}: ${detail}` };
}
