import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SubscriptionLimits } from '#shared/delivery/limits';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type ReceivedRequest, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

// Limits that hold across worker processes, and leases that mean "in flight".
const CAP = 4;
const ENV = { MAX_IN_FLIGHT_PER_SUBSCRIPTION: String(CAP), DELIVERY_TIMEOUT_MS: '2000', RECONCILE_INTERVAL: '1s', RETRY_SCHEDULE: '1s,1s,1s' };

/** A receiver that counts its requests in flight (peak) and any webhook-id arriving while already in flight. */
async function watchedReceiver(answer: (req: ReceivedRequest) => Promise<number>) {
  const receiver = await startReceiver();
  const seen = { current: 0, peak: 0, twiceInFlight: 0 };
  const inFlight = new Set<string>();
  receiver.behave(async (req) => {
    const id = String(req.headers['webhook-id']);
    if (inFlight.has(id)) seen.twiceInFlight++;
    inFlight.add(id);
    seen.current++;
    seen.peak = Math.max(seen.peak, seen.current);
    try {
      return { status: await answer(req) };
    } finally {
      seen.current--;
      inFlight.delete(id);
    }
  });
  return { receiver, seen };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('limits shared by worker processes', () => {
  let ctx: TestContext;
  const workers: ChildProcess[] = [];
  const receivers: TestReceiver[] = [];
  let partnerId: string;
  let productId: string;
  let installation = 0;

  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const partner = await insertPartner(ctx.db);
    partnerId = partner.partnerId;
    productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => stopWorkerProcess(w, 'SIGKILL')));
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await ctx.stop();
  });

  /** A subscription of its own installation, so events go to it alone. */
  async function subscribe(url: string) {
    const inst = `LIM${++installation}`;
    await insertActivation(ctx.db, inst, productId);
    const sub = await insertSubscription(ctx.db, { partnerId, productId, functionKey: 'estates.read', url, eventTypes: ['estate.updated'] });
    return { inst, sub };
  }

  async function publish(inst: string, count: number) {
    const events = Array.from({ length: count }, (_, i) => hubEvent(inst, 'estate.updated', { i }));
    await publishEvents(ctx, events);
    return events;
  }

  async function startWorkers(n: number, env: Record<string, string> = ENV) {
    const started = await Promise.all(Array.from({ length: n }, () => startWorkerProcess(ctx, env)));
    workers.push(...started.map((w) => w.child));
  }

  const count = async (subscriptionId: string, status: string) =>
    Number((await ctx.db('messages').where({ subscription_id: subscriptionId, status }).count({ n: '*' }).first())?.n);

  it('three workers keep one receiver within its cap, and no webhook-id is in flight twice', async () => {
    const { receiver, seen } = await watchedReceiver(async () => {
      await sleep(100);
      return 200;
    });
    receivers.push(receiver);
    const { inst, sub } = await subscribe(receiver.url);
    await startWorkers(3);
    await publish(inst, 150);
    await eventually(async () => (await count(sub.id, 'succeeded')) === 150, { timeoutMs: 90_000, everyMs: 250 });
    console.warn(`3 workers, cap ${CAP}: ${receiver.requests.length} requests for 150 messages, peak ${seen.peak} in flight, ${seen.twiceInFlight} webhook-ids in flight twice`);
    expect(seen.peak).toBeLessThanOrEqual(CAP);
    // The cap was reached: the workers did compete for the receiver.
    expect(seen.peak).toBe(CAP);
    expect(seen.twiceInFlight).toBe(0);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(150);
  }, 150_000);

  it('a failing receiver gets no more requests from three workers than from one: the breaker is shared', async () => {
    const limits = new SubscriptionLimits(ctx.redis, ctx.queuePrefix, { slotLeaseMs: 1 });
    const { breaker } = limits;
    /** Requests a receiver that always fails gets until its circuit is open and every message has been dealt with. */
    async function requestsUntilOpen(workerCount: number) {
      const { receiver, seen } = await watchedReceiver(async () => {
        await sleep(20);
        return 500;
      });
      receivers.push(receiver);
      const { inst, sub } = await subscribe(receiver.url);
      await startWorkers(workerCount);
      await publish(inst, 60);
      await eventually(async () => (await limits.circuit(sub.id)) === 'open', { timeoutMs: 60_000, everyMs: 100 });
      // Every message is out of the workers' hands: failed with a retry due, or deferred to the reopening.
      await eventually(async () => Number((await ctx.db('messages').where({ subscription_id: sub.id }).whereNotNull('lease_owner').count({ n: '*' }).first())?.n) === 0, { timeoutMs: 60_000, everyMs: 100 });
      const requests = receiver.requests.length;
      const dead = await count(sub.id, 'dead');
      await Promise.all(workers.splice(0).map((w) => stopWorkerProcess(w, 'SIGKILL')));
      return { requests, peak: seen.peak, dead };
    }
    const one = await requestsUntilOpen(1);
    const three = await requestsUntilOpen(3);
    console.warn(`failing receiver: 1 worker sent ${one.requests} requests (peak ${one.peak}), 3 workers sent ${three.requests} (peak ${three.peak}) before the shared circuit opened; dead: ${one.dead} and ${three.dead}`);
    // The circuit opens at the minimum volume; at most the other requests in flight then still answer.
    const bound = breaker.minRequests + CAP - 1;
    expect(one.requests).toBeGreaterThanOrEqual(breaker.minRequests);
    expect(one.requests).toBeLessThanOrEqual(bound);
    expect(three.requests).toBeLessThanOrEqual(bound);
    expect(three.peak).toBeLessThanOrEqual(CAP);
    // An open circuit costs no attempt: nothing died of it.
    expect(one.dead + three.dead).toBe(0);
  }, 180_000);

  it('a lease covers a message while it waits and while it is in flight: one request per webhook-id', async () => {
    // The race as reported: 1 in flight per subscription, a 1.5 s lease, a 500 ms receiver, 8 messages
    // (the last waits 3.5 s in its lane) and a reconciler looking every 500 ms; two workers.
    const env = { ...ENV, MAX_IN_FLIGHT_PER_SUBSCRIPTION: '1', DELIVERY_TIMEOUT_MS: '1000', DELIVERY_LEASE: '1.5s', RECONCILE_INTERVAL: '500ms' };
    const { receiver, seen } = await watchedReceiver(async () => {
      await sleep(500);
      return 200;
    });
    receivers.push(receiver);
    const { inst, sub } = await subscribe(receiver.url);
    await startWorkers(2, env);
    await publish(inst, 8);
    await eventually(async () => (await count(sub.id, 'succeeded')) === 8, { timeoutMs: 60_000, everyMs: 100 });
    // Two more reconcile rounds: a late duplicate would show now.
    await sleep(1_500);
    const ids = receiver.requests.map((r) => r.headers['webhook-id']);
    console.warn(`lease race: ${ids.length} POSTs for ${new Set(ids).size} webhook-ids, peak ${seen.peak} in flight`);
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    expect(seen.peak).toBe(1);
    expect(seen.twiceInFlight).toBe(0);
  }, 120_000);
});

