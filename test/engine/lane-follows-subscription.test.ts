import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from '#shared/db/knex';
import { cancelMessages } from '#shared/delivery/message-state';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

const ENV = { DELIVERY_TIMEOUT_MS: '2000', DELIVERY_LEASE: '4s', RECONCILE_INTERVAL: '500ms', RETRY_SCHEDULE: '30s,30s,30s' };
// The in-flight case holds its request a while: a timeout that does not end it first.
const HOLDING = { ...ENV, DELIVERY_TIMEOUT_MS: '5000', DELIVERY_LEASE: '6s' };

/**
 * A lane reads its subscription from the newest routing table before each exchange, so a change
 * stops what waits in the worker at once: first deliveries have no row to cancel or hold.
 */
describe("a worker's lane follows its subscription", () => {
  let ctx: TestContext;
  let worker: ChildProcess | null = null;
  let receiver: TestReceiver;
  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
  });
  afterEach(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    worker = null;
    await receiver.close();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  /** A subscription of its own installation, at a receiver of its own. */
  const subscribe = async (installation: string) => {
    receiver = await startReceiver();
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, installation, product);
    return insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: receiver.url, eventTypes: ['estate.updated'] });
  };

  /** deleteSubscription's transaction: soft-delete, cancel its open messages; how many it cancelled. */
  const deleteSubscription = (id: string) =>
    ctx.db.transaction(async (trx) => {
      await trx('subscriptions').where({ id }).update({ deleted_at: new Date() });
      return cancelMessages(trx, (q) => q.where({ subscription_id: id }));
    });

  /** Twelve events behind a rate limit of 1/s, then `change`: requests that came after it. */
  const backlogThen = async (installation: string, change: (subscriptionId: string, trx: Knex) => Promise<unknown>) => {
    const sub = await subscribe(installation);
    await ctx.db('subscriptions').where({ id: sub.id }).update({ rate_per_second: 1 });
    receiver.behave(() => ({ status: 200 }));
    worker = (await startWorkerProcess(ctx, ENV)).child;
    await publishEvents(ctx, Array.from({ length: 12 }, (_, i) => hubEvent(installation, 'estate.updated', { i })));
    await receiver.waitFor(2, 15_000);
    await change(sub.id, ctx.db);
    const atChange = receiver.requests.length;
    await new Promise((r) => setTimeout(r, 5000));
    const after = receiver.requests.length - atChange;
    const rows = await ctx.db('messages').where({ subscription_id: sub.id }).select('status');
    console.warn('requests at the change', atChange, 'requests after it', after, 'rows', rows.map((r) => r.status).join(','));
    return after;
  };

  it('a deleted subscription with a backlog of first deliveries gets no more requests', async () => {
    // At most one request may have been starting at the deletion.
    expect(await backlogThen('INSBL', (id) => deleteSubscription(id))).toBeLessThanOrEqual(1);
  }, 60_000);

  it('a paused subscription with a backlog gets no more requests', async () => {
    expect(await backlogThen('INSPB', (id, db) => db('subscriptions').where({ id }).update({ state: 'paused' }))).toBeLessThanOrEqual(1);
  }, 60_000);

  it('a first attempt that fails while its subscription is deleted leaves a cancelled message, not a pending one with a retry due', async () => {
    const sub = await subscribe('INSDL');
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    receiver.behave(async () => {
      await gate;
      return { status: 500 };
    });
    worker = (await startWorkerProcess(ctx, HOLDING)).child;
    const event = hubEvent('INSDL', 'estate.updated', { n: 1 });
    await publishEvents(ctx, [event]);
    await receiver.waitFor(1, 15_000);
    // None has a row yet: the deletion cancels nothing.
    const cancelled = await deleteSubscription(sub.id);
    release();
    await eventually(async () => (await ctx.db('messages').where('event_id', event.id)).length === 1, { timeoutMs: 15_000, everyMs: 50 });
    const row = await ctx.db('messages').where('event_id', event.id).first('status', 'next_attempt_at', 'attempts');
    console.warn('cancelled by deletion:', cancelled, 'row after the outcome:', row);
    expect(row.status).toBe('cancelled');
  }, 60_000);
});
