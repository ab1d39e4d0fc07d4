import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertFunction, insertPartner, insertSubscriber, publishEvents } from '../support/fixtures.ts';

// Operators set a ceiling on a subscription's requests per second; its partner may go lower, never higher.
describe('per-subscription rate limits', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  let apiKey: string;
  let otherKey: string;
  let subId: string;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true });
    receiver = await startReceiver();
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const owner = await insertSubscriber(ctx.db, { installationId: 'RATE1', url: receiver.url, eventTypes: ['estate.updated'] });
    apiKey = owner.partner.apiKey;
    subId = owner.subscription.id;
    otherKey = (await insertPartner(ctx.db)).apiKey;
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.stop();
  });

  const setCeiling = (value: unknown, id = subId) => ctx.request('PUT', `/v1/ops/subscriptions/${id}/rate-limit`, { token: OPERATOR_TOKEN, body: { maxRateLimitPerSecond: value } });
  const setOwn = (value: unknown, token = apiKey) => ctx.request('PATCH', `/v1/subscriptions/${subId}`, { token, body: { rateLimitPerSecond: value } });

  it('lets an operator set the ceiling and a partner stay under it', async () => {
    const set = await setCeiling(5);
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ id: subId, maxRateLimitPerSecond: 5, rateLimitPerSecond: null });

    const lower = await setOwn(3);
    expect(lower.status).toBe(200);
    expect(lower.body).toMatchObject({ rateLimitPerSecond: 3, maxRateLimitPerSecond: 5 });

    const higher = await setOwn(6);
    expect(higher.status).toBe(422);
    expect(higher.body.error).toMatchObject({ code: 'rate_limit_above_ceiling' });
    expect(higher.body.error.details[0].path).toBe('body.rateLimitPerSecond');
    expect((await ctx.request('GET', `/v1/subscriptions/${subId}`, { token: apiKey })).body.rateLimitPerSecond).toBe(3);

    // Lifting its own limit leaves the operator's ceiling in force.
    const lifted = await setOwn(null);
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ rateLimitPerSecond: null, maxRateLimitPerSecond: 5 });

    const audit = await ctx.db('audit_log').where({ target_id: subId }).whereIn('action', ['subscription.rate_limit', 'subscription.updated']).select('action');
    expect(audit.map((a) => a.action).sort()).toEqual(['subscription.rate_limit', 'subscription.updated', 'subscription.updated']);
  });

  it('refuses bad values naming the field, other partners, and unknown subscriptions', async () => {
    for (const bad of [0, 1.5, 'fast', 10_001]) {
      const own = await setOwn(bad);
      expect(own.status).toBe(400);
      expect(JSON.stringify(own.body)).toContain('rateLimitPerSecond');
      const ceiling = await setCeiling(bad);
      expect(ceiling.status).toBe(400);
      expect(JSON.stringify(ceiling.body)).toContain('maxRateLimitPerSecond');
    }
    expect((await ctx.request('PUT', `/v1/ops/subscriptions/${subId}/rate-limit`, { token: OPERATOR_TOKEN, body: {} })).status).toBe(400);
    expect((await setOwn(1, otherKey)).status).toBe(404);
    expect((await setCeiling(5, 'sub_doesnotexist')).status).toBe(404);
    expect((await ctx.request('PUT', `/v1/ops/subscriptions/${subId}/rate-limit`, { token: apiKey, body: { maxRateLimitPerSecond: 50 } })).status).toBe(403);
  });

  it('holds the workers to the lower of the two limits', async () => {
    await setCeiling(10);
    expect((await setOwn(4)).status).toBe(200);
    const before = receiver.requests.length;
    const events = Array.from({ length: 12 }, (_, i) => hubEvent('RATE1', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const got = (await receiver.waitFor(before + 12, 30_000)).slice(before);
    await eventually(async () => Number((await ctx.db('messages').where({ subscription_id: subId, status: 'succeeded' }).count({ n: '*' }).first())?.n) >= 12);
    // 12 requests at 4 per second: starts in three one-second windows at least (arrival times jitter a little).
    const spanMs = got[got.length - 1]!.receivedAt - got[0]!.receivedAt;
    console.warn(`rate limit 4/s: 12 requests over ${spanMs} ms`);
    expect(spanMs).toBeGreaterThanOrEqual(1_800);
  });
});
