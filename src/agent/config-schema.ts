/**
 * What a config may say: the zod schemas of every section (models, agents, their steps, tools,
 * summarization), the types they give, and the read-only views the runtime passes around. Kept
 * apart from loading so a reader sees the whole shape of the config in one file.
 */
import { z } from "zod";
import { JsonSchema } from "../core/model.ts";

/** What a tool call needs before it runs: nothing (`auto`), a human's answer (`ask`), or it never runs (`deny`). */
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
  /**
   * Write the reply to the log while it streams (`turn.delta` events), so a reader that attaches
   * mid-reply (a reloaded page, another instance, a late terminal) sees it from its first word.
   * Off, a plain turn is two commits, and readers see the reply when it is complete. `intervalMs`:
   * the least time between two piece commits of a turn (default 100). @default true
   */
  persistDeltas: z.union([z.boolean(), z.strictObject({ intervalMs: z.number().int().min(0).max(60_000) })]).optional(),
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

export const ConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  defaultAgent: NAME,
  agents: z.record(NAME, AgentSchema),
  models: z.record(NAME, ModelSchema),
  prompts: z.record(NAME, z.string().max(100_000)),
  tools: z.record(NAME, ToolSchema),
  summarization: SummarizationSchema,
});

/** What a config file may hold: every section optional, merged over the defaults (see config.ts). */
export const ConfigFileSchema = z.strictObject({
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

/** A config that passed the schema, before it is frozen. */
export type ValidatedConfig = z.infer<typeof ConfigSchema>;

export type AgentConfigView = FrontdeskConfig["agents"][string];
export type ModelConfigView = FrontdeskConfig["models"][string];
export type ToolConfigView = FrontdeskConfig["tools"][string];
export type StepConfigView = NonNullable<AgentConfigView["steps"]>[number];
