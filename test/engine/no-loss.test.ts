import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// Short lease and reconcile interval, so lost work is found within seconds instead of a minute.
const ENV = { DELIVERY_TIMEOUT_MS: '2000', DELIVERY_LEASE: '3s', RECONCILE_INTERVAL: '1s', RETRY_SCHEDULE: '1s,1s,1s,1s,1s' };

describe('nothing accepted is lost', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  let worker: ChildProcess | null = null;

  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    await receiver.close();
    await ctx.stop();
  });

  it('delivers every message at least once across a SIGKILLed worker and an emptied Redis', async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'INSTL', product);
    const subscriptions = 4;
    for (let i = 0; i < subscriptions; i++) {
      await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?s=${i}`, eventTypes: ['estate.updated'] });
    }
    // A slow receiver keeps deliveries in flight when the worker dies.
    receiver.behave(() => new Promise((resolve) => setTimeout(() => resolve({ status: 200 }), 25)));

    worker = (await startWorkerProcess(ctx, ENV)).child;
    const events = Array.from({ length: 300 }, (_, i) => hubEvent('INSTL', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const expected = events.length * subscriptions;

    // Kill it mid-flight: some delivered, most not.
    await eventually(() => receiver.requests.length >= 50, { timeoutMs: 30_000, everyMs: 10 });
    await stopWorkerProcess(worker, 'SIGKILL');
    const deliveredBeforeCrash = receiver.requests.length;
    expect(deliveredBeforeCrash).toBeLessThan(expected);

    // Redis loses everything this system had in it.
    const keys = await ctx.redis.keys(`${ctx.queuePrefix}:*`);
    if (keys.length > 0) await ctx.redis.del(...keys);

    worker = (await startWorkerProcess(ctx, ENV)).child;
    await eventually(async () => (await ctx.db('messages').where('status', 'succeeded').count({ n: '*' }).first())?.n === expected, { timeoutMs: 90_000, everyMs: 250 });

    // Every (event, subscription) reached the receiver at least once.
    const seen = new Set(receiver.requests.map((r) => `${r.path}|${(JSON.parse(r.body) as { eventId: string }).eventId}`));
    expect(seen.size).toBe(expected);
    console.warn(`${expected} messages: ${deliveredBeforeCrash} received before the SIGKILL, ${receiver.requests.length} requests in all (duplicates are allowed: at least once)`);
    await stopWorkerProcess(worker, 'SIGTERM');
  }, 120_000);

  it('on SIGTERM finishes deliveries in flight and hands the rest back: each message arrives exactly once', async () => {
    await insertFunction(ctx.db, { key: 'contacts.read', eventTypes: ['contact.updated'] });
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'contacts.read': {} }] });
    await insertActivation(ctx.db, 'INSTT', product);
    const graceful = await startReceiver();
    try {
      graceful.behave(() => new Promise((resolve) => setTimeout(() => resolve({ status: 200 }), 25)));
      for (let i = 0; i < 4; i++) {
        await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'contacts.read', url: `${graceful.url}?s=${i}`, eventTypes: ['contact.updated'] });
      }
      worker = (await startWorkerProcess(ctx, ENV)).child;
      const events = Array.from({ length: 200 }, (_, i) => hubEvent('INSTT', 'contact.updated', { i }));
      await publishEvents(ctx, events);
      const expected = events.length * 4;
      await eventually(() => graceful.requests.length >= 50, { timeoutMs: 30_000, everyMs: 10 });
      expect(await stopWorkerProcess(worker, 'SIGTERM')).toBe(0);
      expect(graceful.requests.length).toBeLessThan(expected);

      worker = (await startWorkerProcess(ctx, ENV)).child;
      await eventually(
        async () => (await ctx.db('messages').whereIn('event_id', events.map((e) => e.id)).where('status', 'succeeded').count({ n: '*' }).first())?.n === expected,
        { timeoutMs: 60_000, everyMs: 250 },
      );
      const ids = graceful.requests.map((r) => r.headers['webhook-id']);
      expect(new Set(ids).size).toBe(expected);
      expect(ids).toHaveLength(expected);
      await stopWorkerProcess(worker, 'SIGTERM');
    } finally {
      await graceful.close();
    }
  }, 120_000);
});
