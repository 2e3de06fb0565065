/**
 * Encryption at rest as the CLI configures it (docs/encryption.md): master keys from
 * `$FRONTDESK_MASTER_KEYS` or a key file (`$FRONTDESK_MASTER_KEY_FILE`, else the config file's
 * `encryption.masterKeyFile`), and the key ring's SQLite file (`$FRONTDESK_KEY_RING`, else
 * `encryption.keyRing`). Nothing configured: no encryption. Half configured: an error, never a
 * silent plaintext store.
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
      "Master keys are set but no key ring: set FRONTDESK_KEY_RING (or encryption.keyRing in the config) to a file apart from the store",
    );
  }
  const ringPath = resolve(ring);
  if (storeUrl !== undefined && sqliteFile(storeUrl) === ringPath) {
    throw new UsageError("The key ring must not be the store's own file: a copy of the store would carry its keys");
  }
  const { envMasterKeys, fileMasterKeys, sqliteKeyRing } = await import("../encryption/index.ts");
  const masterKeys = inline !== undefined ? envMasterKeys({ env: io.env }) : fileMasterKeys(resolve(keyFile as string));
  const source = inline !== undefined ? "$FRONTDESK_MASTER_KEYS" : resolve(keyFile as string);
  return {
    masterKeys,
    keyRing: sqliteKeyRing(ringPath),
    description: `on (master key ${masterKeys.currentKeyId()} from ${source}, key ring ${ringPath})`,
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
