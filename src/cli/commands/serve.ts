import type { Command } from "commander";
import { pino } from "pino";
import { agentConfigFrom } from "../../agent/config.ts";
import { FrontdeskError } from "../../core/errors.ts";
import { resolveLimits, type ServerLimits } from "../../server/limits.ts";
import { openStore } from "../../stores/registry.ts";
import type { SessionStore } from "../../stores/types.ts";
import {
  DEFAULT_CONFIG_FILE,
  LOG_LEVELS,
  type LogLevel,
  loadCliConfig,
  type ServeConfig,
  type SettingSource,
} from "../config.ts";
import { encryptIfConfigured } from "../encryption.ts";
import { UsageError } from "../failures.ts";
import { type CliIo, writeLine } from "../io.ts";
import { integerOption } from "../options.ts";
import { watchForStop } from "../signals.ts";
import { DEFAULT_STORE_URL, envValue, storeSetting } from "../targets/index.ts";

// docs/cli.md fixes these; server/listen.ts has the same defaults, but importing it here would load
// Fastify for every command, so serve loads it only when it runs.
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 7420;
const ADMIN_USER = "admin";

interface ServeOptions {
  store?: string;
  host?: string;
  port?: number;
  config?: string;
}

const portFromEnv = (io: CliIo): number | undefined => {
  const text = envValue(io, "FRONTDESK_PORT");
  if (text === undefined) return undefined;
  try {
    return integerOption(0, 65_535)(text);
  } catch {
    throw new UsageError(`FRONTDESK_PORT="${text}" is not a port (0-65535)`);
  }
};

const logLevelFrom = (io: CliIo, config: ServeConfig): LogLevel => {
  const text = envValue(io, "FRONTDESK_LOG_LEVEL");
  if (text === undefined) return config.logLevel ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new UsageError(`FRONTDESK_LOG_LEVEL="${text}": expected one of ${LOG_LEVELS.join(", ")}`);
  }
  return text as LogLevel;
};

/** True when the store has a key the server would accept. Also the first use of the store, so a store that cannot be opened fails before anything listens. */
async function hasLiveKey(store: SessionStore): Promise<boolean> {
  const { listApiKeys } = await import("../../server/api-keys.ts");
  return (await listApiKeys(store)).some((record) => record.revokedAt === null);
}

/**
 * On a loopback host a store without a live key gets one admin key, shown once on stderr, so a
 * first `frontdesk serve` is usable at once and never open. Revoked keys do not count: a server
 * whose every key is revoked could not be used at all. Beyond loopback nothing is created: the
 * operator makes keys on purpose (`frontdesk keys create`), and the server refuses to listen
 * without them.
 */
async function createFirstKey(store: SessionStore, io: CliIo): Promise<void> {
  const { createApiKey } = await import("../../server/api-keys.ts");
  const { key } = await createApiKey(store, { userId: ADMIN_USER, admin: true, label: "created by frontdesk serve" });
  writeLine(io.stderr, `created admin API key (shown once): ${key}`);
}

/** How `serve` names where its store came from. */
const SOURCE_NAMES = {
  store: { flag: "--store", env: "$FRONTDESK_STORE", config: "config file", default: "default" },
} as const satisfies Record<string, Record<SettingSource, string>>;

/** A store URL fit to print: its password, if any, replaced. */
function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "PASSWORD";
    return parsed.href;
  } catch {
    return url;
  }
}

/** `word`, single-quoted when a POSIX shell would split or expand it. */
const shellWord = (word: string): string =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;

