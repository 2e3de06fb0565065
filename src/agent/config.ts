/**
 * The agent configuration (Magenta's GlobalContext): one immutable, deep-frozen object naming the
 * agents, the models they run on, their prompts and the tools they may use. Loaded once from
 * `frontdesk.config.json` (or built in code) and validated with errors that name the JSON path.
 * This file owns loading and merging (file over defaults, then the environment) and the lookups
 * the runtime makes; the shape lives in config-schema.ts, the environment in config-env.ts and the
 * cross-section checks in config-checks.ts.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { z } from "zod";
import { FrontdeskError } from "../core/errors.ts";
import type { Json } from "../core/model.ts";
import { deepFreeze } from "../core/state.ts";
import { configError, crossCheck } from "./config-checks.ts";
import { applyEnvOverrides, attachSecrets, CONFIG_ENV, type Env, type MutableConfig } from "./config-env.ts";
import {
  type AgentConfigView,
  type ApprovalPolicy,
  ConfigFileSchema,
  ConfigSchema,
  type FrontdeskConfig,
  type FrontdeskConfigInput,
} from "./config-schema.ts";

export { formatPath } from "./config-checks.ts";
export { CONFIG_ENV, configEnv, type Env, INLINE_MODEL_KEY } from "./config-env.ts";
export {
  type AgentConfig,
  type AgentConfigView,
  APPROVAL_POLICIES,
  type ApprovalPolicy,
  BUILTIN_TOOLS,
  type BuiltinToolName,
  type FrontdeskConfig,
  type FrontdeskConfigInput,
  isBuiltinTool,
  MODEL_PROVIDERS,
  type ModelConfig,
  type ModelConfigView,
  type ModelProvider,
  type StepCondition,
  type StepConfig,
  type StepConfigView,
  type SummarizationConfig,
  type ToolConfig,
  type ToolConfigView,
} from "./config-schema.ts";

const ASSISTANT_PROMPT = [
  "You are Frontdesk's assistant. Answer briefly and plainly.",
  "Use the clock tool for the current time, the calculator for arithmetic and recall to search the user's earlier conversations.",
].join(" ");

/** Works with nothing configured: an `assistant` on the offline model with clock, calculator and recall. */
export const DEFAULT_CONFIG_INPUT = {
  defaultAgent: "assistant",
  agents: {
    assistant: {
      description: "A general assistant with a clock, a calculator and recall of earlier sessions.",
      model: "offline",
      prompt: "assistant",
      tools: ["clock", "calculator", "recall"],
      color: "cyan",
    },
  },
  models: {
    offline: {
      provider: "offline",
      model: "frontdesk-offline-1",
      contextWindow: 8192,
      maxOutputTokens: 1024,
      costPer1kInput: 0,
      costPer1kOutput: 0,
    },
  },
  prompts: { assistant: ASSISTANT_PROMPT },
  tools: {
    clock: { approval: "auto", timeZone: "UTC" },
    calculator: { approval: "auto" },
    recall: { approval: "auto" },
    shell: { enabled: false, approval: "ask", timeoutMs: 30_000, maxOutputBytes: 64 * 1024 },
  },
  summarization: { thresholdTokens: 6000, keepRecent: 8, enabled: true },
} as const satisfies FrontdeskConfigInput;

export const DEFAULT_CONFIG_FILE = "frontdesk.config.json";

export interface LoadConfigOptions {
  /** A config file; when absent, `$FRONTDESK_CONFIG`, else `./frontdesk.config.json` if it exists. */
  file?: string;
  /** @default process.env */
  env?: Env;
  /** Resolves relative paths. @default process.cwd() */
  cwd?: string;
}

/**
 * Reads `frontdesk.config.json` (or `file`), merges it over the defaults, applies the environment
 * overrides and validates. Errors are `invalid_request` and name the JSON path:
 * `agents.helper.model: unknown model "gpt9"`.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<FrontdeskConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env[CONFIG_ENV.file];
  const path = resolve(cwd, explicit ?? DEFAULT_CONFIG_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" || explicit !== undefined) {
      throw new FrontdeskError(
        "invalid_request",
        code === "ENOENT" ? `Config file not found: ${path}` : `Cannot read the config file ${path}: ${code ?? error}`,
      );
    }
  }
  if (text === undefined) return parseConfig({}, { env, source: null });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FrontdeskError("invalid_request", `${path}: not valid JSON (${(error as Error).message})`);
  }
  return agentConfigFrom(json, env, { source: path });
}

/**
 * Keys of `frontdesk.config.json` that configure the server (`frontdesk serve`), not the agents.
 * The agent side skips them; the CLI validates them.
 */
export const SERVER_CONFIG_KEYS = [
  "store",
  "host",
  "port",
  "namespace",
  "limits",
  "defaultTtlSeconds",
  "logLevel",
  "processMetrics",
  "encryption",
  "maskSecrets",
  "retention",
] as const;

