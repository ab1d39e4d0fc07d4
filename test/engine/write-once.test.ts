import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { messageIdFor } from '#shared/ids';
import { attemptLog } from '#api/messages/repository';
import type { AttemptRow } from '#shared/db/rows';
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
  // A test that failed before stopping its worker must not leave it taking the next test's events.
  afterEach(async () => {
    if (worker) await stopWorkerProcess(worker, 'SIGKILL');
    worker = null;
  });
  afterAll(async () => {
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

  it('a first try that succeeds is one row, inserted succeeded with its attempt in it and never updated', async () => {
    const subs = await subscribe('INSTW', 3, receiver.url);
    receiver.behave(() => ({ status: 200 }));
    worker = (await startWorkerProcess(ctx, ENV)).child;
    const before = await messageUpdates();
    const events = Array.from({ length: 40 }, (_, i) => hubEvent('INSTW', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const ids = events.map((e) => e.id);
    await eventually(async () => (await ctx.db('messages').whereIn('event_id', ids).where('status', 'succeeded')).length === 120, { timeoutMs: 30_000 });
    // Every event gives its lease up once its last message is written.
    await eventually(async () => (await ctx.db('event_leases').whereIn('event_id', ids)).length === 0, { timeoutMs: 10_000 });

    const messages = await ctx.db('messages').whereIn('event_id', ids);
    expect(messages).toHaveLength(120);
    for (const m of messages) {
      expect(m).toMatchObject({ status: 'succeeded', attempts: 1, lease_owner: null, next_attempt_at: null, last_status_code: 200 });
      expect(m.id).toBe(messageIdFor(m.event_id, m.subscription_id));
      expect(m.created_at).toEqual((await ctx.db('events').where({ id: m.event_id }).first('received_at')).received_at);
    }
    expect(new Set(messages.map((m) => m.subscription_id))).toEqual(new Set(subs));
    // Each first success lives in its message's row: no attempt row, yet the log lists one attempt each.
    const messageIds = messages.map((m) => m.id);
    expect(await ctx.db('attempts').whereIn('message_id', messageIds).count({ n: '*' }).first()).toEqual({ n: 0 });
    const logged: AttemptRow[] = await attemptLog(ctx.db).whereIn('a.message_id', messageIds);
    expect(logged).toHaveLength(120);
    for (const a of logged) expect(a).toMatchObject({ attempt: 1, outcome: 'success', status_code: 200, error: null, response_body_truncated: false });
    expect(new Set(logged.map((a) => a.id)).size).toBe(120);
    // And the receiver saw each message's id as its webhook-id.
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set(messages.map((m) => m.id)));
    // No message row was written twice: inserted in its final state, never moved from pending.
    expect((await messageUpdates()) - before).toBe(0);
    await stopWorkerProcess(worker, 'SIGTERM');
    worker = null;
  }, 60_000);

  it('with attempts kept for less time than messages, a first success is an attempt row of its own', async () => {
    await subscribe('INSTR', 2, receiver.url);
    receiver.behave(() => ({ status: 200 }));
    worker = (await startWorkerProcess(ctx, { ...ENV, RETENTION_ATTEMPTS: '7d' })).child;
    const events = Array.from({ length: 5 }, (_, i) => hubEvent('INSTR', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const ids = events.map((e) => e.id);
    await eventually(async () => (await ctx.db('messages').whereIn('event_id', ids).where('status', 'succeeded')).length === 10, { timeoutMs: 30_000 });
    const messages = await ctx.db('messages').whereIn('event_id', ids).select('id', 'first_attempt_id');
    expect(messages.every((m) => m.first_attempt_id === null)).toBe(true);
    expect(await ctx.db('attempts').whereIn('message_id', messages.map((m) => m.id)).count({ n: '*' }).first()).toEqual({ n: 10 });
    await stopWorkerProcess(worker, 'SIGTERM');
    worker = null;
  }, 60_000);

  it('the log shows a first success kept in its row as any attempt: the message, the subscription’s pages, its stats', async () => {
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'INSTL', product);
    const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?log`, eventTypes: ['estate.updated'] });
    // "flaky" fails its first request, then succeeds; the others succeed at once, with a body and a header of their own.
    let flakyTries = 0;
    receiver.behave((req) => {
      const { data } = JSON.parse(req.body) as { data: { n: number; flaky?: boolean } };
      if (data.flaky && flakyTries++ === 0) return { status: 500, body: 'try later' };
      return { status: 200, body: `thanks ${data.n}`, headers: { 'x-receipt': `r-${data.n}` } };
    });
    worker = (await startWorkerProcess(ctx, ENV)).child;
    const events = [1, 2, 3].map((n) => hubEvent('INSTL', 'estate.updated', { n }));
    const flaky = hubEvent('INSTL', 'estate.updated', { n: 4, flaky: true });
    await publishEvents(ctx, [...events, flaky]);
    await eventually(async () => (await ctx.db('messages').where('subscription_id', sub.id).where('status', 'succeeded')).length === 4, { timeoutMs: 30_000 });
    const get = async (path: string) => {
      const res = await ctx.request('GET', path, { token: partner.apiKey });
      expect(res.status, res.text).toBe(200);
      return res.body;
    };

    // Only the flaky message's two attempts are rows: its row was written with its first failure.
    const flakyId = messageIdFor(flaky.id, sub.id);
    expect(await ctx.db('attempts').where('subscription_id', sub.id).pluck('message_id')).toEqual([flakyId, flakyId]);

    const firstId = messageIdFor(events[0]!.id, sub.id);
    const message = await get(`/v1/messages/${firstId}`);
    expect(message).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(message.attemptLog).toHaveLength(1);
    expect(message.attemptLog[0]).toMatchObject({ attempt: 1, outcome: 'success', statusCode: 200, error: null, responseBody: 'thanks 1', responseBodyTruncated: false });
    expect(message.attemptLog[0].responseHeaders).toMatchObject({ 'x-receipt': 'r-1' });
    expect((await get(`/v1/messages/${flakyId}/attempts`)).data.map((a: { attempt: number; statusCode: number }) => [a.attempt, a.statusCode])).toEqual([
      [2, 200],
      [1, 500],
    ]);

    // The subscription's attempts, one a page, newest first: all five, each once, the same as unpaged.
    const all = (await get(`/v1/subscriptions/${sub.id}/attempts`)).data as { id: string; attemptedAt: string; messageId: string }[];
    expect(all).toHaveLength(5);
    const paged: typeof all = [];
    for (let cursor: string | null = null, pages = 0; pages < 10; pages++) {
      const page = await get(`/v1/subscriptions/${sub.id}/attempts?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.data);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(paged.map((a) => a.id)).toEqual(all.map((a) => a.id));
    expect(new Set(all.map((a) => a.id)).size).toBe(5);
    const times = all.map((a) => Date.parse(a.attemptedAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect((await get(`/v1/subscriptions/${sub.id}/attempts?statusClass=2xx`)).data).toHaveLength(4);
    expect(await get(`/v1/subscriptions/${sub.id}/stats`)).toMatchObject({ attempts: 5, successes: 4, failures: 1 });
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
      const leases = await ctx.db('event_leases').whereIn('event_id', ids);
      expect(leases).toHaveLength(5);
      // Each lists the subscriptions its event was sent to.
      expect(leases.every((l) => l.subscription_ids.length === 2)).toBe(true);
      const firstIds = hanging.requests.map((r) => r.headers['webhook-id']);

      await stopWorkerProcess(worker, 'SIGKILL');
      answering = true;
      worker = (await startWorkerProcess(ctx, ENV)).child;
      // The leases lapse; the reconciler fans the events out again.
      await eventually(async () => (await ctx.db('messages').whereIn('event_id', ids).where('status', 'succeeded')).length === 10, { timeoutMs: 30_000, everyMs: 100 });
      await eventually(async () => (await ctx.db('event_leases').whereIn('event_id', ids)).length === 0, { timeoutMs: 10_000 });

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
        await eventually(async () => (await ctx.db('event_leases').where('event_id', event.id)).length === 0, { timeoutMs: 10_000 });
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
