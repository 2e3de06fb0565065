/**
 * Encryption at rest (docs/encryption.md): `encryptedStore` wraps any store so that it keeps only
 * ciphertext of event content, state and metadata values, with a data key per user wrapped by a
 * master key, and crypto-shredding through `forgetUser`.
 */
export { PLAINTEXT_FIELDS, SEALED_FIELD } from "./codec.ts";
export { type DataKeyCacheOptions, isKeyDestroyed } from "./data-keys.ts";
export {
  type EncryptInPlaceOptions,
  type EncryptInPlaceProgress,
  type EncryptInPlaceResult,
  encryptInPlace,
} from "./encrypt-in-place.ts";
export { type EncryptionOptions, encryptedStore, isEncryptedStore } from "./encrypted-store.ts";
export { type KeyRing, type KeyRingEntry, memoryKeyRing } from "./key-ring.ts";
export {
  type EnvMasterKeysOptions,
  envMasterKeys,
  type FileMasterKeysOptions,
  fileMasterKeys,
  type MasterKey,
  type MasterKeyProvider,
  parseMasterKeys,
  staticMasterKeys,
  type WrappedKey,
} from "./master-keys.ts";
export { type PostgresKeyRingOptions, postgresKeyRing } from "./postgres-key-ring.ts";
export { type RotateMasterKeyOptions, type RotateMasterKeyResult, rotateMasterKey } from "./rotate.ts";
export { isSealed, SEALED_PREFIX } from "./seal.ts";
export { type SqliteKeyRingOptions, sqliteKeyRing } from "./sqlite-key-ring.ts";
