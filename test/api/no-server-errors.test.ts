/**
 * Bad input never yields a 5xx: every route of the app (from `api.specs`, so new routes are
 * included) is called with a NUL character in each path parameter, an empty body, and a body of
 * the wrong type, with a token it accepts. None may answer 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '#api/app';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createPartner } from '../support/fixtures.ts';

describe('no route answers bad input with a 5xx', () => {
  let ctx: TestContext;
  let specs: { method: string; path: string; auth: readonly string[] }[];
  let partnerKey: string;
  beforeAll(async () => {
    ctx = await startTestContext();
    specs = createApp({ config: ctx.config, logger: ctx.logger, db: ctx.db, redis: ctx.redis, queues: ctx.queues }).api.specs;
    partnerKey = (await createPartner(ctx, { name: 'Fuzz Partner' })).apiKey;
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('holds for every route', async () => {
    const token = (auth: readonly string[]) =>
      auth.includes('operator') ? OPERATOR_TOKEN : auth.includes('hub') ? HUB_TOKEN : auth.includes('partner') ? partnerKey : undefined;
    const failures: string[] = [];
    for (const spec of specs) {
      const method = spec.method.toUpperCase();
      const paths = [spec.path.replace(/:(\w+)/g, 'x%00y'), spec.path.replace(/:(\w+)/g, '%00')];
      const bodies: unknown[] = method === 'GET' || method === 'DELETE' ? [undefined] : [{}, [], 'null', { x: 'a\u0000b' }];
      for (const path of paths) {
        for (const body of bodies) {
          const res = await ctx.request(method, `${path}${path.includes('?') ? '&' : '?'}limit=%00`, { token: token(spec.auth), body });
          if (res.status >= 500) failures.push(`${method} ${path} ${JSON.stringify(body)} -> ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    // Hundreds of requests in a row: generous, for a loaded machine.
  }, 180_000);
});
