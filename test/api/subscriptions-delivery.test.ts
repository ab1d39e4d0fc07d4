import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { startTestContext, type TestContext } from '../support/context.ts';
import { type ReceivedRequest, startReceiver, type TestReceiver } from '../support/receiver.ts';
import { createSubscription, PUSHABLE, pushSetup } from '../support/fixtures.ts';

// Test messages go through the real delivery path (the workers run here): what the receiver gets
// must verify with the receivers' own libraries, before and during a secret rotation.
let ctx: TestContext;
let r: TestReceiver;

beforeAll(async () => {
  ctx = await startTestContext({ workers: true });
  r = await startReceiver();
});
afterAll(async () => {
  await r.close();
  await ctx.stop();
});

function verifiesWith(secret: string, got: ReceivedRequest): void {
  const headers = got.headers as Record<string, string>;
  expect(new Webhook(secret).verify(got.body, headers)).toEqual(JSON.parse(got.body));
  expect(new SvixWebhook(secret).verify(got.body, headers)).toEqual(JSON.parse(got.body));
}

async function sendTest(id: string, token: string): Promise<ReceivedRequest> {
  const res = await ctx.request('POST', `/v1/subscriptions/${id}/test`, { token });
  expect(res.status).toBe(202);
  const messageId = res.body.messageId as string;
  return vi.waitFor(
    () => {
      const got = r.requests.find((q) => q.headers['webhook-id'] === messageId);
      if (!got) throw new Error(`message ${messageId} not delivered yet`);
      return got;
    },
    { timeout: 15_000, interval: 50 },
  );
}

describe('test messages through the delivery engine', () => {
  it('arrive signed with the secret, then with both secrets while a rotation overlaps', async () => {
    const p = await pushSetup(ctx.db);
    const { id, secret: oldSecret } = await createSubscription(ctx, p.apiKey, p.productId, { functionKey: PUSHABLE, url: r.url });

    const before = await sendTest(id, p.apiKey);
    expect(JSON.parse(before.body)).toMatchObject({
      type: 'estate.created',
      installationId: 'MSVPAR',
      data: { example: true, departmentId: 'dep-42', estateStatus: 'for_sale' },
    });
    expect((before.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    verifiesWith(oldSecret, before);

    const rotated = await ctx.request('POST', `/v1/subscriptions/${id}/rotate-secret`, { token: p.apiKey });
    const newSecret = rotated.body.secret as string;
    const during = await sendTest(id, p.apiKey);
    expect((during.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    verifiesWith(oldSecret, during);
    verifiesWith(newSecret, during);

    // The outcome is written in batches, after the receiver answered.
    await vi.waitFor(async () => expect((await ctx.db('messages').where({ id: during.headers['webhook-id'] }).first()).status).toBe('succeeded'), {
      timeout: 15_000,
      interval: 50,
    });
  });

  it('wait while the subscription is paused and arrive after resume', async () => {
    const p = await pushSetup(ctx.db);
    const { id, secret } = await createSubscription(ctx, p.apiKey, p.productId, { functionKey: PUSHABLE, url: r.url });
    expect((await ctx.request('POST', `/v1/subscriptions/${id}/pause`, { token: p.apiKey })).status).toBe(200);
    const test = await ctx.request('POST', `/v1/subscriptions/${id}/test`, { token: p.apiKey });
    expect(test.status).toBe(202);
    const messageId = test.body.messageId as string;
    expect((await ctx.db('messages').where({ id: messageId }).first()).status).toBe('held');
    expect(r.requests.some((q) => q.headers['webhook-id'] === messageId)).toBe(false);

    expect((await ctx.request('POST', `/v1/subscriptions/${id}/resume`, { token: p.apiKey })).status).toBe(200);
    const got = await vi.waitFor(
      () => {
        const found = r.requests.find((q) => q.headers['webhook-id'] === messageId);
        if (!found) throw new Error('not delivered yet');
        return found;
      },
      { timeout: 15_000, interval: 50 },
    );
    verifiesWith(secret, got);
  });
});
