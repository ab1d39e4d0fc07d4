import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createFunction, createInstallation, createPartner, type TestPartner } from '../support/fixtures.ts';

describe('products (partner)', () => {
  let ctx: TestContext;
  let acme: TestPartner;
  let other: TestPartner;
  let installation: string;

  beforeAll(async () => {
    ctx = await startTestContext();
    acme = await createPartner(ctx, { name: 'Acme Software AB' });
    other = await createPartner(ctx, { name: 'Othercorp' });
    installation = await createInstallation(ctx);
    await createFunction(ctx, { key: 'estates.read', eventTypes: ['estate.updated'], filterFields: ['departmentId'] });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const create = (body: unknown, token = acme.apiKey) => ctx.request('POST', '/v1/products', { token, body });

  describe('POST /v1/products', () => {
    it('creates a product with a draft version 1, restricted to MSVPAR in the test environment', async () => {
      const res = await create({ name: 'Acme Estate Sync', type: 'order_integration', description: 'Syncs estates', orderUrl: 'https://acme.example/order' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id: expect.stringMatching(/^prd_/),
        partnerId: acme.partnerId,
        name: 'Acme Estate Sync',
        type: 'order_integration',
        description: 'Syncs estates',
        orderUrl: 'https://acme.example/order',
        availability: { mode: 'restricted', installationIds: ['MSVPAR'] },
        status: 'draft',
        activeVersion: null,
        latestVersion: 1,
        version: 1,
        login: null,
        credentials: [],
        versions: [{ number: 1, status: 'draft', activatedAt: null, activations: 0, functions: [] }],
        warnings: [],
      });
    });

    it('takes an explicit availability, all or restricted to known installations', async () => {
      const all = await create({ name: 'Acme Open', type: 'rights', availability: { mode: 'all' } });
      expect(all.status).toBe(201);
      expect(all.body.availability).toEqual({ mode: 'all', installationIds: [] });
      const restricted = await create({ name: 'Acme Closed', type: 'rights', availability: { mode: 'restricted', installationIds: [installation, 'MSVPAR', installation] } });
      expect(restricted.status).toBe(201);
      expect(restricted.body.availability).toEqual({ mode: 'restricted', installationIds: [installation, 'MSVPAR'] });
      // InstallationIDs are upper-case everywhere: `msvpar` names MSVPAR.
      const lower = await create({ name: 'Acme Lower', type: 'rights', availability: { mode: 'restricted', installationIds: ['msvpar'] } });
      expect(lower.body.availability).toEqual({ mode: 'restricted', installationIds: ['MSVPAR'] });
    });

    it('answers 422 naming each unknown installation of a restricted availability', async () => {
      const res = await create({ name: 'Acme Nowhere', type: 'rights', availability: { mode: 'restricted', installationIds: ['MSVPAR', 'NOSUCH'] } });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('unknown_installation');
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'body.availability.installationIds.1' })]);
    });

    it('accepts a generic name without the company name, with a warning', async () => {
      const res = await create({ name: 'CRM Integration', type: 'rights' });
      expect(res.status).toBe(201);
      expect(res.body.warnings).toEqual([{ code: 'name_without_partner_name', path: 'body.name', message: expect.stringContaining('Acme Software AB') }]);
    });

    it('does not warn when the name carries the company name in any case or spacing', async () => {
      for (const name of ['ACME contacts', 'acmesoftware orders']) {
        const res = await create({ name, type: 'rights' });
        expect(res.status).toBe(201);
        expect(res.body.warnings).toEqual([]);
      }
    });

    it('refuses a second product of the same name for the partner (ignoring case) with 409, but not for another partner', async () => {
      expect((await create({ name: 'Acme Twin', type: 'rights' })).status).toBe(201);
      const twin = await create({ name: 'ACME TWIN', type: 'rights' });
      expect(twin.status).toBe(409);
      expect(twin.body.error).toMatchObject({ code: 'product_name_taken', details: [{ path: 'body.name' }] });
      expect((await create({ name: 'Acme Twin', type: 'rights' }, other.apiKey)).status).toBe(201);
    });

    it.each([
      [{ type: 'rights' }, 'body.name'],
      [{ name: '', type: 'rights' }, 'body.name'],
      [{ name: 'Acme X', type: 'other' }, 'body.type'],
      [{ name: 'Acme X', type: 'rights', orderUrl: 'ftp://x' }, 'body.orderUrl'],
      [{ name: 'Acme X', type: 'rights', availability: { mode: 'restricted', installationIds: [] } }, 'body.availability.installationIds'],
      [{ name: 'Acme X', type: 'rights', availability: { mode: 'all', installationIds: ['MSVPAR'] } }, 'body.availability.installationIds'],
      [{ name: 'Acme X', type: 'rights', availability: { mode: 'some' } }, 'body.availability.mode'],
      [{ name: 'Acme X', type: 'rights', functions: ['estates.read'] }, 'body.functions'],
      [{ name: 12, type: 'rights' }, 'body.name'],
      [{ name: 'Acme \u0000', type: 'rights' }, 'body.name'],
      [{ name: 'Acme X', type: 'rights', orderUrl: 'https://acme.example/\u0000' }, 'body.orderUrl'],
      [{ name: 'Acme X', type: 'rights', availability: { mode: 'restricted', installationIds: ['MS\u0000'] } }, 'body.availability.installationIds.0'],
    ])('answers 400 naming the field for %j', async (body, path) => {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    });

    it('answers 400 for a body that is not an object', async () => {
      expect((await create([1, 2])).status).toBe(400);
      expect((await create('null')).status).toBe(400);
    });

    it('records who created the product in the audit log', async () => {
      const res = await create({ name: 'Acme Audited', type: 'rights' });
      const audit = await ctx.db('audit_log').where({ action: 'product.created', target_id: res.body.id }).first();
      expect(audit).toMatchObject({ actor_type: 'partner', actor_id: acme.userId, partner_id: acme.partnerId });
    });

    it('is for partner tokens only', async () => {
      expect((await create({ name: 'Acme X', type: 'rights' }, HUB_TOKEN)).status).toBe(403);
      expect((await create({ name: 'Acme X', type: 'rights' }, OPERATOR_TOKEN)).status).toBe(403);
      expect((await ctx.request('POST', '/v1/products', { body: { name: 'Acme X', type: 'rights' } })).status).toBe(401);
    });
  });

  describe('GET /v1/products and /v1/products/{id}', () => {
    it('lists only the partner’s products, a page at a time', async () => {
      const partner = await createPartner(ctx, { name: 'Pager' });
      for (const n of [1, 2, 3]) expect((await create({ name: `Pager ${n}`, type: 'rights' }, partner.apiKey)).status).toBe(201);
      const first = await ctx.request('GET', '/v1/products?limit=2', { token: partner.apiKey });
      expect(first.status).toBe(200);
      expect(first.body.data.map((p: { name: string }) => p.name)).toEqual(['Pager 1', 'Pager 2']);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await ctx.request('GET', `/v1/products?limit=2&cursor=${first.body.nextCursor}`, { token: partner.apiKey });
      expect(second.body.data.map((p: { name: string }) => p.name)).toEqual(['Pager 3']);
      expect(second.body.nextCursor).toBeNull();
      expect(second.body.data[0].versions).toEqual([expect.objectContaining({ number: 1, status: 'draft' })]);
    });

    it('answers 400 for a bad limit or cursor', async () => {
      expect((await ctx.request('GET', '/v1/products?limit=0', { token: acme.apiKey })).status).toBe(400);
      expect((await ctx.request('GET', '/v1/products?limit=501', { token: acme.apiKey })).status).toBe(400);
      const bad = await ctx.request('GET', '/v1/products?cursor=bm90LWpzb24', { token: acme.apiKey });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe('query.cursor');
      const tampered = Buffer.from(JSON.stringify(['not a time', 'prd_x'])).toString('base64url');
      expect((await ctx.request('GET', `/v1/products?cursor=${tampered}`, { token: acme.apiKey })).status).toBe(400);
    });

    it('shows one product with its versions, their functions and its state', async () => {
      const made = await create({ name: 'Acme Shown', type: 'rights' });
      await ctx.request('PUT', `/v1/products/${made.body.id}/versions/1/functions/estates.read`, { token: acme.apiKey, body: { filters: { departmentId: ['d1'] } } });
      const res = await ctx.request('GET', `/v1/products/${made.body.id}`, { token: acme.apiKey });
      expect(res.status).toBe(200);
      expect(res.body.versions).toEqual([
        expect.objectContaining({ number: 1, status: 'draft', functions: [{ key: 'estates.read', requireAccess: true, filters: { departmentId: ['d1'] } }] }),
      ]);
    });

    it('answers 404 for an unknown, malformed or another partner’s product', async () => {
      const mine = await create({ name: 'Acme Mine', type: 'rights' });
      expect((await ctx.request('GET', `/v1/products/${mine.body.id}`, { token: other.apiKey })).status).toBe(404);
      expect((await ctx.request('GET', '/v1/products/prd_00000000000000000000', { token: acme.apiKey })).status).toBe(404);
      expect((await ctx.request('GET', '/v1/products/nonsense', { token: acme.apiKey })).status).toBe(404);
    });
  });

  describe('PATCH /v1/products/{id}', () => {
    it('changes any field but functions, without a new version', async () => {
      const made = await create({ name: 'Acme Before', type: 'rights', orderUrl: 'https://acme.example/a' });
      const res = await ctx.request('PATCH', `/v1/products/${made.body.id}`, {
        token: acme.apiKey,
        body: { name: 'Acme After', type: 'order_integration', description: 'now with orders', orderUrl: null, availability: { mode: 'all' } },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        name: 'Acme After',
        type: 'order_integration',
        description: 'now with orders',
        orderUrl: null,
        availability: { mode: 'all', installationIds: [] },
        latestVersion: 1,
        warnings: [],
      });
      const audit = await ctx.db('audit_log').where({ action: 'product.updated', target_id: made.body.id }).first();
      expect(audit).toBeDefined();
    });

    it('warns when the new name drops the company name', async () => {
      const made = await create({ name: 'Acme Rename', type: 'rights' });
      const res = await ctx.request('PATCH', `/v1/products/${made.body.id}`, { token: acme.apiKey, body: { name: 'Rename' } });
      expect(res.status).toBe(200);
      expect(res.body.warnings).toEqual([expect.objectContaining({ code: 'name_without_partner_name' })]);
    });

    it('refuses functions, empty changes and bad fields with 400', async () => {
      const made = await create({ name: 'Acme Strict', type: 'rights' });
      const patch = (body: unknown) => ctx.request('PATCH', `/v1/products/${made.body.id}`, { token: acme.apiKey, body });
      expect((await patch({ functions: [] })).status).toBe(400);
      expect((await patch({})).status).toBe(400);
      const bad = await patch({ type: 'x' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe('body.type');
    });

    it('answers 409 for a name the partner already uses, 422 for an unknown installation', async () => {
      await create({ name: 'Acme Taken', type: 'rights' });
      const made = await create({ name: 'Acme Free', type: 'rights' });
      const taken = await ctx.request('PATCH', `/v1/products/${made.body.id}`, { token: acme.apiKey, body: { name: 'acme taken' } });
      expect(taken.status).toBe(409);
      const unknown = await ctx.request('PATCH', `/v1/products/${made.body.id}`, {
        token: acme.apiKey,
        body: { availability: { mode: 'restricted', installationIds: ['NOPE'] } },
      });
      expect(unknown.status).toBe(422);
      expect(unknown.body.error.details[0].path).toBe('body.availability.installationIds.0');
    });

    it('answers 404 for another partner’s product and leaves it unchanged', async () => {
      const mine = await create({ name: 'Acme Guarded', type: 'rights' });
      const res = await ctx.request('PATCH', `/v1/products/${mine.body.id}`, { token: other.apiKey, body: { name: 'Hijacked' } });
      expect(res.status).toBe(404);
      expect((await ctx.request('GET', `/v1/products/${mine.body.id}`, { token: acme.apiKey })).body.name).toBe('Acme Guarded');
    });
  });

  describe('another partner’s product', () => {
    it('is 404 on every product route', async () => {
      const mine = await create({ name: 'Acme Isolated', type: 'rights' });
      const id = mine.body.id as string;
      const cred = await ctx.request('POST', `/v1/products/${id}/credentials`, { token: acme.apiKey });
      expect(cred.status).toBe(201);
      const calls: [string, string, unknown?][] = [
        ['GET', `/v1/products/${id}`],
        ['PATCH', `/v1/products/${id}`, { description: 'x' }],
        ['POST', `/v1/products/${id}/credentials`],
        ['DELETE', `/v1/products/${id}/credentials/${cred.body.keyId}`],
        ['POST', `/v1/products/${id}/versions`],
        ['PUT', `/v1/products/${id}/versions/1/functions/estates.read`, {}],
        ['DELETE', `/v1/products/${id}/versions/1/functions/estates.read`],
        ['POST', `/v1/products/${id}/versions/1/activate`],
      ];
      for (const [method, path, body] of calls) {
        const res = await ctx.request(method, path, { token: other.apiKey, body });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.error.code).toBe('not_found');
      }
      const after = await ctx.request('GET', `/v1/products/${id}`, { token: acme.apiKey });
      expect(after.body).toMatchObject({ latestVersion: 1, status: 'draft', credentials: [{ revokedAt: null }] });
    });
  });
});

describe('products in production', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { HUBHOOK_ENV: 'production' } });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('are available to all installations unless the partner restricts them', async () => {
    const partner = await createPartner(ctx, { name: 'Prodco' });
    const res = await ctx.request('POST', '/v1/products', { token: partner.apiKey, body: { name: 'Prodco Sync', type: 'rights' } });
    expect(res.status).toBe(201);
    expect(res.body.availability).toEqual({ mode: 'all', installationIds: [] });
  });
});
