import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedFunctions } from '#shared/db/seeds/functions';
import { newId } from '#shared/ids';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { auditFor, createPartner, insertActivation, insertProduct, type TestPartner, walkPages } from '../support/fixtures.ts';

describe('legacy grants', () => {
  let ctx: TestContext;
  let acme: TestPartner;
  let other: TestPartner;
  beforeAll(async () => {
    ctx = await startTestContext();
    await seedFunctions(ctx.db);
    for (const id of ['OSLO1', 'BERGEN', 'TROMSO']) {
      expect((await ctx.request('POST', '/v1/installations', { token: OPERATOR_TOKEN, body: { installationId: id, name: id } })).status).toBe(201);
    }
    acme = await createPartner(ctx);
    other = await createPartner(ctx);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const grant = (partnerId: string, body: unknown, token = OPERATOR_TOKEN) =>
    ctx.request('POST', `/v1/partners/${partnerId}/legacy-grants`, { token, body });

  async function grantOk(partnerId: string, installationId: string, functionKey: string): Promise<string> {
    const res = await grant(partnerId, { installationId, functionKey });
    expect(res.status, res.text).toBe(201);
    return res.body.id;
  }

  describe('POST /v1/partners/{id}/legacy-grants', () => {
    it('records a grant (InstallationID upper-cased) and audits it against the partner', async () => {
      const res = await grant(acme.partnerId, { installationId: 'oslo1', functionKey: 'contacts.read' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^lgr_/),
        partnerId: acme.partnerId,
        installationId: 'OSLO1',
        functionKey: 'contacts.read',
        createdAt: expect.any(String),
        coveredBy: [],
      });
      const [row] = await auditFor(ctx.db, res.body.id);
      expect(row).toMatchObject({
        actor_type: 'operator',
        partner_id: acme.partnerId,
        action: 'legacy_grant.created',
        data: { installationId: 'OSLO1', functionKey: 'contacts.read' },
      });
    });

    it('refuses the same grant twice with 409', async () => {
      await grantOk(acme.partnerId, 'BERGEN', 'contacts.read');
      const res = await grant(acme.partnerId, { installationId: 'bergen', functionKey: 'contacts.read' });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('legacy_grant_exists');
      // Another partner may hold the same one.
      await grantOk(other.partnerId, 'BERGEN', 'contacts.read');
    });

    it.each([
      ['an unknown partner', () => newId('partner')],
      ['a malformed partner id', () => 'ptn_nope'],
      ['a user id', () => acme.userId],
    ])('answers 404 for %s', async (_what, id) => {
      const res = await grant(id(), { installationId: 'MSVPAR', functionKey: 'estates.read' });
      expect(res.status).toBe(404);
    });

    it('answers 422 naming each unknown reference', async () => {
      const installation = await grant(acme.partnerId, { installationId: 'NOWHERE', functionKey: 'estates.read' });
      expect(installation.status).toBe(422);
      expect(installation.body.error).toMatchObject({ code: 'unknown_reference', details: [{ path: 'body.installationId' }] });
      const fn = await grant(acme.partnerId, { installationId: 'MSVPAR', functionKey: 'unicorns.read' });
      expect(fn.status).toBe(422);
      expect(fn.body.error.details.map((d: { path: string }) => d.path)).toEqual(['body.functionKey']);
      const both = await grant(acme.partnerId, { installationId: 'NOWHERE', functionKey: 'unicorns.read' });
      expect(both.body.error.details.map((d: { path: string }) => d.path)).toEqual(['body.installationId', 'body.functionKey']);
    });

    it.each([
      ['no installationId', { functionKey: 'estates.read' }, 'body.installationId'],
      ['a malformed installationId', { installationId: 'MSV PAR', functionKey: 'estates.read' }, 'body.installationId'],
      ['no functionKey', { installationId: 'MSVPAR' }, 'body.functionKey'],
      ['a malformed functionKey', { installationId: 'MSVPAR', functionKey: 'Estates' }, 'body.functionKey'],
    ])('answers 400 naming the field for %s', async (_what, body, path) => {
      const res = await grant(acme.partnerId, body);
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    });

    it('is for operators only', async () => {
      const body = { installationId: 'TROMSO', functionKey: 'bids.read' };
      expect((await grant(acme.partnerId, body, acme.apiKey)).status).toBe(403);
      expect((await grant(acme.partnerId, body, HUB_TOKEN)).status).toBe(403);
      expect(await ctx.db('legacy_grants').where({ installation_id: 'TROMSO', function_key: 'bids.read' })).toHaveLength(0);
    });
  });

  describe('DELETE /v1/legacy-grants/{id}', () => {
    it('removes a grant and audits it; a second delete is 404', async () => {
      const id = await grantOk(acme.partnerId, 'TROMSO', 'images.read');
      expect((await ctx.request('DELETE', `/v1/legacy-grants/${id}`, { token: OPERATOR_TOKEN })).status).toBe(204);
      expect(await ctx.db('legacy_grants').where({ id })).toHaveLength(0);
      const rows = await auditFor(ctx.db, id);
      expect(rows.map((r) => r.action)).toEqual(['legacy_grant.created', 'legacy_grant.removed']);
      expect(rows[1]).toMatchObject({ partner_id: acme.partnerId, data: { installationId: 'TROMSO', functionKey: 'images.read' } });
      expect((await ctx.request('DELETE', `/v1/legacy-grants/${id}`, { token: OPERATOR_TOKEN })).status).toBe(404);
    });

    it('answers 404 for unknown and malformed ids', async () => {
      for (const id of [newId('legacyGrant'), 'lgr_x', 'nope']) {
        expect((await ctx.request('DELETE', `/v1/legacy-grants/${id}`, { token: OPERATOR_TOKEN })).status).toBe(404);
      }
    });

    it('is for operators only: a partner cannot remove even its own grant', async () => {
      const id = await grantOk(acme.partnerId, 'TROMSO', 'documents.read');
      expect((await ctx.request('DELETE', `/v1/legacy-grants/${id}`, { token: acme.apiKey })).status).toBe(403);
      expect((await ctx.request('DELETE', `/v1/legacy-grants/${id}`, { token: HUB_TOKEN })).status).toBe(403);
      expect(await ctx.db('legacy_grants').where({ id })).toHaveLength(1);
    });
  });

  describe('GET /v1/legacy-grants', () => {
    it('lists only the partner’s own grants, page by page', async () => {
      const fresh = await createPartner(ctx);
      const ids = [];
      for (const key of ['estates.read', 'contacts.read', 'images.read', 'bids.read', 'orders.read']) ids.push(await grantOk(fresh.partnerId, 'MSVPAR', key));
      await grantOk(other.partnerId, 'MSVPAR', 'estates.read');
      const { items, pages } = await walkPages(ctx, '/v1/legacy-grants?limit=2', fresh.apiKey);
      expect(pages).toEqual([2, 2, 1]);
      expect(items.map((g) => g.id)).toEqual(ids);
      expect(items.every((g) => g.partnerId === fresh.partnerId)).toBe(true);
    });

    it('is for partner keys only', async () => {
      expect((await ctx.request('GET', '/v1/legacy-grants', { token: OPERATOR_TOKEN })).status).toBe(403);
      expect((await ctx.request('GET', '/v1/legacy-grants', { token: HUB_TOKEN })).status).toBe(403);
    });

    it('says which products cover each grant, the way the access check would decide', async () => {
      const p = await createPartner(ctx);
      const rival = await createPartner(ctx);
      const grants = {
        covered: await grantOk(p.partnerId, 'OSLO1', 'estates.read'),
        twice: await grantOk(p.partnerId, 'OSLO1', 'contacts.read'),
        otherInstallation: await grantOk(p.partnerId, 'BERGEN', 'estates.read'),
        olderVersion: await grantOk(p.partnerId, 'TROMSO', 'images.read'),
        draft: await grantOk(p.partnerId, 'OSLO1', 'documents.read'),
        notAvailable: await grantOk(p.partnerId, 'MSVPAR', 'bids.read'),
        rivalOnly: await grantOk(p.partnerId, 'OSLO1', 'orders.read'),
      };

      // Active, available everywhere, activated in OSLO1 at a version granting estates.read and contacts.read.
      const main = await insertProduct(ctx.db, { partnerId: p.partnerId, versions: [['estates.read', 'contacts.read']] });
      await insertActivation(ctx.db, 'OSLO1', main, 1);
      // A second product also grants contacts.read in OSLO1.
      const extra = await insertProduct(ctx.db, { partnerId: p.partnerId, versions: [['contacts.read']] });
      await insertActivation(ctx.db, 'OSLO1', extra, 1);
      // Version 2 adds images.read, but TROMSO is still on version 1: not covered until it upgrades.
      const upgrading = await insertProduct(ctx.db, { partnerId: p.partnerId, activeVersion: 2, versions: [['expenses.read'], ['expenses.read', 'images.read']] });
      await insertActivation(ctx.db, 'TROMSO', upgrading, 1);
      // A draft product does not count, even with an activation row.
      const draft = await insertProduct(ctx.db, { partnerId: p.partnerId, status: 'draft', versions: [['documents.read']] });
      await insertActivation(ctx.db, 'OSLO1', draft, 1);
      // Restricted to OSLO1, yet activated in MSVPAR: not available there, so not covering.
      const restricted = await insertProduct(ctx.db, { partnerId: p.partnerId, availability: { mode: 'restricted', installationIds: ['OSLO1'] }, versions: [['bids.read']] });
      await insertActivation(ctx.db, 'MSVPAR', restricted, 1);
      // Another partner's product never covers this partner's grant.
      const rivals = await insertProduct(ctx.db, { partnerId: rival.partnerId, versions: [['orders.read']] });
      await insertActivation(ctx.db, 'OSLO1', rivals, 1);

      const res = await ctx.request('GET', '/v1/legacy-grants', { token: p.apiKey });
      expect(res.status).toBe(200);
      const coveredBy = Object.fromEntries(res.body.data.map((g: { id: string; coveredBy: string[] }) => [g.id, g.coveredBy]));
      expect(coveredBy).toEqual({
        [grants.covered]: [main],
        [grants.twice]: [main, extra].sort(),
        [grants.otherInstallation]: [],
        [grants.olderVersion]: [],
        [grants.draft]: [],
        [grants.notAvailable]: [],
        [grants.rivalOnly]: [],
      });

      // Once TROMSO upgrades, and once the restriction includes MSVPAR, those are covered too.
      await ctx.db('activations').where({ installation_id: 'TROMSO', product_id: upgrading }).update({ version: 2 });
      await ctx.db('products').where({ id: restricted }).update({ availability_installation_ids: ['OSLO1', 'MSVPAR'] });
      const after = await ctx.request('GET', '/v1/legacy-grants', { token: p.apiKey });
      const coveredAfter = Object.fromEntries(after.body.data.map((g: { id: string; coveredBy: string[] }) => [g.id, g.coveredBy]));
      expect(coveredAfter[grants.olderVersion]).toEqual([upgrading]);
      expect(coveredAfter[grants.notAvailable]).toEqual([restricted]);

      // The rival sees none of it.
      const theirs = await ctx.request('GET', '/v1/legacy-grants', { token: rival.apiKey });
      expect(theirs.body.data).toEqual([]);
    });
  });
});
