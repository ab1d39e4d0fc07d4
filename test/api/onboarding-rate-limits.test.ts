import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { createPartner } from '#api/partners/service';

/**
 * The rate limits of the public onboarding routes, with small limits so a few requests show
 * them. Every test request comes from 127.0.0.1, so each client-address case gets a context
 * (its own Redis prefix) of its own.
 */
const application = (n: number) => ({
  companyName: `Busy ${n} AS`,
  organisationNumber: `9000000${n}`,
  contactName: 'B',
  contactEmail: `b${n}@busy.test`,
  purpose: 'p',
});

function expectRateLimited(res: { status: number; headers: Headers; body: { error: { code: string } } }) {
  expect(res.status).toBe(429);
  expect(res.body.error.code).toBe('rate_limited');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  // The IETF RateLimit fields say the same: nothing left until the window resets.
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
  expect(Number(res.headers.get('ratelimit-reset'))).toBe(retryAfter);
  expect(Number(res.headers.get('ratelimit-limit'))).toBeGreaterThan(0);
}

describe('applications per client address', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { RATE_LIMIT_APPLICATIONS: '2/1h' } });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('accepts two, then answers 429 with Retry-After and stores nothing more', async () => {
    const answers = [];
    for (let i = 1; i <= 2; i++) answers.push(await ctx.request('POST', '/v1/applications', { body: application(i) }));
    expect(answers.map((a) => a.status)).toEqual([202, 202]);
    // Each accepted request tells how many are left in the window.
    expect(answers.map((a) => [a.headers.get('ratelimit-limit'), a.headers.get('ratelimit-remaining')])).toEqual([
      ['2', '1'],
      ['2', '0'],
    ]);
    expect(Number(answers[0]!.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    const third = await ctx.request('POST', '/v1/applications', { body: application(3) });
    expectRateLimited(third);
    expect(Number(third.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
    expect(await ctx.db('applications').count({ n: '*' }).first()).toEqual({ n: 2 });
  });
});

describe('sign-in and verify per e-mail address', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { RATE_LIMIT_AUTH_PER_EMAIL: '3/15m', RATE_LIMIT_AUTH_PER_CLIENT: '1000/15m' } });
    await ctx.db.transaction((trx) => createPartner(trx, { name: 'Limited', contactEmail: 'limited@rate.test' }));
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('limits sign-in requests per address, the same for registered and unknown ones, and not for other addresses', async () => {
    for (const email of ['limited@rate.test', 'nobody@rate.test']) {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await ctx.request('POST', '/v1/auth/sign-in', { body: { email } })).status);
      expect(statuses).toEqual([202, 202, 202]);
      expectRateLimited(await ctx.request('POST', '/v1/auth/sign-in', { body: { email } }));
    }
    // Only three codes were written for the registered address: the fourth request did nothing.
    expect(await ctx.db('mail_outbox').where({ to_address: 'limited@rate.test' }).count({ n: '*' }).first()).toEqual({ n: 3 });
    expect((await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'other@rate.test' } })).status).toBe(202);
  });

  it('limits code checks per address apart from sign-in requests', async () => {
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await ctx.request('POST', '/v1/auth/verify', { body: { email: 'guess@rate.test', code: `0000000${i}` } })).body.error.code);
    expect(codes).toEqual(['invalid_code', 'invalid_code', 'invalid_code']);
    expectRateLimited(await ctx.request('POST', '/v1/auth/verify', { body: { email: 'guess@rate.test', code: '00000009' } }));
  });
});

describe('sign-in and verify per client address', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { RATE_LIMIT_AUTH_PER_EMAIL: '1000/15m', RATE_LIMIT_AUTH_PER_CLIENT: '4/15m' } });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('limits one client whatever addresses it tries', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await ctx.request('POST', '/v1/auth/sign-in', { body: { email: `spray${i}@rate.test` } })).status);
    expect(statuses).toEqual([202, 202, 202, 202]);
    expectRateLimited(await ctx.request('POST', '/v1/auth/sign-in', { body: { email: 'spray9@rate.test' } }));

    const verifies = [];
    for (let i = 0; i < 4; i++) verifies.push((await ctx.request('POST', '/v1/auth/verify', { body: { email: `spray${i}@rate.test`, code: '12345678' } })).status);
    expect(verifies).toEqual([401, 401, 401, 401]);
    expectRateLimited(await ctx.request('POST', '/v1/auth/verify', { body: { email: 'spray0@rate.test', code: '12345678' } }));
  });
});
