import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import { NAMESPACE_PATTERN } from "../core/ids.ts";
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from "../server/limits.ts";
import { UsageError } from "./failures.ts";
import type { CliIo } from "./io.ts";

/** Limits that may be `null` (no bound) and those that may be fractional (rates). */
const NULLABLE_LIMITS = new Set<string>(["maxSessionsPerUser", "requestsPerSecond", "rateLimitBurst"]);
const RATE_LIMITS = new Set<string>(["requestsPerSecond", "rateLimitBurst"]);

/** Every server limit by name, each optional: an unknown name is an error, not a silent no-op. */
const LimitsSchema = z.strictObject(
  Object.fromEntries(
    Object.keys(DEFAULT_SERVER_LIMITS).map((name) => {
      const number = RATE_LIMITS.has(name) ? z.number().positive() : z.number().int().positive();
      return [name, (NULLABLE_LIMITS.has(name) ? number.nullable() : number).optional()];
    }),
  ) as Record<keyof ServerLimits, z.ZodOptional<z.ZodNumber | z.ZodNullable<z.ZodNumber>>>,
);

const EncryptionSchema = z.strictObject({
  /** A file of master keys, `id:base64key` per line, the first current; mode 600. */
  masterKeyFile: z.string().min(1).optional(),
  /** The key ring: a SQLite file or a `postgres://` URL, apart from the store and out of its backups. */
  keyRing: z.string().min(1).optional(),
});

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * `frontdesk.config.json` as `serve` reads it. Server keys are checked strictly, so a typo is an
 * error rather than a silently ignored setting; the agent side's keys (`agents`, `models`,
 * `prompts`, `tools`) share the file and are left to the agent runtime to validate.
 */
export const ServeConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  /** Store URL; `--store` and `$FRONTDESK_STORE` win. */
  store: z.string().min(1).optional(),
  /** `--host` and `$FRONTDESK_HOST` win. */
  host: z.string().min(1).optional(),
  /** `--port` and `$FRONTDESK_PORT` win. */
  port: z.number().int().min(0).max(65_535).optional(),
  namespace: z
    .string()
    .regex(NAMESPACE_PATTERN, "must match " + NAMESPACE_PATTERN.source)
    .optional(),
  /** Sliding TTL of sessions created without one, in seconds; null: never expire. */
  defaultTtlSeconds: z.number().int().positive().nullable().optional(),
  /** `$FRONTDESK_LOG_LEVEL` wins. */
  logLevel: z.enum(LOG_LEVELS).optional(),
  /** Export Node's process metrics (event-loop lag, heap, GC, CPU) on /metrics; default true. */
  processMetrics: z.boolean().optional(),
  /** Server and store limits (`ServerLimits`): sizes in bytes, counts, rates; see docs/cli.md. */
  limits: LimitsSchema.optional(),
  /**
   * Encryption at rest (docs/encryption.md). Paths only: master keys themselves never go in this
   * file. `$FRONTDESK_MASTER_KEYS`, `$FRONTDESK_MASTER_KEY_FILE` and `$FRONTDESK_KEY_RING` win.
   */
  encryption: EncryptionSchema.optional(),
  /** Mask known secret formats in events before they are stored (docs/privacy.md); default false. */
  maskSecrets: z.boolean().optional(),
  /** Prune sessions to this policy as they grow (docs/privacy.md); default: keep everything. */
  retention: z
    .strictObject({
      keepLastEvents: z.number().int().min(1),
      onlySummarized: z.boolean().optional(),
    })
    .optional(),
  /** The agent part (agents, models, prompts, tools, defaultAgent, summarization) is checked by src/agent/config.ts. */
  agents: z.unknown().optional(),
  models: z.unknown().optional(),
  prompts: z.unknown().optional(),
  tools: z.unknown().optional(),
  defaultAgent: z.unknown().optional(),
  summarization: z.unknown().optional(),
});
export type ServeConfig = z.infer<typeof ServeConfigSchema>;

const describePath = (path: readonly PropertyKey[]): string =>
  path.length === 0 ? "(top level)" : path.map((part) => String(part)).join(".");

/** The file every command reads when neither `--config` nor `$FRONTDESK_CONFIG` names one. */
export const DEFAULT_CONFIG_FILE = "frontdesk.config.json";

/** Where a setting came from, in the order that decides it: flag, environment, config file, default. */
export type SettingSource = "flag" | "env" | "config" | "default";

/** `frontdesk.config.json` as every command reads it. */
export interface CliConfig {
  /** The file read, as an absolute path; null when there was none. */
  readonly file: string | null;
  /** Its server keys, validated (`store`, `namespace`, `limits`, …); `{}` without a file. */
  readonly settings: ServeConfig;
  /** The whole file as parsed, for the agent runtime to validate its own part; undefined without a file. */
  readonly json: unknown;
}

/**
 * Finds and reads the config the same way for every command: `--config`, else
 * `$FRONTDESK_CONFIG`, else `./frontdesk.config.json` when it exists, else none. A file named by
 * the flag or the environment must exist; the default one is optional.
 */
export async function loadCliConfig(options: { config?: string }, io: CliIo): Promise<CliConfig> {
  const named = options.config ?? nonEmpty(io.env.FRONTDESK_CONFIG);
  const file = resolve(process.cwd(), named ?? DEFAULT_CONFIG_FILE);
  const text = await readConfigText(file, named === undefined);
  if (text === undefined) return { file: null, settings: {}, json: undefined };
  const { settings, json } = parseServeConfig(file, text);
  return { file, settings, json };
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value.trim();

async function readConfigText(file: string, optional: boolean): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (optional && code === "ENOENT") return undefined;
    throw new UsageError(`Cannot read config ${file}: ${code ?? (error as Error).message}`);
  }
}

/** Reads and validates a config file; every error names the file and the offending path. */
export async function loadServeConfig(file: string): Promise<ServeConfig> {
  const text = (await readConfigText(file, false)) as string;
  return parseServeConfig(file, text).settings;
}

function parseServeConfig(file: string, text: string): { settings: ServeConfig; json: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Config ${file} is not JSON: ${(error as Error).message}`);
  }
  const parsed = ServeConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${describePath(issue.path)}: ${issue.message}`)
      .join("; ");
    throw new UsageError(`Invalid config ${file}: ${issues}`);
  }
  return { settings: parsed.data, json: value };
}
