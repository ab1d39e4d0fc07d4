import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster, type LocalRedisCluster } from '../scripts/lib/redis-cluster.ts';
import { randomText } from './ids.ts';
import { RateLimiter, parseRateLimit } from './rate-limit.ts';

describe('parseRateLimit', () => {
  it('reads <count>/<duration>', () => {
    expect(parseRateLimit('5/15m')).toEqual({ limit: 5, windowMs: 900_000 });
    expect(parseRateLimit(' 100 / 1h ')).toEqual({ limit: 100, windowMs: 3_600_000 });
  });

  it.each(['5', '0/1m', 'x/1m', '5/soon', '5/0s', '5/1500ms', ''])('refuses %j', (text) => {
    expect(() => parseRateLimit(text)).toThrow();
  });
});

describe('RateLimiter (rate-limiter-flexible) over a real Redis', () => {
  let redis: Redis;
  const prefix = `{rl_${randomText(8)}}`;

  // Connected first: while the connection is not ready a hit fails open at once (rejectIfRedisNotReady).
  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
    await redis.ping();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('allows up to the limit, then refuses with the time left in the window', async () => {
    const limiter = new RateLimiter({ redis, prefix });
    const rule = { limit: 3, windowMs: 60_000 };
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await limiter.hit('a', 'client-1', rule));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0, 0]);
    expect(results[3]!.retryAfterSeconds).toBeGreaterThan(0);
    expect(results[3]!.retryAfterSeconds).toBeLessThanOrEqual(60);
  });

  it('counts each id and each bucket apart', async () => {
    const limiter = new RateLimiter({ redis, prefix });
    const rule = { limit: 1, windowMs: 60_000 };
    expect((await limiter.hit('b', 'x', rule)).allowed).toBe(true);
    expect((await limiter.hit('b', 'x', rule)).allowed).toBe(false);
    expect((await limiter.hit('b', 'y', rule)).allowed).toBe(true);
    expect((await limiter.hit('c', 'x', rule)).allowed).toBe(true);
  });

  it('starts a new window once the old one has ended', async () => {
    const limiter = new RateLimiter({ redis, prefix });
    // Windows are whole seconds (Redis keeps them so): the shortest is one.
    const rule = { limit: 1, windowMs: 1_000 };
    expect((await limiter.hit('d', 'x', rule)).allowed).toBe(true);
    expect((await limiter.hit('d', 'x', rule)).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await limiter.hit('d', 'x', rule)).allowed).toBe(true);
  });

  it('keeps each count in one key under the prefix, with the window as its expiry', async () => {
    const limiter = new RateLimiter({ redis, prefix });
    await limiter.hit('g', 'x', { limit: 5, windowMs: 60_000 });
    const keys = await redis.keys(`${prefix}:rl:g:*`);
    expect(keys).toHaveLength(1);
    expect(await redis.get(keys[0]!)).toBe('1');
    const ttl = await redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('keeps no address in Redis keys', async () => {
    const limiter = new RateLimiter({ redis, prefix });
    await limiter.hit('e', 'someone@example.com', { limit: 5, windowMs: 60_000 });
    const keys = await redis.keys(`${prefix}:rl:e:*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain('someone');
  });

  it('fails open, and says so, when Redis does not answer', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: () => 50 });
    dead.on('error', () => {});
    const errors: Error[] = [];
    const limiter = new RateLimiter({ redis: dead, prefix, timeoutMs: 200, onError: (err) => errors.push(err) });
    const result = await limiter.hit('f', 'x', { limit: 1, windowMs: 60_000 });
    expect(result.allowed).toBe(true);
    expect(errors).toHaveLength(1);
    dead.disconnect();
  });
});

describe('RateLimiter on a Redis Cluster (a private one)', () => {
  let cluster: LocalRedisCluster;
  let client: Cluster;
  // No hash tag: every count lands in the slot of its own key, so counts spread over the masters.
  const prefix = `rl_${randomText(8)}`;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 0 });
    client = new Cluster(cluster.nodes.map((n) => ({ host: n.host, port: n.port })));
    await client.ping();
  }, 120_000);
  afterAll(async () => {
    await client?.quit();
    await cluster?.stop();
  });

  it('counts each (bucket, id) in one key of its own slot, whichever master holds it', async () => {
    const limiter = new RateLimiter({ redis: client, prefix, onError: (err) => { throw err; } });
    const rule = { limit: 2, windowMs: 60_000 };
    const ids = Array.from({ length: 12 }, (_, i) => `client-${i}`);
    for (const id of ids) {
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await limiter.hit('cluster', id, rule));
      expect(answers.map((a) => a.allowed), id).toEqual([true, true, false]);
      expect(answers[2]!.retryAfterSeconds).toBeGreaterThan(0);
    }
    // The keys are spread: more than one master holds some.
    const holders = await Promise.all(client.nodes('master').map(async (node) => (await node.keys(`${prefix}:rl:cluster:*`)).length));
    expect(holders.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(holders.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
