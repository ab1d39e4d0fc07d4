import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

const ENV = { DELIVERY_TIMEOUT_MS: '1000', DELIVERY_LEASE: '2s', RECONCILE_INTERVAL: '500ms', RETRY_SCHEDULE: '1s,1s,1s' };
const DYING = { ...ENV, DELIVERY_TIMEOUT_MS: '5000', DELIVERY_LEASE: '6s' };

describe('re-derived first deliveries', () => {
  let ctx: TestContext;
  let worker: ChildProcess | null = null;
  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated', 'estate.created'] });
  });
  afterAll(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    await ctx.stop();
  });

  const crashThenRederive = async (installation: string, between: (subId: string) => Promise<void>, before?: (subId: string) => Promise<void>) => {
    const hanging = await startReceiver();
    try {
      const partner = await insertPartner(ctx.db);
      const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
      await insertActivation(ctx.db, installation, product);
      const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: hanging.url, eventTypes: ['estate.updated'] });
      if (before) await before(sub.id);
      let answering = false;
      hanging.behave(() => (answering ? { status: 200 } : new Promise(() => {})));
      worker = (await startWorkerProcess(ctx, DYING)).child;
      const event = hubEvent(installation, 'estate.updated', { n: 1 });
      await publishEvents(ctx, [event]);
      await hanging.waitFor(1, 15_000);
      await stopWorkerProcess(worker, 'SIGKILL');
      worker = null;
      await between(sub.id);
      answering = true;
      worker = (await startWorkerProcess(ctx, ENV)).child;
      // The lease lapses and the reconciler fans the event out again; wait until it is given up.
      await eventually(async () => (await ctx.db('event_leases').where('event_id', event.id).first()) === undefined, { timeoutMs: 30_000, everyMs: 100 });
      await new Promise((r) => setTimeout(r, 1500));
      const rows = await ctx.db('messages').where('event_id', event.id);
      await stopWorkerProcess(worker, 'SIGTERM');
      worker = null;
      return { rows, received: hanging.requests.length };
    } finally {
      await hanging.close();
    }
  };

  it('a subscription whose event types change after the crash still has the message it was sent (a row, at least)', async () => {
    const { rows, received } = await crashThenRederive('INSRA', async (subId) => {
      await ctx.db('subscriptions').where({ id: subId }).update({ event_types: ['estate.created'] });
    });
    console.warn('event-types case: rows', rows.length, 'requests seen', received);
    expect(rows).toHaveLength(1);
  }, 90_000);

  it('a subscription whose created_at (Postgres clock) is later than the worker clock of the first fan-out is not skipped on re-derivation', async () => {
    const { rows, received } = await crashThenRederive(
      'INSRB',
      async () => {},
      // Postgres's clock 60 s ahead of the worker's: the row says "made after the fan-out" though the fan-out sent it.
      async (subId) => {
        await ctx.db('subscriptions').where({ id: subId }).update({ created_at: ctx.db.raw("now() + interval '60 seconds'") });
      },
    );
    console.warn('clock case: rows', rows.length, 'requests seen', received);
    expect(rows).toHaveLength(1);
  }, 90_000);
});
