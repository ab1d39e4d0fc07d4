import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '#shared/tokens';
import { newId } from '#shared/ids';
import { USER_KEY_ID_PREFIX, USER_KEY_PREFIX } from '#api/api-keys/repository';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { auditFor, createPartner, createUser, type TestPartner, walkPages } from '../support/fixtures.ts';

describe('users (partner)', () => {
  let ctx: TestContext;
  let acme: TestPartner;
  let other: TestPartner;
  beforeAll(async () => {
    ctx = await startTestContext();
    acme = await createPartner(ctx, { name: 'Acme Foto AS' });
    other = await createPartner(ctx, { name: 'Other Takst AS' });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  describe('GET /v1/me', () => {
    it('answers the calling user and its partner', async () => {
      const res = await ctx.request('GET', '/v1/me', { token: acme.apiKey });
      expect(res.status).toBe(200);
      expect(res.body.partner).toMatchObject({ id: acme.partnerId, name: 'Acme Foto AS', contactEmail: acme.email });
      expect(res.body.user).toMatchObject({ id: acme.userId, partnerId: acme.partnerId, email: acme.email, isContact: true });
    });

    it('answers user null for a partner key that is not a user’s', async () => {
      const minted = mintToken(USER_KEY_PREFIX, USER_KEY_ID_PREFIX);
      await ctx.db('api_keys').insert({ id: minted.id, partner_id: acme.partnerId, user_id: null, kind: 'account', secret_hash: minted.hash });
      const res = await ctx.request('GET', '/v1/me', { token: minted.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ partner: expect.objectContaining({ id: acme.partnerId }), user: null });
    });

    it('is for partner keys only', async () => {
      expect((await ctx.request('GET', '/v1/me')).status).toBe(401);
      expect((await ctx.request('GET', '/v1/me', { token: OPERATOR_TOKEN })).status).toBe(403);
      expect((await ctx.request('GET', '/v1/me', { token: HUB_TOKEN })).status).toBe(403);
    });
  });

  describe('POST /v1/users', () => {
    it('adds a user by e-mail, lower-cased, with its own working key, and audits it', async () => {
      const res = await ctx.request('POST', '/v1/users', { token: acme.apiKey, body: { email: '  Ola.Normann@Acme.NO ' } });
      expect(res.status).toBe(201);
      expect(res.body.user).toEqual({
        id: expect.stringMatching(/^usr_/),
        partnerId: acme.partnerId,
        email: 'ola.normann@acme.no',
        isContact: false,
        createdAt: expect.any(String),
      });
      expect(res.body.apiKey).toMatch(/^hhk_/);
      const me = await ctx.request('GET', '/v1/me', { token: res.body.apiKey });
      expect(me.body.user.id).toBe(res.body.user.id);

      const [row] = await auditFor(ctx.db, res.body.user.id);
      expect(row).toMatchObject({ actor_type: 'partner', actor_id: acme.userId, partner_id: acme.partnerId, action: 'user.added' });
      expect(row.data).toEqual({ email: 'ola.normann@acme.no' });
    });

    it('compares e-mails case-insensitively: 409 for an address already a user of this partner, in any case', async () => {
      await createUser(ctx, acme.apiKey, 'kim@acme.no');
      for (const email of ['KIM@acme.no', 'Kim@Acme.No', acme.email.toUpperCase()]) {
        const res = await ctx.request('POST', '/v1/users', { token: acme.apiKey, body: { email } });
        expect(res.status, email).toBe(409);
        expect(res.body.error).toMatchObject({ code: 'email_taken', details: [{ path: 'body.email' }] });
      }
      expect(await ctx.db('users').where({ email: 'kim@acme.no' })).toHaveLength(1);
    });

    it('answers an address of another partner’s user exactly as a fresh one: the same status and body', async () => {
      await createUser(ctx, acme.apiKey, 'consultant@acme.no');
      const taken = await ctx.request('POST', '/v1/users', { token: other.apiKey, body: { email: 'Consultant@Acme.No' } });
      const fresh = await ctx.request('POST', '/v1/users', { token: other.apiKey, body: { email: 'newcomer@acme.no' } });
      expect(taken.status).toBe(201);
      expect(fresh.status).toBe(taken.status);
      // The same body once the parts that differ by nature (ids, the address, the time, the key) are masked.
      const mask = (body: { user: Record<string, unknown>; apiKey: string }) => ({
        ...body,
        id: 'usr',
        email: 'address',
        createdAt: 'time',
        user: { ...body.user, id: 'usr', email: 'address', createdAt: 'time' },
        apiKey: body.apiKey.replace(/^(hhk)_.*$/, '$1_…'),
      });
      expect(mask(fresh.body)).toEqual(mask(taken.body));
      expect([...taken.headers.keys()].sort()).toEqual([...fresh.headers.keys()].sort());
      expect(taken.body.user).toMatchObject({ partnerId: other.partnerId, email: 'consultant@acme.no', isContact: false });
      expect((await ctx.db('users').where({ email: 'consultant@acme.no' })).map((u) => u.partner_id).sort()).toEqual([acme.partnerId, other.partnerId].sort());
    });

    it.each([
      ['no e-mail', {}],
      ['an empty e-mail', { email: '' }],
      ['an e-mail without a domain', { email: 'kim@' }],
      ['two addresses', { email: 'a@x.no, b@x.no' }],
      ['a number', { email: 7 }],
      ['an address longer than 254 characters', { email: `${'a'.repeat(250)}@x.no` }],
    ])('answers 400 naming body.email for %s', async (_what, body) => {
      const res = await ctx.request('POST', '/v1/users', { token: acme.apiKey, body });
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual(['body.email']);
    });

    it('is for partner keys only', async () => {
      const res = await ctx.request('POST', '/v1/users', { token: OPERATOR_TOKEN, body: { email: 'op@x.no' } });
      expect(res.status).toBe(403);
    });
  });

  describe('GET /v1/users', () => {
    it('lists only the partner’s own users, page by page', async () => {
      const fresh = await createPartner(ctx);
      const added = [];
      for (let i = 0; i < 6; i++) added.push(await createUser(ctx, fresh.apiKey));
      const { items, pages } = await walkPages(ctx, '/v1/users?limit=4', fresh.apiKey);
      expect(pages).toEqual([4, 3]);
      expect(items.map((u) => u.id)).toEqual([fresh.userId, ...added.map((u) => u.userId)]);
      expect(items.every((u) => u.partnerId === fresh.partnerId)).toBe(true);
    });
  });

  describe('DELETE /v1/users/{id}', () => {
    it('removes a user, revokes its keys at once, and audits it', async () => {
      const kim = await createUser(ctx, acme.apiKey);
      expect((await ctx.request('GET', '/v1/me', { token: kim.apiKey })).status).toBe(200);

      const res = await ctx.request('DELETE', `/v1/users/${kim.userId}`, { token: acme.apiKey });
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect(await ctx.db('users').where({ id: kim.userId })).toHaveLength(0);
      expect(await ctx.db('api_keys').where({ user_id: kim.userId })).toHaveLength(0);
      expect((await ctx.request('GET', '/v1/me', { token: kim.apiKey })).status).toBe(401);

      const rows = await auditFor(ctx.db, kim.userId);
      expect(rows.map((r) => r.action)).toEqual(['user.added', 'user.removed']);
      expect(rows[1]).toMatchObject({ actor_id: acme.userId, partner_id: acme.partnerId, data: { email: kim.email } });
    });

    it('lets a user remove itself; its key stops working', async () => {
      const kim = await createUser(ctx, acme.apiKey);
      expect((await ctx.request('DELETE', `/v1/users/${kim.userId}`, { token: kim.apiKey })).status).toBe(204);
      expect((await ctx.request('GET', '/v1/users', { token: kim.apiKey })).status).toBe(401);
    });

    it('refuses to remove the contact person with 409 contact_person', async () => {
      const kim = await createUser(ctx, acme.apiKey);
      for (const key of [acme.apiKey, kim.apiKey]) {
        const res = await ctx.request('DELETE', `/v1/users/${acme.userId}`, { token: key });
        expect(res.status).toBe(409);
        expect(res.body.error).toMatchObject({ code: 'contact_person', details: [{ path: 'params.userId' }] });
      }
      expect(await ctx.db('users').where({ id: acme.userId })).toHaveLength(1);
      expect((await ctx.request('GET', '/v1/me', { token: acme.apiKey })).status).toBe(200);
    });

    it('answers 404 for another partner’s user and leaves it alone', async () => {
      const theirs = await createUser(ctx, other.apiKey);
      for (const id of [theirs.userId, other.userId]) {
        const res = await ctx.request('DELETE', `/v1/users/${id}`, { token: acme.apiKey });
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('not_found');
      }
      expect((await ctx.request('GET', '/v1/me', { token: theirs.apiKey })).status).toBe(200);
    });

    it.each([['an unknown id', newId('user')], ['a malformed id', 'usr_NOPE'], ['a product id', newId('product')], ['junk', '%20']])(
      'answers 404 for %s',
      async (_what, id) => {
        const res = await ctx.request('DELETE', `/v1/users/${id}`, { token: acme.apiKey });
        expect(res.status).toBe(404);
      },
    );

    it('is for partner keys only', async () => {
      const kim = await createUser(ctx, acme.apiKey);
      expect((await ctx.request('DELETE', `/v1/users/${kim.userId}`, { token: OPERATOR_TOKEN })).status).toBe(403);
      expect((await ctx.request('DELETE', `/v1/users/${kim.userId}`, { token: HUB_TOKEN })).status).toBe(403);
    });
  });
});
