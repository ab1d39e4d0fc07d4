import type { Logger } from '#shared/logger';
import type { Redis } from 'ioredis';
import { RateLimitedError } from '#shared/errors';
import { RateLimiter, type RateLimitRule } from '#shared/rate-limit';

/** Options for `createRateLimits`. */
export interface RateLimitsDeps {
  redis: Redis;
  config: { queuePrefix: string };
  logger: Logger;
}

/** A limiter that throws RateLimitedError (429 with Retry-After) past the rule. */
export interface RateLimits {
  /** Counts a hit of `id` in `bucket`; throws RateLimitedError when over `rule`. */
  enforce(bucket: string, id: string, rule: RateLimitRule): Promise<void>;
}

/**
 * The api's rate limits, in Redis under the queue prefix. Failure policy: fail open, with a
 * warning (see shared/rate-limit.ts).
 */
export function createRateLimits(deps: RateLimitsDeps): RateLimits {
  const limiter = new RateLimiter({
    redis: deps.redis,
    prefix: deps.config.queuePrefix,
    onError: (err) => deps.logger.warn({ err: err.message }, 'rate limiter unavailable; allowing the request'),
  });
  return {
    async enforce(bucket, id, rule) {
      const result = await limiter.hit(bucket, id, rule);
      if (!result.allowed) throw new RateLimitedError(result.retryAfterSeconds);
    },
  };
}
