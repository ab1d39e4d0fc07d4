import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requeueMessages } from '#shared/delivery/requeue';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// Messages sent again (a resend, a replay, retries, the reconciler) come by delivery jobs, and
// the deliver queue runs 100 jobs at once. A receiver that turned slow (300 ms an answer, one
// request at a time) with 150 such messages must not hold those slots while another
// subscription's retry waits behind its jobs: the messages its lane cannot start within 5 s are
// written back for later (`submitFromJob`, `trimSlowLanes`), and their jobs complete.
const ENV = { RETRY_SCHEDULE: '1s,1s,1s', DELIVERY_TIMEOUT_MS: '3000', MAX_IN_FLIGHT_PER_SUBSCRIPTION: '1' };
const SLOW = 150;

describe('a receiver that turned slow, with many messages sent again', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await ctx?.stop();
  });

  it("leaves the deliver queue's job slots to another subscription's retry", async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated', 'estate.deleted'] });
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'SLOW1', product);
    const { id: slow } = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?s=slow`, eventTypes: ['estate.updated'] });
    await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?s=fast`, eventTypes: ['estate.deleted'] });
    const slowSucceeded = async () => Number((await ctx.db('messages').where({ subscription_id: slow, status: 'succeeded' }).count({ n: '*' }).first())?.n);

    // Delivered once, quickly.
    await publishEvents(ctx, Array.from({ length: SLOW }, (_, i) => hubEvent('SLOW1', 'estate.updated', { i })));
    await eventually(async () => (await slowSucceeded()) === SLOW, { what: 'the first deliveries', timeoutMs: 30_000 });

    // Then the receiver turns slow, and all 150 are sent again, a job each; the other
    // subscription's first try fails, so its retry comes by a job queued behind them.
    let slowSent = 0;
    const tried = new Set<string>();
    receiver.behave(async (req) => {
      if (req.path.includes('s=slow')) {
        slowSent++;
        await new Promise((r) => setTimeout(r, 300));
        return { status: 200 };
      }
      const id = String(req.headers['webhook-id']);
      if (tried.has(id)) return { status: 200 };
      tried.add(id);
      return { status: 503 };
    });
    const resent = await requeueMessages(ctx.db, ctx.queues, (q) => q.where('subscription_id', slow));
    expect(resent).toHaveLength(SLOW);
    await publishEvents(ctx, [hubEvent('SLOW1', 'estate.deleted', {})]);

    // Held behind 150 jobs sent one at a time, 300 ms each, the retry would wait until some 50
    // of them had been sent (the 50 queued beyond the 100 slots); it does not.
    await eventually(
      async () => (await ctx.db('messages').join('events', 'events.id', 'messages.event_id').where('events.type', 'estate.deleted').first('messages.status'))?.status === 'succeeded',
      { what: "the other subscription's retry delivered", timeoutMs: 60_000 },
    );
    const sentBefore = slowSent;
    console.warn(`slow lane: the other subscription's retry succeeded after ${sentBefore} of the ${SLOW} messages sent again had gone to the slow receiver`);
    expect(sentBefore).toBeLessThan(30);

    // Nothing is lost: every message sent again arrives.
    await eventually(async () => slowSent >= SLOW && (await ctx.db('messages').where({ subscription_id: slow }).whereNot('status', 'succeeded').count({ n: '*' }).first())?.n === 0, {
      what: `the ${SLOW} messages sent again delivered`,
      timeoutMs: 120_000,
    });
  }, 240_000);
});
