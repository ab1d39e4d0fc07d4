import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createFunction, createInstallation, createPartner, createProduct, type Availability } from '../support/fixtures.ts';

/** Catalog and HTTP helpers shared by the `test` and `production` runs below. */
function helpers(get: () => { ctx: TestContext; apiKey: string }) {
  const req = (method: string, path: string, body?: unknown) => get().ctx.request(method, path, { token: get().apiKey, body });
  return {
    product: async (availability: Availability = { mode: 'all' }): Promise<string> =>
      (await createProduct(get().ctx, get().apiKey, { name: `Versioner ${Math.random().toString(36).slice(2, 10)}`, functions: [], availability, activate: false })).id,
    put: (id: string, n: number | string, key: string, body: unknown = {}) => req('PUT', `/v1/products/${id}/versions/${n}/functions/${key}`, body),
    remove: (id: string, n: number | string, key: string) => req('DELETE', `/v1/products/${id}/versions/${n}/functions/${key}`),
    newVersion: (id: string) => req('POST', `/v1/products/${id}/versions`),
    activate: (id: string, n: number | string) => req('POST', `/v1/products/${id}/versions/${n}/activate`),
    get: (id: string) => req('GET', `/v1/products/${id}`),
    /** The HUB activates the product for an installation (at the active version). */
    install: (id: string, installationId: string) =>
      get().ctx.request('POST', `/v1/installations/${installationId}/products/${id}/activate`, { token: HUB_TOKEN }),
    upgrade: (id: string, installationId: string) =>
      get().ctx.request('POST', `/v1/installations/${installationId}/products/${id}/upgrade`, { token: HUB_TOKEN }),
    uninstall: (id: string, installationId: string) =>
      get().ctx.request('DELETE', `/v1/installations/${installationId}/products/${id}`, { token: HUB_TOKEN }),
  };
}

