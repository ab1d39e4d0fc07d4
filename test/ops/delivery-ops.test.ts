import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';
import { runOps } from '../../scripts/ops.ts';

// Three tries in all (the first and two retries), quickly, so a message can die within a test.
const ENV = { RETRY_SCHEDULE: '100ms,100ms', DELIVERY_TIMEOUT_MS: '5000', DELIVERY_LEASE: '30s' };

/** The value of one series in a Prometheus text exposition (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(ctx: TestContext): Promise<string> {
  const res = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
  expect(res.status).toBe(200);
  return res.text;
}

async function ops(ctx: TestContext, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runOps(argv, { url: ctx.url, token: OPERATOR_TOKEN, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('operators repair deliveries: metrics, dead letters, replay, health, disable/enable', () => {
  let ctx: TestContext;
  const receivers: Record<'ok' | 'flaky' | 'dead' | 'gone', TestReceiver> = {} as never;
  const subs: Record<'ok' | 'flaky' | 'dead' | 'gone', { id: string; secret: string }> = {} as never;
  let partnerId: string;
  let deadMessageId: string;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    // One function, four event types: each subscription wants one, so each event goes to one receiver.
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated', 'estate.deleted', 'estate.archived'] });
    const partner = await insertPartner(ctx.db);
    partnerId = partner.partnerId;
    const product = await insertProduct(ctx.db, { partnerId: partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'OPSINST', product);
    const wants = { ok: 'estate.created', flaky: 'estate.updated', dead: 'estate.deleted', gone: 'estate.archived' } as const;
    for (const name of ['ok', 'flaky', 'dead', 'gone'] as const) {
      receivers[name] = await startReceiver();
      subs[name] = await insertSubscription(ctx.db, { partnerId, productId: product, functionKey: 'estates.read', url: receivers[name].url, eventTypes: [wants[name]] });
    }
    receivers.flaky.behave((_req, n) => ({ status: n <= 2 ? 500 : 200 }));
    receivers.dead.behave(() => ({ status: 500, body: 'down for maintenance' }));
    receivers.gone.behave(() => ({ status: 410 }));
  });
  afterAll(async () => {
    await Promise.all(Object.values(receivers).map((r) => r.close()));
    await ctx?.stop();
  });

  it('after a delivery run, /metrics shows the counters moved by exactly what happened', async () => {
    const before = await scrape(ctx);
    expect(sample(before, 'hubhook_deliveries_total{outcome="success"}')).toBeUndefined();

    const events = [
      hubEvent('OPSINST', 'estate.created'),
      hubEvent('OPSINST', 'estate.created'),
      hubEvent('OPSINST', 'estate.created'),
      hubEvent('OPSINST', 'estate.updated'),
      hubEvent('OPSINST', 'estate.deleted'),
      hubEvent('OPSINST', 'estate.archived'),
    ];
    expect(await publishEvents(ctx, events)).toEqual({ accepted: 6, duplicates: 0, rejected: [] });
    expect(await publishEvents(ctx, events.slice(0, 1))).toEqual({ accepted: 0, duplicates: 1, rejected: [] });

    // ok: 3 × 200. flaky: 500, 500, 200. dead: 500 × 3, then dead. gone: 410, dead and disabled.
    await eventually(async () => {
      const rows = await ctx.db('messages').whereIn('event_id', events.map((e) => e.id)).select('status');
      return rows.length === 6 && rows.every((r) => r.status === 'succeeded' || r.status === 'dead');
    });
    await eventually(async () => (await ctx.db('subscriptions').where({ id: subs.gone.id }).first('state')).state === 'disabled');
    expect(receivers.ok.requests).toHaveLength(3);
    expect(receivers.flaky.requests).toHaveLength(3);
    expect(receivers.dead.requests).toHaveLength(3);
    expect(receivers.gone.requests).toHaveLength(1);

    // The engine reports after each commit; the last batch may still be on its way to the observer.
    const text = await eventually(async () => {
      const t = await scrape(ctx);
      return sample(t, 'hubhook_deliveries_total{outcome="success"}') === 4 ? t : null;
    });
    expect(sample(text, 'hubhook_deliveries_total{outcome="success"}')).toBe(4); // 3 ok + the flaky one's third try
    expect(sample(text, 'hubhook_deliveries_total{outcome="failure"}')).toBe(5); // 2 flaky + 3 dead
    expect(sample(text, 'hubhook_deliveries_total{outcome="gone"}')).toBe(1);
    expect(sample(text, 'hubhook_deliveries_total{outcome="timeout"}')).toBeUndefined();
    expect(sample(text, 'hubhook_deliveries_total{outcome="error"}')).toBeUndefined();
    expect(sample(text, 'hubhook_delivery_attempt_duration_seconds_count{outcome="success"}')).toBe(4);
    expect(sample(text, 'hubhook_delivery_attempt_duration_seconds_count{outcome="failure"}')).toBe(5);
    expect(sample(text, 'hubhook_messages_dead_total')).toBe(2); // the dead receiver's and the 410's
    expect(sample(text, 'hubhook_subscriptions_disabled_total{reason="engine"}')).toBe(1);
    expect(sample(text, 'hubhook_events_ingested_total{result="accepted"}')).toBe(6);
    expect(sample(text, 'hubhook_events_ingested_total{result="duplicate"}')).toBe(1);
    expect(sample(text, 'hubhook_messages_created_total')).toBe(6);
    expect(sample(text, 'hubhook_fanout_lag_seconds_count')).toBe(6);
    expect(sample(text, 'hubhook_subscriptions{state="active"}')).toBe(3);
    expect(sample(text, 'hubhook_subscriptions{state="disabled"}')).toBe(1);
    expect(sample(text, 'hubhook_queue_jobs{queue="deliver",state="failed"}')).toBe(0);
  });

  it('lists dead letters with filters and pages', async () => {
    const all = await ctx.request('GET', '/v1/ops/dead-letters', { token: OPERATOR_TOKEN });
    expect(all.status).toBe(200);
    expect(all.body.data.map((d: { subscriptionId: string }) => d.subscriptionId).sort()).toEqual([subs.dead.id, subs.gone.id].sort());

    const mine = await ctx.request('GET', `/v1/ops/dead-letters?subscriptionId=${subs.dead.id}`, { token: OPERATOR_TOKEN });
    expect(mine.body.data).toHaveLength(1);
    const [dead] = mine.body.data;
    expect(dead).toMatchObject({
      subscriptionId: subs.dead.id,
      partnerId,
      eventType: 'estate.deleted',
      installationId: 'OPSINST',
      attempts: 3,
      lastStatusCode: 500,
      deadAt: expect.any(String),
    });
    deadMessageId = dead.id;

    const page = await ctx.request('GET', '/v1/ops/dead-letters?limit=1', { token: OPERATOR_TOKEN });
    expect(page.body.data).toHaveLength(1);
    const next = await ctx.request('GET', `/v1/ops/dead-letters?limit=1&cursor=${page.body.nextCursor}`, { token: OPERATOR_TOKEN });
    expect(next.body.data).toHaveLength(1);
    expect(next.body.nextCursor).toBeNull();
    expect(next.body.data[0].id).not.toBe(page.body.data[0].id);

    const future = await ctx.request('GET', `/v1/ops/dead-letters?since=${new Date(Date.now() + 60_000).toISOString()}`, { token: OPERATOR_TOKEN });
    expect(future.body.data).toEqual([]);

    const bad = await ctx.request('GET', '/v1/ops/dead-letters?subscriptionId=nope&since=yesterday', { token: OPERATOR_TOKEN });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['query.since', 'query.subscriptionId']);
  });

  it('shows subscription health: success rate, last success, failure streak, circuit; filtered', async () => {
    const res = await ctx.request('GET', '/v1/ops/subscriptions', { token: OPERATOR_TOKEN });
    expect(res.status).toBe(200);
    const byId = Object.fromEntries(res.body.data.map((s: { id: string }) => [s.id, s]));
    expect(byId[subs.ok.id].health).toMatchObject({ window: '24h', attempts: 3, successes: 3, successRate: 1, consecutiveFailures: 0, failingSince: null, circuit: 'closed' });
    expect(byId[subs.ok.id].health.lastSuccessAt).not.toBeNull();
    expect(byId[subs.flaky.id].health).toMatchObject({ attempts: 3, successes: 1, successRate: 0.3333, consecutiveFailures: 0, failingSince: null });
    expect(byId[subs.dead.id].health).toMatchObject({ attempts: 3, successes: 0, successRate: 0, lastSuccessAt: null, consecutiveFailures: 3, circuit: 'closed' });
    expect(byId[subs.dead.id].health.failingSince).not.toBeNull();
    expect(byId[subs.gone.id]).toMatchObject({ status: 'disabled', state: 'disabled', disabledReason: 'the receiver answered 410 Gone' });

    const failing = await ctx.request('GET', '/v1/ops/subscriptions?failing=true', { token: OPERATOR_TOKEN });
    expect(failing.body.data.map((s: { id: string }) => s.id).sort()).toEqual([subs.dead.id, subs.gone.id].sort());
    const disabled = await ctx.request('GET', '/v1/ops/subscriptions?status=disabled', { token: OPERATOR_TOKEN });
    expect(disabled.body.data.map((s: { id: string }) => s.id)).toEqual([subs.gone.id]);
    // The old name of the filter still works for one version.
    const old = await ctx.request('GET', '/v1/ops/subscriptions?state=disabled', { token: OPERATOR_TOKEN });
    expect(old.body.data.map((s: { id: string }) => s.id)).toEqual([subs.gone.id]);
    const bad = await ctx.request('GET', '/v1/ops/subscriptions?status=sleeping&window=forever', { token: OPERATOR_TOKEN });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['query.status', 'query.window']);

    const cli = await ops(ctx, ['subscriptions', '--failing']);
    expect(cli.code).toBe(0);
    expect(cli.out.split('\n')[0]).toMatch(/^id\s+status\s+url\s+success\s+attempts\s+lastSuccess\s+failures\s+circuit$/);
    expect(cli.out).toMatch(new RegExp(`${subs.dead.id}\\s+active\\s+\\S+\\s+0\\.0%\\s+3\\s+-\\s+3\\s+closed`));
  });

  it('replays a dead letter through the API: delivered, signed, same webhook-id, gone from the list', async () => {
    const firstTry = receivers.dead.requests[0]!;
    receivers.dead.behave(() => ({ status: 200 }));
    const unknown = 'msg_00000000000000000000';
    const res = await ctx.request('POST', '/v1/ops/dead-letters/replay', { token: OPERATOR_TOKEN, body: { messageIds: [deadMessageId, unknown] } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ replayed: 1, skipped: [unknown] });

    const [, , , replayed] = await receivers.dead.waitFor(4);
    expect(replayed!.headers['webhook-id']).toBe(firstTry.headers['webhook-id']);
    const payload = new Webhook(subs.dead.secret).verify(replayed!.body, replayed!.headers as Record<string, string>);
    expect(payload).toMatchObject({ type: 'estate.deleted', installationId: 'OPSINST' });
    await eventually(async () => (await ctx.db('messages').where({ id: deadMessageId }).first('status')).status === 'succeeded');
    const list = await ctx.request('GET', `/v1/ops/dead-letters?subscriptionId=${subs.dead.id}`, { token: OPERATOR_TOKEN });
    expect(list.body.data).toEqual([]);

    // Replaying it again does nothing: it is no longer a dead letter.
    const again = await ctx.request('POST', '/v1/ops/dead-letters/replay', { token: OPERATOR_TOKEN, body: { messageIds: [deadMessageId] } });
    expect(again.body).toEqual({ replayed: 0, skipped: [deadMessageId] });
    const audit = await ctx.db('audit_log').where({ action: 'dead_letters.replay' }).orderBy('id');
    expect(audit[0]).toMatchObject({ actor_type: 'operator', target_type: 'messages', data: { replayed: [deadMessageId] } });

    const bad = await ctx.request('POST', '/v1/ops/dead-letters/replay', { token: OPERATOR_TOKEN, body: { messageIds: [deadMessageId], subscriptionId: subs.dead.id } });
    expect(bad.status).toBe(400);
  });

  it('lists and replays dead letters through the command line, delivered to the receiver', async () => {
    receivers.dead.behave(() => ({ status: 503, body: 'again' }));
    const since = new Date(Date.now() - 1_000).toISOString();
    const event = hubEvent('OPSINST', 'estate.deleted');
    await publishEvents(ctx, [event]);
    const message = await eventually(async () => {
      const row = await ctx.db('messages').where({ event_id: event.id, status: 'dead' }).first('id');
      return row as { id: string } | undefined;
    });
    const requestsBefore = receivers.dead.requests.length;

    const listed = await ops(ctx, ['dead-letters', '--subscription', subs.dead.id]);
    expect(listed.code).toBe(0);
    const lines = listed.out.split('\n');
    expect(lines[0]).toMatch(/^id\s+subscriptionId\s+eventType\s+attempts\s+lastStatusCode\s+lastError\s+deadAt$/);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(new RegExp(`^${message.id}\\s+${subs.dead.id}\\s+estate\\.deleted\\s+3\\s+503\\s+`));

    receivers.dead.behave(() => ({ status: 204 }));
    const replay = await ops(ctx, ['replay', '--subscription', subs.dead.id, '--since', since]);
    expect(replay).toEqual({ code: 0, out: 'replayed 1 message(s)', err: '' });
    const got = await receivers.dead.waitFor(requestsBefore + 1);
    expect(JSON.parse(got[requestsBefore]!.body)).toMatchObject({ eventId: event.id });
    await eventually(async () => (await ctx.db('messages').where({ id: message.id }).first('status')).status === 'succeeded');
    expect((await ops(ctx, ['dead-letters', '--subscription', subs.dead.id])).out).toBe('no dead letters');

    const unknown = await ops(ctx, ['replay', '--subscription', 'sub_nope', '--since', since]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^400 validation_failed: .*\n {2}body/);
  });

  it('disables and enables a subscription: the partner is told, nothing is sent meanwhile, held messages go out after', async () => {
    // A message waiting on its retry when the operator disables the subscription: held, not lost.
    receivers.ok.behave(() => ({ status: 500 }));
    const waiting = hubEvent('OPSINST', 'estate.created');
    await publishEvents(ctx, [waiting]);
    await eventually(async () => (await ctx.db('messages').where({ event_id: waiting.id }).first('attempts'))?.attempts >= 1);

    const res = await ctx.request('POST', `/v1/ops/subscriptions/${subs.ok.id}/disable`, { token: OPERATOR_TOKEN, body: { reason: 'receiver leaks data' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: subs.ok.id, state: 'disabled', disabledReason: 'disabled by an operator: receiver leaks data' });
    const notice = await ctx.db('notifications').where({ partner_id: partnerId, kind: 'subscription_disabled' }).orderBy('created_at', 'desc').first();
    expect(notice.message).toBe(`Subscription ${subs.ok.id} was disabled: disabled by an operator: receiver leaks data`);
    await eventually(async () => (await ctx.db('messages').where({ event_id: waiting.id }).first('status')).status === 'held');
    const requestsWhileDisabled = receivers.ok.requests.length;

    // Disabling twice changes nothing and counts once.
    expect((await ctx.request('POST', `/v1/ops/subscriptions/${subs.ok.id}/disable`, { token: OPERATOR_TOKEN })).status).toBe(200);
    expect(sample(await scrape(ctx), 'hubhook_subscriptions_disabled_total{reason="operator"}')).toBe(1);

    receivers.ok.behave(() => ({ status: 200 }));
    const enabled = await ops(ctx, ['enable', subs.ok.id]);
    expect(enabled).toEqual({ code: 0, out: `subscription ${subs.ok.id} enabled`, err: '' });
    await receivers.ok.waitFor(requestsWhileDisabled + 1);
    await eventually(async () => (await ctx.db('messages').where({ event_id: waiting.id }).first('status')).status === 'succeeded');
    const view = await ctx.request('GET', '/v1/ops/subscriptions?state=active', { token: OPERATOR_TOKEN });
    expect(view.body.data.find((s: { id: string }) => s.id === subs.ok.id)).toMatchObject({ state: 'active', disabledReason: null, health: { failingSince: null } });

    const disabledByCli = await ops(ctx, ['disable', subs.flaky.id, '--reason', 'maintenance']);
    expect(disabledByCli).toEqual({ code: 0, out: `subscription ${subs.flaky.id} disabled`, err: '' });
    expect((await ctx.db('subscriptions').where({ id: subs.flaky.id }).first('state')).state).toBe('disabled');

    const audit = await ctx.db('audit_log').whereIn('action', ['subscription.disable', 'subscription.enable']).orderBy('id').select('action', 'target_id');
    expect(audit).toEqual([
      { action: 'subscription.disable', target_id: subs.ok.id },
      { action: 'subscription.enable', target_id: subs.ok.id },
      { action: 'subscription.disable', target_id: subs.flaky.id },
    ]);
  });

  it('refuses what it cannot do: unknown or malformed ids 404, a partner-paused subscription 409', async () => {
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    const paused = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: receivers.ok.url, eventTypes: ['estate.created'], state: 'paused' });
    const conflict = await ctx.request('POST', `/v1/ops/subscriptions/${paused.id}/enable`, { token: OPERATOR_TOKEN });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('subscription_paused');

    for (const id of ['sub_00000000000000000000', 'nope']) {
      for (const action of ['disable', 'enable']) {
        const res = await ctx.request('POST', `/v1/ops/subscriptions/${id}/${action}`, { token: OPERATOR_TOKEN });
        expect(res.status).toBe(404);
      }
    }
    const cli = await ops(ctx, ['enable', 'sub_00000000000000000000']);
    expect(cli).toEqual({ code: 1, out: '', err: '404 not_found: subscription sub_00000000000000000000 not found' });
    // Partners and the HUB cannot use any of it.
    for (const [method, path] of [
      ['GET', '/v1/ops/dead-letters'],
      ['POST', '/v1/ops/dead-letters/replay'],
      ['GET', '/v1/ops/subscriptions'],
      ['POST', `/v1/ops/subscriptions/${subs.ok.id}/disable`],
    ] as const) {
      expect((await ctx.request(method, path, { token: partner.apiKey })).status).toBe(403);
      expect((await ctx.request(method, path, { token: HUB_TOKEN })).status).toBe(403);
    }
  });
});
