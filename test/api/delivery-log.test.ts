import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '#shared/ids';
import { startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { createSubscription, PUSHABLE, pushSetup, type TestPartner } from '../support/fixtures.ts';

/**
 * The delivery log through the real app: the attempt lists of a message and of a subscription,
 * the filters of the message and attempt lists, `hasMore`, and recover's `until`. The log is
 * written straight to the tables (no worker runs), so every figure is known.
 */
let ctx: TestContext;
let receiver: TestReceiver;
let partner: TestPartner & { productId: string };
let stranger: TestPartner & { productId: string };

beforeAll(async () => {
  ctx = await startTestContext();
  receiver = await startReceiver();
  partner = await pushSetup(ctx.db);
  stranger = await pushSetup(ctx.db);
});
afterAll(async () => {
  await receiver.close();
  await ctx.stop();
});

async function subscribe(): Promise<string> {
  return (await createSubscription(ctx, partner.apiKey, partner.productId, { functionKey: PUSHABLE, url: receiver.url })).id;
}

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms);

/** One event, its message to `subscriptionId`, and the attempts given (status code or null for a connection error), oldest first. */
async function logged(
  subscriptionId: string,
  options: { installationId?: string; type?: string; status: string; createdAt?: Date; attempts: (number | null)[] },
): Promise<{ eventId: string; messageId: string }> {
  const eventId = `evt-${newId('event')}`;
  const messageId = newId('message');
  const createdAt = options.createdAt ?? ago(HOUR);
  await ctx.db('events').insert({
    id: eventId,
    installation_id: options.installationId ?? 'MSVPAR',
    type: options.type ?? 'estate.updated',
    occurred_at: createdAt,
    data: {},
    received_at: createdAt,
    fanout_at: createdAt,
  });
  await ctx.db('messages').insert({
    id: messageId,
    event_id: eventId,
    subscription_id: subscriptionId,
    status: options.status,
    attempts: options.attempts.length,
    created_at: createdAt,
    next_attempt_at: options.status === 'pending' ? new Date(Date.now() + HOUR) : null,
  });
  if (options.attempts.length > 0) {
    await ctx.db('attempts').insert(
      options.attempts.map((code, i) => ({
        message_id: messageId,
        subscription_id: subscriptionId,
        attempt: i + 1,
        attempted_at: new Date(createdAt.getTime() + (i + 1) * 1000),
        duration_ms: 10,
        outcome: code !== null && code < 300 ? 'success' : 'failure',
        status_code: code,
        error: code === null ? 'timeout' : null,
      })),
    );
  }
  return { eventId, messageId };
}

