/**
 * Every Redis key hubhook builds itself (BullMQ builds its queues' keys from the same prefix).
 * One place, so that a key's shape and its hash tag are decided once.
 *
 * Redis Cluster puts a key in the slot of its first `{...}`, and a script or a multi-key command
 * must keep to one slot. The api's rate-limit keys live under the queue prefix (one key per
 * script). The retry schedule and a subscription's limit keys live under the prefix of the
 * subscription's delivery shard (`shards.ts`, e.g. `{hubhook:d1}`), whose tag comes first: the
 * shard's deliver queue, its retry schedule and its subscriptions' limits share one slot, and
 * every limits script touches one subscription's keys only. (The `{<subscriptionId>}` after the
 * prefix gives each subscription a slot of its own under a plain prefix on a single Redis.)
 */

/** The keys of one subscription's shared limits: in-flight slots, recent request starts, breaker. */
export interface SubscriptionKeys {
  /** Sorted set: slot token → lease expiry (ms). */
  slots: string;
  /** Sorted set: request token → start time (ms), the last second's requests. */
  rate: string;
  /** Hash: the breaker's state, open-until, cool-down and probe. */
  breaker: string;
  /** Hash: the breaker's window, success and failure counts per time bucket. */
  window: string;
}

/** The keys under one queue prefix. */
export function redisKeys(prefix: string) {
  return {
    /** The api's fixed-window counter of one (bucket, hashed client or address). */
    requestRate: (bucket: string, digest: string) => `${prefix}:rl:${bucket}:${digest}`,
    /** The retry schedule's sorted set (under a shard's prefix). */
    retrySchedule: `${prefix}:retry-schedule`,
    /** One subscription's limit keys (under its shard's prefix), all in one hash tag. */
    subscription(subscriptionId: string): SubscriptionKeys {
      const base = `${prefix}:limits:{${subscriptionId}}`;
      return { slots: `${base}:slots`, rate: `${base}:rate`, breaker: `${base}:breaker`, window: `${base}:window` };
    },
  };
}
