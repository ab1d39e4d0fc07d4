import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartner } from '#api/partners/service';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';

/**
 * In production a sign-in code is readable by its addressee only. Without SMTP_URL the api
 * starts, but a code's mail is written without its body (the row still records the request);
 * with SMTP_URL, the operators' outbox view never shows a code, even while it waits for the
 * mail server.
 */
describe('production without SMTP_URL', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: { HUBHOOK_ENV: 'production' } });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('keeps the sign-in mail in the outbox without its code, so nobody can read the code', async () => {
    const { apiKey } = await ctx.db.transaction((trx) => createPartner(trx, { name: 'Prod Partner AS', contactEmail: 'prod@prod.test' }));
    expect((await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'prod@prod.test' } })).status).toBe(202);
    const row = await eventually(() => ctx.db('mail_outbox').where({ to_address: 'prod@prod.test', kind: 'sign-in-code', status: 'outbox' }).first(), 'the mail row delivered to the outbox');
    expect(row).toMatchObject({ sensitive: true, text_body: null, subject: 'Your hubhook sign-in code' });
    expect(await ctx.db('sign_in_codes').where({ email: 'prod@prod.test' })).toHaveLength(1);
    const listed = await ctx.request('GET', '/v1/ops/outbox?to=prod@prod.test', { token: OPERATOR_TOKEN });
    expect(listed.body.data).toEqual([expect.objectContaining({ kind: 'sign-in-code', text: null })]);
    expect(JSON.stringify(await ctx.db('mail_outbox').where({ to_address: 'prod@prod.test' }))).not.toMatch(/sign-in code is/);

    // Mail that holds no secret keeps its body: the outbox is still where it can be read.
    expect((await ctx.request('POST', '/v1/users', { token: apiKey, body: { email: 'colleague@prod.test' } })).status).toBe(201);
    const invitation = await eventually(() => ctx.db('mail_outbox').where({ to_address: 'colleague@prod.test', kind: 'invitation' }).first(), 'the invitation');
    expect(invitation.text_body).toContain('/v1/auth/sign-in');
  });
});

describe('production with SMTP_URL', () => {
  let ctx: TestContext;
  let smtp: TestSmtpServer;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    // No workers: the mail waits, pending, with its body for the SMTP server.
    ctx = await startTestContext({ env: { HUBHOOK_ENV: 'production', SMTP_URL: smtp.url } });
  });
  afterAll(async () => {
    await ctx.stop();
    await smtp.close();
  });

  it('never shows a waiting sign-in code in the operators’ outbox view', async () => {
    await ctx.db.transaction((trx) => createPartner(trx, { name: 'Prod Mail AS', contactEmail: 'mail@prod.test' }));
    expect((await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'mail@prod.test' } })).status).toBe(202);
    const row = await ctx.db('mail_outbox').where({ to_address: 'mail@prod.test' }).first();
    expect(row).toMatchObject({ status: 'pending', sensitive: true });
    expect(row.text_body).toMatch(/sign-in code is: \d{8}/);
    const listed = await ctx.request('GET', '/v1/ops/outbox?to=mail@prod.test', { token: OPERATOR_TOKEN });
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([expect.objectContaining({ kind: 'sign-in-code', status: 'pending', text: null })]);
  });
});