/** `maxBodyBytes=1048576, …, requestsPerSecond=100`; `none` where a limit is off. */
const describeLimits = (limits: ServerLimits): string =>
  Object.entries(limits)
    .map(([name, value]) => `${name}=${value === null ? "none" : String(value)}`)
    .join(", ");

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command("serve")
    .description("run the HTTP server until SIGTERM or SIGINT; prints `listening on http://HOST:PORT`")
    .option(
      "--store <url>",
      `store URL (default: $FRONTDESK_STORE, else the config file's store, else ${DEFAULT_STORE_URL})`,
    )
    .option(
      "--host <host>",
      `interface to listen on (default: $FRONTDESK_HOST, else the config file's host, else ${DEFAULT_HOST})`,
    )
    .option(
      "--port <n>",
      `port, 0 for any free one (default: $FRONTDESK_PORT, else the config file's port, else ${DEFAULT_PORT})`,
      integerOption(0, 65_535),
    )
    .option(
      "--config <file>",
      `server and agent options (default: $FRONTDESK_CONFIG, else ./${DEFAULT_CONFIG_FILE} if present)`,
    )
    .action(async (options: ServeOptions) => {
      const loaded = await loadCliConfig(options, io);
      const config = loaded.settings;
      const store = storeSetting(options, io, loaded);
      const host = options.host ?? envValue(io, "FRONTDESK_HOST") ?? config.host ?? DEFAULT_HOST;
      const port = options.port ?? portFromEnv(io) ?? config.port ?? DEFAULT_PORT;
      const level = logLevelFrom(io, config);
      // Validated key by key (nullable only where the server allows null) by the config schema.
      const limits = resolveLimits(config.limits as Partial<ServerLimits> | undefined);
      // Checked before the store opens: a bad agent config fails the start, not the first turn.
      const agentConfig = agentConfigFrom(loaded.json, io.env, { source: loaded.file });
      // The server's request logs and the CLI's own lines: pino JSON on stderr, never stdout.
      const logger = pino({ level }, io.stderr);

      const { isLoopbackHost, startServer } = await import("../../server/listen.ts");
      const stop = watchForStop(io);
      let running: Awaited<ReturnType<typeof startServer>> | undefined;
      let opened: SessionStore | undefined;
      let encryption = "off";
      try {
        // The store's warnings about its server's settings (Redis appendonly, …) go to the log, once.
        const inner = await openStore(store.url, {
          logger: { warn: (details, message) => logger.warn(details, message) },
        });
        const wrapped = await encryptIfConfigured(inner, io, loaded, store.url);
        opened = wrapped.store;
        encryption = wrapped.description;
        const keyed = await hasLiveKey(opened);
        if (!keyed && !isLoopbackHost(host)) {
          throw new FrontdeskError(
            "invalid_request",
            `Refusing to listen on ${host} without API keys: create one with \`frontdesk keys create --user ID --store ${shellWord(displayUrl(store.url))}\`, or listen on 127.0.0.1`,
          );
        }
        running = await startServer({
          store: opened,
          host,
          port,
          namespace: config.namespace,
          limits,
          defaultTtlMs:
            config.defaultTtlSeconds === undefined
              ? undefined
              : config.defaultTtlSeconds === null
                ? null
                : config.defaultTtlSeconds * 1000,
          logger: { level, stream: io.stderr },
          processMetrics: config.processMetrics,
          maskSecrets: config.maskSecrets,
          retention: config.retention,
          agents: { config: agentConfig },
        });
        // Only once the port is ours: a key printed by a start that then failed would be easy to miss.
        if (!keyed) await createFirstKey(opened, io);
      } catch (error) {
        stop.dispose();
        if (running) await running.close();
        else await opened?.close();
        throw error;
      }
      // What this server runs with, so a setting that did not take is seen at once.
      writeLine(
        io.stderr,
        loaded.file === null
          ? `config: none (no --config, $FRONTDESK_CONFIG or ./${DEFAULT_CONFIG_FILE})`
          : `config: ${loaded.file}`,
      );
      writeLine(io.stderr, `store: ${displayUrl(store.url)} (${SOURCE_NAMES.store[store.source]})`);
      writeLine(io.stderr, `limits: ${describeLimits(limits)}`);
      if (encryption !== "off") writeLine(io.stderr, `encryption: ${encryption}`);
      writeLine(io.stdout, `listening on ${running.url}`);
      const reason = await stop.requested;
      logger.info({ reason }, "draining");
      try {
        await running.close();
      } finally {
        stop.dispose();
      }
      logger.info("stopped");
    });
}
