import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

const ENV = { DELIVERY_TIMEOUT_MS: '20000', RECONCILE_INTERVAL: '2s', RETRY_SCHEDULE: '30s,30s', MAX_IN_FLIGHT_PER_SUBSCRIPTION: '2' };

/**
 * The lanes hold what waits in a worker's memory, so a burst the receivers cannot take at once
 * must wait somewhere durable instead: as events not yet fanned out (DELIVERY_BACKLOG), or, for
 * the subscriptions furthest behind, as pending message rows that delivery jobs bring back.
 * Receivers here hold every request until released: nothing drains meanwhile.
 */
describe('backpressure: a burst waits in Postgres, not in the worker', () => {
  let ctx: TestContext;
  let worker: ChildProcess | null = null;
  const receivers: TestReceiver[] = [];
  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
  });
  afterEach(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    worker = null;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    await ctx.stop();
  });

  /** A receiver that holds every request until `release()`, then answers 200 at once. */
  const holdingReceiver = async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    receiver.behave(async () => {
      await released;
      return { status: 200 };
    });
    return { receiver, release };
  };

  /** Subscriptions of one product on `installation`, one per receiver url. */
  const subscribe = async (installation: string, urls: string[]) => {
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, installation, product);
    const subs = [];
    for (const url of urls) subs.push(await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url, eventTypes: ['estate.updated'] }));
    return subs;
  };

  /** The worker's hubhook_deliveries_waiting gauge: messages in its lanes, not started. */
  const waitingInWorker = async (metricsUrl: string) => {
    const text = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${ctx.config.operatorToken}` } })).text();
    const line = text.split('\n').find((l) => l.startsWith('hubhook_deliveries_waiting '));
    return Number(line!.split(' ')[1]);
  };

  it("a slow subscription's deep lane is written out to make room, and the fast one beside it gets everything meanwhile", async () => {
    const BACKLOG = 40;
    const slow = await holdingReceiver();
    const fast = await startReceiver();
    receivers.push(fast);
    const [slowSub] = await subscribe('INSBPL', [slow.receiver.url, fast.url]);
    worker = (await startWorkerProcess(ctx, { ...ENV, DELIVERY_BACKLOG: String(BACKLOG) })).child;
    // Two publishes of 100 events: fan-outs of 200 messages, 100 to each receiver, each larger
    // than the limit, so admitted once at most half of it waits.
    const started = Date.now();
    for (let b = 0; b < 2; b++) await publishEvents(ctx, Array.from({ length: 100 }, (_, i) => hubEvent('INSBPL', 'estate.updated', { i: b * 100 + i })));

    // Every event reached the fast receiver while the slow one answered nothing: the second
    // fan-out, after waiting 2 s, had the slow lane's newest written out to make room (the lane
    // keeps its next 4).
    await fast.waitFor(200, 30_000);
    console.warn(`the fast receiver had all 200 after ${Date.now() - started} ms`);
    expect(slow.receiver.requests.length).toBeLessThanOrEqual(2);
    const rows = await ctx.db('messages').where({ subscription_id: slowSub!.id }).select('status');
    console.warn(`slow subscription, before release: ${slow.receiver.requests.length} requests in flight, ${rows.length} message rows (${[...new Set(rows.map((r) => r.status))].join(',')})`);
    // Written out: what the second fan-out needed (the lane held 98 waiting, at most 20 may).
    expect(rows.length).toBeGreaterThanOrEqual(98 - BACKLOG / 2);
    expect(rows.every((r) => r.status === 'pending')).toBe(true);
    expect(Number((await ctx.db('events').where({ installation_id: 'INSBPL' }).whereNull('fanout_at').count({ n: '*' }).first())?.n)).toBe(0);

    slow.release();
    // Those written back come back within 30 s (the lane looked slow: nothing had answered).
    await eventually(async () => {
      const n = await ctx.db('messages').where({ subscription_id: slowSub!.id, status: 'succeeded' }).count({ n: '*' }).first();
      return Number(n?.n) === 200;
    }, { what: 'the slow subscription\'s 200 messages succeeded', timeoutMs: 90_000 });
    // Each message once (at least once allows more, but nothing here lost a lease).
    const ids = new Set(slow.receiver.requests.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(200);
  }, 150_000);

  it('fan-out takes its events only while their messages fit under DELIVERY_BACKLOG waiting in the lanes; the rest wait unfanned in Postgres, and all arrive once released', async () => {
    // Twenty lanes each keeping up to 4 (twice their cap of 2): nothing is deep enough to write
    // out, so the fan-out waits.
    const BACKLOG = 50;
    const SUBS = 20;
    const held = await Promise.all(Array.from({ length: SUBS }, () => holdingReceiver()));
    const subs = await subscribe('INSBPG', held.map((h) => h.receiver.url));
    const started = await startWorkerProcess(ctx, { ...ENV, DELIVERY_BACKLOG: String(BACKLOG) });
    worker = started.child;
    const metricsUrl = String(started.started.metrics);
    // One event per request: one event per fan-out job, of 20 messages.
    for (let i = 0; i < 100; i++) await publishEvents(ctx, [hubEvent('INSBPG', 'estate.updated', { i })]);

    // Each subscription has its 2 requests in flight; the lanes fill to the limit and the fan-out
    // then stops: a job's 20 messages are let in only while they fit under it.
    await eventually(async () => (await waitingInWorker(metricsUrl)) > BACKLOG - SUBS, { what: 'the lanes to fill', timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const waiting = await waitingInWorker(metricsUrl);
    const unfanned = Number((await ctx.db('events').where({ installation_id: 'INSBPG' }).whereNull('fanout_at').count({ n: '*' }).first())?.n);
    const rows = Number((await ctx.db('messages').whereIn('subscription_id', subs.map((s) => s.id)).count({ n: '*' }).first())?.n);
    console.warn(`before release: ${waiting} waiting in the worker's lanes, ${held.reduce((n, h) => n + h.receiver.requests.length, 0)} requests in flight, ${unfanned} of 100 events not fanned out yet, ${rows} message rows`);
    expect(waiting).toBeLessThanOrEqual(BACKLOG);
    // Fanned out: the events whose messages wait in the lanes or are in flight.
    expect(unfanned).toBeGreaterThanOrEqual(100 - (BACKLOG + 2 * SUBS) / SUBS);

    for (const h of held) h.release();
    const succeeded = async () => Number((await ctx.db('messages').whereIn('subscription_id', subs.map((s) => s.id)).where({ status: 'succeeded' }).count({ n: '*' }).first())?.n);
    await eventually(async () => (await succeeded()) === 100 * SUBS, { what: 'every message succeeded', timeoutMs: 60_000 });
    for (const h of held) expect(new Set(h.receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(100);
  }, 120_000);
});
