/**
 * What `useSyncExternalStore` needs from a live source (subscribe, a snapshot), and the start/stop
 * of its one background loop: the shape both SessionFeed and SessionListFeed share.
 */
export abstract class LiveFeed<S extends object> {
  private readonly listeners = new Set<() => void>();
  private abort: AbortController | undefined;

  protected constructor(protected snapshot: S) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): S => this.snapshot;

  /** Starts the loop (again after `stop`; each feed says from where). */
  start(): void {
    if (this.abort && !this.abort.signal.aborted) return;
    const abort = new AbortController();
    this.abort = abort;
    void this.run(abort.signal);
  }

  stop(): void {
    this.abort?.abort();
  }

  /** The running loop's signal: aborted (or absent) once stopped. */
  protected get signal(): AbortSignal | undefined {
    return this.abort?.signal;
  }

  protected abstract run(signal: AbortSignal): Promise<void>;

  protected update(change: Partial<S>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of this.listeners) listener();
  }
}
