/**
 * Master keys wrap data keys; they never touch session data. A provider is anything that can wrap
 * and unwrap 32-byte data keys: the built-in ones hold AES-256 keys in this process (from an
 * environment variable or a key file); a KMS is a provider of the user's own (docs/encryption.md
 * has an AWS KMS sketch).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { FrontdeskError } from "../core/errors.ts";
import { DATA_KEY_BYTES } from "./seal.ts";

export interface WrappedKey {
  /** The master key that wrapped it: {@link MasterKeyProvider.unwrap} gets it back. */
  readonly masterKeyId: string;
  readonly wrapped: Buffer;
}

/**
 * Wraps and unwraps data keys. Asynchronous so that a KMS can implement it. A failure (network, a
 * denied permission) may be thrown as any error: the encrypting store reports it as
 * `unavailable` and writes nothing.
 */
export interface MasterKeyProvider {
  /** The key new data keys are wrapped with. */
  currentKeyId(): string;
  wrap(dataKey: Buffer): Promise<WrappedKey>;
  /** Opens a key wrapped by `masterKeyId`, current or an older one still configured. */
  unwrap(masterKeyId: string, wrapped: Buffer): Promise<Buffer>;
}

export interface MasterKey {
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Parses `id1:base64key[,id2:base64key…]` (commas, whitespace or newlines between entries; `#`
 * starts a comment to the end of the line). The first key is the current one; the others only
 * unwrap data keys they wrapped before a rotation. `source` names where the text came from in
 * errors, which never quote key material.
 */
export function parseMasterKeys(text: string, source: string): MasterKey[] {
  const entries = text
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join(",")
    .split(/[\s,]+/)
    .filter((entry) => entry !== "");
  if (entries.length === 0) throw invalidKeys(source, "it holds no key");
  const keys: MasterKey[] = [];
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(":");
    const id = colon < 0 ? "" : entry.slice(0, colon);
    const encoded = colon < 0 ? "" : entry.slice(colon + 1);
    const position = `entry ${index + 1}`;
    if (!KEY_ID_PATTERN.test(id)) {
      throw invalidKeys(source, `${position} is not <id>:<base64 key>, with an id of letters, digits, . _ -`);
    }
    const key = BASE64_PATTERN.test(encoded) ? Buffer.from(encoded, "base64") : Buffer.alloc(0);
    if (key.length !== DATA_KEY_BYTES) {
      throw invalidKeys(source, `key "${id}" must be 32 bytes in base64 (openssl rand -base64 32)`);
    }
    if (keys.some((other) => other.id === id)) throw invalidKeys(source, `key id "${id}" appears twice`);
    keys.push({ id, key });
  });
  return keys;
}

const invalidKeys = (source: string, problem: string): FrontdeskError =>
  new FrontdeskError("invalid_request", `Master keys from ${source}: ${problem}`);

const wrapAad = (masterKeyId: string): Buffer => Buffer.from(`frontdesk data key\u0000${masterKeyId}`, "utf8");

/**
 * A provider over keys held in this process: wraps with AES-256-GCM (iv ‖ wrapped key ‖ tag, the
 * master key id bound as AAD). The first key is current.
 */
export function staticMasterKeys(keys: readonly MasterKey[]): MasterKeyProvider {
  const first = keys[0];
  if (!first) throw new FrontdeskError("invalid_request", "At least one master key is needed");
  const byId = new Map(keys.map((key) => [key.id, key.key]));
  return {
    currentKeyId: () => first.id,
    async wrap(dataKey) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", first.key, iv);
      cipher.setAAD(wrapAad(first.id));
      const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
      return { masterKeyId: first.id, wrapped: Buffer.concat([iv, body, cipher.getAuthTag()]) };
    },
    async unwrap(masterKeyId, wrapped) {
      const key = byId.get(masterKeyId);
      if (!key) {
        throw new FrontdeskError(
          "unavailable",
          `Master key "${masterKeyId}" is not configured: a data key wrapped by it cannot be opened (keep old keys after the current one until rotate-key has run)`,
        );
      }
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, wrapped.subarray(0, IV_BYTES));
        decipher.setAAD(wrapAad(masterKeyId));
        decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
        return Buffer.concat([
          decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch (cause) {
        throw new FrontdeskError(
          "unavailable",
          `Master key "${masterKeyId}" does not open a data key it is said to have wrapped: is it the same key?`,
          { cause },
        );
      }
    },
  };
}

export interface EnvMasterKeysOptions {
  /** @default "FRONTDESK_MASTER_KEYS" */
  readonly variable?: string;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Master keys from an environment variable, `id1:base64key[,id2:base64key…]`, read once now.
 * @example FRONTDESK_MASTER_KEYS="k2:…,k1:…" (k2 wraps new keys; k1 still opens the ones it wrapped)
 */
export function envMasterKeys(options: EnvMasterKeysOptions = {}): MasterKeyProvider {
  const variable = options.variable ?? "FRONTDESK_MASTER_KEYS";
  const text = (options.env ?? process.env)[variable];
  if (text === undefined || text.trim() === "") {
    throw new FrontdeskError("invalid_request", `${variable} is not set: it holds the master keys (id:base64key,…)`);
  }
  return staticMasterKeys(parseMasterKeys(text, `$${variable}`));
}

export interface FileMasterKeysOptions {
  /**
   * Read the file even when its group or others may read it. Off by default: like ssh with a
   * private key, a key file anyone on the machine can read is refused.
   * @default false
   */
  readonly allowInsecurePermissions?: boolean;
}

/**
 * Master keys from a file, in the format of {@link envMasterKeys} (one per line allowed, `#`
 * comments). Read once now. Refused when group or others have any permission on it (chmod 600).
 */
export function fileMasterKeys(path: string, options: FileMasterKeysOptions = {}): MasterKeyProvider {
  let text: string;
  try {
    if (process.platform !== "win32" && options.allowInsecurePermissions !== true) {
      const mode = statSync(path).mode;
      if ((mode & 0o077) !== 0) {
        throw new FrontdeskError(
          "invalid_request",
          `Master key file ${path} may be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
        );
      }
    }
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof FrontdeskError) throw error;
    throw new FrontdeskError(
      "invalid_request",
      `Cannot read master key file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      { cause: error },
    );
  }
  return staticMasterKeys(parseMasterKeys(text, path));
}
