import { openStore, type StoreLogger } from "../../stores/registry.ts";
import type { SessionStore } from "../../stores/types.ts";
import { type CliConfig, loadCliConfig, type SettingSource } from "../config.ts";
import { encryptIfConfigured } from "../encryption.ts";
import { UsageError } from "../failures.ts";
import type { CliIo } from "../io.ts";
import { DirectTarget } from "./direct.ts";
import type { SessionTarget } from "./types.ts";

/** Where `serve` and every `--store` command go when nothing says otherwise (docs/cli.md, "Store URLs"). */
export const DEFAULT_STORE_URL = "sqlite:./.frontdesk/frontdesk.db";
export const DEFAULT_NAMESPACE = "default";

/** The options every `sessions` command takes to say where it acts. */
export interface TargetOptions {
  store?: string;
  server?: string;
  key?: string;
  namespace?: string;
  config?: string;
}

/** A non-empty environment variable, or undefined. */
export const envValue = (io: CliIo, name: string): string | undefined => {
  const value = io.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
};

/** `--store`, else `$FRONTDESK_STORE`, else the config file's `store`, else the default SQLite file. */
export function storeSetting(
  options: { store?: string },
  io: CliIo,
  config: CliConfig | undefined,
): { url: string; source: SettingSource } {
  if (options.store !== undefined) return { url: options.store, source: "flag" };
  const env = envValue(io, "FRONTDESK_STORE");
  if (env !== undefined) return { url: env, source: "env" };
  if (config?.settings.store !== undefined) return { url: config.settings.store, source: "config" };
  return { url: DEFAULT_STORE_URL, source: "default" };
}

/** The store URL, decided as {@link storeSetting} does. */
export const storeUrlFrom = (options: { store?: string }, io: CliIo, config?: CliConfig): string =>
  storeSetting(options, io, config).url;

/**
 * One-shot commands say nothing about the store's server settings (Redis `appendonly`, PostgreSQL
 * `synchronous_commit`): they matter to the server that runs on it, and `serve` reports them once
 * at start-up. A failure still reaches the user, as the command's one-line error.
 */
const QUIET_STORE_LOGGER: StoreLogger = { warn: () => {} };

/**
 * Opens the store a command acts on directly (`--store`, `$FRONTDESK_STORE`, the config file's
 * `store`, the default), quiet about the store's server settings, and encrypting when encryption
 * is configured (cli/encryption.ts).
 */
export async function openCommandStore(
  options: { store?: string; config?: string },
  io: CliIo,
  config?: CliConfig,
): Promise<SessionStore> {
  const loaded = config ?? (await loadCliConfig(options, io));
  const url = storeUrlFrom(options, io, loaded);
  // Every command sees the store as the server does: sealed at rest when encryption is configured.
  return (await encryptIfConfigured(await openStore(url, { logger: QUIET_STORE_LOGGER }), io, loaded, url)).store;
}

/**
 * Chooses between a store opened here and a running server. Flags win over the environment, which
 * wins over the config file: `--store` or `--server` (never both); else `$FRONTDESK_SERVER` (with
 * `$FRONTDESK_KEY`); else `$FRONTDESK_STORE`; else the config file's `store`; else the default
 * SQLite file.
 */
export async function openTarget(options: TargetOptions, io: CliIo): Promise<SessionTarget> {
  if (options.store !== undefined && options.server !== undefined) {
    throw new UsageError("Use either --store or --server, not both");
  }
  const server = options.store === undefined ? (options.server ?? envValue(io, "FRONTDESK_SERVER")) : undefined;
  if (server !== undefined) {
    if (options.namespace !== undefined) {
      throw new UsageError("--namespace applies to --store only: a server serves the namespace it was started with");
    }
    const key = options.key ?? envValue(io, "FRONTDESK_KEY");
    if (key === undefined) throw new UsageError("--server needs an API key: pass --key or set FRONTDESK_KEY");
    const { RemoteTarget } = await import("./remote.ts");
    return RemoteTarget.connect(server, key);
  }
  return openDirectTarget(options, io);
}

/** A store opened in this process (`gc` and `keys` need one; they have no HTTP form). */
export async function openDirectTarget(options: TargetOptions, io: CliIo): Promise<DirectTarget> {
  if (options.server !== undefined) throw new UsageError("This command works on a store: pass --store, not --server");
  const config = await loadCliConfig(options, io);
  const store = await openCommandStore(options, io, config);
  try {
    return DirectTarget.open(store, options.namespace ?? config.settings.namespace ?? DEFAULT_NAMESPACE);
  } catch (error) {
    await store.close();
    throw error;
  }
}
