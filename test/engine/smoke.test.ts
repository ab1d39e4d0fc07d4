import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { eventually } from '../support/poll.ts';
import { hubEvent, seedActivation, seedFunction, seedPartner, seedProduct, seedSubscription } from '../support/engine-fixtures.ts';

describe('engine smoke', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  beforeAll(async () => {
    ctx = await startTestContext({ workers: true });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.stop();
  });

  it('delivers a published event, signed', async () => {
    const { partner } = await seedPartner(ctx.db);
    await seedFunction(ctx.db, 'estates.read', ['estate.created', 'estate.updated']);
    const productId = await seedProduct(ctx.db, partner.id, { 'estates.read': {} });
    await seedActivation(ctx.db, 'INST1', productId);
    const { secret } = await seedSubscription(ctx.db, { partnerId: partner.id, productId, functionKey: 'estates.read', url: receiver.url, eventTypes: ['estate.created'] });
    const event = hubEvent('INST1', 'estate.created', { estateId: 'E1' });
    const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: [event] } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const [got] = await receiver.waitFor(1);
    const verified = new Webhook(secret).verify(got!.body, got!.headers as Record<string, string>) as Record<string, unknown>;
    expect(verified).toMatchObject({ type: 'estate.created', eventId: event.id, installationId: 'INST1', data: { estateId: 'E1' } });
  });

  it('delivers an event whose installation id is lower case to that installation (msvpar is MSVPAR), never drops it', async () => {
    const { partner } = await seedPartner(ctx.db);
    await seedFunction(ctx.db, 'estates.read', ['estate.created', 'estate.updated']);
    const productId = await seedProduct(ctx.db, partner.id, { 'estates.read': {} });
    await seedActivation(ctx.db, 'MSVPAR', productId);
    const { secret } = await seedSubscription(ctx.db, { partnerId: partner.id, productId, functionKey: 'estates.read', url: receiver.url, eventTypes: ['estate.updated'] });
    // Normalised exactly as installations' own ids are: trimmed, upper-cased.
    const event = { ...hubEvent('msvpar', 'estate.updated', { estateId: 'E2' }), installationId: ' msvpar ' };
    const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: [event] } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect(await ctx.db('events').where({ id: event.id }).first('installation_id')).toEqual({ installation_id: 'MSVPAR' });
    const got = await eventually(async () => receiver.requests.find((r) => r.body.includes(event.id)), { what: 'the lower-case event at the receiver', timeoutMs: 30_000 });
    const verified = new Webhook(secret).verify(got.body, got.headers as Record<string, string>) as Record<string, unknown>;
    expect(verified).toMatchObject({ type: 'estate.updated', eventId: event.id, installationId: 'MSVPAR', data: { estateId: 'E2' } });
  });
});
