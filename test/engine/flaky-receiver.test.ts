import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// A short schedule, so a message walks all of it within the test: 1 try + 8 retries.
const ENV = { DELIVERY_TIMEOUT_MS: '1000', RETRY_SCHEDULE: '200ms,500ms,1s,1s,1s,1s,1s,1s', MAX_IN_FLIGHT_PER_SUBSCRIPTION: '8' };

describe('a receiver that fails 20 % of requests and hangs on 3 %', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await ctx.stop();
  });

  it('gets every message within the retry schedule, none dead', async () => {
    let failed = 0;
    let hung = 0;
    receiver.behave(async () => {
      const roll = Math.random();
      if (roll < 0.03) {
        hung++;
        // Past the 1 s timeout: the worker gives up on it, the receiver answers into the void.
        await new Promise((r) => setTimeout(r, 1_500));
        return { status: 200 };
      }
      if (roll < 0.23) {
        failed++;
        return { status: 500, body: 'flaky' };
      }
      return { status: 200 };
    });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'FLAKY', product);
    const subscriptions = 2;
    for (let i = 0; i < subscriptions; i++) {
      await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url: `${receiver.url}?s=${i}`, eventTypes: ['estate.updated'] });
    }
    const events = Array.from({ length: 400 }, (_, i) => hubEvent('FLAKY', 'estate.updated', { i }));
    await publishEvents(ctx, events);
    const expected = events.length * subscriptions;
    const byStatus = async () =>
      Object.fromEntries(((await ctx.db('messages').groupBy('status').select('status').count({ n: '*' })) as { status: string; n: number }[]).map((r) => [r.status, Number(r.n)]));
    await eventually(async () => {
      const s = await byStatus();
      // Thrown, so that a timeout names where the messages stood.
      if ((s.succeeded ?? 0) + (s.dead ?? 0) !== expected) throw new Error(`messages by status ${JSON.stringify(s)} after ${receiver.requests.length} requests`);
      return true;
    }, { what: `all ${expected} messages to finish`, timeoutMs: 120_000, everyMs: 250 });
    const statuses = await byStatus();
    const attempts = (await ctx.db('messages').max({ most: 'attempts' }).first())?.most as number;
    const deferred = Number((await ctx.db('attempts').where('error', 'circuit_open').count({ n: '*' }).first())?.n);
    console.warn(
      `flaky receiver: ${expected} messages, ${receiver.requests.length} requests (${failed} answered 500, ${hung} hung past the timeout); ` +
        `succeeded ${statuses.succeeded ?? 0}, dead ${statuses.dead ?? 0}; most attempts for one message: ${attempts}`,
    );
    expect(statuses).toEqual({ succeeded: expected });
    expect(deferred).toBe(0);
    expect(failed + hung).toBeGreaterThan(0);
    // No attempt was used up by an open circuit, and every message reached the receiver.
    const ok = new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
    expect(ok.size).toBe(expected);
  }, 180_000);
});
