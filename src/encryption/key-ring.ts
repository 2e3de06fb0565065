/**
 * Where each owner's wrapped data key lives: outside the session store, on purpose. A copy of the
 * session store (a backup, a snapshot, a stolen disk) holds only ciphertext; once `forgetUser`
 * has deleted an owner's entry here, no copy of the session store taken before can be read for
 * that owner, even with the master key. (Wrapped keys kept inside the session store would travel
 * with every copy of it, and a surviving master key would open them.)
 */

/** One owner's data key, wrapped by a master key. Nothing in it is usable without that master key. */
export interface KeyRingEntry {
  readonly namespace: string;
  /** The owner; `null` is the namespace key (sessions without a user, and the `app:` scope). */
  readonly userId: string | null;
  /** Random, not secret: sealed values name their key by it. A new key after a forget gets a new id. */
  readonly dataKeyId: string;
  readonly masterKeyId: string;
  readonly wrapped: Buffer;
  /** Epoch ms. */
  readonly createdAt: number;
}

/**
 * One data key per (namespace, owner). Implementations must be safe for several processes sharing
 * them when the session store is shared: `put` decides a race for a new owner (the first stored
 * wins, every caller gets that one), and `rewrap` never brings back a key that `delete` destroyed.
 */
export interface KeyRing {
  get(namespace: string, userId: string | null): Promise<KeyRingEntry | undefined>;
  /** Stores `entry` unless the owner has a key already; resolves to the owner's key as stored. */
  put(entry: KeyRingEntry): Promise<KeyRingEntry>;
  /**
   * Replaces the wrapping of the owner's key (master-key rotation), only while the owner's key is
   * still `entry.dataKeyId`. False when it is not (forgotten meanwhile).
   */
  rewrap(entry: KeyRingEntry): Promise<boolean>;
  /**
   * Destroys the owner's key, for good: whatever was sealed with it can never be opened again.
   * Where the ring keeps files, the wrapped key must not stay readable in them. True when there was one.
   */
  delete(namespace: string, userId: string | null): Promise<boolean>;
  /** Every entry, for rotation. Entries written or deleted during the walk may or may not appear. */
  entries(): AsyncIterable<KeyRingEntry>;
  /** Optional: makes replaced and deleted wrappings unreadable in the ring's files (after a rotation, and after an erasure: the encrypting store's scrub calls it). */
  scrub?(): Promise<{ readonly pending: boolean }>;
  /** Idempotent. */
  close(): Promise<void>;
}

const ownerKey = (namespace: string, userId: string | null): string => `${namespace}\u0000${userId ?? ""}`;

const copyEntry = (entry: KeyRingEntry): KeyRingEntry => ({ ...entry, wrapped: Buffer.from(entry.wrapped) });

/**
 * A key ring in this process: for tests, and for a memory store (whose data dies with the process
 * anyway). Its keys are lost on exit, and with them everything they sealed.
 */
export function memoryKeyRing(): KeyRing {
  const entries = new Map<string, KeyRingEntry>();
  return {
    async get(namespace, userId) {
      const entry = entries.get(ownerKey(namespace, userId));
      return entry && copyEntry(entry);
    },
    async put(entry) {
      const key = ownerKey(entry.namespace, entry.userId);
      const existing = entries.get(key);
      if (existing) return copyEntry(existing);
      entries.set(key, copyEntry(entry));
      return copyEntry(entry);
    },
    async rewrap(entry) {
      const key = ownerKey(entry.namespace, entry.userId);
      if (entries.get(key)?.dataKeyId !== entry.dataKeyId) return false;
      entries.set(key, copyEntry(entry));
      return true;
    },
    async delete(namespace, userId) {
      const key = ownerKey(namespace, userId);
      entries.get(key)?.wrapped.fill(0);
      return entries.delete(key);
    },
    async *entries() {
      for (const entry of [...entries.values()]) yield copyEntry(entry);
    },
    async close() {},
  };
}
