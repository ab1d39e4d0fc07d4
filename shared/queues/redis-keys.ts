/**
 * Every Redis key hubhook builds itself (BullMQ builds its queues' keys from the same prefix).
 * One place, so that a key's shape and its hash tag are decided once.
 *
 * Redis Cluster puts a key in the slot of its first `{...}`. A subscription's limit keys all
 * carry `{<subscriptionId>}` after the prefix, and every limits script touches the keys of one
 * subscription only, so each script stays in one slot: with a plain prefix (`hubhook`) each
 * subscription's keys get a slot of their own; with a braced prefix (`{hubhook}`, the default)
 * the prefix's tag comes first and every key shares its one slot.
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
    /** The retry schedule's sorted set. */
    retrySchedule: `${prefix}:retry-schedule`,
    /** One subscription's limit keys, all in one hash tag. */
    subscription(subscriptionId: string): SubscriptionKeys {
      const base = `${prefix}:limits:{${subscriptionId}}`;
      return { slots: `${base}:slots`, rate: `${base}:rate`, breaker: `${base}:breaker`, window: `${base}:window` };
    },
  };
}
