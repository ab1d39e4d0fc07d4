import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedis } from '../queues/connection.ts';
import { randomText } from '../ids.ts';
import { RetrySchedule } from './retry-schedule.ts';

describe('RetrySchedule (real Redis)', () => {
  let redis: Redis;
  const prefix = `{t_${randomText(10)}}`;
  beforeAll(() => {
    redis = createRedis(inject('redisUrl'));
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('hands out only due retries, in due order, each once', async () => {
    const schedule = new RetrySchedule(redis, `${prefix}:a`);
    await schedule.add([
      { messageId: 'msg_b', subscriptionId: 'sub_a', attemptsMade: 2, dueAt: 2_000 },
      { messageId: 'msg_a', subscriptionId: 'sub_a', attemptsMade: 1, dueAt: 1_000 },
      { messageId: 'msg_c', subscriptionId: 'sub_a', attemptsMade: 1, dueAt: 9_000 },
    ]);
    expect(await schedule.popDue(5_000, 10)).toEqual([
      { messageId: 'msg_a', attemptsMade: 1 },
      { messageId: 'msg_b', attemptsMade: 2 },
    ]);
    expect(await schedule.popDue(5_000, 10)).toEqual([]);
    expect(await schedule.size()).toBe(1);
  });

  it('keeps one entry for the same retry scheduled twice', async () => {
    const schedule = new RetrySchedule(redis, `${prefix}:b`);
    await schedule.add([{ messageId: 'msg_a', subscriptionId: 'sub_a', attemptsMade: 1, dueAt: 1_000 }]);
    await schedule.add([{ messageId: 'msg_a', subscriptionId: 'sub_a', attemptsMade: 1, dueAt: 1_000 }]);
    expect(await schedule.size()).toBe(1);
  });

  it('never hands the same retry to two poppers', async () => {
    const schedule = new RetrySchedule(redis, `${prefix}:c`);
    await schedule.add(Array.from({ length: 1000 }, (_, i) => ({ messageId: `msg_${i}`, subscriptionId: 'sub_a', attemptsMade: 1, dueAt: 1 })));
    const popped = (await Promise.all(Array.from({ length: 8 }, () => schedule.popDue(10, 200)))).flat();
    expect(popped).toHaveLength(1000);
    expect(new Set(popped.map((p) => p.messageId)).size).toBe(1000);
  });

  it('costs far less Redis memory per retry than a delayed job (about 800 bytes)', async () => {
    const schedule = new RetrySchedule(redis, `${prefix}:d`);
    await schedule.add(Array.from({ length: 2000 }, (_, i) => ({ messageId: `msg_${randomText(20)}`, subscriptionId: 'sub_a', attemptsMade: i % 8, dueAt: Date.now() + i })));
    const bytes = Number(await redis.memory('USAGE', `${prefix}:d:retry-schedule`, 'SAMPLES', '0'));
    expect(bytes / 2000).toBeLessThan(200);
  });
});
