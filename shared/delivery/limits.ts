import { randomUUID } from 'node:crypto';
import { isCluster, type RedisConnection } from '../queues/connection.ts';
import { keySlot } from '../queues/key-slot.ts';
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

// One script serves the exchanges of many subscriptions at once (those asked in one turn of the
// event loop whose keys share a slot): one call, one round trip and one command for all of them.
// KEYS: per subscription four keys, slots, rate, breaker, window (one hash tag).
// ARGV: per subscription, the number N of its arguments, then its N arguments: now, cap, slot
// lease, rate per second (0: none), breaker key lifetime, the breaker's settings (window,
// buckets, min requests, ratio, cool-down, max cool-down), the number of releases R, the number
// of kept slots K, then R (token, outcome) pairs, K (token, outcome) pairs, then the tokens to
// grant (as many as wanted). Releases and kept slots first (each outcome counts in the breaker;
// a released slot is freed, a kept one's lease renewed), so the slots freed and the circuit
// change they make count for the grants; then as many grants as the breaker, the cap and the
// rate allow.
// Returns, per subscription in order, {granted, gate, retryAt, change}: gate the breaker's
// verdict after the outcomes (also when nothing was asked for), retryAt when none was granted
// (0 otherwise), change the most notable circuit change the outcomes made; or {'error', message}
// when its keys could not be worked (a key of the wrong type): that subscription's exchange
// fails alone, the others' stand.
const EXCHANGE = `${BREAKER_LUA}
-- One command for many members (Lua's unpack takes some thousands at most: 1000 a command).
local function in_chunks(cmd, key, flag, list)
  for i = 1, #list, 1000 do
    local last = math.min(i + 999, #list)
    if flag then redis.call(cmd, key, flag, unpack(list, i, last)) else redis.call(cmd, key, unpack(list, i, last)) end
  end
end
local function exchange(k_slots, k_rate, k_breaker, k_window, b, last)
  local now = tonumber(ARGV[b])
  local cap = tonumber(ARGV[b + 1])
  local lease = tonumber(ARGV[b + 2])
  local rate = tonumber(ARGV[b + 3])
  local keep = tonumber(ARGV[b + 4])
  local window_ms, buckets, min_requests = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6]), tonumber(ARGV[b + 7])
  local ratio, cooldown, max_cooldown = tonumber(ARGV[b + 8]), tonumber(ARGV[b + 9]), tonumber(ARGV[b + 10])
  local releases = tonumber(ARGV[b + 11])
  local kept = tonumber(ARGV[b + 12])
  local change = 'unchanged'
  -- Freed and renewed slots first (one command each way), then their outcomes, in order.
  if releases > 0 then
    local freed = {}
    for i = 0, releases - 1 do freed[#freed + 1] = ARGV[b + 13 + i * 2] end
    in_chunks('ZREM', k_slots, nil, freed)
  end
  if kept > 0 then
    local renewed = {}
    for i = releases, releases + kept - 1 do
      renewed[#renewed + 1] = now + lease
      renewed[#renewed + 1] = ARGV[b + 13 + i * 2]
    end
    in_chunks('ZADD', k_slots, 'XX', renewed)
    redis.call('PEXPIRE', k_slots, lease + 1000)
  end
  if releases + kept > 0 then
    change = breaker_record_all(k_breaker, k_window, now, b + 13, releases + kept, window_ms, buckets, min_requests, ratio, cooldown, max_cooldown)
  end
  local first_token = b + 13 + (releases + kept) * 2
  local want = last - first_token + 1
  local gate, until_ms = breaker_gate(k_breaker, now)
  if want <= 0 then return {0, gate, until_ms, change} end
  redis.call('ZREMRANGEBYSCORE', k_slots, '-inf', now)
  if gate == 'open' or gate == 'probing' then return {0, gate, until_ms, change} end
  local room = cap - redis.call('ZCARD', k_slots)
  if room <= 0 then
    local first = redis.call('ZRANGE', k_slots, 0, 0, 'WITHSCORES')
    return {0, 'cap', tonumber(first[2]), change}
  end
  if gate == 'probe' then room = 1 end
  if rate > 0 then
    redis.call('ZREMRANGEBYSCORE', k_rate, '-inf', now - 1000)
    local left = rate - redis.call('ZCARD', k_rate)
    if left <= 0 then
      local first = redis.call('ZRANGE', k_rate, 0, 0, 'WITHSCORES')
      return {0, 'rate', tonumber(first[2]) + 1000, change}
    end
    if left < room then room = left end
  end
  local n = math.min(want, room)
  local started, held = {}, {}
  for i = 0, n - 1 do
    local token = ARGV[first_token + i]
    started[#started + 1] = now
    started[#started + 1] = token
    held[#held + 1] = now + lease
    held[#held + 1] = token
  end
  if rate > 0 then
    in_chunks('ZADD', k_rate, nil, started)
    redis.call('PEXPIRE', k_rate, 2000)
  end
  in_chunks('ZADD', k_slots, nil, held)
  redis.call('PEXPIRE', k_slots, lease + 1000)
  if gate == 'probe' then breaker_take_probe(k_breaker, now, ARGV[first_token], lease, keep) end
  return {n, gate, 0, change}
end
local out = {}
local p = 1
for s = 1, #KEYS, 4 do
  local n = tonumber(ARGV[p])
  local ok, reply = pcall(exchange, KEYS[s], KEYS[s + 1], KEYS[s + 2], KEYS[s + 3], p + 1, p + n)
  if ok then out[#out + 1] = reply else out[#out + 1] = {'error', tostring(reply and (reply.err or reply))} end
  p = p + n + 1
end
return out`;

