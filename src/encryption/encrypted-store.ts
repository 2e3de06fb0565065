/**
 * Envelope encryption at rest, as a wrapper over any store: it seals what the core hands the store
 * and opens what the store returns, so memory, SQLite, the file store, Redis, PostgreSQL and
 * third-party stores all keep only ciphertext of content, state and metadata values, with no change
 * to any of them. docs/encryption.md says what it protects against and what not.
 */
import type { SessionStore } from "../core/store-contract.ts";
import { Codec } from "./codec.ts";
import { type DataKeyCacheOptions, DataKeys } from "./data-keys.ts";
import type { KeyRing } from "./key-ring.ts";
import type { MasterKeyProvider } from "./master-keys.ts";

export interface EncryptionOptions extends DataKeyCacheOptions {
  /** Wraps each owner's data key: `envMasterKeys()`, `fileMasterKeys(path)`, or a KMS of your own. */
  readonly masterKeys: MasterKeyProvider;
  /**
   * Where the wrapped data keys live: NOT in the session store, so that a copy of the session store
   * taken before an erasure cannot be read for the erased user (`sqliteKeyRing(path)`).
   */
  readonly keyRing: KeyRing;
  /**
   * Close the key ring when the store is closed. The key ring is the caller's, so by default it is
   * left open; set this when the store is its only user.
   * @default false
   */
  readonly closeKeyRing?: boolean;
}

/** What `encryptInPlace` needs of a store made here: the store under it and the codec. */
export interface EncryptedStoreParts {
  readonly inner: SessionStore;
  readonly codec: Codec;
}

const PARTS = new WeakMap<SessionStore, EncryptedStoreParts>();

/** The parts of a store made by {@link encryptedStore}; undefined for any other store. */
export const encryptedStoreParts = (store: SessionStore): EncryptedStoreParts | undefined => PARTS.get(store);

/** True for a store made by {@link encryptedStore}. */
export const isEncryptedStore = (store: SessionStore): boolean => PARTS.has(store);

/**
 * Wraps `inner` so that every store keeps only ciphertext of event content, state values and
 * metadata values (docs/encryption.md lists what stays plaintext). Reads open sealed values and pass
 * plaintext ones through, so it can be turned on over an existing store; `encryptInPlace` then
 * seals what was written before.
 *
 * - A key provider or key ring that fails makes the call fail with `unavailable` (HTTP 503), and
 *   nothing is written: never plaintext instead.
 * - After `forgetUser(namespace, userId)`, that user's sealed values can never be opened again,
 *   from this store or any copy of it: reads fail with `not_found` (`details.reason` is
 *   `data_key_destroyed`); `list` leaves those values out so the erasure can still find the
 *   sessions to delete.
 *
 * @example
 * const store = encryptedStore(await openStore("postgres://…"), {
 *   masterKeys: envMasterKeys(),
 *   keyRing: sqliteKeyRing("/var/lib/frontdesk/keyring.db"),
 * });
 */
export function encryptedStore(inner: SessionStore, options: EncryptionOptions): SessionStore {
  const codec = new Codec(new DataKeys(options.masterKeys, options.keyRing, options));
  const append = inner.append;
  const scrub = inner.scrub;
  const store: SessionStore = {
    name: inner.name,
    capabilities: inner.capabilities,

    commit: async (commit) => inner.commit(await codec.sealCommit(commit)),
    ...(append && { append: async (request) => append.call(inner, await codec.sealAppend(request)) }),
    get: async (key, now) => {
      const header = await inner.get(key, now);
      return header && codec.openStoredHeader(header);
    },
    touch: (key, times, now) => inner.touch(key, times, now),
    readEvents: async (key, range) => codec.openEvents(key, await inner.readEvents(key, range)),
    list: async (query) => {
      const page = await inner.list(query);
      return { ...page, items: await Promise.all(page.items.map((header) => codec.openHeader(header, true))) };
    },
    count: (namespace, userId, now) => inner.count(namespace, userId, now),
    delete: (key, condition) => inner.delete(key, condition),
    sweep: (now, limit) => inner.sweep(now, limit),
    readScope: async (namespace, scope, userId) =>
      codec.openScope(namespace, scope, userId, await inner.readScope(namespace, scope, userId)),
    eraseScope: (namespace, userId) => inner.eraseScope(namespace, userId),
    // The destroyed keys' bytes must leave the key ring's files too (a checkpoint, VACUUM FULL), and
    // the erasure that destroyed them calls this once it is done.
    ...((scrub || options.keyRing.scrub) && {
      scrub: async (scrubOptions) => {
        const stored = scrub ? await scrub.call(inner, scrubOptions) : { pending: false };
        const ring = options.keyRing.scrub ? await options.keyRing.scrub() : { pending: false };
        return { pending: stored.pending || ring.pending };
      },
    }),
    forgetUser: async (namespace, userId) => {
      await codec.forget(namespace, userId);
      await inner.forgetUser?.(namespace, userId);
    },
    findIdempotency: (key, idempotencyKey) => inner.findIdempotency(key, idempotencyKey),
    subscribe: (key, onHint) => inner.subscribe(key, onHint),
    putApiKey: (record) => inner.putApiKey(record),
    findApiKey: (hash) => inner.findApiKey(hash),
    listApiKeys: () => inner.listApiKeys(),
    revokeApiKey: (id, at) => inner.revokeApiKey(id, at),

    close: async () => {
      try {
        await inner.close();
      } finally {
        if (options.closeKeyRing) await options.keyRing.close();
      }
    },
  };
  PARTS.set(store, { inner, codec });
  return store;
}
