/**
 * A Map that holds at most `capacity` entries, dropping the least recently used, so per-key
 * bookkeeping (key lookups, rate-limit buckets, read caches) stays bounded whatever the traffic.
 */
const NONE: unique symbol = Symbol("none");

export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();
  /** The most recently used key: touching it again needs no reordering (the common hot-key case). */
  private newest: K | typeof NONE = NONE;

  constructor(private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new RangeError("capacity must be a positive integer");
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined && key !== this.newest) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
      this.newest = key;
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.newest = key;
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    if (key === this.newest) this.newest = NONE;
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.newest = NONE;
  }

  get size(): number {
    return this.entries.size;
  }
}
