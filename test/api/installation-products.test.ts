import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createFunction, createInstallation, createPartner, createProduct, type TestPartner } from '../support/fixtures.ts';
import { eventually } from '../support/poll.ts';
import { recordUpgradeNotices } from '#worker/notify/upgrade-available';
import type { WorkerDeps } from '#worker/job';

describe('installations’ products (HUB acting for an installation)', () => {
  let ctx: TestContext;
  let partner: TestPartner;
  let customer: string;
  let bystander: string;

  beforeAll(async () => {
    // Workers run: activating a version queues the upgrade-notice job, which must really run.
    ctx = await startTestContext({ workers: true, env: { UPGRADE_NOTICE_DELAY: '100ms' } });
    partner = await createPartner(ctx, { name: 'Shelf' });
    customer = await createInstallation(ctx);
    bystander = await createInstallation(ctx);
    await createFunction(ctx, { key: 'estates.read', eventTypes: ['estate.updated'], filterFields: ['departmentId'] });
    await createFunction(ctx, { key: 'contacts.read' });
    await createFunction(ctx, { key: 'documents.read' });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const hub = (method: string, path: string, body?: unknown) => ctx.request(method, path, { token: HUB_TOKEN, body });
  const partnerCall = (method: string, path: string, body?: unknown) => ctx.request(method, path, { token: partner.apiKey, body });

  it('lists only active products available to the installation', async () => {
    const installation = await createInstallation(ctx);
    const open = await createProduct(ctx, partner.apiKey, { name: 'Shelf Open', functions: ['estates.read'], availability: { mode: 'all' } });
    const mine = await createProduct(ctx, partner.apiKey, {
      name: 'Shelf Mine',
      functions: ['contacts.read'],
      availability: { mode: 'restricted', installationIds: [installation] },
    });
    await createProduct(ctx, partner.apiKey, { name: 'Shelf Elsewhere', functions: ['estates.read'], availability: { mode: 'restricted', installationIds: [bystander] } });
    const draft = await createProduct(ctx, partner.apiKey, { name: 'Shelf Draft', functions: [], availability: { mode: 'all' }, activate: false });

    const res = await hub('GET', `/v1/installations/${installation}/products`);
    expect(res.status).toBe(200);
    const ids = res.body.data.map((p: { id: string }) => p.id);
    expect(ids).toContain(open.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(draft.id);
    expect(res.body.data.map((p: { name: string }) => p.name)).not.toContain('Shelf Elsewhere');
    expect(res.body.data.find((p: { id: string }) => p.id === mine.id)).toEqual({
      id: mine.id,
      name: 'Shelf Mine',
      type: 'rights',
      description: '',
      orderUrl: null,
      partner: { id: partner.partnerId, name: 'Shelf' },
      activeVersion: 1,
      functions: ['contacts.read'],
      activation: null,
      upgradeAvailable: false,
    });
  });

  it('activates at the active version; activating again changes nothing', async () => {
    const product = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    const res = await hub('POST', `/v1/installations/${customer}/products/${product.id}/activate`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: product.id, activation: { version: 1, activatedAt: expect.any(String) }, upgradeAvailable: false });
    const again = await hub('POST', `/v1/installations/${customer}/products/${product.id}/activate`);
    expect(again.status).toBe(200);
    expect(again.body.activation.activatedAt).toBe(res.body.activation.activatedAt);
    const audit = await ctx.db('audit_log').where({ action: 'installation.product_activated', target_id: customer });
    expect(audit).toEqual([expect.objectContaining({ actor_type: 'hub', partner_id: partner.partnerId })]);
  });

  it('answers 404 for an unknown installation or product, 409 for a product not offered to the installation', async () => {
    const elsewhere = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'restricted', installationIds: [bystander] } });
    const draft = await createProduct(ctx, partner.apiKey, { name: 'Shelf Unready', functions: [], availability: { mode: 'all' }, activate: false });

    expect((await hub('GET', '/v1/installations/NOSUCH/products')).status).toBe(404);
    expect((await hub('GET', '/v1/installations/NOSUCH/notifications')).status).toBe(404);
    for (const bad of [await hub('GET', '/v1/installations/BAD%00ID/products'), await hub('POST', `/v1/installations/BAD%00ID/products/${elsewhere.id}/activate`)]) {
      expect(bad.status).toBe(400);
      expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'params.installationId', code: 'nul_character' })]);
    }
    expect((await hub('POST', `/v1/installations/NOSUCH/products/${elsewhere.id}/activate`)).status).toBe(404);
    for (const id of ['prd_00000000000000000000', 'junk']) {
      const res = await hub('POST', `/v1/installations/${customer}/products/${id}/activate`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const restricted = await hub('POST', `/v1/installations/${customer}/products/${elsewhere.id}/activate`);
    expect(restricted.status).toBe(409);
    expect(restricted.body.error.code).toBe('not_available');
    const inactive = await hub('POST', `/v1/installations/${customer}/products/${draft.id}/activate`);
    expect(inactive.status).toBe(409);
    expect(inactive.body.error.code).toBe('product_inactive');
    expect((await hub('GET', `/v1/installations/${customer}/products/${elsewhere.id}/upgrade`)).status).toBe(409);
  });

  it('answers 404 for an upgrade or deactivation of a product the installation has not activated', async () => {
    const product = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    expect((await hub('GET', `/v1/installations/${bystander}/products/${product.id}/upgrade`)).status).toBe(404);
    expect((await hub('POST', `/v1/installations/${bystander}/products/${product.id}/upgrade`)).status).toBe(404);
    expect((await hub('DELETE', `/v1/installations/${bystander}/products/${product.id}`)).status).toBe(404);
  });

  it('is for the HUB token only', async () => {
    for (const token of [partner.apiKey, OPERATOR_TOKEN]) {
      expect((await ctx.request('GET', `/v1/installations/${customer}/products`, { token })).status).toBe(403);
      expect((await ctx.request('GET', `/v1/installations/${customer}/notifications`, { token })).status).toBe(403);
    }
    expect((await ctx.request('GET', `/v1/installations/${customer}/products`)).status).toBe(401);
  });

  it('runs the upgrade flow end to end: notice, upgradable first, difference, confirm', async () => {
    const installation = await createInstallation(ctx);
    const product = await createProduct(ctx, partner.apiKey, {
      name: 'Shelf Upgrade',
      functions: ['estates.read', 'contacts.read'],
      availability: { mode: 'restricted', installationIds: [installation, bystander] },
    });
    // Another product, activated and current, named to sort before it.
    const steady = await createProduct(ctx, partner.apiKey, {
      name: 'Shelf AAA Steady',
      functions: ['estates.read'],
      availability: { mode: 'restricted', installationIds: [installation] },
    });
    expect((await hub('POST', `/v1/installations/${installation}/products/${product.id}/activate`)).status).toBe(200);
    expect((await hub('POST', `/v1/installations/${installation}/products/${steady.id}/activate`)).status).toBe(200);
    // The bystander may see the product but has not activated it: it gets no notice.

    const v2 = await partnerCall('POST', `/v1/products/${product.id}/versions`);
    expect(v2.status).toBe(201);
    expect((await partnerCall('PUT', `/v1/products/${product.id}/versions/2/functions/documents.read`)).status).toBe(200);
    expect((await partnerCall('PUT', `/v1/products/${product.id}/versions/2/functions/estates.read`, { filters: { departmentId: ['d1'] } })).status).toBe(200);
    expect((await partnerCall('DELETE', `/v1/products/${product.id}/versions/2/functions/contacts.read`)).status).toBe(204);
    // Before activation the installation still sees version 1 as current.
    const before = await hub('GET', `/v1/installations/${installation}/products/${product.id}/upgrade`);
    expect(before.body).toMatchObject({ from: 1, to: 1, functionsAdded: [], functionsRemoved: [] });

    expect((await partnerCall('POST', `/v1/products/${product.id}/versions/2/activate`)).status).toBe(200);

    const notices = await eventually(async () => {
      const res = await hub('GET', `/v1/installations/${installation}/notifications`);
      return res.body.data.length > 0 ? res.body.data : undefined;
    });
    expect(notices).toEqual([
      {
        id: expect.stringMatching(/^ntf_/),
        kind: 'upgrade_available',
        productId: product.id,
        message: expect.stringContaining('version 2'),
        data: { productId: product.id, productName: 'Shelf Upgrade', from: 1, to: 2 },
        createdAt: expect.any(String),
        readAt: null,
      },
    ]);
    expect((await hub('GET', `/v1/installations/${bystander}/notifications`)).body.data).toEqual([]);

    // Upgradable first, ahead of a name that sorts before it (and of products open to all, from other tests).
    const list = await hub('GET', `/v1/installations/${installation}/products`);
    const shown = list.body.data.map((p: { id: string; upgradeAvailable: boolean }) => [p.id, p.upgradeAvailable]);
    expect(shown[0]).toEqual([product.id, true]);
    expect(shown).toContainEqual([steady.id, false]);

    const diff = await hub('GET', `/v1/installations/${installation}/products/${product.id}/upgrade`);
    expect(diff.status).toBe(200);
    expect(diff.body).toEqual({
      productId: product.id,
      from: 1,
      to: 2,
      functionsAdded: ['documents.read'],
      functionsRemoved: ['contacts.read'],
      functionsChanged: ['estates.read'],
    });

    // Until confirmed, the installation still grants version 1 only.
    const activation = await ctx.db('activations').where({ installation_id: installation, product_id: product.id }).first();
    expect(activation.version).toBe(1);

    const stale = await hub('POST', `/v1/installations/${installation}/products/${product.id}/upgrade`, { version: 3 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('upgrade_target_changed');

    const upgraded = await hub('POST', `/v1/installations/${installation}/products/${product.id}/upgrade`, { version: 2 });
    expect(upgraded.status).toBe(200);
    expect(upgraded.body).toMatchObject({ activation: { version: 2 }, upgradeAvailable: false, functions: ['documents.read', 'estates.read'] });
    const again = await hub('POST', `/v1/installations/${installation}/products/${product.id}/upgrade`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('no_upgrade_available');

    const read = await hub('GET', `/v1/installations/${installation}/notifications`);
    expect(read.body.data[0].readAt).toEqual(expect.any(String));
    const audit = await ctx.db('audit_log').where({ action: 'installation.product_upgraded', target_id: installation }).first();
    expect(audit.data).toEqual({ productId: product.id, from: 1, to: 2 });
  });

  it('records each notice once, however often the job runs', async () => {
    const installation = await createInstallation(ctx);
    const product = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    await hub('POST', `/v1/installations/${installation}/products/${product.id}/activate`);
    await partnerCall('POST', `/v1/products/${product.id}/versions`);
    await partnerCall('PUT', `/v1/products/${product.id}/versions/2/functions/contacts.read`);
    await partnerCall('POST', `/v1/products/${product.id}/versions/2/activate`);
    await eventually(async () => ((await hub('GET', `/v1/installations/${installation}/notifications`)).body.data.length > 0 ? true : undefined));

    // The partner activates again (queues the job again), and the handler runs by hand twice more.
    expect((await partnerCall('POST', `/v1/products/${product.id}/versions/2/activate`)).status).toBe(200);
    const deps = { config: ctx.config, db: ctx.db, queues: ctx.queues, logger: ctx.logger } as WorkerDeps;
    const log = ctx.logger;
    for (let i = 0; i < 2; i++) await recordUpgradeNotices({ productId: product.id, version: 2 }, { job: {} as never, log, deps });
    const rows = await ctx.db('notifications').where({ installation_id: installation, product_id: product.id });
    expect(rows).toHaveLength(1);
  });

  it('pages the installation’s product list', async () => {
    const installation = await createInstallation(ctx);
    for (const n of [1, 2, 3]) {
      await createProduct(ctx, partner.apiKey, { name: `Shelf Page ${n}`, functions: ['estates.read'], availability: { mode: 'restricted', installationIds: [installation] } });
    }
    // Products open to all installations (from other tests) are listed too: walk every page.
    const whole = await hub('GET', `/v1/installations/${installation}/products?limit=500`);
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await hub('GET', `/v1/installations/${installation}/products?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      walked.push(...page.body.data.map((p: { name: string }) => p.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(walked).toEqual(whole.body.data.map((p: { name: string }) => p.name));
    expect(walked.filter((name) => name.startsWith('Shelf Page'))).toEqual(['Shelf Page 1', 'Shelf Page 2', 'Shelf Page 3']);
    expect((await hub('GET', `/v1/installations/${installation}/products?cursor=x`)).status).toBe(400);
  });

  it('deactivates (204), after which the product is offered but not activated', async () => {
    const installation = await createInstallation(ctx);
    const product = await createProduct(ctx, partner.apiKey, { functions: ['estates.read'], availability: { mode: 'all' } });
    await hub('POST', `/v1/installations/${installation}/products/${product.id}/activate`);
    expect((await hub('DELETE', `/v1/installations/${installation}/products/${product.id}`)).status).toBe(204);
    expect((await hub('DELETE', `/v1/installations/${installation}/products/${product.id}`)).status).toBe(404);
    const list = await hub('GET', `/v1/installations/${installation}/products`);
    expect(list.body.data.find((p: { id: string }) => p.id === product.id).activation).toBeNull();
    const audit = await ctx.db('audit_log').where({ action: 'installation.product_deactivated', target_id: installation });
    expect(audit).toHaveLength(1);
  });
});
