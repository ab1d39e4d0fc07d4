import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { eventually } from '../support/poll.ts';
import { createPartner } from '#api/partners/service';

/**
 * Mail through a real SMTP server on loopback: the api writes the mail row, the worker's
 * `mail/send-mail` job hands it to the server.
 */
describe('e-mail over SMTP', () => {
  let smtp: TestSmtpServer;
  let ctx: TestContext;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    ctx = await startTestContext({ workers: true, env: { SMTP_URL: smtp.url, MAIL_FROM: 'hubhook <no-reply@hubhook.test>' } });
  });
  afterAll(async () => {
    await ctx.stop();
    await smtp.close();
  });

  const codeIn = (text: string) => /sign-in code is: (\d{8})/.exec(text)?.[1];

  it('signs a user in end to end: code by e-mail, session token, sign-out', async () => {
    const { partner, user } = await ctx.db.transaction((trx) => createPartner(trx, { name: 'Acme Integrations', contactEmail: 'anna@acme.test' }));

    const asked = await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'Anna@Acme.test' } });
    expect(asked.status).toBe(202);

    const mail = await smtp.waitFor('anna@acme.test', { subject: /sign-in code/ });
    expect(mail.from).toBe('no-reply@hubhook.test');
    expect(mail.subject).not.toMatch(/\d{8}/);
    const code = codeIn(mail.text);
    expect(code).toMatch(/^\d{8}$/);

    // Once the SMTP server has it, the code's mail body is dropped from the outbox.
    const row = await eventually(() => ctx.db('mail_outbox').where({ to_address: 'anna@acme.test', status: 'sent' }).first(), 'the mail row marked sent');
    expect(row.text_body).toBeNull();
    expect(row.kind).toBe('sign-in-code');

    const verified = await ctx.request('POST', '/v1/auth/verify', { body: { email: 'anna@acme.test', code } });
    expect(verified.status).toBe(200);
    expect(verified.body.token).toMatch(/^hhk_/);
    expect(Date.parse(verified.body.expiresAt)).toBeGreaterThan(Date.now());
    const token = verified.body.token as string;

    const me = await ctx.request('GET', '/v1/auth/session', { token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ partnerId: partner.id, userId: user.id, keyKind: 'session', expiresAt: verified.body.expiresAt });
    const portalMe = await ctx.request('GET', '/v1/me', { token });
    expect(portalMe.status).toBe(200);
    expect(portalMe.body.user.id).toBe(user.id);

    // The code works once.
    const again = await ctx.request('POST', '/v1/auth/verify', { body: { email: 'anna@acme.test', code } });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('invalid_code');

    const out = await ctx.request('POST', '/v1/auth/sign-out', { token });
    expect(out.status).toBe(204);
    const after = await ctx.request('GET', '/v1/auth/session', { token });
    expect(after.status).toBe(401);
    expect((await ctx.request('GET', '/v1/me', { token })).status).toBe(401);
  });

  it('e-mails the applicant the outcome of an application, and the approved one can sign in', async () => {
    const applied = await ctx.request('POST', '/v1/applications', {
      body: {
        companyName: 'Nordlys Eiendomsdata AS',
        organisationNumber: '987 654 321',
        contactName: 'Kari Nordmann',
        contactEmail: 'kari@nordlys.test',
        purpose: 'Sync estates into our valuation tool',
      },
    });
    expect(applied.status).toBe(202);
    const approved = await ctx.request('POST', `/v1/applications/${applied.body.id}/approve`, { token: OPERATOR_TOKEN });
    expect(approved.status).toBe(200);

    const approval = await smtp.waitFor('kari@nordlys.test', { subject: /approved/ });
    expect(approval.subject).toContain('Nordlys Eiendomsdata AS');
    expect(approval.text).toContain('/v1/auth/sign-in');

    await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'kari@nordlys.test' } });
    const codeMail = await smtp.waitFor('kari@nordlys.test', { subject: /sign-in code/ });
    const verified = await ctx.request('POST', '/v1/auth/verify', { body: { email: 'kari@nordlys.test', code: codeIn(codeMail.text) } });
    expect(verified.status).toBe(200);
    const session = await ctx.request('GET', '/v1/auth/session', { token: verified.body.token });
    expect(session.body.partnerId).toBe(approved.body.partner.id);

    const other = await ctx.request('POST', '/v1/applications', {
      body: { companyName: 'Spam Ltd', organisationNumber: '123456789', contactName: 'S', contactEmail: 'spam@spam.test', purpose: 'scrape everything' },
    });
    const rejected = await ctx.request('POST', `/v1/applications/${other.body.id}/reject`, {
      token: OPERATOR_TOKEN,
      body: { reason: 'Scraping is not a use we support.' },
    });
    expect(rejected.status).toBe(200);
    const rejection = await smtp.waitFor('spam@spam.test');
    expect(rejection.text).toContain('Reason: Scraping is not a use we support.');
  });

  it('e-mails a user added with POST /v1/users how to sign in, naming the partner and who added them', async () => {
    const { apiKey } = await ctx.db.transaction((trx) => createPartner(trx, { name: 'Inviting Partner AS', contactEmail: 'boss@inviting.test' }));
    const added = await ctx.request('POST', '/v1/users', { token: apiKey, body: { email: 'New.Colleague@Inviting.test' } });
    expect(added.status).toBe(201);

    const invitation = await smtp.waitFor('new.colleague@inviting.test');
    expect(invitation.subject).toBe('You have been given access to Inviting Partner AS on hubhook');
    expect(invitation.text).toContain('by boss@inviting.test');
    expect(invitation.text).toContain('POST /v1/auth/sign-in');

    // And the invitation leads to a working sign-in.
    await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'new.colleague@inviting.test' } });
    const codeMail = await smtp.waitFor('new.colleague@inviting.test', { subject: /sign-in code/ });
    const verified = await ctx.request('POST', '/v1/auth/verify', { body: { email: 'new.colleague@inviting.test', code: codeIn(codeMail.text) } });
    expect(verified.status).toBe(200);
    const me = await ctx.request('GET', '/v1/me', { token: verified.body.token });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ id: added.body.user.id, email: 'new.colleague@inviting.test' });
  });

  it('never holds the request up for a failing mail server: the job retries until it gets through', async () => {
    await ctx.db.transaction((trx) => createPartner(trx, { name: 'Retry Partner', contactEmail: 'retry@partner.test' }));
    smtp.failNext(1);
    const refusedBefore = smtp.refused();

    const asked = await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'retry@partner.test' } });
    expect(asked.status).toBe(202);

    const mail = await smtp.waitFor('retry@partner.test', { timeoutMs: 20_000 });
    expect(codeIn(mail.text)).toMatch(/^\d{8}$/);
    expect(smtp.refused()).toBe(refusedBefore + 1);
    const row = await eventually(() => ctx.db('mail_outbox').where({ to_address: 'retry@partner.test', status: 'sent' }).first(), 'the mail row marked sent');
    expect(row.attempts).toBe(2);
    expect(row.last_error).toBeNull();
  });
});
