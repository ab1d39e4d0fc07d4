import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { BAD_TOKEN_BUCKET } from '#api/http/auth';

/**
 * Wrong operator and HUB tokens, and wrong logins at the ops board, are limited per client
 * address (RATE_LIMIT_BAD_TOKENS, default 20/15m, the one used here): a 429 with Retry-After
 * within a few dozen. Every request comes from 127.0.0.1, so each case starts with the file's
 * own limiter keys removed (under its queue prefix, nobody else's).
 */
const MAX_TRIES = 40;

describe('wrong tokens per client address', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });
  beforeEach(async () => {
    const keys = await ctx.redis.keys(`${ctx.queuePrefix}:rl:${BAD_TOKEN_BUCKET}:*`);
    if (keys.length > 0) await ctx.redis.del(...keys);
  });

  /** Sends wrong tokens until one is refused 429; the statuses seen and the 429 itself. */
  async function tryUntilLimited(send: (i: number) => Promise<Response>) {
    const statuses: number[] = [];
    for (let i = 1; i <= MAX_TRIES; i++) {
      const res = await send(i);
      statuses.push(res.status);
      if (res.status === 429) return { statuses, limited: res, attempt: i };
    }
    throw new Error(`no 429 within ${MAX_TRIES} wrong tokens: ${statuses.join(',')}`);
  }

  const expectRetryAfter = (res: Response) => {
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
  };

  it('answers wrong operator tokens 401, then 429 with Retry-After on the 21st; the right token still works', async () => {
    const { statuses, limited, attempt } = await tryUntilLimited((i) =>
      fetch(`${ctx.url}/v1/ops/queues`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN.slice(0, -2)}${String(i).padStart(2, '0')}` } }),
    );
    expect(attempt).toBe(21);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expectRetryAfter(limited);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    // Only failures count: the operator behind the same address is not locked out.
    expect((await ctx.request('GET', '/v1/ops/queues', { token: OPERATOR_TOKEN })).status).toBe(200);
    expect((await fetch(`${ctx.url}/v1/ops/queues`, { headers: { authorization: 'Bearer still-wrong-token-0123456789abcdef' } })).status).toBe(429);
  });

  it('answers wrong HUB tokens 401, then 429 with Retry-After on the 21st', async () => {
    const body = JSON.stringify({ events: [] });
    const { statuses, limited, attempt } = await tryUntilLimited((i) =>
      fetch(`${ctx.url}/v1/hub/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${HUB_TOKEN}-${i}`, 'content-type': 'application/json' },
        body,
      }),
    );
    expect(attempt).toBe(21);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expectRetryAfter(limited);
  });

  it('answers wrong board logins 401, then 429 with Retry-After on the 21st, and counts them with wrong bearer tokens', async () => {
    const login = (token: string) =>
      fetch(`${ctx.url}/ops/board/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
    const { statuses, limited, attempt } = await tryUntilLimited((i) => login(`not-the-operator-token-${i}`));
    expect(attempt).toBe(21);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expectRetryAfter(limited);
    expect(limited.headers.get('content-type')).toContain('text/html');
    expect(await limited.text()).toContain('Too many wrong tokens from this address');
    // The same address's wrong bearer tokens are refused too: one count for every door.
    expect((await ctx.request('GET', '/v1/ops/queues', { token: 'wrong-operator-token-0123456789abcdef' })).status).toBe(429);
    // The right token still signs in.
    expect((await login(OPERATOR_TOKEN)).status).toBe(303);
  });

  it('does not count requests without a token, or a right token of the wrong kind', async () => {
    for (let i = 0; i < 25; i++) {
      expect((await ctx.request('GET', '/v1/ops/queues')).status).toBe(401);
      expect((await ctx.request('GET', '/v1/ops/queues', { token: HUB_TOKEN })).status).toBe(403);
    }
    expect((await ctx.request('GET', '/v1/ops/queues', { token: 'wrong-operator-token-0123456789abcdef' })).status).toBe(401);
  });
});
