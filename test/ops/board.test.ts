import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '#shared/queues/catalog';
import { OPERATOR_TOKEN, startTestContext, testEnv, type TestContext } from '../support/context.ts';
import { boardSessionValue, isValidBoardSession } from '#api/ops/board';
import { startApi } from '#api/server';
import { loadConfig } from '#shared/config';

const noRedirect = { redirect: 'manual' } as const;

async function signIn(url: string, token: string): Promise<Response> {
  return fetch(`${url}/ops/board/login`, {
    ...noRedirect,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
}

/** The `name=value` part of a set-cookie header, to send back as a cookie. */
const cookieOf = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;

describe('the queue dashboard at /ops/board', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('sends a browser without a session to the login form, and refuses the board API', async () => {
    for (const path of ['/ops/board', '/ops/board/', '/ops/board/queue/deliver', '/ops/board/static/js/main.js']) {
      const res = await fetch(`${ctx.url}${path}`, noRedirect);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe('/ops/board/login');
    }
    const api = await fetch(`${ctx.url}/ops/board/api/queues`, noRedirect);
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    // A bearer header is for the API, not the board: the board wants its session cookie.
    const bearer = await fetch(`${ctx.url}/ops/board/api/queues`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(bearer.status).toBe(401);

    const login = await fetch(`${ctx.url}/ops/board/login`);
    expect(login.status).toBe(200);
    const html = await login.text();
    expect(html).toContain('<form method="post" action="/ops/board/login">');
    expect(html).toContain('type="password"');
  });

  it('refuses a wrong token with the form again and no cookie', async () => {
    const res = await signIn(ctx.url, 'not-the-operator-token');
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toContain('That is not the operator token.');
    const empty = await signIn(ctx.url, '');
    expect(empty.status).toBe(401);
  });

  it('signs in with the operator token: an HttpOnly, SameSite=Strict cookie that is not the token', async () => {
    const res = await signIn(ctx.url, OPERATOR_TOKEN);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ops/board/');
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^hubhook_board=v1\.\d+\.[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/ops/board');
    expect(setCookie).not.toContain('Secure'); // HUBHOOK_ENV=test serves plain http
    expect(setCookie).not.toContain(OPERATOR_TOKEN);

    const cookie = cookieOf(res);
    const page = await fetch(`${ctx.url}/ops/board/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('hubhook queues');
    const queues = await fetch(`${ctx.url}/ops/board/api/queues`, { headers: { cookie } });
    expect(queues.status).toBe(200);
    const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual([...QUEUE_NAMES].sort());
  });

  it('refuses forged, expired and other-token cookies', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600;
    const past = Math.floor(Date.now() / 1000) - 1;
    const forged = [
      `hubhook_board=${OPERATOR_TOKEN}`,
      `hubhook_board=v1.${future}.${'A'.repeat(43)}`,
      `hubhook_board=${boardSessionValue(OPERATOR_TOKEN, past)}`,
      `hubhook_board=${boardSessionValue('another-operator-token-123', future)}`,
      `other=${boardSessionValue(OPERATOR_TOKEN, future)}`,
    ];
    for (const cookie of forged) {
      const res = await fetch(`${ctx.url}/ops/board/api/queues`, { headers: { cookie } });
      expect(res.status, cookie).toBe(401);
    }
    expect(isValidBoardSession(OPERATOR_TOKEN, boardSessionValue(OPERATOR_TOKEN, future))).toBe(true);
  });

  it('signs out by clearing the cookie', async () => {
    const res = await fetch(`${ctx.url}/ops/board/logout`, { ...noRedirect, method: 'POST' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ops/board/login');
    expect(res.headers.get('set-cookie')).toMatch(/^hubhook_board=; .*Max-Age=0/);
  });

  it('marks the cookie Secure in production', async () => {
    const config = loadConfig(testEnv({ HUBHOOK_ENV: 'production', QUEUE_PREFIX: ctx.queuePrefix }));
    const api = await startApi({ config, logger: ctx.logger, db: ctx.db, redis: ctx.redis, queues: ctx.queues }, 0, '127.0.0.1');
    try {
      const res = await signIn(api.url, OPERATOR_TOKEN);
      expect(res.status).toBe(303);
      expect(res.headers.get('set-cookie')).toMatch(/; Secure$/);
    } finally {
      await api.close();
    }
  });
});
