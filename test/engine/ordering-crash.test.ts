import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription } from '../support/fixtures.ts';
import { byEntity, deliveries, interleavedEvents, outOfOrder } from '../support/ordering.ts';

// Short leases and reconcile interval, so a dead worker's messages are taken over within seconds.
// The failing entity's last retry is an hour away: once every other entity is through (observed,
// not timed), the test sends it at once with a resend, which keeps its place at the entity's head.
const ENV = { DELIVERY_TIMEOUT_MS: '2000', DELIVERY_LEASE: '3s', RECONCILE_INTERVAL: '1s', RETRY_SCHEDULE: '500ms,1h' };
const ENTITIES = 200;
const PER_ENTITY = 10;
const FAILING = 'ent-42';

describe('ordered delivery across worker processes', () => {
  let ctx: TestContext;
  let receiver: TestReceiver;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    ctx = await startTestContext({ env: ENV });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    for (const w of workers) await stopWorkerProcess(w, 'SIGKILL');
    await receiver.close();
    await ctx.stop();
  });

  it('keeps every entity in publication order with two workers, one SIGKILLed mid-run, and Redis emptied', async () => {
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
    const { partnerId, apiKey } = await insertPartner(ctx.db);
    const product = await insertProduct(ctx.db, { partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'ORDER2', product);
    const sub = await insertSubscription(ctx.db, { partnerId, productId: product, functionKey: 'estates.read', url: receiver.url, eventTypes: ['estate.updated'], ordering: 'entity' });
    // Slow enough that deliveries are in flight when a worker dies; the failing entity's first
    // message fails until released. Not "the first two tries": a try in flight on the killed
    // worker is sent again (at least once), and that repeat must fail too, or the entity would
    // go on before the others are through.
    let released = false;
    receiver.behave((req) => {
      const event = JSON.parse(req.body) as { entityId: string; data: { seq: number } };
      if (event.entityId === FAILING && event.data.seq === 0 && !released) return { status: 500 };
      return new Promise((resolve) => setTimeout(() => resolve({ status: 200 }), 5));
    });

    workers.push((await startWorkerProcess(ctx, ENV)).child, (await startWorkerProcess(ctx, ENV)).child);
    const events = interleavedEvents('ORDER2', 'estate.updated', ENTITIES, PER_ENTITY);
    const publish = async (part: typeof events) => {
      for (let i = 0; i < part.length; i += 100) {
        const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: part.slice(i, i + 100) } });
        expect(res.status).toBe(202);
      }
    };
    const half = events.length / 2;
    await publish(events.slice(0, half));

    // Kill one worker mid-flight, empty Redis (jobs, retry schedule, limits), publish the rest
    // with one worker left, then start a new one.
    await eventually(() => receiver.requests.length >= 300, { what: '300 deliveries', timeoutMs: 60_000, everyMs: 10 });
    await stopWorkerProcess(workers.shift()!, 'SIGKILL');
    const beforeCrash = receiver.requests.length;
    const keys = await ctx.redis.keys(`${ctx.queuePrefix}:*`);
    if (keys.length > 0) await ctx.redis.del(...keys);
    await publish(events.slice(half));
    workers.push((await startWorkerProcess(ctx, ENV)).child);

    const total = ENTITIES * PER_ENTITY;
    const succeeded = async () => Number((await ctx.db('messages').where({ subscription_id: sub.id, status: 'succeeded' }).count({ n: '*' }).first())?.n);
    // Every other entity gets through while the failing one waits on its last retry (an hour
    // away), its head tried at least twice (more when a try was in flight on the killed worker).
    const head = await eventually(
      async () =>
        (await succeeded()) === total - PER_ENTITY &&
        ((await ctx
          .db('messages as m')
          .join('events as e', 'e.id', 'm.event_id')
          .where({ 'm.subscription_id': sub.id, 'm.status': 'pending', 'e.entity_id': FAILING })
          .where('m.attempts', '>=', 2)
          .where('m.next_attempt_at', '>', ctx.db.raw("now() + interval '10 minutes'"))
          .first('m.id')) as { id: string } | undefined),
      { what: 'all but the failing entity delivered, its head failed twice', timeoutMs: 150_000, everyMs: 250 },
    );
    const othersDone = receiver.requests.length;
    released = true;
    expect((await ctx.request('POST', `/v1/messages/${head.id}/resend`, { token: apiKey })).status).toBe(202);
    await eventually(async () => (await succeeded()) === total, {
      what: 'every message delivered',
      timeoutMs: 150_000,
      everyMs: 250,
    });

    const got = deliveries(receiver.requests);
    // In order per entity; a message may repeat (at least once: the killed worker's in flight) but never come back after a later one.
    expect(outOfOrder(got)).toEqual([]);
    const entities = byEntity(got);
    expect(entities.size).toBe(ENTITIES);
    const failing = entities.get(FAILING)!;
    for (const [entity, list] of entities) expect(new Set(list.map((d) => d.seq)).size, entity).toBe(PER_ENTITY);
    // The failing entity's head got through (its first 0 after the release) only after every
    // other entity had all ten; its later ones only after it.
    const headThrough = failing.find((d) => d.seq === 0 && d.at >= othersDone)!.at;
    expect(headThrough).toBeGreaterThanOrEqual(othersDone);
    expect(failing.filter((d) => d.seq > 0).every((d) => d.at > headThrough)).toBe(true);
    const lastOfOthers = Math.max(...[...entities].filter(([e]) => e !== FAILING).map(([, list]) => list.at(-1)!.at));
    expect(lastOfOthers).toBeLessThan(headThrough);
    console.warn(`${total} ordered messages: ${beforeCrash} requests before the SIGKILL, ${receiver.requests.length} in all (${receiver.requests.length - total - 2} duplicates)`);
  }, 400_000);
});
