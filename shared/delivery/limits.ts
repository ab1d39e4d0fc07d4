import { randomUUID } from 'node:crypto';
import type { RedisConnection } from '../queues/connection.ts';
import { redisKeys, type SubscriptionKeys } from '../queues/redis-keys.ts';
import { deliveryShards, type DeliveryShards } from '../queues/shards.ts';
import { BREAKER_LUA, breakerSettings, circuitState, type BreakerChange, type BreakerOptions, type BreakerSettings, type CircuitState } from './breaker.ts';

/** What a subscription may have: requests in flight at once, and requests started per second (null: no limit). */
export interface SubscriptionLimit {
  id: string;
  maxInFlight: number;
  ratePerSecond: number | null;
}

/** Most requests per second a rate limit may allow. */
export const MAX_RATE_PER_SECOND = 10_000;

/** The rate limit the engine enforces: the lower of the operator's ceiling and the partner's own; null when neither is set. */
export function effectiveRateLimit(row: { max_rate_per_second: number | null; rate_per_second: number | null }): number | null {
  const limits = [row.max_rate_per_second, row.rate_per_second].filter((v): v is number => v !== null);
  return limits.length === 0 ? null : Math.min(...limits);
}

/** A request may start: its slot is held under `token` until released or its lease runs out. */
export interface Grant {
  granted: true;
  token: string;
  /** True when this request is the half-open circuit's probe. */
  probe: boolean;
}

/**
 * A request may not start yet: `open` (circuit open, until `retryAt`), `probing` (a probe is in
 * flight), `cap` (the subscription's slots are all taken), `rate` (its rate limit is used up).
 */
export interface Denial {
  granted: false;
  reason: 'open' | 'probing' | 'cap' | 'rate';
  /** When asking again may succeed (ms); for `cap` the earliest slot lease end, a bound, not a promise. */
  retryAt: number;
}

/** How a finished request went, for the breaker: `none` when the receiver was not reached. */
export type RequestOutcome = 'success' | 'failure' | 'none';

// KEYS: slots, rate, breaker, window (one subscription, one hash tag).
// ARGV: now, token, cap, slot lease, rate per second (0: none), breaker key lifetime.
const ACQUIRE = `${BREAKER_LUA}
local now = tonumber(ARGV[1])
local token = ARGV[2]
local cap = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gate, until_ms = breaker_gate(KEYS[3], now)
if gate == 'open' or gate == 'probing' then return {0, gate, until_ms} end
if redis.call('ZCARD', KEYS[1]) >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 'cap', tonumber(first[2])}
end
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
  if redis.call('ZCARD', KEYS[2]) >= rate then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, 'rate', tonumber(first[2]) + 1000}
  end
  redis.call('ZADD', KEYS[2], now, token)
  redis.call('PEXPIRE', KEYS[2], 2000)
end
redis.call('ZADD', KEYS[1], now + lease, token)
redis.call('PEXPIRE', KEYS[1], lease + 1000)
if gate == 'probe' then breaker_take_probe(KEYS[3], now, token, lease, tonumber(ARGV[6])) end
return {1, gate, 0}`;

// KEYS: slots, breaker, window. ARGV: now, token, outcome, then the breaker's settings.
const RELEASE = `${BREAKER_LUA}
redis.call('ZREM', KEYS[1], ARGV[2])
return breaker_record(KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))`;

interface LimitCommands {
  hubhookLimitsAcquire(...args: (string | number)[]): Promise<[number, string, number]>;
  hubhookLimitsRelease(...args: (string | number)[]): Promise<BreakerChange>;
}

/** Options of SubscriptionLimits. */
export interface SubscriptionLimitsOptions {
  /** How long a slot is held if its worker never releases it (it died); must outlast a request. */
  slotLeaseMs: number;
  breaker?: BreakerOptions;
  /** The clock (ms); tests move it. */
  now?: () => number;
}

/**
 * The per-subscription limits every worker process shares through Redis: the cap on requests in
 * flight (slots with a lease, so a SIGKILLed worker's slots come back once the lease passes), the
 * optional rate limit (request starts in the last second), and the circuit breaker (`breaker.ts`).
 * One script decides a start atomically, one records its end; each touches one subscription's
 * keys, in one hash tag (`redis-keys.ts`).
 *
 * Failure policy: fail closed. A Redis error rejects `acquire` and the caller waits and asks
 * again, so no cap is exceeded while Redis is away; keys lost with Redis (emptied, restarted)
 * mean free slots and a closed circuit, which errs toward delivering.
 */
