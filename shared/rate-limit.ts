import { createHash } from 'node:crypto';
import type { RedisConnection } from './queues/connection.ts';
import { parseDuration } from './duration.ts';
import { redisKeys } from './queues/redis-keys.ts';

/**
 * A fixed-window rate limiter over Redis: the first hit on a key starts a window of `windowMs`;
 * each hit counts; past `limit` hits the caller is refused until the window ends. Counts live
 * in Redis, so every api process shares them.
 *
 * Failure policy: fail OPEN. If Redis errors or does not answer within `timeoutMs`, the hit is
 * allowed and `onError` is told. The limits here slow abuse down; the hard guarantees that
 * security relies on (a sign-in code's five tries, its expiry) are kept in Postgres.
 */

/** At most `limit` hits per `windowMs`. */
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
  redis: RedisConnection;
  /** Key prefix, e.g. the queue prefix, so tests and deployments do not share counts. */
  prefix: string;
  /** Give up on Redis after this long and allow the hit; default 1000 ms. */
  timeoutMs?: number;
  /** Told when Redis fails (the hit was allowed). */
  onError?: (err: Error) => void;
}

// INCR, start the window on the first hit, and repair a key that lost its expiry.
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`;

/** Parses a rule written `<limit>/<duration>`, e.g. `5/15m` or `100/1h`. */
export function parseRateLimit(text: string): RateLimitRule {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a rate limit such as 5/15m`);
  const limit = Number(match[1]);
  if (limit < 1) throw new Error(`"${text}": the limit must be at least 1`);
  const windowMs = parseDuration(match[2]!);
  if (windowMs < 1) throw new Error(`"${text}": the window must be longer than 0`);
  return { limit, windowMs };
}

/** Counts hits per (bucket, id) in Redis. */
export class RateLimiter {
  private readonly options: Required<Omit<RateLimiterOptions, 'onError'>> & Pick<RateLimiterOptions, 'onError'>;

  constructor(options: RateLimiterOptions) {
    this.options = { timeoutMs: 1_000, ...options };
  }

  /**
   * Counts one hit of `id` (an e-mail address, a client address) in `bucket` and says whether
   * it is within `rule`. The id is hashed into the key, so Redis holds no addresses.
   */
  async hit(bucket: string, id: string, rule: RateLimitRule): Promise<RateLimitResult> {
    const digest = createHash('sha256').update(id).digest('hex').slice(0, 32);
    const key = redisKeys(this.options.prefix).requestRate(bucket, digest);
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = (await Promise.race([
        this.options.redis.eval(HIT_SCRIPT, 1, key, String(rule.windowMs)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`rate limiter: no answer from Redis within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
        }),
      ])) as [number, number];
      const [count, ttlMs] = answer;
      return {
        allowed: count <= rule.limit,
        remaining: Math.max(0, rule.limit - count),
        retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
      };
    } catch (err) {
      this.options.onError?.(err as Error);
      return { allowed: true, remaining: rule.limit, retryAfterSeconds: 1 };
    } finally {
      clearTimeout(timer);
    }
  }
}
