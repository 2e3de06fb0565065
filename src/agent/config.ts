import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import { FrontdeskError } from "../core/errors.ts";
import { type Json, JsonSchema } from "../core/model.ts";
import { deepFreeze } from "../core/state.ts";

/**
 * The agent configuration (Magenta's GlobalContext): one immutable, deep-frozen object naming the
 * agents, the models they run on, their prompts and the tools they may use. Loaded once from
 * `frontdesk.config.json` (or built in code) and validated with errors that name the JSON path.
 */

export const APPROVAL_POLICIES = ["auto", "ask", "deny"] as const;
export type ApprovalPolicy = (typeof APPROVAL_POLICIES)[number];

export const MODEL_PROVIDERS = ["offline", "openai", "openai-compatible", "anthropic"] as const;
export type ModelProvider = (typeof MODEL_PROVIDERS)[number];

/** Tools with a built-in implementation; every other name in `tools` is a declared tool. */
export const BUILTIN_TOOLS = ["clock", "calculator", "recall", "shell"] as const;
export type BuiltinToolName = (typeof BUILTIN_TOOLS)[number];
export const isBuiltinTool = (name: string): name is BuiltinToolName =>
  (BUILTIN_TOOLS as readonly string[]).includes(name);

const NAME = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, "names are 1-64 letters, digits, _ or -, starting with a letter");
const ENV_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must be an environment variable name");
const ApprovalPolicySchema = z.enum(APPROVAL_POLICIES);

const ModelSchema = z.strictObject({
  provider: z.enum(MODEL_PROVIDERS),
  /** The provider's model id, e.g. `gpt-4o-mini`, `llama3.2`, `claude-sonnet-4-5`. */
  model: z.string().min(1).max(256),
  /** The API endpoint; required for `openai-compatible` (unless FRONTDESK_MODEL_BASE_URL gives it). */
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  /** The environment variable holding the API key (defaults: OPENAI_API_KEY, ANTHROPIC_API_KEY). */
  apiKeyEnv: ENV_NAME.optional(),
  /** Tokens the model accepts in one call (prompt and reply). */
  contextWindow: z.number().int().min(256).max(10_000_000),
  /** Tokens kept free for the reply. @default min(4096, contextWindow / 4) */
  maxOutputTokens: z.number().int().positive().optional(),
  /** USD per 1,000 input tokens, for the `costUsd` in message usage and session stats. */
  costPer1kInput: z.number().nonnegative().optional(),
  costPer1kOutput: z.number().nonnegative().optional(),
});

const ConditionSchema = z.strictObject({
  /** A dot path into the session state, e.g. `order.confirmed`. */
  path: z.string().min(1).max(256),
  equals: JsonSchema.optional(),
  notEquals: JsonSchema.optional(),
  exists: z.boolean().optional(),
});

const StepSchema = z.strictObject({
  name: NAME,
  description: z.string().max(4096).optional(),
  /** The tools offered while this step is active. @default the agent's tools */
  tools: z.array(NAME).optional(),
  /** Tools that must be used in this order: only the next one of the sequence is offered. */
  sequence: z.array(NAME).optional(),
  /** When to leave this step, and for which (default: the next step in the list). */
  next: z
    .strictObject({
      to: NAME.optional(),
      afterTool: NAME.optional(),
      when: ConditionSchema.optional(),
    })
    .optional(),
});

const AgentSchema = z.strictObject({
  description: z.string().max(4096).optional(),
  /** A key of `models`. */
  model: NAME,
  /** The system prompt, inline. */
  systemPrompt: z.string().max(100_000).optional(),
  /** Or: a key of `prompts`. */
  prompt: NAME.optional(),
  tools: z.array(NAME).default([]),
  steps: z.array(StepSchema).optional(),
  color: z.string().max(32).optional(),
  /** Per-tool approval policy overrides for this agent. */
  approval: z.record(NAME, ApprovalPolicySchema).optional(),
  /** Caps the context window this agent uses (≤ the model's). */
  contextTokens: z.number().int().min(256).optional(),
  /** Model calls per turn (tool round trips). @default 8 */
  maxSteps: z.number().int().min(1).max(64).optional(),
});

const ToolSchema = z.strictObject({
  description: z.string().max(4096).optional(),
  /** JSON Schema of the input (declared tools). */
  parameters: z.record(z.string(), JsonSchema).optional(),
  approval: ApprovalPolicySchema.optional(),
  /** Declared tools: a shell command run with the input as JSON on stdin (and in $FRONTDESK_TOOL_INPUT). */
  command: z.string().min(1).max(4096).optional(),
  /** `shell` only: the built-in shell tool is off unless this is true. */
  enabled: z.boolean().optional(),
  /** Working directory of `shell` and command-backed tools. @default the process's cwd */
  cwd: z.string().max(4096).optional(),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(60 * 60 * 1000)
    .optional(),
  maxOutputBytes: z
    .number()
    .int()
    .positive()
    .max(8 * 1024 * 1024)
    .optional(),
  /** `clock` only: the IANA time zone it reports. @default "UTC" */
  timeZone: z.string().max(64).optional(),
});

