/**
 * Encryption at rest as the CLI configures it (docs/encryption.md): master keys from
 * `$FRONTDESK_MASTER_KEYS` or a key file (`$FRONTDESK_MASTER_KEY_FILE`, else the config file's
 * `encryption.masterKeyFile`), and the key ring (`$FRONTDESK_KEY_RING`, else `encryption.keyRing`):
 * a SQLite file, or a `postgres://` URL for several hosts sharing one. Nothing configured: no
 * encryption. Half configured: an error, never a silent plaintext store.
 */
import { resolve } from "node:path";
import type { KeyRing, MasterKeyProvider } from "../encryption/index.ts";
import type { SessionStore } from "../stores/types.ts";
import type { CliConfig } from "./config.ts";
import { UsageError } from "./failures.ts";
import type { CliIo } from "./io.ts";

export interface EncryptionSetup {
  readonly masterKeys: MasterKeyProvider;
  readonly keyRing: KeyRing;
  /** For people: where the keys come from (never the keys). */
  readonly description: string;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value.trim();

/** The file a `sqlite:` store URL names, resolved; undefined for other stores and `:memory:`. */
const sqliteFile = (storeUrl: string): string | undefined => {
  if (!storeUrl.startsWith("sqlite:")) return undefined;
  const path = storeUrl.slice("sqlite:".length);
  return path === ":memory:" || path === "" ? undefined : resolve(path);
};

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

const LOOPBACK = new Set(["", "localhost", "127.0.0.1", "[::1]"]);

/** Where a PostgreSQL URL's database lives (server and database name), for comparing two URLs; undefined if unparsable. */
const postgresDatabase = (url: string): { server: string; database: string } | undefined => {
  if (!POSTGRES_URL.test(url)) return undefined;
  try {
    const parsed = new URL(url);
    const host = (parsed.searchParams.get("host") ?? parsed.hostname).toLowerCase();
    const server = `${LOOPBACK.has(host) ? "localhost" : host}:${parsed.port || "5432"}`;
    // PostgreSQL's default database is the user's name.
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username);
    return { server, database };
  } catch {
    return undefined;
  }
};

/** A PostgreSQL URL fit to print: no password, no query. */
const withoutSecrets = (url: string): string => {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    parsed.search = "";
    return parsed.href;
  } catch {
    return "a PostgreSQL URL";
  }
};

/**
 * The master keys and key ring configured for this command, opened; undefined when encryption is
 * not configured at all. The key ring is the caller's to close.
 */
export async function openEncryption(
  io: CliIo,
  config: CliConfig | undefined,
  storeUrl?: string,
): Promise<EncryptionSetup | undefined> {
  const section = config?.settings.encryption;
  const inline = nonEmpty(io.env.FRONTDESK_MASTER_KEYS);
  const keyFile = nonEmpty(io.env.FRONTDESK_MASTER_KEY_FILE) ?? section?.masterKeyFile;
  const ring = nonEmpty(io.env.FRONTDESK_KEY_RING) ?? section?.keyRing;
  if (inline === undefined && keyFile === undefined && ring === undefined) return undefined;
  if (inline === undefined && keyFile === undefined) {
    throw new UsageError(
      "A key ring is set but no master keys: set FRONTDESK_MASTER_KEYS or FRONTDESK_MASTER_KEY_FILE (or encryption.masterKeyFile in the config)",
    );
  }
  if (ring === undefined) {
    throw new UsageError(
      "Master keys are set but no key ring: set FRONTDESK_KEY_RING (or encryption.keyRing in the config) to a file or a postgres:// URL apart from the store",
    );
  }
  const { envMasterKeys, fileMasterKeys, postgresKeyRing, sqliteKeyRing } = await import("../encryption/index.ts");
  let keyRing: KeyRing;
  let ringName: string;
  if (POSTGRES_URL.test(ring)) {
    const ringDatabase = postgresDatabase(ring);
    const storeDatabase = storeUrl === undefined ? undefined : postgresDatabase(storeUrl);
    if (ringDatabase === undefined) throw new UsageError("The key ring's PostgreSQL URL is not a valid URL");
    if (storeDatabase?.server === ringDatabase.server && storeDatabase.database === ringDatabase.database) {
      throw new UsageError(
        "The key ring must not be in the store's own database: a copy or backup of the store would carry its keys",
      );
    }
    if (storeDatabase?.server === ringDatabase.server) {
      io.stderr.write(
        "frontdesk: the key ring is on the store's PostgreSQL server: a backup of the whole server (pg_basebackup, WAL archive, disk snapshot) holds both, so keep its backups per database (docs/encryption.md)\n",
      );
    }
    keyRing = postgresKeyRing({ url: ring });
    ringName = withoutSecrets(ring);
  } else {
    const ringPath = resolve(ring);
    if (storeUrl !== undefined && sqliteFile(storeUrl) === ringPath) {
      throw new UsageError("The key ring must not be the store's own file: a copy of the store would carry its keys");
    }
    keyRing = sqliteKeyRing(ringPath);
    ringName = ringPath;
  }
  let masterKeys: MasterKeyProvider;
  try {
    masterKeys = inline !== undefined ? envMasterKeys({ env: io.env }) : fileMasterKeys(resolve(keyFile as string));
  } catch (error) {
    await keyRing.close();
    throw error;
  }
  const source = inline !== undefined ? "$FRONTDESK_MASTER_KEYS" : resolve(keyFile as string);
  return {
    masterKeys,
    keyRing,
    description: `on (master key ${masterKeys.currentKeyId()} from ${source}, key ring ${ringName})`,
  };
}

/**
 * `store`, wrapped by the encrypting store when encryption is configured (which then closes the key
 * ring with the store); `store` itself otherwise. Closes `store` when the configuration is wrong.
 */
export async function encryptIfConfigured(
  store: SessionStore,
  io: CliIo,
  config: CliConfig | undefined,
  storeUrl?: string,
): Promise<{ store: SessionStore; description: string }> {
  let setup: EncryptionSetup | undefined;
  try {
    setup = await openEncryption(io, config, storeUrl);
  } catch (error) {
    await store.close();
    throw error;
  }
  if (!setup) return { store, description: "off" };
  const { encryptedStore } = await import("../encryption/index.ts");
  return {
    store: encryptedStore(store, { masterKeys: setup.masterKeys, keyRing: setup.keyRing, closeKeyRing: true }),
    description: setup.description,
  };
}
