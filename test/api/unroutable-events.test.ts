import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue } from '#shared/metrics';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { insertFunction } from '../support/fixtures.ts';

/**
 * Events nobody can route (an installation or an event type hubhook does not know): counted,
 * listed for operators, and with HUB_REJECT_UNKNOWN=true refused with 422.
 */
const event = (id: string, installationId: string, type: string) => ({ id, installationId, type, occurredAt: '2026-01-05T12:00:00Z', data: {} });

async function catalog(ctx: TestContext): Promise<void> {
  await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated'] });
}

describe('unroutable events, accepted', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
    await catalog(ctx);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const unroutable = (reason: string) => metricValue(ctx.api.metrics, 'hubhook_events_unroutable_total', { reason });

  it('are accepted, counted by reason and listed newest first for operators; a re-sent batch is not counted twice', async () => {
    const batch = [
      event('evt-known', 'MSVPAR', 'estate.updated'),
      event('evt-nowhere', 'NOWHERE', 'estate.updated'),
      event('evt-strange', 'MSVPAR', 'estate.teleported'),
    ];
    const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: batch } });
    expect(res.status, res.text).toBe(202);
    expect(res.body).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await unroutable('unknown_installation')).toBe(1);
    expect(await unroutable('unknown_event_type')).toBe(1);

    // The same batch again: all duplicates, nothing counted or listed again.
    expect((await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: batch } })).body).toEqual({ accepted: 0, duplicates: 3, rejected: [] });
    expect(await unroutable('unknown_installation')).toBe(1);

    const list = await ctx.request('GET', '/v1/ops/unroutable-events', { token: OPERATOR_TOKEN });
    expect(list.status, list.text).toBe(200);
    expect(list.body.data.map((e: { eventId: string; reason: string }) => [e.eventId, e.reason]).sort()).toEqual([
      ['evt-nowhere', 'unknown_installation'],
      ['evt-strange', 'unknown_event_type'],
    ]);
    expect(list.body.data[0]).toMatchObject({ installationId: expect.any(String), type: expect.any(String), receivedAt: expect.any(String) });
    expect(list.body.hasMore).toBe(false);
    const byReason = await ctx.request('GET', '/v1/ops/unroutable-events?reason=unknown_event_type', { token: OPERATOR_TOKEN });
    expect(byReason.body.data.map((e: { eventId: string }) => e.eventId)).toEqual(['evt-strange']);

    // The metric is served at /metrics.
    const scraped = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
    expect(scraped.text).toMatch(/hubhook_events_unroutable_total\{reason="unknown_installation"\} 1/);
    // Operators only.
    expect((await ctx.request('GET', '/v1/ops/unroutable-events', { token: HUB_TOKEN })).status).toBe(403);
  });

  it('judge an id repeated in one batch by its first occurrence, the one stored', async () => {
    const before = { installation: await unroutable('unknown_installation'), type: await unroutable('unknown_event_type') };
    const res = await ctx.request('POST', '/v1/hub/events', {
      token: HUB_TOKEN,
      body: { events: [event('evt-twice', 'MSVPAR', 'estate.created'), event('evt-twice', 'NOWHERE', 'estate.created'), event('evt-odd', 'MSVPAR', 'estate.melted'), event('evt-odd', 'MSVPAR', 'estate.created')] },
    });
    expect(res.body).toEqual({ accepted: 2, duplicates: 2, rejected: [] });
    expect(await ctx.db('events').where({ id: 'evt-twice' }).first('installation_id')).toEqual({ installation_id: 'MSVPAR' });
    expect(await unroutable('unknown_installation')).toBe(before.installation);
    expect(await unroutable('unknown_event_type')).toBe(before.type + 1);
    const listed = await ctx.db('unroutable_events').whereIn('event_id', ['evt-twice', 'evt-odd']).select('event_id', 'reason');
    expect(listed).toEqual([{ event_id: 'evt-odd', reason: 'unknown_event_type' }]);
  });
});

describe('unroutable events with HUB_REJECT_UNKNOWN=true', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { HUB_REJECT_UNKNOWN: 'true' } });
    await catalog(ctx);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('refuses the batch with 422 naming each unknown installation or type, and stores nothing', async () => {
    const res = await ctx.request('POST', '/v1/hub/events', {
      token: HUB_TOKEN,
      body: { events: [event('evt-a', 'MSVPAR', 'estate.created'), event('evt-b', 'NOWHERE', 'estate.created'), event('evt-c', 'MSVPAR', 'estate.vanished')] },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.body.error.code).toBe('unroutable_events');
    expect(res.body.error.details.map((d: { path: string; code: string }) => [d.path, d.code])).toEqual([
      ['body.events.1.installationId', 'unknown_installation'],
      ['body.events.2.type', 'unknown_event_type'],
    ]);
    expect(await ctx.db('events').count({ n: '*' }).first()).toEqual({ n: 0 });
    // A batch hubhook can route is accepted as ever.
    const fine = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: [event('evt-a', 'MSVPAR', 'estate.created')] } });
    expect(fine.status).toBe(202);
  });
});
