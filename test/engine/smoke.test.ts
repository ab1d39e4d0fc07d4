import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { eventually } from '../support/poll.ts';
import { hubEvent, insertFunction, insertSubscriber, publishEvents } from '../support/fixtures.ts';

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
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated'] });
    const { secret } = (await insertSubscriber(ctx.db, { installationId: 'INST1', url: receiver.url, eventTypes: ['estate.created'] })).subscription;
    const event = hubEvent('INST1', 'estate.created', { estateId: 'E1' });
    expect(await publishEvents(ctx, [event])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const [got] = await receiver.waitFor(1);
    const verified = new Webhook(secret).verify(got!.body, got!.headers as Record<string, string>) as Record<string, unknown>;
    expect(verified).toMatchObject({ type: 'estate.created', eventId: event.id, installationId: 'INST1', data: { estateId: 'E1' } });
  });

  it('delivers an event whose installation id is lower case to that installation (msvpar is MSVPAR), never drops it', async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated'] });
    const { secret } = (await insertSubscriber(ctx.db, { installationId: 'MSVPAR', url: receiver.url, eventTypes: ['estate.updated'] })).subscription;
    // Normalised exactly as installations' own ids are: trimmed, upper-cased.
    const event = { ...hubEvent('msvpar', 'estate.updated', { estateId: 'E2' }), installationId: ' msvpar ' };
    expect(await publishEvents(ctx, [event])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect(await ctx.db('events').where({ id: event.id }).first('installation_id')).toEqual({ installation_id: 'MSVPAR' });
    const got = await eventually(async () => receiver.requests.find((r) => r.body.includes(event.id)), { what: 'the lower-case event at the receiver', timeoutMs: 30_000 });
    const verified = new Webhook(secret).verify(got.body, got.headers as Record<string, string>) as Record<string, unknown>;
    expect(verified).toMatchObject({ type: 'estate.updated', eventId: event.id, installationId: 'MSVPAR', data: { estateId: 'E2' } });
  });
});
