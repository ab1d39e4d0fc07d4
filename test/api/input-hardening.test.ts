/**
 * Input that used to answer 500 (or 202 and then nothing): each is now a 4xx naming the field,
 * or, for a HUB batch, the bad events are named and the good ones taken. One test per input.
 * (An event for a lower-case installation id is delivered: test/engine/smoke.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createPartner, hubEvent, insertFunction, insertProduct, insertSubscription, type TestPartner } from '../support/fixtures.ts';

/** JSON text nested `depth` arrays deep (JSON.stringify would overflow building it). */
const deepJson = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('input no route may take', () => {
  let ctx: TestContext;
  let partner: TestPartner;
  let subscriptionId: string;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { RATE_LIMIT_AUTH_PER_CLIENT: '1000/15m' } });
    partner = await createPartner(ctx);
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated'] });
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    ({ id: subscriptionId } = await insertSubscription(ctx.db, {
      partnerId: partner.partnerId,
      productId,
      functionKey: 'estates.read',
      url: 'https://receiver.example.com/hook',
      eventTypes: ['estate.created'],
    }));
  });
  afterAll(async () => {
    await ctx.stop();
  });

  /** The answer's status, error code and the paths and codes of its details. */
  const refusal = (res: { status: number; body: { error?: { code: string; details: { path: string; code?: string }[] } } }) => ({
    status: res.status,
    code: res.body.error?.code,
    fields: res.body.error?.details.map((d) => `${d.path} ${d.code}`),
  });
  const publish = (events: unknown[]) => ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events } });

  it('refuses a lone surrogate in a product name: 400 naming body.name', async () => {
    const res = await ctx.request('POST', '/v1/products', { token: partner.apiKey, body: { name: 'Fjord \ud800 Map', type: 'rights' } });
    expect(refusal(res)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.name lone_surrogate'] });
    expect(await ctx.db('products').where({ partner_id: partner.partnerId }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('refuses a lone surrogate in an e-mail address, signed in or not: 400 naming body.email', async () => {
    const user = await ctx.request('POST', '/v1/users', { token: partner.apiKey, body: { email: 'ola\udc00@fjord.test' } });
    expect(refusal(user)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.email lone_surrogate'] });
    const signIn = await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'ola\ud800@fjord.test' } });
    expect(refusal(signIn)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.email lone_surrogate'] });
  });

  it('refuses a lone surrogate or NUL in HUB event data at any depth, keys too: 400 naming the field', async () => {
    const values = await publish([hubEvent('MSVPAR', 'estate.created', { rooms: [{ name: 'x\ud800' }] })]);
    expect(refusal(values)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.events.0.data.rooms.0.name lone_surrogate'] });
    const keys = await publish([hubEvent('MSVPAR', 'estate.created', { a: { 'b\ud800\u0000': 1 } })]);
    expect(refusal(keys)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.events.0.data.a.b\\ud800\\u0000 nul_character'] });
    expect(await ctx.db('events').count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it('refuses NUL in a path parameter and in a query string: 400 naming it', async () => {
    const path = await ctx.request('GET', '/v1/subscriptions/sub%00x', { token: partner.apiKey });
    expect(refusal(path)).toEqual({ status: 400, code: 'validation_failed', fields: ['params.subscriptionId nul_character'] });
    const query = await ctx.request('GET', `/v1/subscriptions/${subscriptionId}/messages?status=%00`, { token: partner.apiKey });
    expect(refusal(query)).toEqual({ status: 400, code: 'validation_failed', fields: ['query.status nul_character'] });
    const encoding = await ctx.request('GET', '/v1/subscriptions/%E0%A4%A', { token: partner.apiKey });
    expect(refusal(encoding)).toEqual({ status: 400, code: 'invalid_path', fields: [] });
  });

  it('answers JSON nested 20,000 deep with 400 nesting_too_deep, unauthenticated on sign-in too', async () => {
    const signIn = await ctx.request('POST', '/v1/auth/sign-in', { body: deepJson(20_000) });
    expect(signIn.status).toBe(400);
    expect(signIn.body.error.code).toBe('nesting_too_deep');
    expect(signIn.body.error.details).toEqual([expect.objectContaining({ path: `body${'.0'.repeat(64)}`, code: 'nesting_too_deep' })]);
    const field = await ctx.request('POST', '/v1/auth/sign-in', { body: `{"email":${deepJson(20_000)}}` });
    expect(refusal(field)).toMatchObject({ status: 400, code: 'nesting_too_deep' });
    expect(field.body.error.details[0].path).toMatch(/^body\.email\.0\.0/);
    // The process took it in its stride.
    expect((await ctx.request('GET', '/readyz')).status).toBe(200);
  });

  it('answers event data nested 20,000 deep with 400 naming the event', async () => {
    const event = hubEvent('MSVPAR', 'estate.created');
    const body = JSON.stringify({ events: [event] }).replace('"data":{}', `"data":{"plan":${deepJson(20_000)}}`);
    const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body });
    expect(refusal(res)).toMatchObject({ status: 400, code: 'nesting_too_deep' });
    expect(res.body.error.details[0].path).toMatch(/^body\.events\.0\.data\.plan\.0\.0/);
  });

  it('refuses year 0000 wherever a timestamp is taken: 400 naming the field', async () => {
    const occurred = await publish([{ ...hubEvent('MSVPAR', 'estate.created'), occurredAt: '0000-01-01T00:00:00Z' }]);
    expect(refusal(occurred)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.events.0.occurredAt out_of_range'] });
    expect(occurred.body.error.details[0].message).toBe('must be from 1970-01-01 to 9999-12-31');

    const log = await ctx.request('GET', `/v1/subscriptions/${subscriptionId}/messages?since=0000-01-01T00:00:00Z&until=9999-12-31T23:59:59Z`, {
      token: partner.apiKey,
    });
    expect(refusal(log)).toEqual({ status: 400, code: 'validation_failed', fields: ['query.since out_of_range'] });
    const recover = await ctx.request('POST', `/v1/subscriptions/${subscriptionId}/recover`, { token: partner.apiKey, body: { since: '0000-01-01T00:00:00Z' } });
    expect(refusal(recover)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.since out_of_range'] });
    const deadLetters = await ctx.request('GET', '/v1/ops/dead-letters?since=0000-01-01T00:00:00Z', { token: OPERATOR_TOKEN });
    expect(refusal(deadLetters)).toEqual({ status: 400, code: 'validation_failed', fields: ['query.since out_of_range'] });
    const replay = await ctx.request('POST', '/v1/ops/dead-letters/replay', { token: OPERATOR_TOKEN, body: { subscriptionId, since: '1969-12-31T23:59:59Z' } });
    expect(replay.status).toBe(400);
    expect(replay.body.error.details.map((d: { path: string }) => d.path)).toContain('body.since');

    // The bounds themselves are fine.
    const bounds = await ctx.request('GET', `/v1/subscriptions/${subscriptionId}/messages?since=1970-01-01T00:00:00Z&until=9999-12-31T23:59:59Z`, { token: partner.apiKey });
    expect(bounds.status).toBe(200);
  });

  it('takes the good events of a batch and names the bad ones; the same batch again is never stuck', async () => {
    const good = [hubEvent('MSVPAR', 'estate.created'), hubEvent('MSVPAR', 'estate.updated')];
    const batch = [
      good[0],
      { ...hubEvent('MSVPAR', 'estate.created'), id: 'bad-surrogate', data: { title: 'x\ud800' } },
      { ...hubEvent('MSVPAR', 'estate.created'), id: 'bad-year', occurredAt: '0000-01-01T00:00:00Z' },
      good[1],
      { ...hubEvent('MSVPAR', 'estate.created'), id: 'x'.repeat(300), installationId: 'not valid!' },
      'not an event',
    ];
    const first = await publish(batch);
    expect(first.status).toBe(202);
    expect(first.body).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [
        { index: 1, id: 'bad-surrogate', details: [expect.objectContaining({ path: 'body.events.1.data.title', code: 'lone_surrogate' })] },
        { index: 2, id: 'bad-year', details: [expect.objectContaining({ path: 'body.events.2.occurredAt', message: 'must be from 1970-01-01 to 9999-12-31' })] },
        {
          index: 4,
          id: null,
          details: [expect.objectContaining({ path: 'body.events.4.id' }), expect.objectContaining({ path: 'body.events.4.installationId' })],
        },
        { index: 5, id: null, details: [expect.objectContaining({ path: 'body.events.5' })] },
      ],
    });
    expect((await ctx.db('events').whereIn('id', good.map((e) => e.id)).pluck('id')).sort()).toEqual(good.map((e) => e.id).sort());

    const again = await publish(batch);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(again.body.rejected.map((r: { index: number }) => r.index)).toEqual([1, 2, 4, 5]);
  });

  it('refuses a batch with no valid event with 400 listing every bad one, and a batch wrong as a whole', async () => {
    const res = await publish([{ ...hubEvent('MSVPAR', 'estate.created'), occurredAt: 'soon' }, { ...hubEvent('MSVPAR', 'estate.created'), data: { a: '\u0000' } }]);
    expect(refusal(res)).toEqual({
      status: 400,
      code: 'validation_failed',
      fields: ['body.events.0.occurredAt invalid_format', 'body.events.1.data.a nul_character'],
    });
    const tooMany = await publish(Array.from({ length: 1001 }, () => hubEvent('MSVPAR', 'estate.created')));
    expect(refusal(tooMany)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.events too_big'] });
    const outside = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: [hubEvent('MSVPAR', 'estate.created')], note: '\u0000' } });
    expect(refusal(outside)).toEqual({ status: 400, code: 'validation_failed', fields: ['body.note nul_character'] });
  });
});
