import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { createPartner } from '#api/partners/service';
import { checkAccountCredentials } from '#api/account-credentials/service';
import { requeuePendingMail, writeMail } from '#shared/mail/outbox';

/**
 * Onboarding without SMTP_URL: mail goes to the outbox table (and a log line naming only
 * subject and recipient). Sign-in, applications and account credentials through HTTP against
 * real Postgres and Redis. Rate limits are raised here; onboarding-rate-limits.test.ts shows them.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestContext({ workers: true, captureLogs: true, env: { RATE_LIMIT_AUTH_PER_CLIENT: '1000/15m', RATE_LIMIT_APPLICATIONS: '1000/1h' } });
});
afterAll(async () => {
  await ctx.stop();
});

let partnerSeq = 0;
async function newPartner(email: string) {
  partnerSeq += 1;
  return ctx.db.transaction((trx) => createPartner(trx, { name: `Partner ${partnerSeq} ${email}`, contactEmail: email }));
}

/** The code in the newest sign-in mail to `email`, read from the outbox table. */
async function latestCode(email: string): Promise<string> {
  const row = await ctx.db('mail_outbox').where({ to_address: email, kind: 'sign-in-code' }).orderBy('created_at', 'desc').first();
  const code = /sign-in code is: (\d{8})/.exec(row?.text_body ?? '')?.[1];
  if (!code) throw new Error(`no sign-in code mailed to ${email}`);
  return code;
}

const signIn = (email: string) => ctx.request('POST', '/v1/auth/sign-in', { body: { email } });
const verify = (email: string, code: string) => ctx.request('POST', '/v1/auth/verify', { body: { email, code } });
const wrongCodeFor = (code: string) => String((Number(code) + 1) % 1e8).padStart(8, '0');

describe('mail with no SMTP_URL: the outbox', () => {
  it('writes the sign-in mail to the outbox, logs subject and recipient but never the code, and the code works', async () => {
    await newPartner('olga@outbox.test');
    expect((await signIn('olga@outbox.test')).status).toBe(202);

    const row = await eventually(() => ctx.db('mail_outbox').where({ to_address: 'olga@outbox.test', status: 'outbox' }).first(), 'the mail marked delivered to the outbox');
    const code = await latestCode('olga@outbox.test');
    expect(row.text_body).toContain(code);

    const listed = await ctx.request('GET', '/v1/ops/outbox?to=olga@outbox.test', { token: OPERATOR_TOKEN });
    expect(listed.status).toBe(200);
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).toMatchObject({ kind: 'sign-in-code', to: 'olga@outbox.test', status: 'outbox', subject: 'Your hubhook sign-in code' });
    expect(listed.body.data[0].text).toContain(code);

    const line = ctx.logs.find((l) => l.includes('mail written to the outbox') && l.includes('olga@outbox.test'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ to: 'olga@outbox.test', subject: 'Your hubhook sign-in code', kind: 'sign-in-code' });
    expect(ctx.logs.filter((l) => l.includes(code))).toEqual([]);

    const verified = await verify('olga@outbox.test', code);
    expect(verified.status).toBe(200);
    expect(ctx.logs.filter((l) => l.includes(code) || l.includes(verified.body.token))).toEqual([]);
  });

  it('delivers mail whose enqueue was lost once the reconciler re-enqueues it', async () => {
    // A row committed but never enqueued (a crash, or Redis down, between commit and enqueue).
    const mailId = await writeMail(ctx.db, { kind: 'test', to: 'lost@outbox.test', subject: 'Lost and found', text: 'hello' });
    await ctx.db('mail_outbox').where({ id: mailId }).update({ created_at: ctx.db.raw("now() - interval '10 minutes'") });
    expect(await requeuePendingMail(ctx.db, ctx.queues, 60_000)).toBeGreaterThanOrEqual(1);
    const row = await eventually(() => ctx.db('mail_outbox').where({ id: mailId, status: 'outbox' }).first(), 'the lost mail delivered');
    expect(row.attempts).toBe(1);
    // Running it again finds nothing owed.
    expect(await requeuePendingMail(ctx.db, ctx.queues, 60_000)).toBe(0);
  });

  it('lists the outbox newest first, page by page, for operators only', async () => {
    for (const email of ['p1@pages.test', 'p2@pages.test', 'p3@pages.test']) {
      await newPartner(email);
      await signIn(email);
    }
    const first = await ctx.request('GET', '/v1/ops/outbox?limit=2', { token: OPERATOR_TOKEN });
    expect(first.body.data.map((m: { to: string }) => m.to)).toEqual(['p3@pages.test', 'p2@pages.test']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await ctx.request('GET', `/v1/ops/outbox?limit=2&cursor=${first.body.nextCursor}`, { token: OPERATOR_TOKEN });
    expect(second.body.data[0].to).toBe('p1@pages.test');

    const bad = await ctx.request('GET', '/v1/ops/outbox?cursor=not-ours', { token: OPERATOR_TOKEN });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('query.cursor');
    const badStatus = await ctx.request('GET', '/v1/ops/outbox?status=lost', { token: OPERATOR_TOKEN });
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.details[0].path).toBe('query.status');

    const { apiKey } = await newPartner('nosy@pages.test');
    expect((await ctx.request('GET', '/v1/ops/outbox', { token: apiKey })).status).toBe(403);
    expect((await ctx.request('GET', '/v1/ops/outbox', { token: HUB_TOKEN })).status).toBe(403);
    expect((await ctx.request('GET', '/v1/ops/outbox')).status).toBe(401);
  });
});