async function seedCatalog(ctx: TestContext): Promise<void> {
  await createFunction(ctx, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated'], filterFields: ['departmentId', 'estateStatus'] });
  await createFunction(ctx, { key: 'contacts.read', eventTypes: ['contact.updated'], filterFields: ['departmentId'] });
  await createFunction(ctx, { key: 'documents.read' });
}

describe('versions (test environment)', () => {
  let ctx: TestContext;
  let apiKey: string;
  let customer: string;
  const h = helpers(() => ({ ctx, apiKey }));

  beforeAll(async () => {
    ctx = await startTestContext();
    apiKey = (await createPartner(ctx, { name: 'Versioner' })).apiKey;
    customer = await createInstallation(ctx);
    await seedCatalog(ctx);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  describe('PUT and DELETE a version’s functions', () => {
    it('puts a function with filters and requireAccess, and replaces it on a second PUT', async () => {
      const id = await h.product();
      const res = await h.put(id, 1, 'estates.read', { filters: { estateStatus: ['sold', 'sold', 'archived'], departmentId: ['d1'] }, requireAccess: false });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        number: 1,
        status: 'draft',
        functions: [{ key: 'estates.read', requireAccess: false, filters: { departmentId: ['d1'], estateStatus: ['sold', 'archived'] } }],
      });
      const again = await h.put(id, 1, 'estates.read', {});
      expect(again.body.functions).toEqual([{ key: 'estates.read', requireAccess: true, filters: {} }]);
      const audit = await ctx.db('audit_log').where({ target_id: id }).whereIn('action', ['product.version_function_added', 'product.version_function_changed']);
      expect(audit.map((a) => a.action).sort()).toEqual(['product.version_function_added', 'product.version_function_changed']);
    });

    it('answers 422 for a function not in the catalog, naming params.functionKey', async () => {
      const id = await h.product();
      const res = await h.put(id, 1, 'nosuch.function');
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'unknown_function', details: [{ path: 'params.functionKey' }] });
      // A NUL in a path parameter is refused before the route looks the key up, naming it.
      for (const bad of [await h.put(id, 1, 'bad%00key'), await h.remove(id, 1, 'bad%00key')]) {
        expect(bad.status).toBe(400);
        expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'params.functionKey', code: 'nul_character' })]);
      }
    });

    it('answers 422 naming each filter field the function does not declare', async () => {
      const id = await h.product();
      const res = await h.put(id, 1, 'contacts.read', { filters: { departmentId: ['d1'], estateStatus: ['sold'] } });
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'unknown_filter_field', details: [{ path: 'body.filters.estateStatus' }] });
      const none = await h.put(id, 1, 'documents.read', { filters: { departmentId: ['d1'] } });
      expect(none.status).toBe(422);
      expect(none.body.error.details[0].path).toBe('body.filters.departmentId');
    });

    it.each([
      [{ filters: { departmentId: 'd1' } }, 'body.filters.departmentId'],
      [{ filters: { departmentId: [] } }, 'body.filters.departmentId'],
      [{ filters: { departmentId: [7] } }, 'body.filters.departmentId.0'],
      [{ filters: ['departmentId'] }, 'body.filters'],
      [{ requireAccess: 'yes' }, 'body.requireAccess'],
      [{ filter: {} }, 'body.filter'],
      [{ filters: { departmentId: ['\u0000'] } }, 'body.filters.departmentId.0'],
    ])('answers 400 naming the field for %j', async (body, path) => {
      const id = await h.product();
      const res = await h.put(id, 1, 'estates.read', body);
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    });

    it('answers 404 for a version the product does not have', async () => {
      const id = await h.product();
      for (const n of ['2', '0', 'abc', '-1', '1.5', '99999999999']) {
        expect((await h.put(id, n, 'estates.read')).status, n).toBe(404);
        expect((await h.activate(id, n)).status, n).toBe(404);
      }
    });

    it('removes a function (204), and answers 404 for one the version does not have', async () => {
      const id = await h.product();
      await h.put(id, 1, 'estates.read');
      expect((await h.remove(id, 1, 'estates.read')).status).toBe(204);
      expect((await h.get(id)).body.versions[0].functions).toEqual([]);
      expect((await h.remove(id, 1, 'estates.read')).status).toBe(404);
      expect((await h.remove(id, 1, 'nosuch.function')).status).toBe(404);
    });
  });

  describe('new versions and activation', () => {
    it('makes a new draft version copying the latest version’s functions', async () => {
      const id = await h.product();
      await h.put(id, 1, 'estates.read', { filters: { departmentId: ['d1'] } });
      await h.put(id, 1, 'contacts.read', { requireAccess: false });
      const v2 = await h.newVersion(id);
      expect(v2.status).toBe(201);
      expect(v2.body).toMatchObject({
        number: 2,
        status: 'draft',
        activations: 0,
        functions: [
          { key: 'contacts.read', requireAccess: false, filters: {} },
          { key: 'estates.read', requireAccess: true, filters: { departmentId: ['d1'] } },
        ],
      });
      // Changing the copy leaves the original alone.
      await h.remove(id, 2, 'contacts.read');
      const product = (await h.get(id)).body;
      expect(product.latestVersion).toBe(2);
      expect(product.versions.map((v: { functions: unknown[] }) => v.functions.length)).toEqual([2, 1]);
    });

    it('activates a version: the product becomes active, the previous version is superseded', async () => {
      const id = await h.product();
      const empty = await h.activate(id, 1);
      expect(empty.status).toBe(422);
      expect(empty.body.error.code).toBe('version_empty');

      await h.put(id, 1, 'estates.read');
      const first = await h.activate(id, 1);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ status: 'active', activeVersion: 1, versions: [{ number: 1, status: 'active', activatedAt: expect.any(String) }] });

      await h.newVersion(id);
      const second = await h.activate(id, 2);
      expect(second.status).toBe(200);
      expect(second.body).toMatchObject({ activeVersion: 2, versions: [{ number: 1, status: 'superseded' }, { number: 2, status: 'active' }] });

      const backwards = await h.activate(id, 1);
      expect(backwards.status).toBe(409);
      expect(backwards.body.error.code).toBe('older_than_active');
      expect((await h.activate(id, 2)).status).toBe(200);
      const audit = await ctx.db('audit_log').where({ action: 'product.version_activated', target_id: id });
      expect(audit).toHaveLength(2);
    });
  });

  describe('the version rule in the test environment', () => {
    it('lets a version activated only in MSVPAR be changed in place', async () => {
      const id = await h.product({ mode: 'restricted', installationIds: ['MSVPAR', customer] });
      await h.put(id, 1, 'estates.read');
      await h.activate(id, 1);
      expect((await h.install(id, 'MSVPAR')).status).toBe(200);
      expect((await h.put(id, 1, 'contacts.read')).status).toBe(200);
      expect((await h.put(id, 1, 'estates.read', { filters: { departmentId: ['d9'] } })).status).toBe(200);
      expect((await h.remove(id, 1, 'contacts.read')).status).toBe(204);
    });

    it('lets the current version be changed in place even where other installations have it', async () => {
      const id = await h.product({ mode: 'restricted', installationIds: ['MSVPAR', customer] });
      await h.put(id, 1, 'estates.read');
      await h.activate(id, 1);
      expect((await h.install(id, customer)).status).toBe(200);
      expect((await h.put(id, 1, 'contacts.read')).status).toBe(200);
      expect((await h.remove(id, 1, 'contacts.read')).status).toBe(204);
    });

    it('refuses changing an older version that other installations have: new_version_required', async () => {
      const id = await h.product({ mode: 'restricted', installationIds: ['MSVPAR', customer] });
      await h.put(id, 1, 'estates.read');
      await h.activate(id, 1);
      await h.install(id, customer);
      expect((await h.newVersion(id)).status).toBe(201);
      const add = await h.put(id, 1, 'contacts.read');
      expect(add.status).toBe(409);
      expect(add.body.error).toMatchObject({ code: 'new_version_required', details: [{ path: 'params.version' }] });
      expect((await h.remove(id, 1, 'estates.read')).status).toBe(409);
      // The new version is the current one: it may change.
      expect((await h.put(id, 2, 'contacts.read')).status).toBe(200);
    });
  });
});

