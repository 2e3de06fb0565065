/**
 * Each owner's data key: created on first write, wrapped by the current master key and kept in the
 * key ring; unwrapped keys are cached (a bounded LRU with a time limit) so sealing costs one AES-GCM
 * operation and no key-provider call per value.
 */
import { randomBytes } from "node:crypto";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { FrontdeskError, isFrontdeskError } from "../core/errors.ts";
import { LruMap } from "../core/lru-map.ts";
import type { KeyRing, KeyRingEntry } from "./key-ring.ts";
import type { MasterKeyProvider } from "./master-keys.ts";
import { DATA_KEY_BYTES, type DataKey } from "./seal.ts";

export interface DataKeyCacheOptions {
  /** Unwrapped data keys kept in memory, at most. @default 10_000 */
  readonly keyCacheSize?: number;
  /**
   * How long an unwrapped data key is used before it is read from the key ring again, in
   * milliseconds: a `forgetUser` on another instance sharing the key ring takes effect here
   * within this time (on this instance it takes effect at once).
   * @default 300_000
   */
  readonly keyCacheTtlMs?: number;
  /** @default the system clock */
  readonly clock?: Clock;
}

/** What a read reports for a value whose data key no longer exists. */
export const keyDestroyed = (): FrontdeskError =>
  new FrontdeskError(
    "not_found",
    "This data was sealed with a data key that no longer exists (its owner was erased): it cannot be read again",
    { details: { reason: "data_key_destroyed" } },
  );

export const isKeyDestroyed = (error: unknown): boolean =>
  isFrontdeskError(error, "not_found") && error.details?.reason === "data_key_destroyed";

/**
 * A key provider or key ring failure becomes `unavailable` (503): the caller retries later, and
 * nothing was read or written meanwhile. Frontdesk's own errors (a master key not configured)
 * keep their code.
 */
async function guarded<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isFrontdeskError(error)) throw error;
    throw new FrontdeskError("unavailable", `The ${what} is unavailable: nothing was read or written`, {
      cause: error,
    });
  }
}

export interface OpenedStamp {
  readonly epoch: number;
  readonly at: number;
}

interface Cached {
  readonly key: DataKey;
  readonly loadedAt: number;
}

const ownerId = (namespace: string, userId: string | null): string => `${namespace}\u0000${userId ?? ""}`;

export class DataKeys {
  private readonly cache: LruMap<string, Cached>;
  /** One key-ring read per owner at a time, however many requests want it (by owner and `create`). */
  private readonly loading = new Map<string, Promise<DataKey | undefined>>();
  /** Moves on every forget: a load that began before it never caches the key it found. */
  private epoch = 0;
  private readonly ttlMs: number;
  private readonly clock: Clock;

  constructor(
    readonly masterKeys: MasterKeyProvider,
    readonly keyRing: KeyRing,
    options: DataKeyCacheOptions = {},
  ) {
    this.cache = new LruMap(options.keyCacheSize ?? 10_000);
    this.ttlMs = options.keyCacheTtlMs ?? 300_000;
    this.clock = options.clock ?? SYSTEM_CLOCK;
  }

  /** The owner's data key, created (and stored in the key ring) on first use. */
  async forSealing(namespace: string, userId: string | null): Promise<DataKey> {
    const cached = this.cached(ownerId(namespace, userId));
    return cached ?? ((await this.load(namespace, userId, true)) as DataKey);
  }

  /** The owner's data key `dataKeyId`; `not_found` (data_key_destroyed) when the owner no longer has it. */
  async forOpening(namespace: string, userId: string | null, dataKeyId: string): Promise<Buffer> {
    const cached = this.cached(ownerId(namespace, userId));
    if (cached?.id === dataKeyId) return cached.key;
    // Not cached, or another id: the cache may be older than a key created elsewhere, so ask the ring.
    const loaded = await this.load(namespace, userId, false);
    if (loaded?.id === dataKeyId) return loaded.key;
    throw keyDestroyed();
  }

  /** When something was opened: it may be reused while {@link isFresh} says so. */
  stamp(): OpenedStamp {
    return { epoch: this.epoch, at: this.clock.now() };
  }

  /** True while no key has been forgotten since `stamp` and the keys it needed would still be cached. */
  isFresh(stamp: OpenedStamp): boolean {
    return stamp.epoch === this.epoch && this.clock.now() - stamp.at < this.ttlMs;
  }

  /** Destroys the owner's data key: in this cache at once, in the key ring for good. */
  async forget(namespace: string, userId: string | null): Promise<void> {
    const owner = ownerId(namespace, userId);
    this.epoch++;
    this.cache.delete(owner);
    try {
      await guarded("key ring", () => this.keyRing.delete(namespace, userId));
    } finally {
      this.epoch++;
      this.cache.delete(owner);
    }
  }

  private cached(owner: string): DataKey | undefined {
    const cached = this.cache.get(owner);
    if (!cached) return undefined;
    if (this.clock.now() - cached.loadedAt < this.ttlMs) return cached.key;
    this.cache.delete(owner);
    return undefined;
  }

  private load(namespace: string, userId: string | null, create: boolean): Promise<DataKey | undefined> {
    const flight = `${ownerId(namespace, userId)}\u0000${create ? "create" : "read"}`;
    let pending = this.loading.get(flight);
    if (!pending) {
      pending = this.loadNow(namespace, userId, create).finally(() => this.loading.delete(flight));
      this.loading.set(flight, pending);
    }
    return pending;
  }

  private async loadNow(namespace: string, userId: string | null, create: boolean): Promise<DataKey | undefined> {
    const epoch = this.epoch;
    const entry = await guarded("key ring", () => this.keyRing.get(namespace, userId));
    let key: DataKey | undefined;
    if (entry) key = { id: entry.dataKeyId, key: await this.unwrap(entry) };
    else if (create) key = await this.create(namespace, userId);
    if (key && epoch === this.epoch) this.cache.set(ownerId(namespace, userId), { key, loadedAt: this.clock.now() });
    return key;
  }

  private async create(namespace: string, userId: string | null): Promise<DataKey> {
    const key = randomBytes(DATA_KEY_BYTES);
    const dataKeyId = randomBytes(12).toString("base64url");
    const { masterKeyId, wrapped } = await guarded("master key provider", () => this.masterKeys.wrap(key));
    const entry: KeyRingEntry = { namespace, userId, dataKeyId, masterKeyId, wrapped, createdAt: this.clock.now() };
    const stored = await guarded("key ring", () => this.keyRing.put(entry));
    // Another instance created the owner's key first: everyone uses that one.
    if (stored.dataKeyId !== dataKeyId) return { id: stored.dataKeyId, key: await this.unwrap(stored) };
    return { id: dataKeyId, key };
  }

  private async unwrap(entry: KeyRingEntry): Promise<Buffer> {
    const key = await guarded("master key provider", () => this.masterKeys.unwrap(entry.masterKeyId, entry.wrapped));
    if (key.length !== DATA_KEY_BYTES) {
      throw new FrontdeskError("unavailable", "The master key provider returned a data key of the wrong length");
    }
    return key;
  }
}
