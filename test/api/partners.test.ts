import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { auditFor, createPartner, walkPages } from '../support/fixtures.ts';

describe('partners (operator)', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('creates a partner with its contact person and a working API key', async () => {
    const res = await ctx.request('POST', '/v1/partners', {
      token: OPERATOR_TOKEN,
      body: { name: '  Fotograf Nord AS ', contactEmail: ' Kari.Nord@Example.COM ' },
    });
    expect(res.status).toBe(201);
    expect(res.body.partner).toEqual({
      id: expect.stringMatching(/^ptn_[0-9a-z]{20}$/),
      name: 'Fotograf Nord AS',
      contactEmail: 'kari.nord@example.com',
      createdAt: expect.any(String),
    });
    expect(res.body.user).toMatchObject({ partnerId: res.body.partner.id, email: 'kari.nord@example.com', isContact: true });
    expect(res.body.apiKey).toMatch(/^hhk_/);
    // Shown once, stored hashed.
    const stored = await ctx.db('api_keys').where({ user_id: res.body.user.id });
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(res.body.apiKey.split('_').slice(2).join('_'));

    const me = await ctx.request('GET', '/v1/me', { token: res.body.apiKey });
    expect(me.status).toBe(200);
    expect(me.body.partner.id).toBe(res.body.partner.id);
  });

  it('records who created the partner in the audit log', async () => {
    const partner = await createPartner(ctx);
    const rows = await auditFor(ctx.db, partner.partnerId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_type: 'operator', action: 'partner.created', target_type: 'partner', partner_id: partner.partnerId });
    expect(rows[0].data).toMatchObject({ name: partner.name, contactUserId: partner.userId });
    expect(JSON.stringify(rows[0].data)).not.toContain(partner.apiKey);
  });

  it.each([
    ['no name', { contactEmail: 'a@example.com' }, 'body.name'],
    ['an empty name', { name: '   ', contactEmail: 'a@example.com' }, 'body.name'],
    ['a name that is not text', { name: 42, contactEmail: 'a@example.com' }, 'body.name'],
    ['no contact e-mail', { name: 'X' }, 'body.contactEmail'],
    ['a contact e-mail that is not one', { name: 'X', contactEmail: 'not-an-email' }, 'body.contactEmail'],
    ['a body that is not an object', ['X'], 'body'],
  ])('answers 400 naming the field for %s', async (_what, body, path) => {
    const res = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  it('refuses a second partner of the same name, whatever its case, with 409', async () => {
    const first = await createPartner(ctx, { name: 'Takst Eksperten' });
    const res = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name: 'TAKST eksperten', contactEmail: 'other@example.com' } });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'partner_exists', details: [{ path: 'body.name' }] });
    expect(await ctx.db('partners').whereRaw('lower(name) = ?', ['takst eksperten'])).toHaveLength(1);
    expect(first.partnerId).toBeTruthy();
  });

  it('takes a contact e-mail that is already a user of another partner: a person may work for several', async () => {
    const first = await createPartner(ctx, { contactEmail: 'taken@example.com' });
    const res = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name: 'Late Comer', contactEmail: 'TAKEN@example.com' } });
    expect(res.status, res.text).toBe(201);
    expect(res.body.user).toMatchObject({ email: 'taken@example.com', isContact: true, partnerId: res.body.partner.id });
    expect(res.body.partner.id).not.toBe(first.partnerId);
    expect(await ctx.db('users').where({ email: 'taken@example.com' })).toHaveLength(2);
  });

  it('is for operators only: 401 without a token, 403 for hub and partner tokens', async () => {
    const partner = await createPartner(ctx);
    const body = { name: 'Sneaky', contactEmail: 'sneaky@example.com' };
    expect((await ctx.request('POST', '/v1/partners', { body })).status).toBe(401);
    expect((await ctx.request('POST', '/v1/partners', { token: 'hhk_nonsense', body })).status).toBe(401);
    expect((await ctx.request('POST', '/v1/partners', { token: HUB_TOKEN, body })).status).toBe(403);
    expect((await ctx.request('POST', '/v1/partners', { token: partner.apiKey, body })).status).toBe(403);
    expect((await ctx.request('GET', '/v1/partners', { token: partner.apiKey })).status).toBe(403);
    expect(await ctx.db('partners').where({ name: 'Sneaky' })).toHaveLength(0);
  });

  it('lists partners page by page, each once, oldest first', async () => {
    for (let i = 0; i < 7; i++) await createPartner(ctx);
    const total = (await ctx.db('partners').count({ n: '*' }).first())!.n as number;
    expect(total).toBeGreaterThan(7);
    const { items, pages } = await walkPages(ctx, '/v1/partners?limit=3', OPERATOR_TOKEN);
    expect(items).toHaveLength(total);
    expect(new Set(items.map((p) => p.id)).size).toBe(total);
    expect(pages.slice(0, -1).every((n) => n === 3)).toBe(true);
    const created = items.map((p) => p.createdAt as string);
    expect([...created].sort()).toEqual(created);
  });

  it('defaults to 50 a page and names bad paging input', async () => {
    const res = await ctx.request('GET', '/v1/partners', { token: OPERATOR_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    for (const [query, path] of [
      ['limit=0', 'query.limit'],
      ['limit=501', 'query.limit'],
      ['limit=ten', 'query.limit'],
      ['cursor=%2A%2A', 'query.cursor'],
      ['cursor=' + Buffer.from('["2024-99-99 00:00:00+00","ptn_x"]').toString('base64url'), 'query.cursor'],
    ]) {
      const bad = await ctx.request('GET', `/v1/partners?${query}`, { token: OPERATOR_TOKEN });
      expect(bad.status, query).toBe(400);
      expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    }
  });
});
