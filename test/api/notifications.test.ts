import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { eventually } from '../support/poll.ts';
import { newId } from '#shared/ids';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { hubEvent, insertFunction, insertPartner, insertSubscriber, publishEvents } from '../support/fixtures.ts';

/**
 * Partners read what they are told: a subscription disabled by the engine (its receiver
 * answered 410 Gone, or DISABLE_AFTER passed while deliveries failed) writes a notice that
 * GET /v1/notifications lists, newest first, and e-mails the partner's contact person, here
 * through a real SMTP server on loopback. Deliveries go through the engine (workers running).
 */
const ENV = { RETRY_SCHEDULE: '200ms,200ms,200ms', DELIVERY_TIMEOUT_MS: '10000', DELIVERY_LEASE: '30s', DISABLE_AFTER: '1h' };

describe('notifications for partners', () => {
  let ctx: TestContext;
  let smtp: TestSmtpServer;
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    smtp = await startSmtpServer();
    ctx = await startTestContext({ workers: true, env: { ...ENV, SMTP_URL: smtp.url, PUBLIC_URL: 'https://portal.example.test' } });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created', 'estate.updated'] });
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await ctx.stop();
    await smtp.close();
  });

  /** A partner with an active product activated in `installationId`, and a subscription to a fresh receiver. */
  async function partnerWithSubscription(installationId: string) {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const { partner, subscription } = await insertSubscriber(ctx.db, { installationId, url: receiver.url, eventTypes: ['estate.created'] });
    return { ...partner, receiver, subscription };
  }

  const publish = async (installationId: string) => {
    await publishEvents(ctx, [hubEvent(installationId, 'estate.created')]);
  };
  const disabled = (id: string) =>
    eventually(async () => ((await ctx.db('subscriptions').where({ id }).first('state')).state === 'disabled' ? true : null), `subscription ${id} disabled`);

  it('lists the notice of a subscription disabled by a 410, and e-mails the contact person', async () => {
    const p = await partnerWithSubscription('INSTN410');
    p.receiver.behave(() => ({ status: 410 }));
    await publish('INSTN410');
    await p.receiver.waitFor(1);
    await disabled(p.subscription.id);

    const list = await eventually(async () => {
      const res = await ctx.request('GET', '/v1/notifications', { token: p.apiKey });
      return res.body.data.length > 0 ? res : null;
    }, 'the notice listed');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      data: [
        {
          id: expect.stringMatching(/^ntf_/),
          kind: 'subscription_disabled',
          productId: null,
          message: `Subscription ${p.subscription.id} was disabled: the receiver answered 410 Gone`,
          data: { subscriptionId: p.subscription.id, reason: 'the receiver answered 410 Gone' },
          createdAt: expect.any(String),
          readAt: null,
        },
      ],
      nextCursor: null,
      hasMore: false,
    });

    const mail = await smtp.waitFor(p.email, { subject: /disabled/ });
    expect(mail.subject).toBe(`hubhook: a push subscription of ${p.name} was disabled`);
    expect(mail.text).toContain(`Subscription ${p.subscription.id} (receiver ${p.receiver.url})`);
    expect(mail.text).toContain('the receiver answered 410 Gone');
    expect(mail.text).toContain('GET https://portal.example.test/v1/notifications');
    const row = await eventually(() => ctx.db('mail_outbox').where({ to_address: p.email, kind: 'subscription-disabled', status: 'sent' }).first(), 'mail sent');
    expect(row.attempts).toBe(1);
  });

  it('lists the notice of a subscription disabled after DISABLE_AFTER of failures, and e-mails the contact person', async () => {
    const p = await partnerWithSubscription('INSTNAFT');
    p.receiver.behave(() => ({ status: 500, body: 'still broken' }));
    // Failing for two hours already, with DISABLE_AFTER=1h: the next failed delivery disables it.
    await ctx.db('subscriptions')
      .where({ id: p.subscription.id })
      .update({ failing_since: ctx.db.raw("now() - interval '2 hours'"), consecutive_failures: 40 });
    await publish('INSTNAFT');
    await p.receiver.waitFor(1);
    await disabled(p.subscription.id);

    const res = await eventually(async () => {
      const r = await ctx.request('GET', '/v1/notifications?unread=true', { token: p.apiKey });
      return r.body.data.length > 0 ? r : null;
    }, 'the notice listed');
    expect(res.body.data).toHaveLength(1);
    expect(res.body.data[0]).toMatchObject({
      kind: 'subscription_disabled',
      message: `Subscription ${p.subscription.id} was disabled: no successful delivery since it was created while deliveries kept failing`,
      data: { subscriptionId: p.subscription.id },
    });
    const mail = await smtp.waitFor(p.email, { subject: /disabled/ });
    expect(mail.text).toContain('no successful delivery since it was created while deliveries kept failing');
  });

  it('e-mails the contact person when an operator disables a subscription', async () => {
    const p = await partnerWithSubscription('INSTNOPS');
    const res = await ctx.request('POST', `/v1/ops/subscriptions/${p.subscription.id}/disable`, { token: OPERATOR_TOKEN, body: { reason: 'leaks data' } });
    expect(res.status).toBe(200);
    const mail = await smtp.waitFor(p.email, { subject: /disabled/ });
    expect(mail.text).toContain('disabled by an operator: leaks data');
    const list = await ctx.request('GET', '/v1/notifications', { token: p.apiKey });
    expect(list.body.data.map((n: { message: string }) => n.message)).toEqual([`Subscription ${p.subscription.id} was disabled: disabled by an operator: leaks data`]);
  });

  describe('reading and marking', () => {
    let token: string;
    let partnerId: string;
    const ids: string[] = [];

    beforeAll(async () => {
      const seeded = await insertPartner(ctx.db);
      token = seeded.apiKey;
      partnerId = seeded.partnerId;
      // Five notices a second apart, oldest first.
      for (let i = 0; i < 5; i++) {
        const [row] = await ctx
          .db('notifications')
          .insert({
            id: newId('notification'),
            partner_id: partnerId,
            kind: 'subscription_disabled',
            message: `notice ${i}`,
            created_at: ctx.db.raw(`now() - (? * interval '1 second')`, [10 - i]),
          })
          .returning('id');
        ids.push(row.id);
      }
    });

    it('lists newest first, page by page', async () => {
      const first = await ctx.request('GET', '/v1/notifications?limit=2', { token });
      expect(first.body.data.map((n: { message: string }) => n.message)).toEqual(['notice 4', 'notice 3']);
      const second = await ctx.request('GET', `/v1/notifications?limit=2&cursor=${first.body.nextCursor}`, { token });
      expect(second.body.data.map((n: { message: string }) => n.message)).toEqual(['notice 2', 'notice 1']);
      const third = await ctx.request('GET', `/v1/notifications?limit=2&cursor=${second.body.nextCursor}`, { token });
      expect(third.body).toMatchObject({ data: [{ message: 'notice 0' }], nextCursor: null });
    });

    it('marks one read (again keeps the first time), filters unread, then marks all read', async () => {
      const marked = await ctx.request('POST', `/v1/notifications/${ids[3]}/read`, { token });
      expect(marked.status).toBe(200);
      expect(marked.body).toMatchObject({ id: ids[3], message: 'notice 3', readAt: expect.any(String) });
      const again = await ctx.request('POST', `/v1/notifications/${ids[3]}/read`, { token });
      expect(again.body.readAt).toBe(marked.body.readAt);

      const unread = await ctx.request('GET', '/v1/notifications?unread=true', { token });
      expect(unread.body.data.map((n: { message: string }) => n.message)).toEqual(['notice 4', 'notice 2', 'notice 1', 'notice 0']);
      const everything = await ctx.request('GET', '/v1/notifications?unread=false', { token });
      expect(everything.body.data).toHaveLength(5);

      const all = await ctx.request('POST', '/v1/notifications/read-all', { token });
      expect(all.status).toBe(200);
      expect(all.body).toEqual({ marked: 4 });
      expect((await ctx.request('GET', '/v1/notifications?unread=true', { token })).body.data).toEqual([]);
      expect((await ctx.request('POST', '/v1/notifications/read-all', { token })).body).toEqual({ marked: 0 });
      // The one read first kept its time.
      const listed = await ctx.request('GET', '/v1/notifications', { token });
      expect(listed.body.data.find((n: { id: string }) => n.id === ids[3]).readAt).toBe(marked.body.readAt);
    });

    it('keeps each partner to its own notices: another partner gets 404 and marks nothing of them', async () => {
      const other = await insertPartner(ctx.db);
      await ctx.db('notifications').where({ partner_id: partnerId }).update({ read_at: null });
      const res = await ctx.request('POST', `/v1/notifications/${ids[0]}/read`, { token: other.apiKey });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
      expect((await ctx.request('POST', '/v1/notifications/read-all', { token: other.apiKey })).body).toEqual({ marked: 0 });
      expect((await ctx.request('GET', '/v1/notifications', { token: other.apiKey })).body.data).toEqual([]);
      expect(await ctx.db('notifications').where({ partner_id: partnerId }).whereNotNull('read_at')).toEqual([]);
      // Installation notices are not a partner's.
      expect((await ctx.request('GET', '/v1/notifications', { token: HUB_TOKEN })).status).toBe(403);
    });

    it('answers an unknown or malformed id 404 and a bad filter or cursor 400 naming it', async () => {
      for (const id of ['ntf_0000000000000000000z', 'nope', 'sub_0000000000000000000a']) {
        expect((await ctx.request('POST', `/v1/notifications/${id}/read`, { token })).status, id).toBe(404);
      }
      const badFilter = await ctx.request('GET', '/v1/notifications?unread=maybe', { token });
      expect(badFilter.status).toBe(400);
      expect(badFilter.body.error.details.map((d: { path: string }) => d.path)).toEqual(['query.unread']);
      const badCursor = await ctx.request('GET', '/v1/notifications?cursor=junk', { token });
      expect(badCursor.status).toBe(400);
      expect(badCursor.body.error.details[0].path).toBe('query.cursor');
    });
  });
});
