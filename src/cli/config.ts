import { readFile } from "node:fs/promises";
import { z } from "zod";
import { NAMESPACE_PATTERN } from "../core/ids.ts";
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from "../server/limits.ts";
import { UsageError } from "./failures.ts";

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
  /** Server and store limits (`ServerLimits`): sizes in bytes, counts, rates; see docs/cli.md. */
  limits: LimitsSchema.optional(),
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

/** Reads and validates a config file; every error names the file and the offending path. */
export async function loadServeConfig(file: string): Promise<ServeConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(
      `Cannot read config ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
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
  return parsed.data;
}
