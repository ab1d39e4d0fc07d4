import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageIdFor } from '#shared/ids';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// Short lease and reconcile interval, so a dead worker's deliveries are found again within seconds.
const ENV = { DELIVERY_TIMEOUT_MS: '1000', DELIVERY_LEASE: '2s', RECONCILE_INTERVAL: '500ms', RETRY_SCHEDULE: '1s,1s,1s' };
// The worker that dies holding requests: a timeout long enough that none ends before the SIGKILL, however loaded the machine.
const DYING = { ...ENV, DELIVERY_TIMEOUT_MS: '5000', DELIVERY_LEASE: '6s' };

/**
 * A message is written once, with its first outcome (issue 13): the fan-out sends first
 * deliveries without a row, under a lease on their event, and the attempt writer inserts each
 * row in its final state. These tests read Postgres's own counters and rows, not timings.
 */
describe('a message written once, with its first outcome', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  let worker: ChildProcess | null = null;

  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    receiver = await startReceiver();
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
  });
  afterAll(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    await receiver.close();
    await ctx.stop();
  });

  /** Rows updated in `messages` so far (every partition), as Postgres counts them. */
  const messageUpdates = async () => {
    await ctx.db.raw('select pg_stat_force_next_flush()');
    const { rows } = await ctx.db.raw(
      `select coalesce(sum(n_tup_upd), 0)::int as n from pg_stat_user_tables where schemaname = current_schema() and (relname = 'messages' or relname like 'messages\\_%')`,
    );
    return (rows as { n: number }[])[0]!.n;
  };

  const subscribe = async (installation: string, count: number, url: string) => {
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, installation, product);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${url}?s=${i}`, eventTypes: ['estate.updated'] });
      ids.push(sub.id);
    }
    return ids;
  };

  it('a first try that succeeds is one row, inserted succeeded and never updated, beside its attempt', async () => {
    const subs = await subscribe('INSTW', 3, receiver.url);
    receiver.behave(() => ({ status: 200 }));
    worker = (await startWorkerProcess(ctx, ENV)).child;
    const before = await messageUpdates();
    const events = Array.from({ length: 40 }, (_, i) => hubEvent('INSTW', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const ids = events.map((e) => e.id);
    await eventually(async () => (await ctx.db('messages').whereIn('event_id', ids).where('status', 'succeeded')).length === 120, { timeoutMs: 30_000 });
    // Every event gives its lease up once its last message is written.
    await eventually(async () => (await ctx.db('events').whereIn('id', ids).whereNotNull('deliveries_until')).length === 0, { timeoutMs: 10_000 });

    const messages = await ctx.db('messages').whereIn('event_id', ids);
    expect(messages).toHaveLength(120);
    for (const m of messages) {
      expect(m).toMatchObject({ status: 'succeeded', attempts: 1, lease_owner: null, next_attempt_at: null, last_status_code: 200 });
      expect(m.id).toBe(messageIdFor(m.event_id, m.subscription_id));
      expect(m.created_at).toEqual((await ctx.db('events').where({ id: m.event_id }).first('received_at')).received_at);
    }
    expect(new Set(messages.map((m) => m.subscription_id))).toEqual(new Set(subs));
    // One attempt row each, and the receiver saw each message's id as its webhook-id.
    expect(await ctx.db('attempts').whereIn('message_id', messages.map((m) => m.id)).count({ n: '*' }).first()).toEqual({ n: 120 });
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set(messages.map((m) => m.id)));
    // No message row was written twice: inserted in its final state, never moved from pending.
    expect((await messageUpdates()) - before).toBe(0);
    await stopWorkerProcess(worker, 'SIGTERM');
    worker = null;
  }, 60_000);

  it('a worker killed with first deliveries in flight: they are sent again under the same webhook-ids, each written once', async () => {
    const hanging = await startReceiver();
    try {
      await subscribe('INSTK', 2, hanging.url);
      // The first requests hang (the worker dies holding them); later ones are answered.
      let answering = false;
      hanging.behave(() => (answering ? { status: 200 } : new Promise(() => {})));
      worker = (await startWorkerProcess(ctx, DYING)).child;
      const events = Array.from({ length: 5 }, (_, i) => hubEvent('INSTK', 'estate.updated', { i }));
      await publishEvents(ctx, events);
      const ids = events.map((e) => e.id);
      await hanging.waitFor(10, 15_000);
      // In flight, not yet written: no row yet, each event leased.
      expect(await ctx.db('messages').whereIn('event_id', ids)).toHaveLength(0);
      expect(await ctx.db('events').whereIn('id', ids).whereNotNull('deliveries_until').whereNotNull('deliveries_owner')).toHaveLength(5);
      const firstIds = hanging.requests.map((r) => r.headers['webhook-id']);

      await stopWorkerProcess(worker, 'SIGKILL');
      answering = true;
      worker = (await startWorkerProcess(ctx, ENV)).child;
      // The leases lapse; the reconciler fans the events out again.
      await eventually(async () => (await ctx.db('messages').whereIn('event_id', ids).where('status', 'succeeded')).length === 10, { timeoutMs: 30_000, everyMs: 100 });
      await eventually(async () => (await ctx.db('events').whereIn('id', ids).whereNotNull('deliveries_until')).length === 0, { timeoutMs: 10_000 });

      const messages = await ctx.db('messages').whereIn('event_id', ids);
      expect(messages).toHaveLength(10);
      expect(messages.map((m) => [m.attempts, m.last_error])).toEqual(messages.map(() => [1, null]));
      const secondIds = hanging.requests.slice(10).map((r) => r.headers['webhook-id']);
      // The same ids both times, and each message's id is the one the receiver saw.
      expect(new Set(secondIds)).toEqual(new Set(firstIds));
      expect(new Set(messages.map((m) => m.id))).toEqual(new Set(firstIds));
      await stopWorkerProcess(worker, 'SIGTERM');
      worker = null;
    } finally {
      await hanging.close();
    }
  }, 90_000);

  it('a subscription made after an event was fanned out does not get it when the fan-out is made again', async () => {
    const hanging = await startReceiver();
    try {
      await subscribe('INSTN', 1, hanging.url);
      let answering = false;
      hanging.behave(() => (answering ? { status: 200 } : new Promise(() => {})));
      worker = (await startWorkerProcess(ctx, DYING)).child;
      const event = hubEvent('INSTN', 'estate.updated', { n: 1 });
      await publishEvents(ctx, [event]);
      await hanging.waitFor(1, 15_000);
      await stopWorkerProcess(worker, 'SIGKILL');
      // A second subscription, entitled to the event, made after its first fan-out.
      const late = await startReceiver();
      try {
        const first = await ctx.db('subscriptions').where('url', 'like', `${hanging.url}%`).first('partner_id', 'product_id');
        await insertSubscription(ctx.db, { partnerId: first.partner_id, productId: first.product_id, functionKey: 'estates.read', url: late.url, eventTypes: ['estate.updated'] });
        answering = true;
        worker = (await startWorkerProcess(ctx, ENV)).child;
        await eventually(async () => (await ctx.db('messages').where('event_id', event.id).where('status', 'succeeded')).length === 1, { timeoutMs: 30_000, everyMs: 100 });
        await eventually(async () => (await ctx.db('events').where('id', event.id).whereNotNull('deliveries_until')).length === 0, { timeoutMs: 10_000 });
        expect(await ctx.db('messages').where('event_id', event.id)).toHaveLength(1);
        expect(late.requests).toHaveLength(0);
      } finally {
        await late.close();
      }
      await stopWorkerProcess(worker, 'SIGTERM');
      worker = null;
    } finally {
      await hanging.close();
    }
  }, 90_000);
});
