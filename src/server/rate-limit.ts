import type { Clock } from "../core/clock.ts";
import { LruMap } from "../core/lru-map.ts";

interface Bucket {
  tokens: number;
  at: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until one token is back (for `Retry-After`); 0 when allowed. */
  retryAfterSeconds: number;
}

/**
 * One token bucket per API key: `ratePerSecond` tokens a second, at most `burst` saved up.
 * Buckets live in a bounded LRU map; a key pushed out starts again with a full bucket, which only
 * ever errs towards letting a request through, never towards refusing one.
 */
export class RateLimiter {
  private readonly buckets: LruMap<string, Bucket>;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly clock: Clock,
    capacity: number,
  ) {
    this.buckets = new LruMap(capacity);
  }

  take(key: string): RateDecision {
    const now = this.clock.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.burst, bucket.tokens + (elapsed * this.ratePerSecond) / 1000);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens), retryAfterSeconds: 0 };
    }
    const wait = Math.ceil((1 - bucket.tokens) / this.ratePerSecond);
    return { allowed: false, remaining: 0, retryAfterSeconds: Math.max(1, wait) };
  }
}