describe('the delivery log', () => {
  let sub: string;
  let ok: { eventId: string; messageId: string };
  let dead: { eventId: string; messageId: string };
  let retrying: { eventId: string; messageId: string };

  beforeAll(async () => {
    sub = await subscribe();
    ok = await logged(sub, { type: 'estate.created', status: 'succeeded', createdAt: ago(3 * HOUR), attempts: [500, 200] });
    dead = await logged(sub, { status: 'dead', createdAt: ago(2 * HOUR), attempts: [null, 404, 503] });
    retrying = await logged(sub, { installationId: 'OTHERINST', status: 'pending', createdAt: ago(HOUR), attempts: [503] });
  });

  const get = (path: string, token = partner.apiKey) => ctx.request('GET', path, { token });

  it('pages through a message’s attempts, newest first, with hasMore beside nextCursor', async () => {
    const first = await get(`/v1/messages/${dead.messageId}/attempts?limit=2`);
    expect(first.status, first.text).toBe(200);
    expect(first.body.data.map((a: { attempt: number }) => a.attempt)).toEqual([3, 2]);
    expect(first.body.hasMore).toBe(true);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    expect(first.body.data[0]).toMatchObject({ messageId: dead.messageId, subscriptionId: sub, eventId: dead.eventId, statusCode: 503, outcome: 'failure' });
    const second = await get(`/v1/messages/${dead.messageId}/attempts?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((a: { attempt: number; error: string | null }) => [a.attempt, a.error])).toEqual([[1, 'timeout']]);
    expect(second.body).toMatchObject({ hasMore: false, nextCursor: null });
  });

  it('filters a message’s attempts by status class', async () => {
    const classes = async (statusClass: string) =>
      (await get(`/v1/messages/${dead.messageId}/attempts?statusClass=${statusClass}`)).body.data.map((a: { statusCode: number | null }) => a.statusCode);
    expect(await classes('4xx')).toEqual([404]);
    expect(await classes('5xx')).toEqual([503]);
    expect(await classes('error')).toEqual([null]);
    expect(await classes('2xx')).toEqual([]);
    const bad = await get(`/v1/messages/${dead.messageId}/attempts?statusClass=6xx`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('query.statusClass');
  });

  it('lists a subscription’s attempts, filtered by status class, event type, event id and installation', async () => {
    const all = await get(`/v1/subscriptions/${sub}/attempts`);
    expect(all.status, all.text).toBe(200);
    expect(all.body.data).toHaveLength(6);
    expect(all.body.hasMore).toBe(false);
    const ids = async (query: string) => (await get(`/v1/subscriptions/${sub}/attempts?${query}`)).body.data.map((a: { messageId: string; statusCode: number | null }) => [a.messageId, a.statusCode]);
    expect(await ids('statusClass=2xx')).toEqual([[ok.messageId, 200]]);
    expect(await ids('statusClass=5xx')).toEqual([
      [retrying.messageId, 503],
      [dead.messageId, 503],
      [ok.messageId, 500],
    ]);
    expect(await ids('eventType=estate.created')).toEqual([
      [ok.messageId, 200],
      [ok.messageId, 500],
    ]);
    expect(await ids(`eventId=${dead.eventId}&statusClass=4xx`)).toEqual([[dead.messageId, 404]]);
    expect(await ids('installationId=OTHERINST')).toEqual([[retrying.messageId, 503]]);
    expect(await ids(`until=${encodeURIComponent(ago(2.5 * HOUR).toISOString())}`)).toEqual([
      [ok.messageId, 200],
      [ok.messageId, 500],
    ]);
  });

  it('filters the message list by status (failed: retrying), event type, event id and installation', async () => {
    const ids = async (query: string) => (await get(`/v1/subscriptions/${sub}/messages?${query}`)).body.data.map((m: { id: string }) => m.id);
    expect(await ids('status=failed')).toEqual([retrying.messageId]);
    expect(await ids('status=dead')).toEqual([dead.messageId]);
    expect(await ids('status=succeeded')).toEqual([ok.messageId]);
    expect(await ids('eventType=estate.created')).toEqual([ok.messageId]);
    expect(await ids(`eventId=${dead.eventId}`)).toEqual([dead.messageId]);
    expect(await ids('installationId=OTHERINST')).toEqual([retrying.messageId]);
    const page = await get(`/v1/subscriptions/${sub}/messages?limit=2`);
    expect(page.body).toMatchObject({ hasMore: true, nextCursor: expect.any(String) });
  });

  it('answers 404 for another partner’s message or subscription', async () => {
    expect((await get(`/v1/messages/${dead.messageId}/attempts`, stranger.apiKey)).status).toBe(404);
    expect((await get(`/v1/subscriptions/${sub}/attempts`, stranger.apiKey)).status).toBe(404);
    expect((await get('/v1/messages/not-an-id/attempts')).status).toBe(404);
  });
});

describe('recover', () => {
  it('resends the failed and dead messages created between since and until', async () => {
    const sub = await subscribe();
    const old = await logged(sub, { status: 'dead', createdAt: ago(72 * HOUR), attempts: [500] });
    const inside = await logged(sub, { status: 'dead', createdAt: ago(30 * HOUR), attempts: [500] });
    const recent = await logged(sub, { status: 'dead', createdAt: ago(1 * HOUR), attempts: [500] });
    const res = await ctx.request('POST', `/v1/subscriptions/${sub}/recover`, {
      token: partner.apiKey,
      body: { since: ago(48 * HOUR).toISOString(), until: ago(12 * HOUR).toISOString() },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body).toEqual({ requeued: 1 });
    const statuses = Object.fromEntries(
      (await ctx.db('messages').whereIn('id', [old.messageId, inside.messageId, recent.messageId]).select('id', 'status')).map((r) => [r.id, r.status]),
    );
    expect(statuses).toEqual({ [old.messageId]: 'dead', [inside.messageId]: 'pending', [recent.messageId]: 'dead' });

    const backwards = await ctx.request('POST', `/v1/subscriptions/${sub}/recover`, {
      token: partner.apiKey,
      body: { since: ago(1 * HOUR).toISOString(), until: ago(2 * HOUR).toISOString() },
    });
    expect(backwards.status).toBe(400);
    expect(backwards.body.error.details[0].path).toBe('body.until');
  });
});
