import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscriber, insertSubscription, publishEvents } from '../support/fixtures.ts';

// Fast retries so a test can walk a message through its whole schedule.
const ENV = { RETRY_SCHEDULE: '200ms,200ms,200ms', DELIVERY_TIMEOUT_MS: '10000', DELIVERY_LEASE: '30s' };

describe('delivery engine, end to end', () => {
  let ctx: TestContext;
  const receivers: TestReceiver[] = [];
  const receiver = async () => {
    const r = await startReceiver();
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated', 'estate.deleted'], filterFields: ['departmentId', 'estateStatus'] });
    await insertFunction(ctx.db, { key: 'contacts.read', eventTypes: ['contact.created', 'contact.updated'] });
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await ctx.stop();
  });

  it('delivers to exactly the entitled receivers, signed, with filters respected', async () => {
    const a = await insertPartner(ctx.db);
    const b = await insertPartner(ctx.db);
    // A: estates in department D1 only; installed in INSTA.
    const productA = await insertProduct(ctx.db, { partnerId: a.partnerId, versions: [{ 'estates.read': { departmentId: ['D1'] } }] });
    await insertActivation(ctx.db, 'INSTA', productA);
    // B: all estates and contacts, restricted to INSTB, installed there and (not available) in INSTA.
    const productB = await insertProduct(ctx.db, { partnerId: b.partnerId, versions: [{ 'estates.read': {}, 'contacts.read': {} }], availability: { mode: 'restricted', installationIds: ['INSTB'] } });
    await insertActivation(ctx.db, 'INSTB', productB);
    await insertActivation(ctx.db, 'INSTA', productB);
    const ra = await receiver();
    const rbEstates = await receiver();
    const rbContacts = await receiver();
    const rUnwanted = await receiver();
    const subA = await insertSubscription(ctx.db, { partnerId: a.partnerId, productId: productA, functionKey: 'estates.read', url: ra.url, eventTypes: ['estate.created', 'estate.updated'] });
    const subB = await insertSubscription(ctx.db, { partnerId: b.partnerId, productId: productB, functionKey: 'estates.read', url: rbEstates.url, eventTypes: ['estate.created', 'estate.updated'] });
    const subBc = await insertSubscription(ctx.db, { partnerId: b.partnerId, productId: productB, functionKey: 'contacts.read', url: rbContacts.url, eventTypes: ['contact.created'] });
    // Paused: messages are kept, not sent.
    await insertSubscription(ctx.db, { partnerId: a.partnerId, productId: productA, functionKey: 'estates.read', url: rUnwanted.url, eventTypes: ['estate.created'], state: 'paused' });

    const events = [
      hubEvent('INSTA', 'estate.created', { departmentId: 'D1', estateStatus: 'sale' }), // A only (B not available in INSTA)
      hubEvent('INSTA', 'estate.created', { departmentId: 'D2' }), // nobody: A's filter says D1
      hubEvent('INSTB', 'estate.updated', { departmentId: 'D1' }), // B estates only (A not activated in INSTB)
      hubEvent('INSTB', 'estate.deleted', {}), // nobody: no subscription wants estate.deleted
      hubEvent('INSTB', 'contact.created', { contactId: 'C1' }), // B contacts
      hubEvent('INSTC', 'estate.created', { departmentId: 'D1' }), // nobody: not activated in INSTC
    ];
    expect(await publishEvents(ctx, events)).toEqual({ accepted: 6, duplicates: 0, rejected: [] });
    // Publishing again is idempotent: duplicates, no new messages.
    expect(await publishEvents(ctx, events.slice(0, 2))).toEqual({ accepted: 0, duplicates: 2, rejected: [] });

    const [gotA] = await ra.waitFor(1);
    const [gotB] = await rbEstates.waitFor(1);
    const [gotBc] = await rbContacts.waitFor(1);
    const verify = (secret: string, got: NonNullable<typeof gotA>) => new Webhook(secret).verify(got.body, got.headers as Record<string, string>) as Record<string, unknown>;
    expect(verify(subA.secret, gotA!)).toMatchObject({ eventId: events[0]!.id, installationId: 'INSTA', type: 'estate.created' });
    expect(verify(subB.secret, gotB!)).toMatchObject({ eventId: events[2]!.id, installationId: 'INSTB', type: 'estate.updated' });
    expect(verify(subBc.secret, gotBc!)).toMatchObject({ eventId: events[4]!.id, type: 'contact.created', data: { contactId: 'C1' } });
    // Nothing else arrives: the fan-out of this batch is complete once all its events are marked
    // and none holds a lease on first deliveries not yet written (each message is written with its first outcome).
    await eventually(
      async () =>
        (await ctx.db('events').whereIn('id', events.map((e) => e.id)).where((q) => q.whereNull('fanout_at').orWhereNotNull('deliveries_until'))).length === 0,
    );
    const messages = await ctx.db('messages').whereIn('event_id', events.map((e) => e.id));
    expect(messages).toHaveLength(4);
    expect(messages.filter((m) => m.status === 'held')).toHaveLength(1);
    await eventually(async () => (await ctx.db('messages').whereIn('event_id', events.map((e) => e.id)).where('status', 'succeeded')).length === 3);
    expect([ra, rbEstates, rbContacts].map((r) => r.requests.length)).toEqual([1, 1, 1]);
    expect(rUnwanted.requests).toHaveLength(0);
  });

  it('retries a 500 twice, then succeeds on the third attempt, with all three in the log', async () => {
    const r = await receiver();
    r.behave((_req, n) => (n <= 2 ? { status: 500, body: `failure ${n}` } : { status: 200, body: 'finally' }));
    const { partner: p, subscription: sub } = await insertSubscriber(ctx.db, { installationId: 'INSTR', url: r.url, eventTypes: ['estate.created'] });
    await publishEvents(ctx, [hubEvent('INSTR', 'estate.created', { n: 1 })]);
    const got = await r.waitFor(3);
    // Same message id on every retry: receivers de-duplicate on it.
    expect(new Set(got.map((g) => g.headers['webhook-id'])).size).toBe(1);

    const list = await eventually(async () => {
      const res = await ctx.request('GET', `/v1/subscriptions/${sub.id}/messages`, { token: p.apiKey });
      return res.body.data[0]?.status === 'succeeded' ? res.body : null;
    });
    const detail = await ctx.request('GET', `/v1/messages/${list.data[0].id}`, { token: p.apiKey });
    expect(detail.status).toBe(200);
    expect(detail.body.attempts).toBe(3);
    expect(detail.body.attemptLog.map((a: { outcome: string; statusCode: number; responseBody: string }) => [a.outcome, a.statusCode, a.responseBody])).toEqual([
      ['failure', 500, 'failure 1'],
      ['failure', 500, 'failure 2'],
      ['success', 200, 'finally'],
    ]);
    expect(detail.body.payload).toMatchObject({ type: 'estate.created', data: { n: 1 } });
    const stats = await ctx.request('GET', `/v1/subscriptions/${sub.id}/stats`, { token: p.apiKey });
    expect(stats.body).toMatchObject({ attempts: 3, successes: 1, failures: 2 });
  });

  it('disables a subscription whose receiver answers 410 Gone, and tells the partner', async () => {
    const r = await receiver();
    r.behave(() => ({ status: 410 }));
    const { partner: p, subscription: sub } = await insertSubscriber(ctx.db, { installationId: 'INSTG', url: r.url, eventTypes: ['estate.created'] });
    await publishEvents(ctx, [hubEvent('INSTG', 'estate.created')]);
    await r.waitFor(1);
    const row = await eventually(async () => {
      const s = await ctx.db('subscriptions').where({ id: sub.id }).first();
      return s.state === 'disabled' ? s : null;
    });
    expect(row.disabled_reason).toContain('410');
    const notice = await ctx.db('notifications').where({ partner_id: p.partnerId, kind: 'subscription_disabled' }).first();
    expect(notice.message).toContain(sub.id);
    // Later events do not go to a disabled subscription.
    await publishEvents(ctx, [hubEvent('INSTG', 'estate.created')]);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.requests).toHaveLength(1);
  });

  it('marks a message dead after the last retry fails, and resend delivers it', async () => {
    const r = await receiver();
    r.behave(() => ({ status: 503, body: 'down' }));
    const { partner: p, subscription: sub } = await insertSubscriber(ctx.db, { installationId: 'INSTD', url: r.url, eventTypes: ['estate.created'] });
    await publishEvents(ctx, [hubEvent('INSTD', 'estate.created')]);
    // 1 try + 3 retries.
    await r.waitFor(4);
    const dead = await eventually(async () => {
      const res = await ctx.request('GET', `/v1/subscriptions/${sub.id}/messages?status=dead`, { token: p.apiKey });
      return res.body.data[0] ?? null;
    });
    expect(dead.attempts).toBe(4);
    r.behave(() => ({ status: 204 }));
    const resend = await ctx.request('POST', `/v1/messages/${dead.id}/resend`, { token: p.apiKey });
    expect(resend.status).toBe(202);
    await r.waitFor(5);
    const detail = await eventually(async () => {
      const res = await ctx.request('GET', `/v1/messages/${dead.id}`, { token: p.apiKey });
      return res.body.status === 'succeeded' ? res.body : null;
    });
    expect(detail.attemptLog).toHaveLength(5);
    expect(detail.attemptLog[4]).toMatchObject({ outcome: 'success', statusCode: 204 });
  });

  it('does not let a hanging receiver slow the others', async () => {
    const p = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: p.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'INSTH', product);
    const fast = await receiver();
    const hanging = await receiver();
    const releases: (() => void)[] = [];
    hanging.behave(() => new Promise((resolve) => releases.push(() => resolve({ status: 200 }))));
    await insertSubscription(ctx.db, { partnerId: p.partnerId, productId: product, functionKey: 'estates.read', url: fast.url, eventTypes: ['estate.updated'] });
    await insertSubscription(ctx.db, { partnerId: p.partnerId, productId: product, functionKey: 'estates.read', url: hanging.url, eventTypes: ['estate.updated'] });

    // Baseline: the fast receiver's latency while the other receiver is idle.
    const measure = async (count: number) => {
      const before = fast.requests.length;
      const started = Date.now();
      await publishEvents(ctx, Array.from({ length: count }, (_, i) => hubEvent('INSTH', 'estate.updated', { i })));
      const got = (await fast.waitFor(before + count)).slice(before);
      return got.map((g) => g.receivedAt - started).sort((x, y) => x - y);
    };
    const hangingBefore = hanging.requests.length;
    const withHang = await measure(40);
    // The hanging receiver holds at most its in-flight cap (10) of its 40 messages; the rest wait their turn.
    await eventually(() => hanging.requests.length - hangingBefore === 10);
    expect(releases.length).toBe(10);
    // Every fast delivery finished while all of the hanging receiver's requests were still open.
    expect(await ctx.db('attempts').whereIn('subscription_id', ctx.db('subscriptions').where({ url: hanging.url }).select('id'))).toHaveLength(0);
    const p50 = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
    // Release the hanging receiver, then measure the same load with nobody hanging.
    for (const release of releases.splice(0)) release();
    hanging.behave(() => ({ status: 200 }));
    await hanging.waitFor(hangingBefore + 40);
    const baseline = await measure(40);
    console.warn(`fast receiver p50 latency: ${p50(withHang)} ms beside a hanging receiver, ${p50(baseline)} ms beside an idle one`);
    // Structural, not timed: the fast receiver never waited for the hanging one's 10 s timeout.
    expect(withHang[withHang.length - 1]!).toBeLessThan(10_000);
  });
});
