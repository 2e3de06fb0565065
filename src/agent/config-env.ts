/**
 * How the environment shapes a config: the variables that pick the agent, its model and endpoint
 * (applied before validation, so an override is checked like the file), and the API keys captured
 * at load time and kept off the config's enumerable properties so they never serialize.
 */
import type { FrontdeskConfig, ValidatedConfig } from "./config-schema.ts";

/** Environment variables `loadConfig` reads (API keys are read from `apiKeyEnv`, see resolveModel). */
export const CONFIG_ENV = {
  /** Path of the config file (when `file` is not given). */
  file: "FRONTDESK_CONFIG",
  /** Overrides `defaultAgent`. */
  agent: "FRONTDESK_AGENT",
  /** The default agent's model: a key of `models`, or `provider:modelId` (e.g. `openai:gpt-4o-mini`). */
  model: "FRONTDESK_MODEL",
  /** Base URL of the default agent's model (OpenAI-compatible servers: Ollama, vLLM, LM Studio). */
  baseUrl: "FRONTDESK_MODEL_BASE_URL",
  /** Context window of a model given by `provider:modelId` in FRONTDESK_MODEL. */
  contextWindow: "FRONTDESK_MODEL_CONTEXT_WINDOW",
} as const;

/** The key under which a model given as `provider:modelId` (FRONTDESK_MODEL, `--model`) is added to `models`. */
export const INLINE_MODEL_KEY = "env";

export type Env = Readonly<Record<string, string | undefined>>;

/** API keys captured when the config was loaded: kept off the enumerable object so it never serializes. */
const SECRETS = Symbol.for("frontdesk.agent.config.env");

/** A config being assembled from the file, the defaults and the environment, before validation. */
export type MutableConfig = Record<string, unknown> & {
  agents?: Record<string, unknown>;
  models?: Record<string, unknown>;
  tools?: Record<string, unknown>;
};

export function applyEnvOverrides(config: MutableConfig, env: Env): void {
  const agentName = nonEmpty(env[CONFIG_ENV.agent]);
  if (agentName !== undefined) config.defaultAgent = agentName;
  const defaultAgent = config.defaultAgent as string;
  const agents = (config.agents ?? {}) as Record<string, Record<string, unknown>>;
  const agent = agents[defaultAgent];
  const modelRef = nonEmpty(env[CONFIG_ENV.model]);
  if (modelRef !== undefined && agent) {
    const models = (config.models ?? {}) as Record<string, unknown>;
    const colon = modelRef.indexOf(":");
    if (Object.hasOwn(models, modelRef) || colon < 0) {
      agents[defaultAgent] = { ...agent, model: modelRef };
    } else {
      const window = Number(env[CONFIG_ENV.contextWindow] ?? "");
      models[INLINE_MODEL_KEY] = {
        provider: modelRef.slice(0, colon),
        model: modelRef.slice(colon + 1),
        contextWindow: Number.isSafeInteger(window) && window > 0 ? window : 32_768,
      };
      config.models = models;
      agents[defaultAgent] = { ...agent, model: INLINE_MODEL_KEY };
    }
    config.agents = agents;
  }
  const baseUrl = nonEmpty(env[CONFIG_ENV.baseUrl]);
  const modelName = (agents[defaultAgent] as { model?: unknown } | undefined)?.model;
  const models = (config.models ?? {}) as Record<string, Record<string, unknown>>;
  if (baseUrl !== undefined && typeof modelName === "string" && models[modelName]) {
    if (models[modelName].provider !== "offline") models[modelName] = { ...models[modelName], baseUrl };
  }
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value.trim();

/** Keeps the API keys the config's models name on the config, non-enumerable (read with {@link configEnv}). */
export function attachSecrets(config: ValidatedConfig, env: Env): void {
  Object.defineProperty(config, SECRETS, { value: Object.freeze(captureSecrets(config, env)), enumerable: false });
}

/** The environment captured by `loadConfig` (API keys), or undefined for a config built without one. */
export const configEnv = (config: FrontdeskConfig): Env | undefined =>
  (config as unknown as Record<symbol, Env | undefined>)[SECRETS];

/** Only the variables models name (and the two defaults): the rest of the environment is not kept. */
function captureSecrets(config: ValidatedConfig, env: Env): Record<string, string> {
  const names = new Set(["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]);
  for (const model of Object.values(config.models)) if (model.apiKeyEnv) names.add(model.apiKeyEnv);
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") out[name] = value;
  }
  return out;
}
