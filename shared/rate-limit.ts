import { createHash } from 'node:crypto';
import type { RedisConnection } from './queues/connection.ts';
import { RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import { parseDuration } from './duration.ts';
import { redisKeys } from './queues/redis-keys.ts';

/**
 * The api's rate limits: fixed windows counted in Redis by `rate-limiter-flexible`
 * (`RateLimiterRedis`), so every api process shares the counts. The first hit on a key starts
 * a window of the rule's length; each hit counts; past `limit` hits the caller is refused until
 * the window ends. Each count is one Redis key (`redisKeys(prefix).requestRate`), touched by
 * one script, so it works the same on one Redis and on a Redis Cluster.
 *
 * Failure policy: fail OPEN. If Redis errors or does not answer within `timeoutMs`, the hit is
 * allowed and `onError` is told. The limits here slow abuse down; the hard guarantees that
 * security relies on (a sign-in code's five tries, its expiry) are kept in Postgres.
 */

/** At most `limit` hits per `windowMs` (a whole number of seconds: Redis keeps the window in seconds). */
export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

/** The outcome of one hit. */
export interface RateLimitResult {
  allowed: boolean;
  /** Hits left in the current window (0 when refused). */
  remaining: number;
  /** Seconds until the window ends (at least 1). */
  retryAfterSeconds: number;
}

/** Options for `RateLimiter`. */
export interface RateLimiterOptions {
  /** A Redis client or a Cluster: the counts are single keys, so either serves. */
  redis: RedisConnection;
  /** Key prefix, e.g. the queue prefix, so tests and deployments do not share counts. */
  prefix: string;
  /** Give up on Redis after this long and allow the hit; default 1000 ms. */
  timeoutMs?: number;
  /** Told when Redis fails (the hit was allowed). */
  onError?: (err: Error) => void;
}

/** Parses a rule written `<limit>/<duration>`, e.g. `5/15m` or `100/1h`. */
export function parseRateLimit(text: string): RateLimitRule {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a rate limit such as 5/15m`);
  const limit = Number(match[1]);
  if (limit < 1) throw new Error(`"${text}": the limit must be at least 1`);
  const windowMs = parseDuration(match[2]!);
  if (windowMs < 1) throw new Error(`"${text}": the window must be longer than 0`);
  if (windowMs % 1000 !== 0) throw new Error(`"${text}": the window must be a whole number of seconds`);
  return { limit, windowMs };
}

/** The window in whole seconds, as rate-limiter-flexible counts it (a shorter one would never expire). */
const windowSeconds = (rule: RateLimitRule) => Math.max(1, Math.ceil(rule.windowMs / 1000));

/** Counts hits per (bucket, id) in Redis: one rate-limiter-flexible limiter per rule. */
export class RateLimiter {
  private readonly options: Required<Omit<RateLimiterOptions, 'onError'>> & Pick<RateLimiterOptions, 'onError'>;
  /** The limiters made so far, by rule (`limit/seconds`); a caller passes its rule on every hit. */
  private readonly limiters = new Map<string, RLWrapperTimeouts>();

  constructor(options: RateLimiterOptions) {
    this.options = { timeoutMs: 1_000, ...options };
  }

  private limiterFor(rule: RateLimitRule): RLWrapperTimeouts {
    const seconds = windowSeconds(rule);
    const name = `${rule.limit}/${seconds}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      // No keyPrefix: each hit names its whole key, so redisKeys stays the one place keys are shaped.
      // rejectIfRedisNotReady: while the connection is down a hit fails at once (and so opens),
      // instead of waiting the timeout and leaving a queued INCR to count late on reconnect.
      const store = new RateLimiterRedis({ storeClient: this.options.redis, keyPrefix: '', points: rule.limit, duration: seconds, rejectIfRedisNotReady: true });
      limiter = new RLWrapperTimeouts({ limiter: store, timeoutMs: this.options.timeoutMs });
      this.limiters.set(name, limiter);
    }
    return limiter;
  }

  /**
   * Counts one hit of `id` (an e-mail address, a client address) in `bucket` and says whether
   * it is within `rule`. The id is hashed into the key, so Redis holds no addresses.
   */
  async hit(bucket: string, id: string, rule: RateLimitRule): Promise<RateLimitResult> {
    const digest = createHash('sha256').update(id).digest('hex').slice(0, 32);
    const key = redisKeys(this.options.prefix).requestRate(bucket, digest);
    const toResult = (res: RateLimiterRes, allowed: boolean): RateLimitResult => ({
      allowed,
      remaining: allowed ? res.remainingPoints : 0,
      retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    });
    try {
      return toResult(await this.limiterFor(rule).consume(key), true);
    } catch (err) {
      // The library refuses with a RateLimiterRes; anything else is Redis failing (or too slow).
      if (err instanceof RateLimiterRes) return toResult(err, false);
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
      return { allowed: true, remaining: rule.limit, retryAfterSeconds: 1 };
    }
  }
}