export class SubscriptionLimits {
  readonly breaker: BreakerSettings;
  private readonly redis: RedisConnection & LimitCommands;
  private readonly shards: DeliveryShards;
  private readonly now: () => number;

  /** `shards`: the delivery shards (a subscription's keys live under its shard's prefix), or a queue prefix (one shard). */
  constructor(
    redis: RedisConnection,
    shards: DeliveryShards | string,
    private readonly options: SubscriptionLimitsOptions,
  ) {
    this.breaker = breakerSettings(options.breaker);
    this.shards = typeof shards === 'string' ? deliveryShards(shards, 1) : shards;
    this.now = options.now ?? Date.now;
    const commands = redis as RedisConnection & Partial<LimitCommands>;
    if (!commands.hubhookLimitsAcquire) redis.defineCommand('hubhookLimitsAcquire', { numberOfKeys: 4, lua: ACQUIRE });
    if (!commands.hubhookLimitsRelease) redis.defineCommand('hubhookLimitsRelease', { numberOfKeys: 3, lua: RELEASE });
    this.redis = redis as RedisConnection & LimitCommands;
  }

  /** Asks for a slot to start one request to the subscription's receiver. */
  async acquire(limit: SubscriptionLimit): Promise<Grant | Denial> {
    const k = subscriptionKeys(this.shards, limit.id);
    const token = randomUUID();
    const [granted, gate, retryAt] = await this.redis.hubhookLimitsAcquire(
      k.slots,
      k.rate,
      k.breaker,
      k.window,
      this.now(),
      token,
      limit.maxInFlight,
      this.options.slotLeaseMs,
      limit.ratePerSecond ?? 0,
      this.breaker.maxCooldownMs * 2 + this.breaker.windowMs,
    );
    if (granted === 1) return { granted: true, token, probe: gate === 'probe' };
    return { granted: false, reason: gate as Denial['reason'], retryAt: Number(retryAt) };
  }

  /** Frees a request's slot and counts its outcome in the breaker; says what that did to the circuit. */
  async release(subscriptionId: string, token: string, outcome: RequestOutcome): Promise<BreakerChange> {
    const k = subscriptionKeys(this.shards, subscriptionId);
    const b = this.breaker;
    return this.redis.hubhookLimitsRelease(
      k.slots,
      k.breaker,
      k.window,
      this.now(),
      token,
      outcome,
      b.windowMs,
      b.buckets,
      b.minRequests,
      b.failureRatio,
      b.cooldownMs,
      b.maxCooldownMs,
    );
  }

  /** The subscription's circuit as every worker sees it. */
  async circuit(subscriptionId: string): Promise<CircuitState> {
    return (await readCircuits(this.redis, this.shards, [subscriptionId], this.now())).get(subscriptionId)!;
  }

  /** Requests of the subscription holding a slot now (for tests and views). */
  async inFlight(subscriptionId: string): Promise<number> {
    return this.redis.zcount(subscriptionKeys(this.shards, subscriptionId).slots, `(${this.now()}`, '+inf');
  }
}

/** A subscription's limit keys, under its shard's prefix (one hash tag, one slot). */
const subscriptionKeys = (shards: DeliveryShards, id: string): SubscriptionKeys => redisKeys(shards.prefixFor(id)).subscription(id);

/**
 * The circuits of subscriptions as every worker sees them (for views): one pipeline per shard,
 * since on a cluster a pipeline's keys must live on one node.
 */
export async function readCircuits(redis: RedisConnection, shards: DeliveryShards | string, ids: string[], now = Date.now()): Promise<Map<string, CircuitState>> {
  const split = typeof shards === 'string' ? deliveryShards(shards, 1) : shards;
  const circuits = new Map<string, CircuitState>();
  const byShard = new Map<number, string[]>();
  for (const id of ids) byShard.set(split.of(id), [...(byShard.get(split.of(id)) ?? []), id]);
  await Promise.all(
    [...byShard.values()].map(async (group) => {
      const pipeline = redis.pipeline();
      for (const id of group) pipeline.hmget(subscriptionKeys(split, id).breaker, 'state', 'open_until');
      const replies = (await pipeline.exec()) ?? [];
      group.forEach((id, i) => {
        const [err, fields] = replies[i] ?? [null, []];
        if (err) throw err;
        circuits.set(id, circuitState(fields as (string | null)[], now));
      });
    }),
  );
  return circuits;
}