/** An answer's text without its request id (every answer has its own). */
const withoutRequestId = (res: { text: string }) => res.text.replace(/"requestId":"[^"]*"/, '"requestId":"…"');

describe('sign-in never reveals whether an address is registered', () => {
  it('answers a registered and an unregistered address with the same status, body and headers', async () => {
    await newPartner('known@same.test');
    const known = await signIn('known@same.test');
    const unknown = await signIn('nobody@same.test');
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(known.status);
    expect(unknown.text).toBe(known.text);
    // The rate-limit window's reset may tick a second between the two; it says nothing of the address.
    const headers = (h: Headers) => [...h.entries()].filter(([name]) => !['date', 'x-request-id', 'ratelimit-reset'].includes(name));
    expect(headers(unknown.headers)).toEqual(headers(known.headers));
  });

  it('does the same work for both: the same SQL statements, a code row for each, a mail only for the registered one', async () => {
    await newPartner('known@work.test');
    const statements: string[] = [];
    // The request's statements all run in its transaction; the worker (same pool) runs none in one.
    const record = (query: { sql: string; __knexTxId?: string }) => {
      if (query.__knexTxId) statements.push(query.sql);
    };
    ctx.db.on('query', record);
    try {
      await signIn('known@work.test');
      const knownSql = statements.splice(0);
      await signIn('nobody@work.test');
      const unknownSql = statements.splice(0);
      expect(knownSql.length).toBeGreaterThan(3);
      expect(knownSql.some((sql) => sql.includes('insert into sign_in_codes'))).toBe(true);
      expect(knownSql.some((sql) => sql.includes('insert into mail_outbox'))).toBe(true);
      expect(unknownSql).toEqual(knownSql);
    } finally {
      ctx.db.removeListener('query', record);
    }
    const codes = await ctx.db('sign_in_codes').whereIn('email', ['known@work.test', 'nobody@work.test']).orderBy('email');
    expect(codes.map((c) => c.email)).toEqual(['known@work.test', 'nobody@work.test']);
    const mails = await ctx.db('mail_outbox').whereIn('to_address', ['known@work.test', 'nobody@work.test']);
    expect(mails.map((m) => m.to_address)).toEqual(['known@work.test']);
  });

  it('answers verify for an unknown address exactly as for a registered one with a wrong code', async () => {
    await newPartner('known@verify.test');
    await signIn('known@verify.test');
    await signIn('nobody@verify.test');
    const code = await latestCode('known@verify.test');
    const known = await verify('known@verify.test', wrongCodeFor(code));
    const unknown = await verify('nobody@verify.test', wrongCodeFor(code));
    const neverAsked = await verify('never-asked@verify.test', wrongCodeFor(code));
    expect(known.status).toBe(401);
    expect(known.body.error.code).toBe('invalid_code');
    expect(withoutRequestId(unknown)).toBe(withoutRequestId(known));
    expect(withoutRequestId(neverAsked)).toBe(withoutRequestId(known));
  });

  it('allows five tries; the sixth is refused even with the right code — for unknown addresses too', async () => {
    await newPartner('tries@limit.test');
    await signIn('tries@limit.test');
    await signIn('nobody@limit.test');
    const code = await latestCode('tries@limit.test');
    for (const email of ['tries@limit.test', 'nobody@limit.test']) {
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) answers.push((await verify(email, wrongCodeFor(code))).body.error.code);
      expect(answers).toEqual(Array(5).fill('invalid_code'));
      const sixth = await verify(email, code);
      expect(sixth.status).toBe(429);
      expect(sixth.body.error.code).toBe('too_many_attempts');
    }
    // A new code starts afresh.
    await signIn('tries@limit.test');
    const fresh = await verify('tries@limit.test', await latestCode('tries@limit.test'));
    expect(fresh.status).toBe(200);
  });

  it('refuses an expired code with code_expired, for unknown addresses too', async () => {
    await newPartner('late@expiry.test');
    await signIn('late@expiry.test');
    await signIn('nobody@expiry.test');
    const code = await latestCode('late@expiry.test');
    const expiry = await ctx.db('sign_in_codes').where({ email: 'late@expiry.test' }).first('expires_at');
    // Issued for SIGN_IN_CODE_TTL (10 minutes by default).
    expect(expiry.expires_at.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(expiry.expires_at.getTime() - Date.now()).toBeLessThanOrEqual(10 * 60_000);

    await ctx.db('sign_in_codes').whereIn('email', ['late@expiry.test', 'nobody@expiry.test']).update({ expires_at: ctx.db.raw("now() - interval '1 second'") });
    const known = await verify('late@expiry.test', code);
    expect(known.status).toBe(401);
    expect(known.body.error.code).toBe('code_expired');
    const unknown = await verify('nobody@expiry.test', code);
    expect(withoutRequestId(unknown)).toBe(withoutRequestId(known));
  });

  it('replaces the earlier code when a new one is asked for', async () => {
    await newPartner('twice@replace.test');
    await signIn('twice@replace.test');
    const first = await latestCode('twice@replace.test');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await signIn('twice@replace.test');
    const second = await latestCode('twice@replace.test');
    if (first !== second) expect((await verify('twice@replace.test', first)).body.error.code).toBe('invalid_code');
    expect((await verify('twice@replace.test', second)).status).toBe(200);
  });
});

