/** Where every timestamp comes from. Inject a fake one in tests instead of sleeping. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: TTL cases advance it instead of waiting. */
export class FakeClock implements Clock {
  private current: number;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }
  now(): number {
    return this.current;
  }
  advance(ms: number): number {
    this.current += ms;
    return this.current;
  }
  set(epochMs: number): void {
    this.current = epochMs;
  }
}
