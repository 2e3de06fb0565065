import type { Command } from "commander";
import { pino } from "pino";
import { agentConfigFrom } from "../../agent/config.ts";
import type { ServerLimits } from "../../server/limits.ts";
import { openStore } from "../../stores/registry.ts";
import type { SessionStore } from "../../stores/types.ts";
import { LOG_LEVELS, type LogLevel, loadServeConfig, type ServeConfig } from "../config.ts";
import { UsageError } from "../failures.ts";
import { type CliIo, writeLine } from "../io.ts";
import { integerOption } from "../options.ts";
import { watchForStop } from "../signals.ts";
import { DEFAULT_STORE_URL, envValue } from "../targets/index.ts";

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

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command("serve")
    .description("run the HTTP server until SIGTERM or SIGINT; prints `listening on http://HOST:PORT`")
    .option("--store <url>", `store URL (default: $FRONTDESK_STORE, else ${DEFAULT_STORE_URL})`)
    .option("--host <host>", `interface to listen on (default: $FRONTDESK_HOST, else ${DEFAULT_HOST})`)
    .option(
      "--port <n>",
      `port, 0 for any free one (default: $FRONTDESK_PORT, else ${DEFAULT_PORT})`,
      integerOption(0, 65_535),
    )
    .option("--config <file>", "server options from a JSON file (frontdesk.config.json)")
    .action(async (options: ServeOptions) => {
      const config = options.config === undefined ? {} : await loadServeConfig(options.config);
      const storeUrl = options.store ?? envValue(io, "FRONTDESK_STORE") ?? config.store ?? DEFAULT_STORE_URL;
      const host = options.host ?? envValue(io, "FRONTDESK_HOST") ?? config.host ?? DEFAULT_HOST;
      const port = options.port ?? portFromEnv(io) ?? config.port ?? DEFAULT_PORT;
      const level = logLevelFrom(io, config);
      // The server's request logs and the CLI's own lines: pino JSON on stderr, never stdout.
      const logger = pino({ level }, io.stderr);

      const { isLoopbackHost, startServer } = await import("../../server/listen.ts");
      const stop = watchForStop(io);
      let running: Awaited<ReturnType<typeof startServer>> | undefined;
      let store: SessionStore | undefined;
      try {
        store = await openStore(storeUrl);
        const needsFirstKey = isLoopbackHost(host) && !(await hasLiveKey(store));
        running = await startServer({
          store,
          host,
          port,
          namespace: config.namespace,
          // Validated key by key (nullable only where the server allows null) by the config schema.
          limits: config.limits as Partial<ServerLimits> | undefined,
          defaultTtlMs:
            config.defaultTtlSeconds === undefined
              ? undefined
              : config.defaultTtlSeconds === null
                ? null
                : config.defaultTtlSeconds * 1000,
          logger: { level, stream: io.stderr },
          agents: { config: agentConfigFrom(config, io.env, { source: options.config ?? null }) },
        });
        // Only once the port is ours: a key printed by a start that then failed would be easy to miss.
        if (needsFirstKey) await createFirstKey(store, io);
      } catch (error) {
        stop.dispose();
        if (running) await running.close();
        else await store?.close();
        throw error;
      }
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
