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

/** Slots granted at once to one subscription's lane, each held under its token. */
export interface Grants {
  granted: true;
  tokens: string[];
  /** True when the one token is the half-open circuit's probe. */
  probe: boolean;
}

/** A finished request's slot to free, with how it went. */
export interface SlotRelease {
  token: string;
  outcome: RequestOutcome;
}

/** What one exchange did: the slots granted (or why none), the circuit change the outcomes made, and whether the circuit is closed now. */
export interface Exchange {
  grant: Grants | Denial;
  change: BreakerChange;
  /** The circuit lets requests through freely (not open, half-open or probing) after this exchange. */
  closed: boolean;
}

// KEYS: slots, rate, breaker, window (one subscription, one hash tag).
// ARGV: now, cap, slot lease, rate per second (0: none), breaker key lifetime, the breaker's
// settings (window, buckets, min requests, ratio, cool-down, max cool-down), the number of
// releases R, the number of kept slots K, then R (token, outcome) pairs, K (token, outcome)
// pairs, then the tokens to grant (as many as wanted). Releases and kept slots first (each
// outcome counts in the breaker; a released slot is freed, a kept one's lease renewed), so the
// slots freed and the circuit change they make count for the grants; then as many grants as
// the breaker, the cap and the rate allow.
// Returns {granted, gate, retryAt, change}: gate the breaker's verdict after the outcomes
// (also when nothing was asked for), retryAt when none was granted (0 otherwise), change the
// most notable circuit change the outcomes made.
const EXCHANGE = `${BREAKER_LUA}
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
local releases = tonumber(ARGV[12])
local kept = tonumber(ARGV[13])
local change = 'unchanged'
for i = 0, releases + kept - 1 do
  local token = ARGV[14 + i * 2]
  if i < releases then
    redis.call('ZREM', KEYS[1], token)
  else
    redis.call('ZADD', KEYS[1], 'XX', now + lease, token)
  end
  local c = breaker_record(KEYS[3], KEYS[4], now, token, ARGV[15 + i * 2], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
  if c ~= 'unchanged' then change = c end
end
if kept > 0 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
local first_token = 14 + (releases + kept) * 2
local want = #ARGV - first_token + 1
local gate, until_ms = breaker_gate(KEYS[3], now)
if want <= 0 then return {0, gate, until_ms, change} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if gate == 'open' or gate == 'probing' then return {0, gate, until_ms, change} end
local room = cap - redis.call('ZCARD', KEYS[1])
if room <= 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 'cap', tonumber(first[2]), change}
end
if gate == 'probe' then room = 1 end
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
  local left = rate - redis.call('ZCARD', KEYS[2])
  if left <= 0 then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, 'rate', tonumber(first[2]) + 1000, change}
  end
  if left < room then room = left end
end
local n = math.min(want, room)
for i = 0, n - 1 do
  local token = ARGV[first_token + i]
  if rate > 0 then redis.call('ZADD', KEYS[2], now, token) end
  redis.call('ZADD', KEYS[1], now + lease, token)
end
if rate > 0 then redis.call('PEXPIRE', KEYS[2], 2000) end
redis.call('PEXPIRE', KEYS[1], lease + 1000)
if gate == 'probe' then breaker_take_probe(KEYS[3], now, ARGV[first_token], lease, keep) end
return {n, gate, 0, change}`;

interface LimitCommands {
  hubhookLimitsExchange(...args: (string | number)[]): Promise<[number, string, number, BreakerChange]>;
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
 * One script frees finished requests' slots and decides new starts atomically (`exchange`), in
 * one round trip per turn of a lane; it touches one subscription's keys, in one hash tag
 * (`redis-keys.ts`).
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
  /** Slot tokens: unique per process (a random prefix) and cheap to make (a counter). */
  private readonly tokenPrefix = `${randomUUID()}.`;
  private tokenCount = 0;

  /** How long a slot is held without a word from its worker. */
  readonly slotLeaseMs: number;

  /** `shards`: the delivery shards (a subscription's keys live under its shard's prefix), or a queue prefix (one shard). */
  constructor(
    redis: RedisConnection,
    shards: DeliveryShards | string,
    private readonly options: SubscriptionLimitsOptions,
  ) {
    this.slotLeaseMs = options.slotLeaseMs;
    this.breaker = breakerSettings(options.breaker);
    this.shards = typeof shards === 'string' ? deliveryShards(shards, 1) : shards;
    this.now = options.now ?? Date.now;
    const commands = redis as RedisConnection & Partial<LimitCommands>;
    if (!commands.hubhookLimitsExchange) redis.defineCommand('hubhookLimitsExchange', { numberOfKeys: 4, lua: EXCHANGE });
    this.redis = redis as RedisConnection & LimitCommands;
  }

  /** Asks for a slot to start one request to the subscription's receiver. */
  async acquire(limit: SubscriptionLimit): Promise<Grant | Denial> {
    const { grant } = await this.exchange(limit, [], 1);
    if (grant.granted) return { granted: true, token: grant.tokens[0]!, probe: grant.probe };
    return grant;
  }

  /** Frees a request's slot and counts its outcome in the breaker; says what that did to the circuit. */
  async release(subscriptionId: string, token: string, outcome: RequestOutcome): Promise<BreakerChange> {
    const { change } = await this.exchange({ id: subscriptionId, maxInFlight: 0, ratePerSecond: null }, [{ token, outcome }], 0);
    return change;
  }

  /**
   * One round trip for a subscription's lane: frees the slots of finished requests (counting
   * their outcomes in the breaker), renews the leases of `kept` slots (a finished request's
   * slot that passed to the lane's next message; its outcome counts too), then asks for up to
   * `want` slots. A lane sending many requests pays one round trip per turn instead of two per
   * request.
   */
  async exchange(limit: SubscriptionLimit, releases: SlotRelease[], want: number, kept: SlotRelease[] = []): Promise<Exchange> {
    const k = subscriptionKeys(this.shards, limit.id);
    const b = this.breaker;
    const tokens = Array.from({ length: want }, () => `${this.tokenPrefix}${(this.tokenCount++).toString(36)}`);
    const args: (string | number)[] = [
      k.slots,
      k.rate,
      k.breaker,
      k.window,
      this.now(),
      limit.maxInFlight,
      this.options.slotLeaseMs,
      limit.ratePerSecond ?? 0,
      b.maxCooldownMs * 2 + b.windowMs,
      b.windowMs,
      b.buckets,
      b.minRequests,
      b.failureRatio,
      b.cooldownMs,
      b.maxCooldownMs,
      releases.length,
      kept.length,
    ];
    for (const r of [...releases, ...kept]) args.push(r.token, r.outcome);
    args.push(...tokens);
    const [granted, gate, retryAt, change] = await this.redis.hubhookLimitsExchange(...args);
    const grant: Grants | Denial =
      granted > 0
        ? { granted: true, tokens: tokens.slice(0, granted), probe: gate === 'probe' }
        : { granted: false, reason: (gate === 'closed' ? 'cap' : gate) as Denial['reason'], retryAt: Number(retryAt) };
    // A cap or rate denial comes from a closed circuit too.
    return { grant, change, closed: gate === 'closed' || gate === 'cap' || gate === 'rate' };
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
