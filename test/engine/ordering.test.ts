import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription } from '../support/fixtures.ts';
import { byEntity, deliveries, interleavedEvents, outOfOrder } from '../support/ordering.ts';

// Three attempts: the first retry soon, the last an hour later. An entity failing its first two
// tries waits on that last retry; once every other entity is through (observed, not timed), the
// test sends it at once with a resend, which keeps its place at the head of its entity.
const ENV = { RETRY_SCHEDULE: '500ms,1h', DELIVERY_TIMEOUT_MS: '10000', DELIVERY_LEASE: '30s', RECONCILE_INTERVAL: '2s' };
const ENTITIES = 200;
const PER_ENTITY = 10;
const FAILING = 'ent-13';

const first = (body: string, entity: string) => {
  const event = JSON.parse(body) as { entityId: string; data: { seq: number } };
  return event.entityId === entity && event.data.seq === 0;
};

describe('ordered delivery per entity', () => {
  let ctx: TestContext;
  const receivers: TestReceiver[] = [];
  let partner: Awaited<ReturnType<typeof insertPartner>>;
  let product: string;

  async function publish(events: ReturnType<typeof hubEvent>[]) {
    for (let i = 0; i < events.length; i += 100) {
      const res = await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events: events.slice(i, i + 100) } });
      expect(res.status).toBe(202);
    }
  }

  /**
   * A receiver failing the first `failures` tries of one entity's first message (500), answering
   * 200 to the rest after a moment; it counts the most requests it had in flight at once.
   */
  async function failingReceiver(entity: string, failures: number) {
    const receiver = Object.assign(await startReceiver(), { maxInFlight: 0 });
    receivers.push(receiver);
    let failed = 0;
    let inFlight = 0;
    receiver.behave(async (req) => {
      receiver.maxInFlight = Math.max(receiver.maxInFlight, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      return first(req.body, entity) && failed++ < failures ? { status: 500 } : { status: 200 };
    });
    return receiver;
  }

  const resend = async (messageId: string) => (await ctx.request('POST', `/v1/messages/${messageId}/resend`, { token: partner.apiKey })).status;

  const subscribe = (url: string, ordering: 'none' | 'entity', eventTypes = ['estate.updated']) =>
    insertSubscription(ctx.db, { partnerId: partner.partnerId, productId: product, functionKey: 'estates.read', url, eventTypes, ordering });

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated', 'estate.deleted'] });
    partner = await insertPartner(ctx.db);
    product = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'ORDER1', product);
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await ctx.stop();
  });

  it('delivers each entity in publication order; a failing entity holds back only itself; an unordered subscription is not ordered', async () => {
    const ordered = await failingReceiver(FAILING, 2);
    const unordered = await failingReceiver(FAILING, 2);
    const orderedSub = await subscribe(ordered.url, 'entity');
    await subscribe(unordered.url, 'none');

    await publish(interleavedEvents('ORDER1', 'estate.updated', ENTITIES, PER_ENTITY));
    const total = ENTITIES * PER_ENTITY;

    // The other entities are all through while the failing one waits on its last retry, and the
    // delivery log says who waits for whom.
    const waiting = await eventually(
      async () => {
        const res = await ctx.request('GET', `/v1/subscriptions/${orderedSub.id}/messages?status=pending&limit=100`, { token: partner.apiKey });
        const rows = (res.body as { data: { id: string; entityId: string; waitingFor: string | null; attempts: number; nextAttemptAt: string | null }[] }).data;
        const head = rows.find((m) => m.waitingFor === null);
        return rows.length === PER_ENTITY && head && rows.filter((m) => m.waitingFor === head.id).length === PER_ENTITY - 1 ? { head, rows } : null;
      },
      { what: `only the failing entity left, its later messages waiting for its head`, timeoutMs: 150_000, everyMs: 200 },
    );
    expect(waiting.rows.every((m) => m.entityId === FAILING)).toBe(true);
    expect(waiting.head).toMatchObject({ attempts: 2 });
    expect(waiting.rows.filter((m) => m.waitingFor !== null).every((m) => m.nextAttemptAt === null && m.attempts === 0)).toBe(true);
    const othersDone = ordered.requests.length;
    expect(await resend(waiting.head.id)).toBe(202);

    await eventually(async () => (await ctx.db('messages').where({ subscription_id: orderedSub.id, status: 'succeeded' }).count({ n: '*' }).first())?.n === total, {
      what: 'every ordered message delivered',
      timeoutMs: 120_000,
      everyMs: 250,
    });

    // Ordered: every entity in publication order, each message once.
    const got = deliveries(ordered.requests);
    expect(outOfOrder(got)).toEqual([]);
    const entities = byEntity(got);
    expect(entities.size).toBe(ENTITIES);
    for (const [entity, list] of entities) {
      expect(new Set(list.map((d) => d.seq)).size, entity).toBe(PER_ENTITY);
    }
    // The failing entity: its first message three times (500, 500, 200), then the rest.
    expect(entities.get(FAILING)!.map((d) => d.seq)).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The other 199 were not held back: each had all ten delivered before the failing entity's head got through.
    const headThrough = entities.get(FAILING)![2]!.at;
    expect(headThrough).toBeGreaterThanOrEqual(othersDone);
    const lastOfOthers = Math.max(...[...entities].filter(([e]) => e !== FAILING).map(([, list]) => list.at(-1)!.at));
    expect(lastOfOthers).toBeLessThan(headThrough);

    // Entities went side by side, within the subscription's in-flight cap (MAX_IN_FLIGHT_PER_SUBSCRIPTION, 10).
    expect(ordered.maxInFlight).toBeGreaterThan(1);
    expect(ordered.maxInFlight).toBeLessThanOrEqual(10);

    // Unordered (as before): the failing entity's later messages do not wait for its first,
    // which waits alone on its retry (an hour) until everything else arrived; then it is sent.
    await eventually(() => unordered.requests.length >= total + 1, { what: 'every unordered message but the failing head delivered', timeoutMs: 120_000 });
    const looseHead = await eventually(
      async () =>
        (await ctx.db('messages as m').join('events as e', 'e.id', 'm.event_id').whereNot('m.subscription_id', orderedSub.id).where({ 'm.status': 'pending', 'm.attempts': 2, 'e.entity_id': FAILING }).first('m.id')) as
          | { id: string }
          | undefined,
      { what: 'the unordered head failed twice', timeoutMs: 60_000 },
    );
    expect(await resend(looseHead.id)).toBe(202);
    await eventually(() => unordered.requests.length >= total + 2, { what: 'every unordered message delivered', timeoutMs: 60_000 });
    const loose = byEntity(deliveries(unordered.requests)).get(FAILING)!;
    const firstSuccess = loose.filter((d) => d.seq === 0)[2]!.at;
    expect(loose.filter((d) => d.seq > 0).every((d) => d.at < firstSuccess)).toBe(true);
    expect(await ctx.db('messages').whereNot({ subscription_id: orderedSub.id }).whereNotNull('entity_key').count({ n: '*' }).first()).toEqual({ n: 0 });
  }, 400_000);

  it('lets the entity continue when its head goes dead; a replay of the dead one is delivered as it comes', async () => {
    const receiver = await failingReceiver('dead-0', 3);
    const sub = await subscribe(receiver.url, 'entity', ['estate.deleted']);
    const events = Array.from({ length: 5 }, (_, seq) => hubEvent('ORDER1', 'estate.deleted', { seq }, 'dead-0'));
    await publish(events);
    // Its last retry is an hour away: once it failed twice, send it now (a resend keeps its place).
    const head = await eventually(async () => (await ctx.db('messages').where({ subscription_id: sub.id, status: 'pending', attempts: 2 }).first('id')) as { id: string } | undefined, { what: 'the head failed twice', timeoutMs: 60_000 });
    expect(await resend(head.id)).toBe(202);

    await eventually(async () => (await ctx.db('messages').where({ subscription_id: sub.id, status: 'succeeded' }).count({ n: '*' }).first())?.n === 4, {
      what: 'the four after the dead head delivered',
      timeoutMs: 90_000,
      everyMs: 250,
    });
    const dead = await ctx.db('messages').where({ subscription_id: sub.id, status: 'dead' }).select('id');
    expect(dead).toHaveLength(1);
    expect(deliveries(receiver.requests).map((d) => d.seq)).toEqual([0, 0, 0, 1, 2, 3, 4]);

    // Replayed from the dead letters: it goes at once, after its successors, outside the order.
    expect(await resend(dead[0]!.id)).toBe(202);
    await eventually(() => receiver.requests.length === 8, { what: 'the replay delivered', timeoutMs: 30_000 });
    expect(deliveries(receiver.requests).at(-1)!.seq).toBe(0);
  }, 120_000);
});
