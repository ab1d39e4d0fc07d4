import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct } from '../support/fixtures.ts';

// A subscription's `ordering`: set at creation, changed later (also with messages waiting), refused when unknown.
describe('subscription ordering', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  let partner: Awaited<ReturnType<typeof insertPartner>>;
  let product: string;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: { RETRY_SCHEDULE: '1h', RECONCILE_INTERVAL: '2s' } });
    receiver = await startReceiver();
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    partner = await insertPartner(ctx.db);
    product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'ORDAPI', product);
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.stop();
  });

  const create = (body: Record<string, unknown>) => ctx.request('POST', `/v1/products/${product}/subscriptions`, { token: partner.apiKey, body: { functionKey: 'estates.read', url: receiver.url, ...body } });
  const patch = (id: string, body: Record<string, unknown>) => ctx.request('PATCH', `/v1/subscriptions/${id}`, { token: partner.apiKey, body });

  it('round-trips ordering: none by default, entity when asked, changed by PATCH', async () => {
    const plain = await create({});
    expect(plain.status, plain.text).toBe(201);
    expect(plain.body.ordering).toBe('none');

    const ordered = await create({ ordering: 'entity' });
    expect(ordered.status, ordered.text).toBe(201);
    expect(ordered.body).toMatchObject({ ordering: 'entity' });
    expect((await ctx.request('GET', `/v1/subscriptions/${ordered.body.id}`, { token: partner.apiKey })).body.ordering).toBe('entity');

    const changed = await patch(plain.body.id, { ordering: 'entity' });
    expect(changed.status).toBe(200);
    expect(changed.body.ordering).toBe('entity');
    const listed = await ctx.request('GET', `/v1/products/${product}/subscriptions`, { token: partner.apiKey });
    expect((listed.body.data as { id: string; ordering: string }[]).filter((s) => s.ordering === 'entity').map((s) => s.id).sort()).toEqual([plain.body.id, ordered.body.id].sort());
    const audit = await ctx.db('audit_log').where({ target_id: plain.body.id, action: 'subscription.updated' }).first('data');
    expect(audit.data).toMatchObject({ ordering: { from: 'none', to: 'entity' } });

    // Cleaned up: the later test counts the receiver's requests.
    for (const id of [plain.body.id, ordered.body.id]) expect((await ctx.request('DELETE', `/v1/subscriptions/${id}`, { token: partner.apiKey })).status).toBe(204);
  });

  it('refuses an unknown ordering with a 400 naming body.ordering', async () => {
    const before = await ctx.db('subscriptions').count({ n: '*' }).first();
    for (const bad of ['sideways', 'ENTITY', 1, null]) {
      const res = await create({ ordering: bad });
      expect(res.status, String(bad)).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain('body.ordering');
    }
    expect(await ctx.db('subscriptions').count({ n: '*' }).first()).toEqual(before);

    const sub = await create({});
    const res = await patch(sub.body.id, { ordering: 'fifo' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain('body.ordering');
    await ctx.request('DELETE', `/v1/subscriptions/${sub.body.id}`, { token: partner.apiKey });
  });

  it('turned off with messages waiting, releases them at once', async () => {
    // The entity's first message fails (its retry is an hour away): the next two wait for it.
    receiver.behave((req) => ((JSON.parse(req.body) as { data: { seq?: number } }).data.seq === 0 ? { status: 500 } : { status: 200 }));
    const sub = await create({ ordering: 'entity' });
    expect(sub.status, sub.text).toBe(201);
    const start = receiver.requests.length;
    const events = [0, 1, 2].map((seq) => hubEvent('ORDAPI', 'estate.updated', { seq }, 'est-1'));
    expect((await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events } })).status).toBe(202);

    const log = () => ctx.request('GET', `/v1/subscriptions/${sub.body.id}/messages`, { token: partner.apiKey });
    const waiting = await eventually(
      async () => {
        const rows = (await log()).body.data as { id: string; eventId: string; attempts: number; waitingFor: string | null; status: string }[];
        const head = rows.find((m) => m.eventId === events[0]!.id && m.attempts === 1);
        return head && rows.filter((m) => m.waitingFor === head.id).length === 2 ? rows : null;
      },
      { what: 'two messages waiting for the failed head', timeoutMs: 30_000 },
    );
    expect(waiting.filter((m) => m.waitingFor !== null).map((m) => m.status)).toEqual(['pending', 'pending']);
    expect(receiver.requests.length - start).toBe(1);

    const off = await patch(sub.body.id, { ordering: 'none' });
    expect(off.status).toBe(200);
    expect(off.body.ordering).toBe('none');
    await eventually(() => receiver.requests.length - start === 3, { what: 'the two waiting ones delivered', timeoutMs: 30_000 });
    const after = await eventually(
      async () => {
        const rows = (await log()).body.data as { eventId: string; status: string; waitingFor: string | null }[];
        return rows.filter((m) => m.status === 'succeeded').length === 2 ? rows : null;
      },
      { what: 'the two released ones recorded as succeeded', timeoutMs: 30_000 },
    );
    expect(after.every((m) => m.waitingFor === null)).toBe(true);
    expect(after.filter((m) => m.status === 'succeeded').map((m) => m.eventId).sort()).toEqual([events[1]!.id, events[2]!.id].sort());
    expect(after.find((m) => m.eventId === events[0]!.id)).toMatchObject({ status: 'pending' });
  }, 60_000);
});