const SummarizationSchema = z.strictObject({
  /** Summarize when the unsummarized history exceeds this many tokens. */
  thresholdTokens: z.number().int().min(64),
  /** Messages kept verbatim after a summary. */
  keepRecent: z.number().int().min(1).max(1000),
  /** `false` turns summarization off. @default true */
  enabled: z.boolean().optional(),
});

const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  defaultAgent: NAME,
  agents: z.record(NAME, AgentSchema),
  models: z.record(NAME, ModelSchema),
  prompts: z.record(NAME, z.string().max(100_000)),
  tools: z.record(NAME, ToolSchema),
  summarization: SummarizationSchema,
});

/** What a config file may hold: every section optional, merged over {@link DEFAULT_CONFIG}. */
const ConfigFileSchema = z.strictObject({
  $schema: z.string().optional(),
  defaultAgent: z.string().optional(),
  agents: z.record(z.string(), z.unknown()).optional(),
  models: z.record(z.string(), z.unknown()).optional(),
  prompts: z.record(z.string(), z.unknown()).optional(),
  tools: z.record(z.string(), z.unknown()).optional(),
  summarization: z.record(z.string(), z.unknown()).optional(),
});

export type ModelConfig = z.infer<typeof ModelSchema>;
export type StepConfig = z.infer<typeof StepSchema>;
export type StepCondition = z.infer<typeof ConditionSchema>;
export type AgentConfig = z.infer<typeof AgentSchema>;
export type ToolConfig = z.infer<typeof ToolSchema>;
export type SummarizationConfig = z.infer<typeof SummarizationSchema>;

/** The validated, deep-frozen configuration. */
export type FrontdeskConfig = DeepReadonly<z.infer<typeof ConfigSchema>> & {
  /** The file it was read from, or null for the defaults / a config built in code. */
  readonly source: string | null;
};
/** The shape you write (every section optional; `loadConfig`/`parseConfig` merge it over the defaults). */
export type FrontdeskConfigInput = z.input<typeof ConfigFileSchema>;

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

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

export const DEFAULT_CONFIG_FILE = "frontdesk.config.json";

/** The key under which a model given as `provider:modelId` (FRONTDESK_MODEL, `--model`) is added to `models`. */
export const INLINE_MODEL_KEY = "env";

export type Env = Readonly<Record<string, string | undefined>>;

/** API keys captured when the config was loaded: kept off the enumerable object so it never serializes. */
const SECRETS = Symbol.for("frontdesk.agent.config.env");

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
  Object.defineProperty(config, SECRETS, { value: Object.freeze(captureSecrets(config, env)), enumerable: false });
  parsedConfigs.add(config);
  return deepFreeze(config) as FrontdeskConfig;
}

const parsedConfigs = new WeakSet<object>();

/** True for a config returned by `loadConfig`/`parseConfig` (validated and frozen). */
export const isParsedConfig = (value: unknown): value is FrontdeskConfig =>
  typeof value === "object" && value !== null && parsedConfigs.has(value);

/** The environment captured by `loadConfig` (API keys), or undefined for a config built without one. */
export const configEnv = (config: FrontdeskConfig): Env | undefined =>
  (config as unknown as Record<symbol, Env | undefined>)[SECRETS];

type MutableConfig = Record<string, unknown> & {
  agents?: Record<string, unknown>;
  models?: Record<string, unknown>;
  tools?: Record<string, unknown>;
};

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