/** One subscription's part of the exchange script's reply (see EXCHANGE). */
type ExchangeReply = [number, string, number, BreakerChange] | ['error', string];

/** An exchange waiting for its turn's script call. */
interface Asked {
  keys: SubscriptionKeys;
  args: (string | number)[];
  resolve: (reply: [number, string, number, BreakerChange]) => void;
  reject: (err: Error) => void;
}

/** Most subscriptions one script call serves: a call keeps Redis busy for all of them at once. */
const MAX_EXCHANGES_PER_CALL = 100;

interface LimitCommands {
  hubhookLimitsExchange(numberOfKeys: number, ...args: (string | number)[]): Promise<ExchangeReply[]>;
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
 * one round trip per turn of a lane, each subscription's part touching its own keys only, in one
 * hash tag; the lanes that exchange in one turn of the event loop share one script call
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
  /** Exchanges asked this turn of the event loop, by the slot their keys are in (0 on a single Redis). */
  private readonly asked = new Map<number, Asked[]>();
  private flushScheduled = false;
  private readonly cluster: boolean;

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
    if (!commands.hubhookLimitsExchange) redis.defineCommand('hubhookLimitsExchange', { lua: EXCHANGE });
    this.cluster = isCluster(redis);
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
    for (const r of releases) args.push(r.token, r.outcome);
    for (const r of kept) args.push(r.token, r.outcome);
    for (const t of tokens) args.push(t);
    const [granted, gate, retryAt, change] = await this.ask(k, args);
    const grant: Grants | Denial =
      granted > 0
        ? { granted: true, tokens: tokens.slice(0, granted), probe: gate === 'probe' }
        : { granted: false, reason: (gate === 'closed' ? 'cap' : gate) as Denial['reason'], retryAt: Number(retryAt) };
    // A cap or rate denial comes from a closed circuit too.
    return { grant, change, closed: gate === 'closed' || gate === 'cap' || gate === 'rate' };
  }

  /**
   * Queues one subscription's exchange for the script call of this turn of the event loop: the
   * lanes that exchange in one turn share one call (per slot on a cluster, where one call's keys
   * must share a slot), rather than one command each.
   */
  private ask(keys: SubscriptionKeys, args: (string | number)[]): Promise<[number, string, number, BreakerChange]> {
    return new Promise((resolve, reject) => {
      const group = this.cluster ? keySlot(keys.slots) : 0;
      const asked = this.asked.get(group);
      if (asked) asked.push({ keys, args, resolve, reject });
      else this.asked.set(group, [{ keys, args, resolve, reject }]);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const asked of this.asked.values()) {
      for (let i = 0; i < asked.length; i += MAX_EXCHANGES_PER_CALL) this.call(asked.slice(i, i + MAX_EXCHANGES_PER_CALL));
    }
    this.asked.clear();
  }

  /** One script call for the asked exchanges; each gets its own part of the reply, or the call's error. */
  private call(asked: Asked[]): void {
    const argv: (string | number)[] = [];
    for (const a of asked) argv.push(a.keys.slots, a.keys.rate, a.keys.breaker, a.keys.window);
    for (const a of asked) {
      argv.push(a.args.length);
      for (const arg of a.args) argv.push(arg);
    }
    this.redis.hubhookLimitsExchange(asked.length * 4, ...argv).then(
      (replies) => {
        asked.forEach((a, i) => {
          const reply = replies[i];
          if (reply === undefined) a.reject(new Error('the limits script gave no reply for this subscription'));
          else if (reply[0] === 'error') a.reject(new Error(`the limits script failed for this subscription: ${reply[1]}`));
          else a.resolve(reply);
        });
      },
      (err: unknown) => {
        for (const a of asked) a.reject(err instanceof Error ? err : new Error(String(err)));
      },
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
