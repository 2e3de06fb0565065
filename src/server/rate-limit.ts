import type { Clock } from "../core/clock.ts";
import { LruMap } from "../core/lru-map.ts";

/**
 * One token bucket's shape, and how the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers)
 * describe it: a quota of `burst` requests over the `w` seconds a drained bucket takes to refill.
 */
export interface RatePolicy {
  readonly ratePerSecond: number;
  /** Tokens the bucket holds when full. */
  readonly burst: number;
  /** Whole requests a full bucket allows: the policy's quota, and `X-RateLimit-Limit`. */
  readonly quota: number;
  /** The `RateLimit-Policy` field value, built once per policy rather than per request. */
  readonly field: string;
  /** `quota` as the header text. */
  readonly quotaText: string;
}

/** The name the two RateLimit fields give the per-key policy, so a client can pair them. */
export const RATE_POLICY_NAME = "key";

export const ratePolicyOf = (ratePerSecond: number, burst: number): RatePolicy => {
  const quota = Math.max(1, Math.floor(burst));
  const windowSeconds = Math.max(1, Math.ceil(burst / ratePerSecond));
  return Object.freeze({
    ratePerSecond,
    burst,
    quota,
    field: `"${RATE_POLICY_NAME}";q=${quota};w=${windowSeconds}`,
    quotaText: String(quota),
  });
};

interface Bucket {
  tokens: number;
  at: number;
  policy: RatePolicy;
}

export interface RateDecision {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until one token is back (for `Retry-After`); 0 when allowed. */
  retryAfterSeconds: number;
  /** Whole seconds until the bucket is full again: the `t` of the `RateLimit` field. */
  resetSeconds: number;
  /** The bucket this decision was taken from. */
  policy: RatePolicy;
}

/** The `RateLimit` field value of a decision: what is left of the bucket `RateLimit-Policy` names. */
export const rateLimitFieldOf = (decision: RateDecision): string =>
  `"${RATE_POLICY_NAME}";r=${decision.remaining};t=${decision.resetSeconds}`;

/**
 * One token bucket per API key: `ratePerSecond` tokens a second, at most `burst` saved up. A key
 * may have its own rate (kept with the key, see `ApiKeyRecord.requestsPerSecond`); its bucket then
 * holds twice that rate, as the default bucket does unless `burst` says otherwise.
 * Buckets live in a bounded LRU map; a key pushed out starts again with a full bucket, which only
 * ever errs towards letting a request through, never towards refusing one.
 */
export class RateLimiter {
  private readonly buckets: LruMap<string, Bucket>;
  /** Policies of per-key rates, shared by every key with the same rate. */
  private readonly ownPolicies = new Map<number, RatePolicy>();
  /** Applied to keys without a rate of their own; `null`: such keys are not limited. */
  readonly defaultPolicy: RatePolicy | null;

  constructor(
    ratePerSecond: number | null,
    burst: number | null,
    private readonly clock: Clock,
    capacity: number,
  ) {
    this.defaultPolicy =
      ratePerSecond === null ? null : ratePolicyOf(ratePerSecond, burst ?? Math.max(1, ratePerSecond * 2));
    this.buckets = new LruMap(capacity);
  }

  /** The policy of a key: its own rate when it has one, else the default (`null`: unlimited). */
  policyFor(ownRatePerSecond: number | null | undefined): RatePolicy | null {
    if (ownRatePerSecond === null || ownRatePerSecond === undefined) return this.defaultPolicy;
    let policy = this.ownPolicies.get(ownRatePerSecond);
    if (policy === undefined) {
      policy = ratePolicyOf(ownRatePerSecond, Math.max(1, ownRatePerSecond * 2));
      // Distinct rates are few (set by admins), but nothing here may grow without bound.
      if (this.ownPolicies.size >= 1024) this.ownPolicies.clear();
      this.ownPolicies.set(ownRatePerSecond, policy);
    }
    return policy;
  }

  /**
   * Takes a token from the key's bucket. `policy`: the key's (see {@link policyFor}); left out,
   * the bucket keeps the policy it was last given (a WebSocket's messages use its upgrade's), else
   * the default. Undefined when no limit applies to the key.
   */
  take(key: string, policy?: RatePolicy | null): RateDecision | undefined {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    const applied = policy === undefined ? (bucket?.policy ?? this.defaultPolicy) : policy;
    if (applied === null) return undefined;
    if (bucket === undefined) bucket = { tokens: applied.burst, at: now, policy: applied };
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(applied.burst, bucket.tokens + (elapsed * applied.ratePerSecond) / 1000);
    bucket.at = now;
    bucket.policy = applied;
    this.buckets.set(key, bucket);
    const rate = applied.ratePerSecond;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return {
        allowed: true,
        remaining: Math.floor(bucket.tokens),
        retryAfterSeconds: 0,
        resetSeconds: Math.ceil((applied.burst - bucket.tokens) / rate),
        policy: applied,
      };
    }
    const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
    return {
      allowed: false,
      remaining: 0,
      retryAfterSeconds: wait,
      resetSeconds: Math.max(wait, Math.ceil((applied.burst - bucket.tokens) / rate)),
      policy: applied,
    };
  }
}
