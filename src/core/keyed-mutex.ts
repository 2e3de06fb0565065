/**
 * Serialises async work per key inside one process. Optimistic concurrency stays the rule across
 * processes; this only stops callers in the same process from racing each other into conflicts.
 * Entries disappear when their queue empties, so the map stays bounded by keys in use.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<R>(key: string, work: () => Promise<R>): Promise<R> {
    const previous = this.tails.get(key);
    let release!: () => void;
    // `mine` settles only after this holder ran, which was only after `previous` settled: the next
    // holder waiting for `mine` alone therefore waits for every holder queued before it.
    const tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.tails.set(key, tail);
    // Always a turn later, even when free: callers queue before their work starts.
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  get size(): number {
    return this.tails.size;
  }
}