/**
 * The agent config of a whole `frontdesk.config.json` object, which may also hold the server's
 * keys ({@link SERVER_CONFIG_KEYS}): those are left out, everything else is validated as
 * `parseConfig` does (merged over the defaults, environment overrides applied, unknown keys refused).
 * `undefined` or `null` gives the defaults (with the environment overrides).
 * @example startServer({ store, agents: { config: agentConfigFrom(JSON.parse(text), process.env) } })
 */
export function agentConfigFrom(
  file: unknown,
  env: Env = process.env,
  options: { source?: string | null } = {},
): FrontdeskConfig {
  if (file === undefined || file === null) return parseConfig({}, { env, source: options.source ?? null });
  if (typeof file !== "object" || Array.isArray(file)) {
    throw new FrontdeskError("invalid_request", "Invalid config: the config is a JSON object");
  }
  const serverKeys = new Set<string>(SERVER_CONFIG_KEYS);
  const agentPart = Object.fromEntries(Object.entries(file).filter(([key]) => !serverKeys.has(key)));
  return parseConfig(agentPart, { env, source: options.source ?? null });
}

/**
 * Validates a config given in code (merged over the defaults unless `defaults: false`), applies the
 * environment overrides and returns it deep-frozen.
 */
export function parseConfig(
  input: unknown,
  options: { env?: Env; source?: string | null; defaults?: boolean } = {},
): FrontdeskConfig {
  const env = options.env ?? {};
  const file = ConfigFileSchema.safeParse(input ?? {});
  if (!file.success) throw configError(file.error.issues);
  const merged = options.defaults === false ? (file.data as Record<string, unknown>) : mergeOverDefaults(file.data);
  applyEnvOverrides(merged, env);
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) throw configError(parsed.error.issues);
  const issues = crossCheck(parsed.data);
  if (issues.length > 0) throw configError(issues);
  const config = { ...parsed.data, source: options.source ?? null };
  attachSecrets(config, env);
  parsedConfigs.add(config);
  return deepFreeze(config) as FrontdeskConfig;
}

const parsedConfigs = new WeakSet<object>();

/** True for a config returned by `loadConfig`/`parseConfig` (validated and frozen). */
export const isParsedConfig = (value: unknown): value is FrontdeskConfig =>
  typeof value === "object" && value !== null && parsedConfigs.has(value);

function mergeOverDefaults(file: z.infer<typeof ConfigFileSchema>): MutableConfig {
  const base = structuredClone(DEFAULT_CONFIG_INPUT) as unknown as MutableConfig;
  const out: MutableConfig = { ...base };
  if (file.$schema !== undefined) out.$schema = file.$schema;
  if (file.defaultAgent !== undefined) out.defaultAgent = file.defaultAgent;
  for (const section of ["agents", "models", "prompts"] as const) {
    if (file[section]) out[section] = { ...(base[section] as object), ...file[section] };
  }
  if (file.tools) {
    const tools: Record<string, unknown> = { ...(base.tools as object) };
    for (const [name, value] of Object.entries(file.tools)) {
      const builtin = (base.tools as Record<string, unknown>)[name];
      // A built-in tool's entry refines its defaults; a declared tool's replaces nothing.
      tools[name] =
        builtin && value && typeof value === "object" && !Array.isArray(value)
          ? { ...(builtin as object), ...value }
          : value;
    }
    out.tools = tools;
  }
  if (file.summarization) out.summarization = { ...(base.summarization as object), ...file.summarization };
  return out;
}

// ── Lookups used by the runtime ────────────────────────────────────────────────────────────────

/** The agent's config, or `invalid_request` naming the agents that exist. */
export function agentConfigOf(config: FrontdeskConfig, name: string = config.defaultAgent): AgentConfigView {
  const agent = Object.hasOwn(config.agents, name) ? config.agents[name] : undefined;
  if (!agent) {
    throw new FrontdeskError(
      "invalid_request",
      `Unknown agent "${name}": configured agents are ${Object.keys(config.agents).join(", ")}`,
    );
  }
  return agent;
}

/** The system prompt of an agent (inline, from `prompts`, or a plain default). */
export const systemPromptOf = (config: FrontdeskConfig, agent: AgentConfigView): string =>
  agent.systemPrompt ??
  (agent.prompt !== undefined ? config.prompts[agent.prompt] : undefined) ??
  "You are a helpful assistant.";

/** The effective approval policy of one of an agent's tools: agent override, tool setting, then "ask". */
export const approvalPolicyOf = (config: FrontdeskConfig, agent: AgentConfigView, tool: string): ApprovalPolicy =>
  agent.approval?.[tool] ?? config.tools[tool]?.approval ?? "ask";

/** The default config, frozen (defined last: it runs the validation above at module load). */
export const DEFAULT_CONFIG: FrontdeskConfig = parseConfig({}, { source: null });

export type { Json };
