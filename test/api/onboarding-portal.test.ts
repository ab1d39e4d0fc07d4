import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedFunctions } from '#shared/db/seeds/functions';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createPartner, insertActivation, insertProduct, walkPages } from '../support/fixtures.ts';

/**
 * Onboarding where it meets the portal: invitations from POST /v1/users (outbox path), the
 * catalog search, and legacy clean-up requests.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestContext();
  await seedFunctions(ctx.db);
});
afterAll(async () => {
  await ctx.stop();
});

describe('invitations', () => {
  it('writes the invitation mail with the user, and none when the address is taken', async () => {
    const partner = await createPartner(ctx, { name: 'Invites AS' });
    const added = await ctx.request('POST', '/v1/users', { token: partner.apiKey, body: { email: 'Invited@Invites.test' } });
    expect(added.status).toBe(201);
    const mails = await ctx.db('mail_outbox').where({ to_address: 'invited@invites.test' });
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ kind: 'invitation', status: 'pending', subject: 'You have been given access to Invites AS on hubhook' });
    expect(mails[0].text_body).toContain(`by ${partner.email}`);

    const again = await ctx.request('POST', '/v1/users', { token: partner.apiKey, body: { email: 'invited@invites.test' } });
    expect(again.status).toBe(409);
    expect(await ctx.db('mail_outbox').where({ to_address: 'invited@invites.test' })).toHaveLength(1);
  });
});

describe('GET /v1/functions?q=', () => {
  const keys = async (query: string, token = OPERATOR_TOKEN) => {
    const res = await ctx.request('GET', `/v1/functions?limit=500&q=${encodeURIComponent(query)}`, { token });
    expect(res.status, res.text).toBe(200);
    return res.body.data.map((f: { key: string }) => f.key) as string[];
  };

  it('matches key, name and description, case-insensitively', async () => {
    expect(await keys('ESTATES.READ')).toEqual(['estates.read']);
    expect(await keys('Write contacts')).toEqual(['contacts.write']);
    // Only in a description: "leads registered by a partner’s website".
    expect(await keys('website')).toEqual(['contacts.write']);
    const estates = await keys('estate');
    expect(estates).toEqual(expect.arrayContaining(['estates.read', 'estates.write']));
  });

  it('keeps only functions holding every word', async () => {
    const found = await keys('estate read');
    expect(found).toContain('estates.read');
    expect(found).not.toContain('estates.write');
  });

  it('treats LIKE wildcards as plain characters, and an empty q as no filter', async () => {
    expect(await keys('%')).toEqual([]);
    expect(await keys('estates_read')).toEqual([]);
    const all = await ctx.request('GET', '/v1/functions?limit=500', { token: OPERATOR_TOKEN });
    expect(await keys('')).toHaveLength(all.body.data.length);
  });

  it('pages through the results and works for every kind of token', async () => {
    const whole = await keys('read');
    const { items, pages } = await walkPages(ctx, `/v1/functions?limit=2&q=read`, HUB_TOKEN);
    expect(items.map((f) => f.key)).toEqual(whole);
    expect(pages.length).toBeGreaterThan(1);
    const partner = await createPartner(ctx);
    expect(await keys('read', partner.apiKey)).toEqual(whole);
  });

  it('refuses a q too long or with a NUL character with 400', async () => {
    for (const q of ['x'.repeat(201), 'estate\u0000']) {
      const res = await ctx.request('GET', `/v1/functions?q=${encodeURIComponent(q)}`, { token: OPERATOR_TOKEN });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].path).toBe('query.q');
    }
  });
});

describe('legacy clean-up requests', () => {
  async function partnerWithGrants() {
    const partner = await createPartner(ctx);
    const grant = async (functionKey: string) => {
      const res = await ctx.request('POST', `/v1/partners/${partner.partnerId}/legacy-grants`, {
        token: OPERATOR_TOKEN,
        body: { installationId: 'MSVPAR', functionKey },
      });
      expect(res.status, res.text).toBe(201);
      return res.body.id as string;
    };
    const covered = await grant('estates.read');
    const uncovered = await grant('contacts.read');
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [['estates.read']] });
    await insertActivation(ctx.db, 'MSVPAR', productId, 1);
    return { partner, covered, uncovered, productId };
  }

  it('records the grants the partner’s products cover now, once at a time', async () => {
    const { partner, covered, productId } = await partnerWithGrants();
    const res = await ctx.request('POST', '/v1/legacy-grants/clean-up-request', { token: partner.apiKey, body: { note: 'we moved to products' } });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^lcr_/),
      partnerId: partner.partnerId,
      requestedBy: partner.userId,
      note: 'we moved to products',
      status: 'open',
      grants: [{ grantId: covered, installationId: 'MSVPAR', functionKey: 'estates.read', coveredBy: [productId] }],
      resolvedAt: null,
    });
    const again = await ctx.request('POST', '/v1/legacy-grants/clean-up-request', { token: partner.apiKey });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('clean_up_pending');

    const listed = await ctx.request('GET', '/v1/ops/clean-up-requests?status=open', { token: OPERATOR_TOKEN });
    expect(listed.body.data.map((r: { id: string }) => r.id)).toContain(res.body.id);
    expect((await ctx.request('GET', '/v1/ops/clean-up-requests', { token: partner.apiKey })).status).toBe(403);
  });

  it('answers 422 nothing_to_clean_up when no grant is covered', async () => {
    const partner = await createPartner(ctx);
    await ctx.request('POST', `/v1/partners/${partner.partnerId}/legacy-grants`, {
      token: OPERATOR_TOKEN,
      body: { installationId: 'MSVPAR', functionKey: 'estates.read' },
    });
    const res = await ctx.request('POST', '/v1/legacy-grants/clean-up-request', { token: partner.apiKey });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('nothing_to_clean_up');
  });

  it('lets operators resolve a request, removing the grants still covered and only those', async () => {
    const { partner, covered, uncovered } = await partnerWithGrants();
    const request = await ctx.request('POST', '/v1/legacy-grants/clean-up-request', { token: partner.apiKey });
    const resolved = await ctx.request('POST', `/v1/ops/clean-up-requests/${request.body.id}/resolve`, {
      token: OPERATOR_TOKEN,
      body: { removeGrants: true },
    });
    expect(resolved.status, resolved.text).toBe(200);
    expect(resolved.body).toMatchObject({ request: { status: 'done', resolvedAt: expect.any(String) }, removedGrantIds: [covered], keptGrantIds: [] });
    const left = await ctx.db('legacy_grants').where({ partner_id: partner.partnerId }).pluck('id');
    expect(left).toEqual([uncovered]);

    const again = await ctx.request('POST', `/v1/ops/clean-up-requests/${request.body.id}/resolve`, { token: OPERATOR_TOKEN, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('clean_up_resolved');
    const actions = await ctx.db('audit_log').where({ target_id: request.body.id }).orderBy('id').pluck('action');
    expect(actions).toEqual(['legacy_clean_up.requested', 'legacy_clean_up.resolved']);
  });

  it('keeps a grant a product stopped covering since the request', async () => {
    const { partner, covered, productId } = await partnerWithGrants();
    const request = await ctx.request('POST', '/v1/legacy-grants/clean-up-request', { token: partner.apiKey });
    await ctx.db('activations').where({ product_id: productId }).delete();
    const resolved = await ctx.request('POST', `/v1/ops/clean-up-requests/${request.body.id}/resolve`, {
      token: OPERATOR_TOKEN,
      body: { removeGrants: true },
    });
    expect(resolved.body).toMatchObject({ removedGrantIds: [], keptGrantIds: [covered] });
    expect(await ctx.db('legacy_grants').where({ id: covered })).toHaveLength(1);
  });

  it('answers unknown or malformed request ids with 404, and a bad body with 400', async () => {
    for (const id of ['lcr_0000000000000000000a', 'nope']) {
      const res = await ctx.request('POST', `/v1/ops/clean-up-requests/${id}/resolve`, { token: OPERATOR_TOKEN, body: {} });
      expect(res.status).toBe(404);
    }
    const partner = await createPartner(ctx);
    const bad = await ctx.request('POST', '/v1/legacy-grants/clean-up-request', { token: partner.apiKey, body: { note: 42 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('body.note');
  });
});

describe('POST /v1/hub/access-check with account-level credentials', () => {
  const check = (body: Record<string, unknown>) => ctx.request('POST', '/v1/hub/access-check', { token: HUB_TOKEN, body });

  async function accountPartner() {
    const partner = await createPartner(ctx);
    const grant = await ctx.request('POST', `/v1/partners/${partner.partnerId}/legacy-grants`, {
      token: OPERATOR_TOKEN,
      body: { installationId: 'MSVPAR', functionKey: 'estates.read' },
    });
    expect(grant.status, grant.text).toBe(201);
    const issued = await ctx.request('POST', `/v1/partners/${partner.partnerId}/account-credentials`, { token: OPERATOR_TOKEN });
    expect(issued.status, issued.text).toBe(201);
    return { partner, grantId: grant.body.id as string, login: issued.body.login as string, accessKey: issued.body.accessKey as string, keyId: issued.body.id as string };
  }

  it('allows what the partner’s legacy grants allow, via "account", with a hint towards product credentials', async () => {
    const { partner, login, accessKey } = await accountPartner();
    const res = await check({ login, accessKey, installationId: 'MSVPAR', functionKey: 'estates.read' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      allowed: true,
      reason: 'legacy_grant',
      via: 'account',
      partnerId: partner.partnerId,
      hint: expect.stringContaining('product credentials are preferred'),
    });
  });

  it('denies, with a reason, anything a legacy grant does not allow — even what the partner’s products grant', async () => {
    const { partner, login, accessKey, grantId } = await accountPartner();
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [['contacts.read']] });
    await insertActivation(ctx.db, 'MSVPAR', productId, 1);
    const reason = async (over: Record<string, string>) =>
      (await check({ login, accessKey, installationId: 'MSVPAR', functionKey: 'estates.read', ...over })).body;

    expect(await reason({ functionKey: 'contacts.read' })).toMatchObject({ allowed: false, reason: 'no_legacy_grant', via: null, partnerId: partner.partnerId, hint: expect.any(String) });
    expect(await reason({ installationId: 'NOSUCH' })).toMatchObject({ allowed: false, reason: 'unknown_installation' });
    expect(await reason({ functionKey: 'nosuch.read' })).toMatchObject({ allowed: false, reason: 'unknown_function' });
    expect(await reason({ accessKey: `${accessKey}x` })).toMatchObject({ allowed: false, reason: 'invalid_key', via: null });
    expect(await reason({ login: 'acct_0000000000000000' })).toEqual({ allowed: false, reason: 'unknown_login', via: null });

    await ctx.request('DELETE', `/v1/legacy-grants/${grantId}`, { token: OPERATOR_TOKEN });
    expect(await reason({})).toMatchObject({ allowed: false, reason: 'no_legacy_grant' });
  });

  it('refuses a revoked key, and an account key is not a bearer token', async () => {
    const { partner, login, accessKey, keyId } = await accountPartner();
    await ctx.request('DELETE', `/v1/partners/${partner.partnerId}/account-credentials/${keyId}`, { token: OPERATOR_TOKEN });
    expect((await check({ login, accessKey, installationId: 'MSVPAR', functionKey: 'estates.read' })).body).toMatchObject({
      allowed: false,
      reason: 'key_revoked',
      via: null,
    });
    expect((await ctx.request('GET', '/v1/me', { token: accessKey })).status).toBe(401);
  });
});

describe('POST /v1/ops/products/{id}/activate-test', () => {
  it('activates a partner’s active product in MSVPAR, once, audited as the operator', async () => {
    const partner = await createPartner(ctx);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [['estates.read']] });
    const res = await ctx.request('POST', `/v1/ops/products/${productId}/activate-test`, { token: OPERATOR_TOKEN });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: productId, activation: { version: 1 }, upgradeAvailable: false });
    expect(await ctx.db('activations').where({ product_id: productId }).pluck('installation_id')).toEqual(['MSVPAR']);
    const again = await ctx.request('POST', `/v1/ops/products/${productId}/activate-test`, { token: OPERATOR_TOKEN });
    expect(again.status).toBe(200);
    const audit = await ctx.db('audit_log').where({ action: 'installation.product_activated', target_id: 'MSVPAR', partner_id: partner.partnerId });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_type: 'operator' });
  });

  it('answers 409 for a draft product or one not available to MSVPAR, 404 for an unknown one, 403 for a partner', async () => {
    const partner = await createPartner(ctx);
    const draft = await insertProduct(ctx.db, { partnerId: partner.partnerId, status: 'draft' });
    const elsewhere = await insertProduct(ctx.db, {
      partnerId: partner.partnerId,
      versions: [['estates.read']],
      availability: { mode: 'restricted', installationIds: ['OTHER1'] },
    });
    const call = (id: string, token = OPERATOR_TOKEN) => ctx.request('POST', `/v1/ops/products/${id}/activate-test`, { token });
    expect((await call(draft)).body.error.code).toBe('product_inactive');
    expect((await call(elsewhere)).body.error.code).toBe('not_available');
    expect((await call(elsewhere)).status).toBe(409);
    expect((await call('prd_0000000000000000000a')).status).toBe(404);
    expect((await call('nope')).status).toBe(404);
    expect((await call(draft, partner.apiKey)).status).toBe(403);
  });
});