describe('the lanes of one turn share one limits call', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('answers each subscription its own grants from one script call, and fails only the one whose keys are broken', async () => {
    const limits = new SubscriptionLimits(ctx.redis, ctx.queuePrefix, { slotLeaseMs: 10_000 });
    const script = ctx.redis as unknown as { hubhookLimitsExchange: (...args: unknown[]) => Promise<unknown> };
    const original = script.hubhookLimitsExchange.bind(ctx.redis);
    const calls: number[] = [];
    script.hubhookLimitsExchange = (numberOfKeys: unknown, ...rest: unknown[]) => {
      calls.push(Number(numberOfKeys) / 4);
      return original(numberOfKeys, ...rest);
    };
    try {
      const subs = Array.from({ length: 30 }, (_, i) => ({ id: `batch-${i}`, maxInFlight: 1 + (i % 3), ratePerSecond: null }));
      // Asked in one turn: each wants 5 slots, and gets as many as its own cap allows.
      const first = await Promise.all(subs.map((s) => limits.exchange(s, [], 5)));
      expect(calls).toEqual([30]);
      expect(first.map((e) => (e.grant.granted ? e.grant.tokens.length : 0))).toEqual(subs.map((s) => s.maxInFlight));
      // Asked again at once: every cap is taken, each denial names its own subscription's cap.
      const second = await Promise.all(subs.map((s) => limits.exchange(s, [], 1)));
      expect(second.every((e) => !e.grant.granted && e.grant.reason === 'cap')).toBe(true);
      // Released in one turn: each lane's slots come back to it alone.
      const third = await Promise.all(
        subs.map((s, i) => {
          const g = first[i]!.grant;
          return limits.exchange(s, g.granted ? g.tokens.map((token) => ({ token, outcome: 'success' as const })) : [], 1);
        }),
      );
      expect(third.every((e) => e.grant.granted && e.grant.tokens.length === 1)).toBe(true);
      for (const s of subs) expect(await limits.inFlight(s.id)).toBe(1);

      // A key of the wrong type under one subscription: its exchange fails, the others' in the same call stand.
      const broken = { id: 'batch-broken', maxInFlight: 2, ratePerSecond: null };
      const fine = { id: 'batch-fine', maxInFlight: 2, ratePerSecond: null };
      await ctx.redis.set(`${ctx.queuePrefix}:limits:{${broken.id}}:slots`, 'not a sorted set');
      calls.length = 0;
      const [bad, good] = await Promise.allSettled([limits.exchange(broken, [], 1), limits.exchange(fine, [], 1)]);
      expect(calls).toEqual([2]);
      expect(bad.status).toBe('rejected');
      expect(String((bad as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
      expect(good.status === 'fulfilled' && good.value.grant.granted).toBe(true);
    } finally {
      script.hubhookLimitsExchange = original;
    }
  });
});
