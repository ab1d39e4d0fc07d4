import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createFunction, createInstallation, createLegacyGrant, createPartner, createProduct, type TestPartner } from '../support/fixtures.ts';

describe('POST /v1/hub/access-check', () => {
  let ctx: TestContext;
  let partner: TestPartner;
  let stranger: TestPartner;
  let customer: string;
  let outsider: string;
  let product: { id: string };
  let creds: { login: string; accessKey: string; keyId: string };

  const check = (body: Record<string, unknown>, token = HUB_TOKEN) => ctx.request('POST', '/v1/hub/access-check', { token, body });
  const hub = (method: string, path: string, body?: unknown) => ctx.request(method, path, { token: HUB_TOKEN, body });
  const partnerCall = (method: string, path: string, body?: unknown) => ctx.request(method, path, { token: partner.apiKey, body });
  const addKey = async (productId: string) => {
    const res = await partnerCall('POST', `/v1/products/${productId}/credentials`);
    expect(res.status).toBe(201);
    return res.body as { login: string; accessKey: string; keyId: string };
  };

  beforeAll(async () => {
    ctx = await startTestContext();
    partner = await createPartner(ctx, { name: 'Gatekeeper' });
    stranger = await createPartner(ctx, { name: 'Stranger' });
    customer = await createInstallation(ctx);
    outsider = await createInstallation(ctx);
    await createFunction(ctx, { key: 'estates.read', eventTypes: ['estate.updated'], filterFields: ['departmentId'] });
    await createFunction(ctx, { key: 'contacts.read' });
    await createFunction(ctx, { key: 'documents.read' });
    product = await createProduct(ctx, partner.apiKey, {
      functions: ['estates.read'],
      availability: { mode: 'restricted', installationIds: [customer, 'MSVPAR'] },
    });
    creds = await addKey(product.id);
    expect((await hub('POST', `/v1/installations/${customer}/products/${product.id}/activate`)).status).toBe(200);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const request = (overrides: Record<string, unknown> = {}) => ({
    login: creds.login,
    accessKey: creds.accessKey,
    installationId: customer,
    functionKey: 'estates.read',
    ...overrides,
  });

  it('allows a function the installation’s activated version grants, via the product', async () => {
    const res = await check(request());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ allowed: true, reason: 'granted', via: 'product', productId: product.id });
  });

  it('reads InstallationIDs in any case, as every route does', async () => {
    expect((await check(request({ installationId: customer.toLowerCase() }))).body).toMatchObject({ allowed: true, via: 'product' });
    const listed = await hub('GET', `/v1/installations/${customer.toLowerCase()}/products`);
    expect(listed.status).toBe(200);
    expect(listed.body.data.find((p: { id: string }) => p.id === product.id).activation).toMatchObject({ version: 1 });
  });

  it('denies an unknown login', async () => {
    const res = await check(request({ login: 'nobody-0000000000' }));
    expect(res.body).toEqual({ allowed: false, reason: 'unknown_login', via: null });
  });

  it('denies a key that is malformed, wrong, or another product’s: invalid_key', async () => {
    const other = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    const otherKey = await addKey(other.id);
    const [, lookup] = creds.accessKey.split('_');
    const wrongSecret = `hhp_${lookup}_${'A'.repeat(43)}`;
    const unknownLookup = `hhp_${'0'.repeat(20)}_${creds.accessKey.slice(-43)}`;
    for (const accessKey of ['not-a-key', wrongSecret, unknownLookup, otherKey.accessKey, creds.accessKey.replace(/^hhp_/, 'hhk_')]) {
      const res = await check(request({ accessKey }));
      expect(res.status).toBe(200);
      expect(res.body, accessKey).toEqual({ allowed: false, reason: 'invalid_key', via: null });
    }
  });

  it('denies a revoked key: key_revoked', async () => {
    const spare = await addKey(product.id);
    expect((await partnerCall('DELETE', `/v1/products/${product.id}/credentials/${spare.keyId}`)).status).toBe(204);
    const res = await check(request({ accessKey: spare.accessKey }));
    expect(res.body).toEqual({ allowed: false, reason: 'key_revoked', via: null, productId: product.id });
    // The other key still works.
    expect((await check(request())).body.allowed).toBe(true);
  });

  it('denies an unknown installation or function, as answers (not errors)', async () => {
    expect((await check(request({ installationId: 'NOSUCH' }))).body).toMatchObject({ allowed: false, reason: 'unknown_installation' });
    const fn = await check(request({ functionKey: 'nosuch.function' }));
    expect(fn.status).toBe(200);
    expect(fn.body).toMatchObject({ allowed: false, reason: 'unknown_function', via: null });
  });

  it('denies while the product has no active version: product_inactive', async () => {
    const draft = await createProduct(ctx, partner.apiKey, { name: 'Gatekeeper Draft', functions: ['estates.read'], availability: { mode: 'all' }, activate: false });
    const key = await addKey(draft.id);
    const res = await check(request({ login: key.login, accessKey: key.accessKey }));
    expect(res.body).toEqual({ allowed: false, reason: 'product_inactive', via: null, productId: draft.id });
  });

  it('denies an installation the product is not available to: not_available', async () => {
    const res = await check(request({ installationId: outsider }));
    expect(res.body).toMatchObject({ allowed: false, reason: 'not_available' });
  });

  it('denies when the product is available but not activated there: not_activated', async () => {
    const res = await check(request({ installationId: 'MSVPAR' }));
    expect(res.body).toMatchObject({ allowed: false, reason: 'not_activated' });
  });

  it('denies a function the activated version does not grant: function_not_granted', async () => {
    expect((await check(request({ functionKey: 'contacts.read' }))).body).toMatchObject({ allowed: false, reason: 'function_not_granted' });
  });

  it('grants what the installation’s version grants, not what a newer, unconfirmed one does', async () => {
    const installation = await createInstallation(ctx);
    const p = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    const key = await addKey(p.id);
    await hub('POST', `/v1/installations/${installation}/products/${p.id}/activate`);
    await partnerCall('POST', `/v1/products/${p.id}/versions`);
    await partnerCall('PUT', `/v1/products/${p.id}/versions/2/functions/documents.read`);
    await partnerCall('DELETE', `/v1/products/${p.id}/versions/2/functions/estates.read`);
    await partnerCall('POST', `/v1/products/${p.id}/versions/2/activate`);
    const ask = (functionKey: string) => check({ login: key.login, accessKey: key.accessKey, installationId: installation, functionKey });

    expect((await ask('estates.read')).body).toMatchObject({ allowed: true, via: 'product' });
    expect((await ask('documents.read')).body).toMatchObject({ allowed: false, reason: 'function_not_granted' });
    expect((await hub('POST', `/v1/installations/${installation}/products/${p.id}/upgrade`)).status).toBe(200);
    expect((await ask('estates.read')).body).toMatchObject({ allowed: false, reason: 'function_not_granted' });
    expect((await ask('documents.read')).body).toMatchObject({ allowed: true, via: 'product' });
  });

  it('stops granting when the installation deactivates the product', async () => {
    const installation = await createInstallation(ctx);
    const p = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    const key = await addKey(p.id);
    await hub('POST', `/v1/installations/${installation}/products/${p.id}/activate`);
    const ask = () => check({ login: key.login, accessKey: key.accessKey, installationId: installation, functionKey: 'estates.read' });
    expect((await ask()).body.allowed).toBe(true);
    await hub('DELETE', `/v1/installations/${installation}/products/${p.id}`);
    expect((await ask()).body).toMatchObject({ allowed: false, reason: 'not_activated' });
  });

  describe('legacy grants', () => {
    it('allow via legacy where the product does not grant, for the product’s partner', async () => {
      const grantId = await createLegacyGrant(ctx, { partnerId: partner.partnerId, installationId: outsider, functionKey: 'contacts.read' });
      const res = await check(request({ installationId: outsider, functionKey: 'contacts.read' }));
      expect(res.body).toEqual({ allowed: true, reason: 'legacy_grant', via: 'legacy', productId: product.id });
      // Removed by an operator: no longer honoured.
      expect((await ctx.request('DELETE', `/v1/legacy-grants/${grantId}`, { token: OPERATOR_TOKEN })).status).toBe(204);
      expect((await check(request({ installationId: outsider, functionKey: 'contacts.read' }))).body).toMatchObject({ allowed: false, reason: 'not_available' });
    });

    it('are honoured even while the product is inactive', async () => {
      const draft = await createProduct(ctx, partner.apiKey, { name: 'Gatekeeper Legacy Draft', functions: [], activate: false });
      const key = await addKey(draft.id);
      await createLegacyGrant(ctx, { partnerId: partner.partnerId, installationId: customer, functionKey: 'documents.read' });
      const res = await check({ login: key.login, accessKey: key.accessKey, installationId: customer, functionKey: 'documents.read' });
      expect(res.body).toEqual({ allowed: true, reason: 'legacy_grant', via: 'legacy', productId: draft.id });
    });

    it('need valid credentials, and count only for their own partner', async () => {
      const installation = await createInstallation(ctx);
      await createLegacyGrant(ctx, { partnerId: partner.partnerId, installationId: installation, functionKey: 'estates.read' });
      const spare = await addKey((await createProduct(ctx, partner.apiKey, { functions: ['contacts.read'] })).id);
      await ctx.db('product_credentials').where({ id: spare.keyId }).update({ revoked_at: ctx.db.fn.now() });
      const revoked = await check({ login: spare.login, accessKey: spare.accessKey, installationId: installation, functionKey: 'estates.read' });
      expect(revoked.body).toMatchObject({ allowed: false, reason: 'key_revoked' });

      const theirs = await createProduct(ctx, stranger.apiKey, { functions: ['contacts.read'], availability: { mode: 'all' } });
      const theirKey = (await ctx.request('POST', `/v1/products/${theirs.id}/credentials`, { token: stranger.apiKey })).body;
      const foreign = await check({ login: theirKey.login, accessKey: theirKey.accessKey, installationId: installation, functionKey: 'estates.read' });
      expect(foreign.body).toMatchObject({ allowed: false, reason: 'not_activated', via: null });
    });
  });

  describe('bad input', () => {
    it.each([
      [{ accessKey: 'x', installationId: 'MSVPAR', functionKey: 'estates.read' }, 'body.login'],
      [{ login: 'x', installationId: 'MSVPAR', functionKey: 'estates.read' }, 'body.accessKey'],
      [{ login: 'x', accessKey: 'x', functionKey: 'estates.read' }, 'body.installationId'],
      [{ login: 'x', accessKey: 'x', installationId: 'MSVPAR' }, 'body.functionKey'],
      [{ login: '', accessKey: 'x', installationId: 'MSVPAR', functionKey: 'estates.read' }, 'body.login'],
      [{ login: 'x', accessKey: 42, installationId: 'MSVPAR', functionKey: 'estates.read' }, 'body.accessKey'],
      [{ login: 'x', accessKey: 'x', installationId: 'M'.repeat(65), functionKey: 'estates.read' }, 'body.installationId'],
    ])('answers 400 naming the field for %j', async (body, path) => {
      const res = await check(body);
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    });

    it('answers 400 for no body or a non-object body', async () => {
      expect((await ctx.request('POST', '/v1/hub/access-check', { token: HUB_TOKEN })).status).toBe(400);
      expect((await check([] as never)).status).toBe(400);
    });

    it('answers odd but well-formed values with a denial, never a 5xx', async () => {
      for (const overrides of [
        { login: "'; drop table products; --" },
        { accessKey: 'hhp_' + 'z'.repeat(500 - 4) },
        { installationId: '%00\u0000' },
        { functionKey: '\u{1F600}' },
      ]) {
        const res = await check(request(overrides));
        expect(res.status, JSON.stringify(overrides)).toBeLessThan(500);
        if (res.status === 200) expect(res.body.allowed).toBe(false);
      }
    });

    it('is for the HUB token only', async () => {
      expect((await check(request(), partner.apiKey)).status).toBe(403);
      expect((await check(request(), OPERATOR_TOKEN)).status).toBe(403);
      expect((await ctx.request('POST', '/v1/hub/access-check', { body: request() })).status).toBe(401);
    });
  });
});
