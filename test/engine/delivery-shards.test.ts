import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { deleteKeys, prefixKeys, scanKeys } from '#shared/queues/connection';
import { deliveryShards } from '#shared/queues/shards';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// DELIVERY_SHARDS above 1 on a single Redis (how a deployment prepares for a cluster): the same
// deliveries, the work under each shard's prefix. Runs everywhere; the cluster tests need redis-server.
const SHARDS = 4;
const ENV = { RETRY_SCHEDULE: '300ms,300ms', DELIVERY_SHARDS: String(SHARDS) };

describe('delivery shards on a single Redis', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.stop();
  });

  it('delivers and retries every subscription\'s messages through its own shard', async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'SHRD1', product);
    const subs: string[] = [];
    // Until every shard has a subscription.
    while (new Set(subs.map((id) => ctx.queues.shards.of(id))).size < SHARDS) {
      subs.push((await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?s=${subs.length}`, eventTypes: ['estate.updated'] })).id);
    }
    // One message in three fails its first try (too few to open a circuit): its retry goes
    // through its shard's retry schedule and deliver queue.
    const tries = new Map<string, number>();
    receiver.behave((req) => {
      const id = String(req.headers['webhook-id']);
      tries.set(id, (tries.get(id) ?? 0) + 1);
      return { status: tries.get(id) === 1 && tries.size % 3 === 0 ? 503 : 200 };
    });
    const events = Array.from({ length: 20 }, (_, i) => hubEvent('SHRD1', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const expected = events.length * subs.length;
    await eventually(async () => Number((await ctx.db('messages').where({ status: 'succeeded' }).count({ n: '*' }).first())?.n) === expected, { timeoutMs: 90_000, everyMs: 200 });
    const retried = (await ctx.db('messages').where('attempts', 2).select('subscription_id')).map((m: { subscription_id: string }) => ctx.queues.shards.of(m.subscription_id));
    const perShard = Array.from({ length: SHARDS }, (_, s) => retried.filter((x) => x === s).length);
    for (const n of perShard) expect(n).toBeGreaterThan(0);

    // Every shard's deliver queue carried jobs (BullMQ's keys under each shard's prefix), none under the plain prefix.
    for (const prefix of ctx.queues.shards.prefixes) expect((await scanKeys(ctx.redis, `${prefix}:deliver:*`)).length, prefix).toBeGreaterThan(0);
    expect(await scanKeys(ctx.redis, `${ctx.queuePrefix}:deliver:*`)).toEqual([]);
    console.warn(`${SHARDS} shards on one Redis: ${expected} messages to ${subs.length} subscriptions, retried per shard ${perShard.join('/')}; shard prefixes ${ctx.queues.shards.prefixes.join(' ')}`);
  }, 120_000);

  it('a worker told WORKER_SHARDS serves those shards only', async () => {
    const { child, started } = await startWorkerProcess(ctx, { WORKER_SHARDS: '1,3' });
    try {
      expect(started.deliveryShards).toEqual([1, 3]);
    } finally {
      await stopWorkerProcess(child, 'SIGTERM');
    }
  }, 60_000);
});

describe('changing DELIVERY_SHARDS on a running system', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  let worker: ChildProcess | null = null;
  const NEW_SHARDS = 3;
  // Retries wait 3 s, so some are still waiting in the old shard's schedule when its worker goes.
  const RUN = { RETRY_SCHEDULE: '3s,3s,3s', DELIVERY_TIMEOUT_MS: '2000', DELIVERY_LEASE: '3s', RECONCILE_INTERVAL: '1s' };

  beforeAll(async () => {
    ctx = await startTestContext({ env: { ...RUN, DELIVERY_SHARDS: '1' } });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    await receiver.close();
    // The new shards' keys too (the context knows only its own single shard).
    await deleteKeys(ctx.redis, await prefixKeys(ctx.redis, deliveryShards(ctx.queuePrefix, NEW_SHARDS), ctx.queuePrefix));
    await ctx.stop();
  });

  it('loses nothing: retries waiting in the old shard are re-enqueued into the new shards by the reconciler', async () => {
    await insertFunction(ctx.db, { key: 'contacts.read', eventTypes: ['contact.updated'] });
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'contacts.read': {} }] });
    await insertActivation(ctx.db, 'SHRD2', product);
    for (let i = 0; i < 3; i++) await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'contacts.read', url: `${receiver.url}?s=${i}`, eventTypes: ['contact.updated'] });
    // While the one-shard worker runs, one first try in three fails (too few to open a circuit).
    const tries = new Map<string, number>();
    let failing = true;
    receiver.behave((req) => {
      const id = String(req.headers['webhook-id']);
      tries.set(id, (tries.get(id) ?? 0) + 1);
      return { status: failing && tries.get(id) === 1 && tries.size % 3 === 0 ? 503 : 200 };
    });
    worker = (await startWorkerProcess(ctx, { ...RUN, DELIVERY_SHARDS: '1' })).child;
    const events = Array.from({ length: 30 }, (_, i) => hubEvent('SHRD2', 'contact.updated', { i }));
    await publishEvents(ctx, events);
    const expected = events.length * 3;
    const oldSchedule = `${ctx.queuePrefix}:retry-schedule`;
    await eventually(async () => (await ctx.redis.zcard(oldSchedule)) > 0, { what: 'retries waiting in the old shard', timeoutMs: 60_000, everyMs: 20 });
    await stopWorkerProcess(worker, 'SIGKILL');
    const waiting = await ctx.redis.zcard(oldSchedule);

    // The same system with three shards: the old shard's schedule is read by no one.
    failing = false;
    worker = (await startWorkerProcess(ctx, { ...RUN, DELIVERY_SHARDS: String(NEW_SHARDS) })).child;
    await eventually(async () => Number((await ctx.db('messages').where('status', 'succeeded').count({ n: '*' }).first())?.n) === expected, { what: `${expected} messages succeeded`, timeoutMs: 90_000, everyMs: 250 });
    expect(await ctx.redis.zcard(oldSchedule)).toBe(waiting);
    console.warn(`DELIVERY_SHARDS 1 -> ${NEW_SHARDS}: ${waiting} retries left behind in the old shard's schedule; all ${expected} messages succeeded through the new shards`);
    await stopWorkerProcess(worker, 'SIGTERM');
    worker = null;
  }, 150_000);
});
