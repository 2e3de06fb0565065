/**
 * Serialises async work per key inside one process. Optimistic concurrency stays the rule across
 * processes; this only stops callers in the same process from racing each other into conflicts.
 * Entries disappear when their queue empties, so the map stays bounded by keys in use.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<R>(key: string, work: () => Promise<R>): Promise<R> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
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
