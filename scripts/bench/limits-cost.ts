/**
 * What the lanes' exchanges with the shared limits cost, as in a fan-out of one event to many
 * subscriptions: `subscriptions` lanes each ask for one slot, then give it back with a success,
 * in waves of 200 lanes asking in the same event-loop turn (so they share script calls), for
 * `rounds` rounds. Prints, per exchange, this process's CPU (building, writing and reading the
 * script calls: the worker's side) and Redis's time in the script (`INFO commandstats`), against
 * a prefix of its own on the Redis of REDIS_URL (default the local one); its keys are deleted after.
 *
 *   node --conditions=source --import tsx scripts/bench/limits-cost.ts [subscriptions, default 10000] [rounds, default 3]
 */
import { Redis } from 'ioredis';
import { SubscriptionLimits, type Grants } from '#shared/delivery/limits';
import { randomText } from '#shared/ids';
import { deleteKeys, scanKeys } from '#shared/queues/connection';

const count = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 3);
const WAVE = 200;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `{limits_cost_${randomText(6)}}`;
const limits = new SubscriptionLimits(redis, prefix, { slotLeaseMs: 30_000 });
const subs = Array.from({ length: count }, (_, i) => ({ id: `sub_${i.toString(36).padStart(20, '0')}`, maxInFlight: 10, ratePerSecond: null }));

/** Redis's microseconds in EVALSHA and EVAL so far, and their calls. */
async function scriptTime(): Promise<{ usec: number; calls: number }> {
  const info = await redis.info('commandstats');
  let usec = 0;
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { usec, calls };
}

try {
  for (let round = 1; round <= rounds; round++) {
    const redisBefore = await scriptTime();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < subs.length; i += WAVE) {
      const wave = subs.slice(i, i + WAVE);
      const grants = await Promise.all(wave.map((s) => limits.exchange(s, [], 1)));
      await Promise.all(wave.map((s, j) => limits.exchange(s, [{ token: (grants[j]!.grant as Grants).tokens[0]!, outcome: 'success' }], 0)));
    }
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const redisAfter = await scriptTime();
    const exchanges = subs.length * 2;
    console.log(
      `round ${round}: ${exchanges} exchanges in ${redisAfter.calls - redisBefore.calls} script calls, wall ${wall.toFixed(0)} ms; ` +
        `per exchange: this process ${(((used.user + used.system) / exchanges)).toFixed(1)} µs CPU, Redis ${((redisAfter.usec - redisBefore.usec) / exchanges).toFixed(1)} µs in the script`,
    );
  }
} finally {
  await deleteKeys(redis, await scanKeys(redis, `${prefix}*`));
  redis.disconnect();
}