describe('sessions', () => {
  it('accept a code with spaces in it, and stop working once expired', async () => {
    const { partner } = await newPartner('sam@session.test');
    await signIn('sam@session.test');
    const code = await latestCode('sam@session.test');
    const verified = await verify('sam@session.test', `${code.slice(0, 4)} ${code.slice(4)}`);
    expect(verified.status).toBe(200);
    const token = verified.body.token as string;
    expect((await ctx.request('GET', '/v1/auth/session', { token })).body.partnerId).toBe(partner.id);

    await ctx.db('api_keys').where({ kind: 'session', partner_id: partner.id }).update({ expires_at: ctx.db.raw("now() - interval '1 second'") });
    const expired = await ctx.request('GET', '/v1/auth/session', { token });
    expect(expired.status).toBe(401);
  });

  it('records the start and end of a session in the audit log', async () => {
    const { partner } = await newPartner('audit@session.test');
    await signIn('audit@session.test');
    const verified = await verify('audit@session.test', await latestCode('audit@session.test'));
    await ctx.request('POST', '/v1/auth/sign-out', { token: verified.body.token });
    const actions = await ctx.db('audit_log').where({ partner_id: partner.id }).orderBy('id').pluck('action');
    expect(actions).toEqual(['session.start', 'session.end']);
  });

  it('sign-out with a standing API key is a 422 that changes nothing', async () => {
    const { apiKey } = await newPartner('key@session.test');
    const out = await ctx.request('POST', '/v1/auth/sign-out', { token: apiKey });
    expect(out.status).toBe(422);
    expect(out.body.error.code).toBe('not_a_session');
    const still = await ctx.request('GET', '/v1/auth/session', { token: apiKey });
    expect(still.status).toBe(200);
    expect(still.body).toMatchObject({ keyKind: 'user', expiresAt: null });
  });

  it.each([
    ['a malformed address', '/v1/auth/sign-in', { email: 'not-an-address' }, ['body.email']],
    ['no address', '/v1/auth/sign-in', {}, ['body.email']],
    ['a malformed address to verify', '/v1/auth/verify', { email: 'a@', code: '12345678' }, ['body.email']],
    ['a code that is not 8 digits', '/v1/auth/verify', { email: 'a@b.test', code: '12ab' }, ['body.code']],
    ['no code', '/v1/auth/verify', { email: 'a@b.test' }, ['body.code']],
  ])('answers %s with 400 naming the field', async (_what, path, body, paths) => {
    const res = await ctx.request('POST', path, { body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual(paths);
  });
});

describe('access applications', () => {
  const application = (over: Record<string, unknown> = {}) => ({
    companyName: 'Fjord Proptech AS',
    organisationNumber: '912345678',
    contactName: 'Ola Fjord',
    contactEmail: 'ola@fjord.test',
    purpose: 'Show open houses on our map',
    ...over,
  });
  const apply = (body: unknown) => ctx.request('POST', '/v1/applications', { body });

  it('takes an application without a token and lists it for operators', async () => {
    const res = await apply(application({ companyName: 'Listed AS', contactEmail: 'Listed@Apply.test' }));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(/^app_/), status: 'pending' });

    const one = await ctx.request('GET', `/v1/applications/${res.body.id}`, { token: OPERATOR_TOKEN });
    expect(one.body).toMatchObject({ companyName: 'Listed AS', contactEmail: 'listed@apply.test', status: 'pending', partnerId: null });
    const pending = await ctx.request('GET', '/v1/applications?status=pending', { token: OPERATOR_TOKEN });
    expect(pending.body.data.map((a: { id: string }) => a.id)).toContain(res.body.id);
    expect((await ctx.request('GET', '/v1/applications', { token: HUB_TOKEN })).status).toBe(403);
    expect((await ctx.request('GET', '/v1/applications')).status).toBe(401);
  });

  it('refuses malformed applications with 400 naming each field', async () => {
    const res = await apply({ companyName: '', organisationNumber: '!', contactEmail: 'nope' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(
      ['body.companyName', 'body.contactEmail', 'body.contactName', 'body.organisationNumber', 'body.purpose'].sort(),
    );
  });

  it('refuses NUL characters before they reach Postgres (400, not 500)', async () => {
    const res = await apply(application({ companyName: 'Nul\u0000 AS', purpose: 'x\u0000' }));
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['body.companyName', 'body.purpose']);
    const { body: created } = await apply(application({ companyName: 'Nul Reason AS', contactEmail: 'nul@reason.test' }));
    const reject = await ctx.request('POST', `/v1/applications/${created.id}/reject`, { token: OPERATOR_TOKEN, body: { reason: 'no\u0000' } });
    expect(reject.status).toBe(400);
    const outbox = await ctx.request('GET', `/v1/ops/outbox?to=${encodeURIComponent('a\u0000@b.test')}`, { token: OPERATOR_TOKEN });
    expect(outbox.status).toBe(400);
  });

  it('approves: creates the partner and its contact person, mails sign-in steps, hands out no key, and decides once', async () => {
    const { body: created } = await apply(application({ companyName: 'Approved AS', contactEmail: 'boss@approved.test' }));
    const res = await ctx.request('POST', `/v1/applications/${created.id}/approve`, { token: OPERATOR_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.application).toMatchObject({ status: 'approved', partnerId: res.body.partner.id });
    expect(res.body.partner).toMatchObject({ name: 'Approved AS', contactEmail: 'boss@approved.test' });
    expect(res.body.user).toMatchObject({ email: 'boss@approved.test', isContact: true });
    expect(res.body).not.toHaveProperty('apiKey');
    // Nobody holds a working key: the contact person signs in by e-mail.
    const live = await ctx.db('api_keys').where({ user_id: res.body.user.id }).whereNull('revoked_at');
    expect(live).toEqual([]);

    const mail = await ctx.db('mail_outbox').where({ to_address: 'boss@approved.test' }).first();
    expect(mail).toMatchObject({ kind: 'application-approved' });
    expect(mail.text_body).toContain('POST /v1/auth/sign-in');
    const audit = await ctx.db('audit_log').where({ target_id: created.id }).first();
    expect(audit).toMatchObject({ actor_type: 'operator', action: 'application.approve', partner_id: res.body.partner.id });

    const again = await ctx.request('POST', `/v1/applications/${created.id}/approve`, { token: OPERATOR_TOKEN });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('application_decided');
    const reject = await ctx.request('POST', `/v1/applications/${created.id}/reject`, { token: OPERATOR_TOKEN, body: { reason: 'changed my mind' } });
    expect(reject.status).toBe(409);
  });

  it('rejects with a reason, and mails it', async () => {
    const { body: created } = await apply(application({ companyName: 'Rejected AS', contactEmail: 'no@rejected.test' }));
    const res = await ctx.request('POST', `/v1/applications/${created.id}/reject`, { token: OPERATOR_TOKEN, body: { reason: 'Incomplete' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'rejected', decisionReason: 'Incomplete', decidedAt: expect.any(String) });
    const mail = await ctx.db('mail_outbox').where({ to_address: 'no@rejected.test' }).first();
    expect(mail).toMatchObject({ kind: 'application-rejected' });
    const noReason = await ctx.request('POST', `/v1/applications/${created.id}/reject`, { token: OPERATOR_TOKEN, body: {} });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.details[0].path).toBe('body.reason');
  });

  it('approves an application whose address is already a user of another partner', async () => {
    const elsewhere = await newPartner('taken@conflict.test');
    const { body: created } = await apply(application({ companyName: 'Conflict AS', contactEmail: 'taken@conflict.test' }));
    const res = await ctx.request('POST', `/v1/applications/${created.id}/approve`, { token: OPERATOR_TOKEN });
    expect(res.status, res.text).toBe(200);
    expect(res.body.user).toMatchObject({ email: 'taken@conflict.test', isContact: true, partnerId: res.body.partner.id });
    expect(res.body.partner.id).not.toBe(elsewhere.partner.id);
    expect((await ctx.db('users').where({ email: 'taken@conflict.test' })).map((u) => u.partner_id).sort()).toEqual(
      [elsewhere.partner.id, res.body.partner.id].sort(),
    );
  });

  it('leaves the application pending when its company name is taken (409)', async () => {
    await ctx.db.transaction((trx) => createPartner(trx, { name: 'Name Taken AS', contactEmail: 'first@name-taken.test' }));
    const { body: created } = await apply(application({ companyName: 'name taken as', contactEmail: 'second@name-taken.test' }));
    const res = await ctx.request('POST', `/v1/applications/${created.id}/approve`, { token: OPERATOR_TOKEN });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'partner_exists', details: [{ path: 'application.companyName' }] });
    const after = await ctx.request('GET', `/v1/applications/${created.id}`, { token: OPERATOR_TOKEN });
    expect(after.body.status).toBe('pending');
    expect(await ctx.db('users').where({ email: 'second@name-taken.test' })).toEqual([]);
  });

  it.each([
    ['GET', ''],
    ['POST', '/approve'],
    ['POST', '/reject'],
  ])('answers %s on an unknown or malformed application id%s with 404', async (method, suffix) => {
    for (const id of ['app_0000000000000000000a', 'nope', 'ptn_0000000000000000000a']) {
      const res = await ctx.request(method, `/v1/applications/${id}${suffix}`, { token: OPERATOR_TOKEN, body: suffix === '/reject' ? { reason: 'x' } : undefined });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});

describe('account-level credentials', () => {
  it('issues a login with up to two keys, lists them without secrets, and revokes', async () => {
    const { partner } = await newPartner('acct@old.test');
    const path = `/v1/partners/${partner.id}/account-credentials`;
    const first = await ctx.request('POST', path, { token: OPERATOR_TOKEN });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.stringMatching(/^acr_/), login: expect.stringMatching(/^acct_/), accessKey: expect.stringMatching(/^hha_/), createdAt: expect.any(String) });
    const second = await ctx.request('POST', path, { token: OPERATOR_TOKEN });
    expect(second.body.login).toBe(first.body.login);
    const third = await ctx.request('POST', path, { token: OPERATOR_TOKEN });
    expect(third.status).toBe(409);
    expect(third.body.error.code).toBe('too_many_keys');

    const listed = await ctx.request('GET', path, { token: OPERATOR_TOKEN });
    expect(listed.body).toMatchObject({ partnerId: partner.id, login: first.body.login });
    expect(listed.body.keys).toHaveLength(2);
    expect(listed.text).not.toContain(first.body.accessKey);
    const stored = await ctx.db('account_credentials').where({ id: first.body.id }).first();
    expect(stored.secret_hash).not.toContain(first.body.accessKey);

    const check = (login: string, key: string) => checkAccountCredentials(ctx.db, login, key);
    expect(await check(first.body.login, first.body.accessKey)).toEqual({ result: 'valid', partnerId: partner.id, credentialId: first.body.id });
    expect(await check(first.body.login, second.body.accessKey)).toEqual({ result: 'valid', partnerId: partner.id, credentialId: second.body.id });
    expect(await check(first.body.login, `${first.body.accessKey}x`)).toEqual({ result: 'invalid_key', partnerId: partner.id });
    expect(await check('acct_0000000000000000', first.body.accessKey)).toEqual({ result: 'unknown_login' });
    expect(await check('not-an-account-login', first.body.accessKey)).toEqual({ result: 'unknown_login' });
    expect((await ctx.db('account_credentials').where({ id: first.body.id }).first()).last_used_at).not.toBeNull();

    const revoked = await ctx.request('DELETE', `${path}/${first.body.id}`, { token: OPERATOR_TOKEN });
    expect(revoked.status).toBe(204);
    expect(await check(first.body.login, first.body.accessKey)).toEqual({ result: 'key_revoked', partnerId: partner.id, credentialId: first.body.id });
    expect((await ctx.request('DELETE', `${path}/${first.body.id}`, { token: OPERATOR_TOKEN })).status).toBe(404);
    expect((await ctx.request('POST', path, { token: OPERATOR_TOKEN })).status).toBe(201);
    const actions = await ctx.db('audit_log').where({ partner_id: partner.id, actor_type: 'operator' }).orderBy('id').pluck('action');
    expect(actions).toEqual(['account_credential.issue', 'account_credential.issue', 'account_credential.revoke', 'account_credential.issue']);
  });

  it('answers unknown partners and keys with 404 and partner tokens with 403', async () => {
    const { partner, apiKey } = await newPartner('acct2@old.test');
    for (const id of ['ptn_0000000000000000000a', 'nope']) {
      expect((await ctx.request('POST', `/v1/partners/${id}/account-credentials`, { token: OPERATOR_TOKEN })).status).toBe(404);
      expect((await ctx.request('GET', `/v1/partners/${id}/account-credentials`, { token: OPERATOR_TOKEN })).status).toBe(404);
    }
    expect((await ctx.request('DELETE', `/v1/partners/${partner.id}/account-credentials/acr_0000000000000000000a`, { token: OPERATOR_TOKEN })).status).toBe(404);
    expect((await ctx.request('DELETE', `/v1/partners/${partner.id}/account-credentials/junk`, { token: OPERATOR_TOKEN })).status).toBe(404);
    expect((await ctx.request('POST', `/v1/partners/${partner.id}/account-credentials`, { token: apiKey })).status).toBe(403);
  });
});

describe('the OpenAPI document', () => {
  it('lists every onboarding route', async () => {
    const res = await ctx.request('GET', '/openapi.json');
    const paths = res.body.paths as Record<string, Record<string, unknown>>;
    const routes = Object.entries(paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /v1/applications',
        'GET /v1/applications',
        'GET /v1/applications/{applicationId}',
        'POST /v1/applications/{applicationId}/approve',
        'POST /v1/applications/{applicationId}/reject',
        'POST /v1/auth/sign-in',
        'POST /v1/auth/verify',
        'POST /v1/auth/sign-out',
        'GET /v1/auth/session',
        'GET /v1/ops/outbox',
        'POST /v1/partners/{partnerId}/account-credentials',
        'GET /v1/partners/{partnerId}/account-credentials',
        'DELETE /v1/partners/{partnerId}/account-credentials/{credentialId}',
      ]),
    );
    expect(paths['/v1/auth/sign-in']!.post).toMatchObject({ security: [] });
  });
});
