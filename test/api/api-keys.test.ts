import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '#shared/tokens';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { auditFor, createPartner, signInByEmail, type TestPartner } from '../support/fixtures.ts';

/**
 * A person's own API keys at /v1/api-keys: a user signed in by e-mail mints named standing keys
 * (shown once, stored hashed), lists them with their last-used time, and revokes them, which
 * takes effect at once. Through the real app, against real Postgres and Redis; sign-in codes
 * are read from the outbox (no SMTP_URL).
 */
describe('API keys a person controls', () => {
  let ctx: TestContext;
  let partner: TestPartner;
  let session: string;

  beforeAll(async () => {
    ctx = await startTestContext({ env: { RATE_LIMIT_AUTH_PER_CLIENT: '1000/15m', RATE_LIMIT_APPLICATIONS: '1000/1h' } });
    partner = await createPartner(ctx, { name: 'Keyholder AS', contactEmail: 'keys@keyholder.test' });
    const { verified } = await signInByEmail(ctx, 'keys@keyholder.test');
    expect(verified.status, verified.text).toBe(200);
    session = verified.body.token;
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const mint = (name: string, token = session) => ctx.request('POST', '/v1/api-keys', { token, body: { name } });

  it('mints a named key shown once, stored only as a hash, that authenticates as the partner and user', async () => {
    const res = await mint('  build server ');
    expect(res.status, res.text).toBe(201);
    // The create shape: the key at the top level, its one-time token beside it (and the old nested copy, deprecated).
    const key = { id: expect.stringMatching(/^key_/), name: 'build server', createdAt: expect.any(String), lastUsedAt: null, revokedAt: null };
    expect(res.body).toEqual({ ...key, token: expect.stringMatching(/^hhk_[0-9a-z]{20}_[A-Za-z0-9_-]{43}$/), apiKey: key });
    expect(res.headers.get('location')).toBe(`/v1/api-keys/${res.body.id}`);
    const { token } = res.body;
    const row = await ctx.db('api_keys').where({ id: res.body.apiKey.id }).first();
    expect(row).toMatchObject({ partner_id: partner.partnerId, user_id: partner.userId, kind: 'user', name: 'build server', expires_at: null });
    expect(row.secret_hash).toBe(hashSecret(token.split('_').slice(2).join('_')));
    expect(JSON.stringify(row)).not.toContain(token.split('_').slice(2).join('_'));

    const me = await ctx.request('GET', '/v1/me', { token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ partner: { id: partner.partnerId }, user: { id: partner.userId } });
    const credential = await ctx.request('GET', '/v1/auth/session', { token });
    expect(credential.body).toMatchObject({ keyId: res.body.apiKey.id, keyKind: 'user', expiresAt: null });

    // Listed, never with its token.
    const list = await ctx.request('GET', '/v1/api-keys', { token: session });
    expect(list.status).toBe(200);
    expect(list.body.data.map((k: { id: string }) => k.id)).toContain(res.body.apiKey.id);
    expect(list.text).not.toContain(token);
    const [audit] = await auditFor(ctx.db, res.body.apiKey.id);
    expect(audit).toMatchObject({ action: 'api_key.mint', partner_id: partner.partnerId, actor_id: partner.userId });
  });

  it('lists the user’s own keys newest first, page by page, with the first key and not the sessions', async () => {
    const names = ['page one', 'page two', 'page three'];
    for (const name of names) expect((await mint(name)).status).toBe(201);
    const first = await ctx.request('GET', '/v1/api-keys?limit=2', { token: session });
    expect(first.body.data.map((k: { name: string }) => k.name)).toEqual(['page three', 'page two']);
    const rest = await ctx.request('GET', `/v1/api-keys?limit=500&cursor=${first.body.nextCursor}`, { token: session });
    const all = [...first.body.data, ...rest.body.data];
    expect(all.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['page one', 'build server', 'first key']));
    expect(rest.body.nextCursor).toBeNull();
    const sessions = await ctx.db('api_keys').where({ user_id: partner.userId, kind: 'session' }).pluck('id');
    expect(sessions.length).toBeGreaterThan(0);
    expect(all.some((k: { id: string }) => sessions.includes(k.id))).toBe(false);
  });

  it('records the last use, writing it at most once a minute', async () => {
    const { body } = await mint('last used');
    const lastUsed = async () => (await ctx.db('api_keys').where({ id: body.apiKey.id }).first('last_used_at')).last_used_at as Date | null;
    expect(await lastUsed()).toBeNull();
    expect((await ctx.request('GET', '/v1/me', { token: body.token })).status).toBe(200);
    const firstUse = await lastUsed();
    expect(firstUse).toBeInstanceOf(Date);
    // Used again at once: not written again.
    for (let i = 0; i < 3; i++) await ctx.request('GET', '/v1/me', { token: body.token });
    expect((await lastUsed())!.getTime()).toBe(firstUse!.getTime());
    // A minute later it is.
    await ctx.db('api_keys').where({ id: body.apiKey.id }).update({ last_used_at: ctx.db.raw("now() - interval '61 seconds'") });
    const stale = (await lastUsed())!.getTime();
    await ctx.request('GET', '/v1/me', { token: body.token });
    expect((await lastUsed())!.getTime()).toBeGreaterThan(stale);
    const listed = await ctx.request('GET', '/v1/api-keys?limit=500', { token: session });
    const shown = listed.body.data.find((k: { id: string }) => k.id === body.apiKey.id);
    expect(Date.parse(shown.lastUsedAt)).toBe((await lastUsed())!.getTime());
  });

  it('revokes a key at once: the next request with it is 401; a second revoke is 404', async () => {
    const { body } = await mint('to revoke');
    expect((await ctx.request('GET', '/v1/products', { token: body.token })).status).toBe(200);
    const revoked = await ctx.request('DELETE', `/v1/api-keys/${body.apiKey.id}`, { token: session });
    expect(revoked.status).toBe(204);
    const after = await ctx.request('GET', '/v1/products', { token: body.token });
    expect(after.status).toBe(401);
    expect((await ctx.request('DELETE', `/v1/api-keys/${body.apiKey.id}`, { token: session })).status).toBe(404);
    const listed = await ctx.request('GET', '/v1/api-keys?limit=500', { token: session });
    expect(listed.body.data.find((k: { id: string }) => k.id === body.apiKey.id).revokedAt).toEqual(expect.any(String));
    expect((await auditFor(ctx.db, body.apiKey.id)).map((r) => r.action)).toEqual(['api_key.mint', 'api_key.revoke']);
  });

  it('lets an API key list and revoke, but only a sign-in session mint', async () => {
    const { body } = await mint('standing');
    const refused = await mint('from a key', body.token);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'session_required', details: [{ path: 'headers.authorization' }] });
    expect((await ctx.request('GET', '/v1/api-keys', { token: body.token })).status).toBe(200);
    expect((await ctx.request('DELETE', `/v1/api-keys/${body.apiKey.id}`, { token: body.token })).status).toBe(204);
    expect((await ctx.request('GET', '/v1/api-keys', { token: body.token })).status).toBe(401);
  });

  it('keeps keys to their user: a colleague’s key is 404 to revoke and absent from the list', async () => {
    const colleague = await ctx.request('POST', '/v1/users', { token: partner.apiKey, body: { email: 'colleague@keyholder.test' } });
    expect(colleague.status).toBe(201);
    const colleagueKey = (await ctx.db('api_keys').where({ user_id: colleague.body.user.id }).first('id')).id;
    expect((await ctx.request('DELETE', `/v1/api-keys/${colleagueKey}`, { token: session })).status).toBe(404);
    const listed = await ctx.request('GET', '/v1/api-keys?limit=500', { token: session });
    expect(listed.text).not.toContain(colleagueKey);
    expect((await ctx.request('GET', '/v1/me', { token: colleague.body.apiKey })).status).toBe(200);
    for (const junk of ['nope', 'key_0000000000000000000a', 'ptn_0000000000000000000a']) {
      expect((await ctx.request('DELETE', `/v1/api-keys/${junk}`, { token: session })).status, junk).toBe(404);
    }
  });

  it('answers a missing or overlong name with 400 naming body.name', async () => {
    for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 7 }]) {
      const res = await ctx.request('POST', '/v1/api-keys', { token: session, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual(['body.name']);
    }
  });

  it('lets an approved applicant, signed in by e-mail, give a server a standing key', async () => {
    const applied = await ctx.request('POST', '/v1/applications', {
      body: { companyName: 'Server Owner AS', organisationNumber: '912345678', contactName: 'Sara', contactEmail: 'sara@server-owner.test', purpose: 'sync' },
    });
    expect(applied.status).toBe(202);
    const approved = await ctx.request('POST', `/v1/applications/${applied.body.id}/approve`, { token: OPERATOR_TOKEN });
    expect(approved.status).toBe(200);
    // The approval hands out no key; the first one made with the user is revoked.
    expect(await ctx.db('api_keys').where({ user_id: approved.body.user.id }).whereNull('revoked_at')).toEqual([]);

    const { verified } = await signInByEmail(ctx, 'sara@server-owner.test');
    expect(verified.body).toMatchObject({ status: 'signed_in', partnerId: approved.body.partner.id, userId: approved.body.user.id });
    const minted = await mint('production server', verified.body.token);
    expect(minted.status).toBe(201);
    // The session ends; the standing key goes on.
    expect((await ctx.request('POST', '/v1/auth/sign-out', { token: verified.body.token })).status).toBe(204);
    const me = await ctx.request('GET', '/v1/me', { token: minted.body.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ partner: { id: approved.body.partner.id }, user: { id: approved.body.user.id, isContact: true } });
    const product = await ctx.request('POST', '/v1/products', { token: minted.body.token, body: { name: 'Server Owner Sync', type: 'rights' } });
    expect(product.status).toBe(201);
  });
});
