import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { LanguageModelV3 } from "@ai-sdk/provider";
import { FrontdeskError } from "../../core/errors.ts";
import { configEnv, type Env, type FrontdeskConfig, type ModelConfigView } from "../config.ts";
import { OfflineLanguageModel } from "./offline.ts";

export { chunkWords, OfflineLanguageModel, type OfflineModelOptions } from "./offline.ts";
export {
  arithmeticIn,
  firstSentence,
  type OfflinePlan,
  planOfflineReply,
  SUMMARY_INSTRUCTION,
  summarize,
} from "./offline-rules.ts";

/** A configured model, ready for `streamText`. */
export interface ResolvedModel {
  /** The key in `models`. */
  readonly name: string;
  readonly config: ModelConfigView;
  readonly model: LanguageModelV3;
}

const DEFAULT_KEY_ENV = { openai: "OPENAI_API_KEY", anthropic: "ANTHROPIC_API_KEY" } as const;

export interface ResolveModelOptions {
  /** Where API keys are read. @default the env captured by loadConfig, else process.env */
  env?: Env;
  /** Passed to HTTP providers (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

/**
 * Turns a model entry of the config into an AI SDK language model. Throws `invalid_request` with a
 * clear message for an unknown model or a missing API key, so an agent fails at initialization
 * rather than on its first call.
 */
export function resolveModel(config: FrontdeskConfig, name: string, options: ResolveModelOptions = {}): ResolvedModel {
  const model = Object.hasOwn(config.models, name) ? config.models[name] : undefined;
  if (!model) {
    throw new FrontdeskError(
      "invalid_request",
      `Unknown model "${name}": configured models are ${Object.keys(config.models).join(", ")}`,
    );
  }
  const env = options.env ?? configEnv(config) ?? process.env;
  const key = (variable: string | undefined, required: boolean): string | undefined => {
    if (variable === undefined) return undefined;
    const value = env[variable];
    if ((value === undefined || value.trim() === "") && required) {
      throw new FrontdeskError(
        "invalid_request",
        `models.${name}: the ${model.provider} model "${model.model}" needs an API key in $${variable}, which is not set`,
      );
    }
    return value?.trim() || undefined;
  };
  const fetch = options.fetch;
  switch (model.provider) {
    case "offline":
      return { name, config: model, model: new OfflineLanguageModel({ modelId: model.model }) };
    case "openai": {
      const apiKey = key(model.apiKeyEnv ?? DEFAULT_KEY_ENV.openai, true);
      const provider = createOpenAI({ apiKey, baseURL: model.baseUrl, fetch });
      // A custom base URL is most often an OpenAI-style proxy, which speaks chat completions.
      const languageModel = model.baseUrl ? provider.chat(model.model) : provider.responses(model.model);
      return { name, config: model, model: languageModel };
    }
    case "openai-compatible": {
      if (!model.baseUrl) {
        throw new FrontdeskError("invalid_request", `models.${name}.baseUrl: required for an openai-compatible model`);
      }
      const apiKey = key(model.apiKeyEnv, true);
      const provider = createOpenAICompatible({
        name: `frontdesk.${name}`,
        baseURL: model.baseUrl,
        apiKey,
        includeUsage: true,
        fetch,
      });
      return { name, config: model, model: provider.chatModel(model.model) };
    }
    case "anthropic": {
      const apiKey = key(model.apiKeyEnv ?? DEFAULT_KEY_ENV.anthropic, true);
      const provider = createAnthropic({ apiKey, baseURL: model.baseUrl, fetch });
      return { name, config: model, model: provider(model.model) };
    }
    default:
      throw new FrontdeskError("invalid_request", `models.${name}.provider: unknown provider`);
  }
}

/** USD cost of a call from the model's configured prices (0 when none are set). */
export const costOf = (model: ModelConfigView, usage: { inputTokens?: number; outputTokens?: number }): number => {
  const cost =
    ((usage.inputTokens ?? 0) / 1000) * (model.costPer1kInput ?? 0) +
    ((usage.outputTokens ?? 0) / 1000) * (model.costPer1kOutput ?? 0);
  return Math.round(cost * 1e9) / 1e9;
};

/** Tokens kept free for the model's reply. */
export const replyReserveOf = (model: ModelConfigView): number =>
  model.maxOutputTokens ?? Math.min(4096, Math.floor(model.contextWindow / 4));
