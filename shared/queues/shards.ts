import { SLOTS, keySlot } from './key-slot.ts';

/**
 * Delivery shards. The delivery work (the deliver queue, the retry schedule, each subscription's
 * limit keys) is split into DELIVERY_SHARDS parts, each under a key prefix with a hash tag of its
 * own, so that on a Redis Cluster the masters share it. A subscription belongs to one shard, by
 * a stable hash of its id: its jobs, retries and limits always meet in one slot, so every
 * delivery job id stays unique within its shard and every limits script stays in one slot.
 *
 * One shard keeps the queue prefix itself (the keys a single-shard deployment always had). With
 * more, shard i's tag is the prefix's tag with `:d<i>` added, e.g. `{hubhook:d0}`; when that
 * tag's slot falls outside the i-th of DELIVERY_SHARDS equal ranges of the slot space, a
 * counter follows (`{hubhook:d1.7}`) until it falls inside. A cluster whose masters split the
 * slots evenly (as `redis-cli --cluster create` does) so gets an even share of shards per master.
 */
export interface DeliveryShards {
  count: number;
  /** The key prefix of each shard, by shard index. */
  prefixes: readonly string[];
  /** The shard of a subscription. */
  of(subscriptionId: string): number;
  /** The key prefix of a subscription's shard. */
  prefixFor(subscriptionId: string): string;
}

/** Most delivery shards a deployment may have. */
export const MAX_SHARDS = 256;

/** FNV-1a, 32 bits: a stable, fast hash of a subscription id (the same in every process and release). */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The shard of a subscription among `count`. */
export function shardOf(subscriptionId: string, count: number): number {
  return count <= 1 ? 0 : fnv1a(subscriptionId) % count;
}

/** Shard `index`'s prefix of `count` under the queue prefix `prefix`. */
export function shardPrefix(prefix: string, index: number, count: number): string {
  if (count <= 1) return prefix;
  const open = prefix.indexOf('{');
  const close = open === -1 ? -1 : prefix.indexOf('}', open + 1);
  const braced = close > open + 1;
  const make = (tag: string) => (braced ? `${prefix.slice(0, close)}:${tag}${prefix.slice(close)}` : `${prefix}:{${tag}}`);
  const low = Math.floor((index * SLOTS) / count);
  const high = Math.floor(((index + 1) * SLOTS) / count);
  for (let n = 0; n < 1_000_000; n++) {
    const candidate = make(n === 0 ? `d${index}` : `d${index}.${n}`);
    const slot = keySlot(candidate);
    if (slot >= low && slot < high) return candidate;
  }
  throw new Error(`no hash tag for shard ${index} of ${count}`);
}

/** The delivery shards of a deployment. */
export function deliveryShards(prefix: string, count = 1): DeliveryShards {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) throw new Error(`delivery shards must be 1 to ${MAX_SHARDS}, not ${count}`);
  const prefixes = Array.from({ length: count }, (_, i) => shardPrefix(prefix, i, count));
  return {
    count,
    prefixes,
    of: (subscriptionId) => shardOf(subscriptionId, count),
    prefixFor: (subscriptionId) => prefixes[shardOf(subscriptionId, count)]!,
  };
}

/**
 * Parses WORKER_SHARDS: shard indexes and ranges, `0,2,5-7`. Throws naming the bad entry.
 * Returns the indexes in order, each once.
 */
export function parseShardList(text: string, count: number): number[] {
  const found = new Set<number>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    const match = /^(\d+)(?:-(\d+))?$/.exec(entry);
    if (!match) throw new Error(`"${entry}" is not a shard index or a range such as 2-5`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) throw new Error(`"${entry}": the range runs backwards`);
    if (to >= count) throw new Error(`"${entry}": shards are numbered 0 to ${count - 1} (DELIVERY_SHARDS=${count})`);
    for (let i = from; i <= to; i++) found.add(i);
  }
  return [...found].sort((a, b) => a - b);
}
