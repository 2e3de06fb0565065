import { openStore } from "../../stores/registry.ts";
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
}

/** A non-empty environment variable, or undefined. */
export const envValue = (io: CliIo, name: string): string | undefined => {
  const value = io.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
};

/** `--store`, else `$FRONTDESK_STORE`, else the default SQLite file. */
export const storeUrlFrom = (options: { store?: string }, io: CliIo): string =>
  options.store ?? envValue(io, "FRONTDESK_STORE") ?? DEFAULT_STORE_URL;

/**
 * Chooses between a store opened here and a running server. Flags win over the environment:
 * `--store` or `--server` (never both); else `$FRONTDESK_SERVER` (with `$FRONTDESK_KEY`); else
 * `$FRONTDESK_STORE`; else the default SQLite file.
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
  const store = await openStore(storeUrlFrom(options, io));
  try {
    return DirectTarget.open(store, options.namespace ?? DEFAULT_NAMESPACE);
  } catch (error) {
    await store.close();
    throw error;
  }
}
