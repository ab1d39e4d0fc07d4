import type { Response } from 'express';
import type { Logger } from '#shared/logger';
import type { RedisConnection } from '#shared/queues/connection';
import { RateLimitedError } from '#shared/errors';
import { RateLimiter, type RateLimitRule } from '#shared/rate-limit';

/** Options for `createRateLimits`. */
export interface RateLimitsDeps {
  /** Any ioredis client, a Cluster too: each count is a single key. */
  redis: RedisConnection;
  config: { queuePrefix: string };
  logger: Logger;
}

/** A limiter that throws RateLimitedError (429 with Retry-After) past the rule. */
export interface RateLimits {
  /**
   * Counts a hit of `id` in `bucket` and, given the answer `res`, tells the caller where it
   * stands in its `RateLimit-*` headers; throws RateLimitedError when over `rule`.
   */
  enforce(bucket: string, id: string, rule: RateLimitRule, res?: Response): Promise<void>;
}

/**
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds), as the IETF
 * RateLimit header fields draft writes them. Of several limits on one request the headers show
 * the one with the fewest hits left: the one the caller will meet first. The OpenAPI document
 * lists them (docs/responses.ts) on the routes marked `rateLimited` and on bad-token answers.
 */
function setRateLimitHeaders(res: Response, rule: RateLimitRule, remaining: number, resetSeconds: number): void {
  const shown = res.get('ratelimit-remaining');
  if (shown !== undefined && Number(shown) <= remaining) return;
  res.set({ 'ratelimit-limit': String(rule.limit), 'ratelimit-remaining': String(remaining), 'ratelimit-reset': String(resetSeconds) });
}

/**
 * The api's rate limits, in Redis under the queue prefix (rate-limiter-flexible, see
 * shared/rate-limit.ts). One per app: `ApiRoutes.limits`. Failure policy: fail open, with a
 * warning.
 */
export function createRateLimits(deps: RateLimitsDeps): RateLimits {
  const limiter = new RateLimiter({
    redis: deps.redis,
    prefix: deps.config.queuePrefix,
    onError: (err) => deps.logger.warn({ err: err.message }, 'rate limiter unavailable; allowing the request'),
  });
  return {
    async enforce(bucket, id, rule, res) {
      const result = await limiter.hit(bucket, id, rule);
      if (res) setRateLimitHeaders(res, rule, result.remaining, result.retryAfterSeconds);
      if (!result.allowed) throw new RateLimitedError(result.retryAfterSeconds);
    },
  };
}