describe('versions (production environment)', () => {
  let ctx: TestContext;
  let apiKey: string;
  let customer: string;
  const h = helpers(() => ({ ctx, apiKey }));

  beforeAll(async () => {
    ctx = await startTestContext({ env: { HUBHOOK_ENV: 'production' } });
    apiKey = (await createPartner(ctx, { name: 'Versioner' })).apiKey;
    customer = await createInstallation(ctx);
    await seedCatalog(ctx);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('lets a version no installation has activated change, even once the partner activated it', async () => {
    const id = await h.product();
    await h.put(id, 1, 'estates.read');
    await h.activate(id, 1);
    expect((await h.put(id, 1, 'contacts.read')).status).toBe(200);
    expect((await h.remove(id, 1, 'contacts.read')).status).toBe(204);
  });

  it('lets a version activated only in MSVPAR be changed in place', async () => {
    const id = await h.product();
    await h.put(id, 1, 'estates.read');
    await h.activate(id, 1);
    expect((await h.install(id, 'MSVPAR')).status).toBe(200);
    expect((await h.put(id, 1, 'contacts.read')).status).toBe(200);
    expect((await h.put(id, 1, 'estates.read', { filters: { estateStatus: ['sold'] } })).status).toBe(200);
    expect((await h.remove(id, 1, 'contacts.read')).status).toBe(204);
  });

  it('refuses any change to a version another installation has activated, and changes nothing', async () => {
    const id = await h.product();
    await h.put(id, 1, 'estates.read', { filters: { departmentId: ['d1'] } });
    await h.activate(id, 1);
    expect((await h.install(id, 'MSVPAR')).status).toBe(200);
    expect((await h.install(id, customer)).status).toBe(200);

    const add = await h.put(id, 1, 'contacts.read');
    expect(add.status).toBe(409);
    expect(add.body.error.code).toBe('new_version_required');
    expect(add.body.error.message).toContain('1 installation other than MSVPAR');
    expect((await h.put(id, 1, 'estates.read', { filters: { departmentId: ['d2'] } })).status).toBe(409);
    expect((await h.put(id, 1, 'estates.read', { filters: { departmentId: ['d1'] }, requireAccess: false })).status).toBe(409);
    expect((await h.remove(id, 1, 'estates.read')).status).toBe(409);
    // Repeating what the version already says is not a change.
    expect((await h.put(id, 1, 'estates.read', { filters: { departmentId: ['d1'] } })).status).toBe(200);
    expect((await h.get(id)).body.versions[0].functions).toEqual([{ key: 'estates.read', requireAccess: true, filters: { departmentId: ['d1'] } }]);
  });

  it('takes the change in a new version; the lock follows the installations', async () => {
    const id = await h.product();
    await h.put(id, 1, 'estates.read');
    await h.activate(id, 1);
    await h.install(id, customer);
    expect((await h.put(id, 1, 'contacts.read')).status).toBe(409);

    expect((await h.newVersion(id)).status).toBe(201);
    expect((await h.put(id, 2, 'contacts.read')).status).toBe(200);
    expect((await h.activate(id, 2)).status).toBe(200);
    // Still refused on 1 (the customer is on it), fine on 2 (nobody is).
    expect((await h.put(id, 1, 'documents.read')).status).toBe(409);
    expect((await h.put(id, 2, 'documents.read')).status).toBe(200);

    // The customer upgrades: now 2 is locked and 1 (held by nobody) is free.
    expect((await h.upgrade(id, customer)).status).toBe(200);
    expect((await h.remove(id, 2, 'documents.read')).status).toBe(409);
    expect((await h.remove(id, 1, 'estates.read')).status).toBe(204);

    // Deactivating releases it too.
    expect((await h.uninstall(id, customer)).status).toBe(204);
    expect((await h.remove(id, 2, 'documents.read')).status).toBe(204);
  });
});
