import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartner } from '#api/partners/service';
import { startTestContext, type TestContext } from '../support/context.ts';
import { latestSignInCode, signInByEmail } from '../support/fixtures.ts';

/**
 * A person who is a user of several partners (a consultant working for two) signs in to one
 * of them: the right code without a partnerId answers the partners to choose from; the same
 * code with one of them signs in there. The request step answers every address alike.
 */
describe('sign-in for an address of several partners', () => {
  let ctx: TestContext;
  let first: Awaited<ReturnType<typeof createPartner>>;
  let second: Awaited<ReturnType<typeof createPartner>>;
  const email = 'consultant@two.test';

  beforeAll(async () => {
    ctx = await startTestContext({ env: { RATE_LIMIT_AUTH_PER_CLIENT: '1000/15m', RATE_LIMIT_AUTH_PER_EMAIL: '1000/15m' } });
    first = await ctx.db.transaction((trx) => createPartner(trx, { name: 'Beta Eiendom AS', contactEmail: email }));
    second = await ctx.db.transaction((trx) => createPartner(trx, { name: 'Alfa Megling AS', contactEmail: 'boss@alfa.test' }));
    const added = await ctx.request('POST', '/v1/users', { token: second.apiKey, body: { email } });
    expect(added.status).toBe(201);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('answers the sign-in request alike for an address of two partners, of one, and of none', async () => {
    const answers = [];
    for (const address of [email, 'boss@alfa.test', 'nobody@two.test']) {
      const res = await ctx.request('POST', '/v1/auth/sign-in', { body: { email: address } });
      answers.push({ status: res.status, body: res.text, headers: [...res.headers.keys()].sort() });
    }
    expect(answers[0]!.status).toBe(202);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('lists the partners to choose from for the right code, then signs in to the one chosen with the same code', async () => {
    const { code, verified } = await signInByEmail(ctx, email);
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({
      status: 'choose_partner',
      message: expect.stringContaining('partnerId'),
      partners: [
        { id: second.partner.id, name: 'Alfa Megling AS' },
        { id: first.partner.id, name: 'Beta Eiendom AS' },
      ],
    });
    const chosen = await ctx.request('POST', '/v1/auth/verify', { body: { email, code, partnerId: second.partner.id } });
    expect(chosen.status).toBe(200);
    expect(chosen.body).toMatchObject({ status: 'signed_in', partnerId: second.partner.id, token: expect.stringMatching(/^hhk_/) });
    const session = await ctx.request('GET', '/v1/auth/session', { token: chosen.body.token });
    expect(session.body).toMatchObject({ partnerId: second.partner.id, keyKind: 'session' });
    const me = await ctx.request('GET', '/v1/me', { token: chosen.body.token });
    expect(me.body).toMatchObject({ partner: { id: second.partner.id }, user: { email, isContact: false } });
    // The code is used up: the other partner needs a new one.
    const reused = await ctx.request('POST', '/v1/auth/verify', { body: { email, code, partnerId: first.partner.id } });
    expect(reused.status).toBe(401);
    expect(reused.body.error.code).toBe('invalid_code');

    const { code: next } = await signInByEmail(ctx, email);
    const other = await ctx.request('POST', '/v1/auth/verify', { body: { email, code: next, partnerId: first.partner.id } });
    expect(other.body).toMatchObject({ status: 'signed_in', partnerId: first.partner.id, userId: first.user.id });
  });

  it('refuses a partnerId the address is no user of with 422 naming body.partnerId; a wrong code stays 401 whatever the partnerId', async () => {
    await ctx.request('POST', '/v1/auth/sign-in', { body: { email } });
    const code = await latestSignInCode(ctx.db, email);
    const stranger = await ctx.db.transaction((trx) => createPartner(trx, { name: 'Gamma AS', contactEmail: 'gamma@gamma.test' }));
    const refused = await ctx.request('POST', '/v1/auth/verify', { body: { email, code, partnerId: stranger.partner.id } });
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'unknown_partner', details: [{ path: 'body.partnerId' }] });
    const wrong = String((Number(code) + 1) % 1e8).padStart(8, '0');
    const guessed = await ctx.request('POST', '/v1/auth/verify', { body: { email, code: wrong, partnerId: first.partner.id } });
    expect(guessed.status).toBe(401);
    expect(guessed.body.error.code).toBe('invalid_code');
    // Every try counted; the right code with a right partner still works within five.
    const ok = await ctx.request('POST', '/v1/auth/verify', { body: { email, code, partnerId: first.partner.id } });
    expect(ok.body.status).toBe('signed_in');
  });

  it('signs an address of one partner straight in, with or without its partnerId', async () => {
    const { code, verified } = await signInByEmail(ctx, 'boss@alfa.test');
    expect(verified.body).toMatchObject({ status: 'signed_in', partnerId: second.partner.id, userId: second.user.id });
    expect(code).toMatch(/^\d{8}$/);
    const { verified: again } = await signInByEmail(ctx, 'boss@alfa.test', second.partner.id);
    expect(again.body).toMatchObject({ status: 'signed_in', partnerId: second.partner.id });
  });
});
