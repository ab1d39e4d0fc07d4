import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelMessages } from '#shared/delivery/message-state';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

const ENV = { DELIVERY_TIMEOUT_MS: '5000', DELIVERY_LEASE: '6s', RECONCILE_INTERVAL: '500ms', RETRY_SCHEDULE: '30s,30s,30s' };

describe('subscription deleted while a first delivery is in flight', () => {
  let ctx: TestContext;
  let worker: ChildProcess | null = null;
  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
  });
  afterAll(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    await ctx.stop();
  });

  it('its failed first attempt does not leave a pending message (with a retry due) after the deletion cancelled the rest', async () => {
    const receiver = await startReceiver();
    try {
      const partner = await insertPartner(ctx.db);
      const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
      await insertActivation(ctx.db, 'INSDL', product);
      const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: receiver.url, eventTypes: ['estate.updated'] });
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => (release = r));
      receiver.behave(async () => {
        await gate;
        return { status: 500 };
      });
      worker = (await startWorkerProcess(ctx, ENV)).child;
      const event = hubEvent('INSDL', 'estate.updated', { n: 1 });
      await publishEvents(ctx, [event]);
      await receiver.waitFor(1, 15_000);
      // deleteSubscription's transaction: soft-delete, cancel the open messages (none have a row yet).
      const cancelled = await ctx.db.transaction(async (trx) => {
        await trx('subscriptions').where({ id: sub.id }).update({ deleted_at: new Date() });
        return cancelMessages(trx, (q) => q.where({ subscription_id: sub.id }));
      });
      release();
      await eventually(async () => (await ctx.db('messages').where('event_id', event.id)).length === 1, { timeoutMs: 15_000, everyMs: 50 });
      const row = await ctx.db('messages').where('event_id', event.id).first('status', 'next_attempt_at', 'attempts');
      console.warn('cancelled by deletion:', cancelled, 'row after the outcome:', row);
      expect(row.status).toBe('cancelled');
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
