import { describe, expect, it } from 'vitest';
import { SLOTS, hashTagOf, keySlot } from './key-slot.ts';
import { deliveryShards, parseShardList, shardOf } from './shards.ts';

describe('key slots, as Redis Cluster computes them', () => {
  it('matches CLUSTER KEYSLOT on known keys and honours the first non-empty hash tag', () => {
    // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
    expect(keySlot('123456789')).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{user1000}.following')).toBe(3443);
    expect(hashTagOf('foo{}{bar}')).toBe('foo{}{bar}');
    expect(hashTagOf('foo{{bar}}zap')).toBe('{bar');
    expect(hashTagOf('{hubhook:d1}:deliver:wait')).toBe('hubhook:d1');
  });
});

describe('delivery shards', () => {
  it('keeps the queue prefix itself with one shard: a single-shard deployment keeps its keys', () => {
    expect(deliveryShards('{hubhook}', 1).prefixes).toEqual(['{hubhook}']);
    expect(deliveryShards('{hubhook}').prefixFor('sub_x')).toBe('{hubhook}');
  });

  it('gives each shard a hash tag of its own whose slot lies in its share of the slot space', () => {
    for (const count of [2, 3, 4, 6, 16, 64]) {
      const shards = deliveryShards('{hubhook}', count);
      expect(new Set(shards.prefixes).size).toBe(count);
      shards.prefixes.forEach((prefix, i) => {
        expect(prefix).toMatch(new RegExp(`^\\{hubhook:d${i}(\\.\\d+)?\\}$`));
        const slot = keySlot(`${prefix}:deliver:wait`);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * SLOTS) / count));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * SLOTS) / count));
      });
    }
    // A plain prefix gets a tag after it.
    expect(deliveryShards('hubhook', 2).prefixes[1]).toMatch(/^hubhook:\{d1(\.\d+)?\}$/);
  });

  it('maps a subscription to one shard, the same everywhere, and spreads subscriptions evenly', () => {
    expect(shardOf('sub_abc', 1)).toBe(0);
    expect(shardOf('sub_abc', 8)).toBe(shardOf('sub_abc', 8));
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[shardOf(`sub_${i.toString(36).padStart(8, 'x')}`, 8)]++;
    for (const n of counts) expect(n).toBeGreaterThan(800);
    const shards = deliveryShards('{hubhook}', 8);
    expect(shards.prefixFor('sub_abc')).toBe(shards.prefixes[shards.of('sub_abc')]);
  });

  it('parses WORKER_SHARDS lists and ranges, and refuses shards that do not exist', () => {
    expect(parseShardList('3, 0-1,1', 4)).toEqual([0, 1, 3]);
    expect(() => parseShardList('4', 4)).toThrow(/numbered 0 to 3/);
    expect(() => parseShardList('2-1', 4)).toThrow(/backwards/);
    expect(() => parseShardList('a', 4)).toThrow(/not a shard index/);
  });
});
