import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { createSubscription, PUSHABLE, pushSetup } from '../support/fixtures.ts';

// Every request here creates, rotates or uses a secret or an API key; none of them may reach a
// log line, at debug level, in any form (plain, sealed, or the key's secret part).
let ctx: TestContext;
let r: TestReceiver;

beforeAll(async () => {
  ctx = await startTestContext({ captureLogs: true });
  r = await startReceiver();
});
afterAll(async () => {
  await r.close();
  await ctx.stop();
});

describe('logs', () => {
  it('carry no signing secret, sealed secret or API key', async () => {
    const partner = await pushSetup(ctx.db);
    const token = partner.apiKey;
    const { id, secret } = await createSubscription(ctx, token, partner.productId, { functionKey: PUSHABLE, url: r.url });
    const rotated = await ctx.request('POST', `/v1/subscriptions/${id}/rotate-secret`, { token });
    expect(rotated.status).toBe(200);
    // A new URL is verified with both secrets; a refused one logs its outcome too.
    const r2 = await startReceiver();
    r2.behave(() => ({ status: 500, body: 'no' }));
    try {
      expect((await ctx.request('PATCH', `/v1/subscriptions/${id}`, { token, body: { url: r2.url } })).status).toBe(422);
    } finally {
      await r2.close();
    }
    expect((await ctx.request('POST', `/v1/subscriptions/${id}/test`, { token })).status).toBe(202);
    expect((await ctx.request('GET', `/v1/subscriptions/${id}`, { token })).status).toBe(200);
    // A wrong key is logged as a 401 too; its text must not appear either.
    const wrongKey = `${token.slice(0, -4)}zzzz`;
    expect((await ctx.request('GET', `/v1/subscriptions/${id}`, { token: wrongKey })).status).toBe(401);

    const row = await ctx.db('subscriptions').where({ id }).first();
    const logs = ctx.logs.join('\n');
    // The logs did capture these requests (so the absence below means something).
    expect(logs).toContain('receiver verification');
    expect(logs).toContain(`/v1/subscriptions/${id}/rotate-secret`);

    const forbidden = [
      secret,
      rotated.body.secret,
      row.secret_sealed,
      row.previous_secret_sealed,
      token,
      token.slice('hhk_'.length + 21), // the key's secret part alone (after hhk_<lookup>_)
      wrongKey,
    ];
    for (const value of forbidden) {
      expect(typeof value === 'string' && value.length > 10).toBe(true);
      expect(logs).not.toContain(value);
    }
    expect(logs).not.toMatch(/whsec_/);
    expect(logs).not.toMatch(/hhk_/);
    // Sealed values look like v1:<iv>:<tag>:<ciphertext>.
    expect(logs).not.toMatch(/v1:[A-Za-z0-9+/=]{16}:[A-Za-z0-9+/=]{24}:/);
  });
});