function applyEnvOverrides(config: MutableConfig, env: Env): void {
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

interface Issue {
  path: readonly PropertyKey[];
  message: string;
}

/** References between sections, which a schema alone cannot check. */
function crossCheck(config: z.infer<typeof ConfigSchema>): Issue[] {
  const issues: Issue[] = [];
  const add = (path: PropertyKey[], message: string) => issues.push({ path, message });
  if (!Object.hasOwn(config.agents, config.defaultAgent)) {
    add(["defaultAgent"], `unknown agent "${config.defaultAgent}"`);
  }
  for (const [name, model] of Object.entries(config.models)) {
    if (model.provider === "openai-compatible" && model.baseUrl === undefined) {
      add(["models", name, "baseUrl"], `required for an openai-compatible model (or set ${CONFIG_ENV.baseUrl})`);
    }
    if (model.maxOutputTokens !== undefined && model.maxOutputTokens >= model.contextWindow) {
      add(["models", name, "maxOutputTokens"], "must be smaller than contextWindow");
    }
  }
  for (const [name, tool] of Object.entries(config.tools)) {
    const builtin = isBuiltinTool(name);
    if (builtin && tool.command !== undefined) add(["tools", name, "command"], `"${name}" is built in: no command`);
    if (builtin && tool.parameters !== undefined) {
      add(["tools", name, "parameters"], `"${name}" is built in: its parameters are fixed`);
    }
    if (!builtin && tool.enabled !== undefined) add(["tools", name, "enabled"], "only the shell tool has `enabled`");
    if (tool.timeZone !== undefined) {
      if (name !== "clock") add(["tools", name, "timeZone"], "only the clock tool has `timeZone`");
      else if (!validTimeZone(tool.timeZone)) add(["tools", name, "timeZone"], `unknown time zone "${tool.timeZone}"`);
    }
    if (tool.parameters !== undefined && tool.parameters.type !== undefined && tool.parameters.type !== "object") {
      add(["tools", name, "parameters", "type"], 'a tool\'s parameters are an object schema (type "object")');
    }
  }
  for (const [name, agent] of Object.entries(config.agents)) {
    const at = (...rest: PropertyKey[]) => ["agents", name, ...rest];
    if (!Object.hasOwn(config.models, agent.model)) add(at("model"), `unknown model "${agent.model}"`);
    if (agent.prompt !== undefined && agent.systemPrompt !== undefined) {
      add(at("prompt"), "give either prompt or systemPrompt, not both");
    }
    if (agent.prompt !== undefined && !Object.hasOwn(config.prompts, agent.prompt)) {
      add(at("prompt"), `unknown prompt "${agent.prompt}"`);
    }
    const model = config.models[agent.model];
    if (model && agent.contextTokens !== undefined && agent.contextTokens > model.contextWindow) {
      add(at("contextTokens"), `larger than the contextWindow of model "${agent.model}" (${model.contextWindow})`);
    }
    const tools = new Set(agent.tools);
    agent.tools.forEach((tool, i) => {
      const declared = config.tools[tool];
      if (!declared) add(at("tools", i), `unknown tool "${tool}"`);
      else if (tool === "shell" && declared.enabled !== true) {
        add(at("tools", i), "the shell tool is disabled: set tools.shell.enabled to true to offer it");
      }
    });
    if (tools.size !== agent.tools.length) add(at("tools"), "a tool is listed twice");
    for (const tool of Object.keys(agent.approval ?? {})) {
      if (!tools.has(tool)) add(at("approval", tool), `"${tool}" is not one of this agent's tools`);
    }
    const stepNames = new Set<string>();
    (agent.steps ?? []).forEach((step, i) => {
      if (stepNames.has(step.name)) add(at("steps", i, "name"), `duplicate step "${step.name}"`);
      stepNames.add(step.name);
      (step.tools ?? []).forEach((tool, j) => {
        if (!tools.has(tool)) add(at("steps", i, "tools", j), `"${tool}" is not one of this agent's tools`);
      });
      (step.sequence ?? []).forEach((tool, j) => {
        if (!tools.has(tool)) add(at("steps", i, "sequence", j), `"${tool}" is not one of this agent's tools`);
      });
      if (step.next?.afterTool !== undefined && !tools.has(step.next.afterTool)) {
        add(at("steps", i, "next", "afterTool"), `"${step.next.afterTool}" is not one of this agent's tools`);
      }
      if (step.next && step.next.afterTool === undefined && step.next.when === undefined) {
        add(at("steps", i, "next"), "give afterTool, when, or both");
      }
    });
    (agent.steps ?? []).forEach((step, i) => {
      const to = step.next?.to;
      if (to !== undefined && !stepNames.has(to)) add(at("steps", i, "next", "to"), `unknown step "${to}"`);
      if (step.next && to === undefined && i === (agent.steps?.length ?? 0) - 1) {
        add(at("steps", i, "next", "to"), "the last step has no following step: name one");
      }
    });
  }
  return issues;
}

const validTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/** `agents.helper.tools[2]` */
export const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`;
    const part = String(key);
    return text === "" ? part : `${text}.${part}`;
  }, "");

function configError(issues: readonly Issue[]): FrontdeskError {
  const shown = issues.slice(0, 5).map((issue) => {
    const path = formatPath(issue.path);
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : "";
  return new FrontdeskError("invalid_request", `Invalid config: ${shown.join("; ")}${more}`, {
    details: { issues: issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })) },
  });
}

/** Only the variables models name (and the two defaults): the rest of the environment is not kept. */
function captureSecrets(config: z.infer<typeof ConfigSchema>, env: Env): Record<string, string> {
  const names = new Set(["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]);
  for (const model of Object.values(config.models)) if (model.apiKeyEnv) names.add(model.apiKeyEnv);
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") out[name] = value;
  }
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

export type AgentConfigView = FrontdeskConfig["agents"][string];
export type ModelConfigView = FrontdeskConfig["models"][string];
export type ToolConfigView = FrontdeskConfig["tools"][string];
export type StepConfigView = NonNullable<AgentConfigView["steps"]>[number];

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
