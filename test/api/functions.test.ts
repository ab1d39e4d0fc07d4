import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FUNCTIONS, seedFunctions } from '#shared/db/seeds/functions';
import { newId } from '#shared/ids';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { auditFor, createPartner, insertProduct, type TestPartner, walkPages } from '../support/fixtures.ts';

describe('the function catalog', () => {
  let ctx: TestContext;
  let partner: TestPartner;
  beforeAll(async () => {
    ctx = await startTestContext();
    partner = await createPartner(ctx);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const put = (key: string, body: unknown, token = OPERATOR_TOKEN) => ctx.request('PUT', `/v1/functions/${key}`, { token, body });

  describe('the default catalog seed', () => {
    it('installs a realistic catalog once and keeps operator edits on later runs', async () => {
      const first = await seedFunctions(ctx.db);
      expect(first.length).toBeGreaterThanOrEqual(15);
      expect(first).toEqual(expect.arrayContaining(['estates.read', 'contacts.read', 'orders.read', 'bids.read', 'checklists.read']));

      const edited = await put('estates.read', { name: 'Read estates (v2)', eventTypes: ['estate.created'], filterFields: ['departmentId'] });
      expect(edited.status).toBe(200);
      expect(await seedFunctions(ctx.db)).toEqual([]);
      const after = await ctx.db('functions').where({ key: 'estates.read' }).first();
      expect(after).toMatchObject({ name: 'Read estates (v2)', event_types: ['estate.created'] });
      // Restore the seeded entry for the tests below.
      // The seed entry names its key; the route takes it from the path.
      const { key: _key, ...seeded } = DEFAULT_FUNCTIONS.find((f) => f.key === 'estates.read')!;
      expect((await put('estates.read', seeded)).status).toBe(200);
    });

    it('is valid input for the operator route, every entry', async () => {
      for (const fn of DEFAULT_FUNCTIONS) {
        const { key, ...body } = fn;
        const res = await put(key, body);
        expect(res.status, `${key}: ${res.text}`).toBe(200);
      }
      const pushable = DEFAULT_FUNCTIONS.filter((f) => f.eventTypes.length > 0).map((f) => f.key);
      expect(pushable).toEqual(expect.arrayContaining(['estates.read', 'contacts.read', 'orders.read']));
      const estates = DEFAULT_FUNCTIONS.find((f) => f.key === 'estates.read')!;
      expect(estates.eventTypes).toEqual(expect.arrayContaining(['estate.created', 'estate.updated', 'estate.deleted']));
      expect(estates.filterFields).toEqual(expect.arrayContaining(['departmentId', 'estateStatus']));
    });
  });

  describe('GET /v1/functions', () => {
    it('is readable by operators, the HUB and partners, not anonymously', async () => {
      for (const token of [OPERATOR_TOKEN, HUB_TOKEN, partner.apiKey]) {
        const res = await ctx.request('GET', '/v1/functions', { token });
        expect(res.status).toBe(200);
        const estates = res.body.data.find((f: { key: string }) => f.key === 'estates.read');
        expect(estates).toMatchObject({ pushable: true, eventTypes: expect.arrayContaining(['estate.updated']) });
        expect(res.body.data.find((f: { key: string }) => f.key === 'estates.write')).toMatchObject({ pushable: false, eventTypes: [] });
      }
      expect((await ctx.request('GET', '/v1/functions')).status).toBe(401);
    });

    it('pages through the catalog by key', async () => {
      const total = (await ctx.db('functions').count({ n: '*' }).first())!.n as number;
      const { items, pages } = await walkPages(ctx, '/v1/functions?limit=5', partner.apiKey);
      expect(items).toHaveLength(total);
      expect(pages.length).toBe(Math.ceil(total / 5));
      expect(items.map((f) => f.key)).toEqual((await ctx.db('functions').orderBy('key').pluck('key')) as string[]);
    });
  });

  describe('PUT /v1/functions/{key}', () => {
    it('creates a function, pushable when it lists event types, and audits it', async () => {
      const res = await put('viewings.read', {
        name: 'Read viewings',
        description: 'Viewing appointments and who registered for them.',
        eventTypes: ['viewing.scheduled', 'viewing.registered'],
        filterFields: ['departmentId'],
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        key: 'viewings.read',
        name: 'Read viewings',
        description: 'Viewing appointments and who registered for them.',
        eventTypes: ['viewing.scheduled', 'viewing.registered'],
        filterFields: ['departmentId'],
        pushable: true,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const rows = await auditFor(ctx.db, 'viewings.read');
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ actor_type: 'operator', action: 'function.created', target_type: 'function' });
    });

    it('replaces an existing function (upsert), keeping its creation time', async () => {
      const first = await put('viewings.write', { name: 'Write viewings', eventTypes: [], filterFields: [] });
      expect(first.body).toMatchObject({ pushable: false, description: '' });
      const second = await put('viewings.write', { name: 'Book viewings', description: 'Book a viewing.', eventTypes: ['viewing.booked'], filterFields: [] });
      expect(second.status).toBe(200);
      expect(second.body).toMatchObject({ name: 'Book viewings', description: 'Book a viewing.', pushable: true, createdAt: first.body.createdAt });
      expect(Date.parse(second.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(first.body.updatedAt));
      expect((await auditFor(ctx.db, 'viewings.write')).map((r) => r.action)).toEqual(['function.created', 'function.updated']);
    });

    it('accepts multi-part keys and event types with _ and -', async () => {
      const res = await put('orders.status-2.write', { name: 'X', eventTypes: ['order.status_changed'], filterFields: ['orderStatus'] });
      expect(res.status).toBe(200);
    });

    it.each([
      ['an upper-case key', 'Estates.Read', {}, 'params.functionKey'],
      ['a key of one word', 'estates', {}, 'params.functionKey'],
      ['a key with an empty part', 'estates..read', {}, 'params.functionKey'],
      ['a key ending in a dot', 'estates.', {}, 'params.functionKey'],
      ['no name', 'x.read', { name: undefined }, 'body.name'],
      ['no event types', 'x.read', { eventTypes: undefined }, 'body.eventTypes'],
      ['no filter fields', 'x.read', { filterFields: undefined }, 'body.filterFields'],
      ['event types that are not a list', 'x.read', { eventTypes: 'estate.created' }, 'body.eventTypes'],
      ['an event type of one word', 'x.read', { eventTypes: ['created'] }, 'body.eventTypes.0'],
      ['an upper-case event type', 'x.read', { eventTypes: ['estate.created', 'Estate.Updated'] }, 'body.eventTypes.1'],
      ['a repeated event type', 'x.read', { eventTypes: ['estate.created', 'estate.created'] }, 'body.eventTypes.1'],
      ['a filter field with a space', 'x.read', { filterFields: ['department id'] }, 'body.filterFields.0'],
      ['a filter field that is a number', 'x.read', { filterFields: [7] }, 'body.filterFields.0'],
      ['a repeated filter field', 'x.read', { filterFields: ['a', 'b', 'a'] }, 'body.filterFields.2'],
      ['a description too long', 'x.read', { description: 'x'.repeat(2001) }, 'body.description'],
    ])('answers 400 naming the field for %s', async (_what, key, patch, path) => {
      const res = await put(key, { name: 'X', eventTypes: [], filterFields: [], ...patch });
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
      expect(await ctx.db('functions').where({ key: 'x.read' })).toHaveLength(0);
    });

    it('is for operators only', async () => {
      const body = { name: 'Sneaky', eventTypes: [], filterFields: [] };
      expect((await put('sneaky.read', body, partner.apiKey)).status).toBe(403);
      expect((await put('sneaky.read', body, HUB_TOKEN)).status).toBe(403);
      expect((await ctx.request('PUT', '/v1/functions/sneaky.read', { body })).status).toBe(401);
      expect(await ctx.db('functions').where({ key: 'sneaky.read' })).toHaveLength(0);
    });

    it('refuses to drop a filter field a product version filters by, or an event type a live subscription wants (409)', async () => {
      expect((await put('valuations.read', { name: 'Read valuations', eventTypes: ['valuation.created', 'valuation.updated'], filterFields: ['departmentId', 'valuationType'] })).status).toBe(200);
      const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [['valuations.read']] });
      await ctx.db('version_functions').where({ product_id: productId, function_key: 'valuations.read' }).update({ filters: { departmentId: ['d1'] } });
      await ctx.db('subscriptions').insert({
        id: newId('subscription'),
        partner_id: partner.partnerId,
        product_id: productId,
        function_key: 'valuations.read',
        url: 'https://receiver.example.com/hook',
        event_types: ['valuation.updated'],
        secret_sealed: 'sealed',
      });

      const res = await put('valuations.read', { name: 'Read valuations', eventTypes: ['valuation.created'], filterFields: ['valuationType'] });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('function_in_use');
      expect(res.body.error.details).toEqual([
        { path: 'body.filterFields', message: expect.stringContaining('departmentId') },
        { path: 'body.eventTypes', message: expect.stringContaining('valuation.updated') },
      ]);
      expect(await ctx.db('functions').where({ key: 'valuations.read' }).first()).toMatchObject({ event_types: ['valuation.created', 'valuation.updated'] });

      // Unused ones may go; a deleted subscription no longer holds its event types.
      expect((await put('valuations.read', { name: 'Read valuations', eventTypes: ['valuation.created', 'valuation.updated'], filterFields: ['departmentId'] })).status).toBe(200);
      await ctx.db('subscriptions').where({ product_id: productId }).update({ deleted_at: ctx.db.fn.now() });
      expect((await put('valuations.read', { name: 'Read valuations', eventTypes: ['valuation.created'], filterFields: ['departmentId'] })).status).toBe(200);
    });
  });
});
