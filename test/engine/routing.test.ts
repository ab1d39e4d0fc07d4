import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from '#shared/db/knex';
import { createSecretBox } from '#shared/secret-box';
import { generateSecret } from '#shared/signing';
import { loadRoutingTable, RoutingCache, type RoutingTable } from '#worker/fanout/routing-table';
import { SECRETS_KEY, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { startReceiver } from '../support/receiver.ts';
import { hubEvent, insertActivation, insertFunction, insertPartner, insertProduct, insertSubscription, publishEvents } from '../support/fixtures.ts';

/**
 * A routing cache whose first load reads its table, then stalls until `release()`. It counts
 * the reads of the routing version, so a test knows when a later caller has read a newer one.
 */
function stallingCache(db: Knex) {
  const box = createSecretBox(SECRETS_KEY);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const seen = { loads: [] as number[], stalled: false, versionReads: 0 };
  const cache = new RoutingCache(db, box, {
    load: async (version) => {
      seen.loads.push(version);
      const table = await loadRoutingTable(db, box, version);
      if (seen.loads.length === 1) {
        seen.stalled = true;
        await gate;
      }
      return table;
    },
  });
  const onResponse = (_response: unknown, query: { sql: string }) => {
    if (query.sql.includes('routing_state')) seen.versionReads++;
  };
  db.on('query-response', onResponse);
  return {
    cache,
    seen,
    release: () => release(),
    /** Releases the load and stops counting. */
    stop: () => {
      release();
      db.off('query-response', onResponse);
    },
  };
}

describe('the routing cache', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created'] });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('never answers a table older than the version the caller read, even while an older load is stalled', async () => {
    const partner = await insertPartner(ctx.db);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'INSTROUTE', productId);

    // The first load reads its table, then stalls before handing it over.
    const { cache, seen, release, stop } = stallingCache(ctx.db);
    try {
      const first = cache.get();
      await eventually(() => seen.stalled);

      const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: 'http://127.0.0.1:9/hook', eventTypes: ['estate.created'] });
      const readsBefore = seen.versionReads;
      const second = cache.get();
      await eventually(() => seen.versionReads > readsBefore);
      release();

      const [older, newer] = (await Promise.all([first, second])) as [RoutingTable, RoutingTable];
      expect(older.subscriptions.has(sub.id)).toBe(false);
      expect(newer.version).toBeGreaterThan(older.version);
      expect(newer.subscriptions.has(sub.id)).toBe(true);
      expect(newer.match({ installationId: 'INSTROUTE', type: 'estate.created', data: {} }).map((s) => s.id)).toEqual([sub.id]);
      // The stalled, older load ended last: the cache keeps the newer table all the same.
      expect((await cache.get()).subscriptions.has(sub.id)).toBe(true);
      expect(seen.loads).toHaveLength(2);
    } finally {
      stop();
    }
  });

  it('opens each sealed secret once across reloads; a rotated one is opened anew, its previous one reused', async () => {
    const box = createSecretBox(SECRETS_KEY);
    const opened: string[] = [];
    const counting = { seal: box.seal, open: (sealed: string) => (opened.push(sealed), box.open(sealed)) };
    const cache = new RoutingCache(ctx.db, counting);
    const partner = await insertPartner(ctx.db);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    const subscribe = () => insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: 'http://127.0.0.1:9/hook', eventTypes: ['estate.created'] });
    const first = await subscribe();
    const table = await cache.get();
    const live = table.subscriptions.size;
    expect(opened).toHaveLength(live);

    // A new subscription moves the version: the reload opens its secret only.
    const second = await subscribe();
    expect((await cache.get()).subscriptions.get(second.id)?.secrets).toEqual([second.secret]);
    expect(opened).toHaveLength(live + 1);

    // A rotation: the new secret is opened, the previous one (the old sealed form) is reused.
    const fresh = generateSecret();
    const { secret_sealed: before } = await ctx.db('subscriptions').where('id', first.id).first('secret_sealed');
    await ctx.db('subscriptions').where('id', first.id).update({ secret_sealed: box.seal(fresh), previous_secret_sealed: before, previous_secret_expires_at: new Date(Date.now() + 3_600_000) });
    expect((await cache.get()).subscriptions.get(first.id)?.secrets).toEqual([fresh, first.secret]);
    expect(opened).toHaveLength(live + 2);
  });

  it('shares one load among callers that read the same version', async () => {
    const box = createSecretBox(SECRETS_KEY);
    let loads = 0;
    const cache = new RoutingCache(ctx.db, box, {
      load: (version) => {
        loads++;
        return loadRoutingTable(ctx.db, box, version);
      },
    });
    const tables = await Promise.all(Array.from({ length: 5 }, () => cache.get()));
    expect(new Set(tables).size).toBe(1);
    expect(loads).toBe(1);
    expect(await cache.get()).toBe(tables[0]);
  });

  it('refreshing, loads a moved version by itself, so the next fan-out finds it loaded', async () => {
    const box = createSecretBox(SECRETS_KEY);
    const loaded: number[] = [];
    const cache = new RoutingCache(ctx.db, box, {
      load: async (version) => {
        const table = await loadRoutingTable(ctx.db, box, version);
        loaded.push(table.version);
        return table;
      },
    });
    const before = await cache.get();
    cache.startRefreshing(20);
    try {
      const partner = await insertPartner(ctx.db);
      const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
      const sub = await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: 'http://127.0.0.1:9/hook', eventTypes: ['estate.created'] });
      // Nobody asks: the refresher loads the new version on its own. The version each insert
      // moved to, not the first newer one: a load of the product's version alone would leave the
      // subscription's still to load, and the get below would load it.
      const current = Number(((await ctx.db('routing_state').where({ id: 1 }).first('version')) as { version: number | string }).version);
      expect(current).toBeGreaterThan(before.version);
      await eventually(() => loaded.some((v) => v >= current));
      const loads = loaded.length;
      const table = await cache.get();
      expect(table.subscriptions.has(sub.id)).toBe(true);
      expect(loaded).toHaveLength(loads);
    } finally {
      cache.stopRefreshing();
    }
  });
});

describe('fan-out against a stalled routing load', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: { DELIVERY_LEASE: '30s' } });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.created'] });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('delivers an event to a subscription committed before it, while an older table is still loading', async () => {
    const partner = await insertPartner(ctx.db);
    const productId = await insertProduct(ctx.db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
    await insertActivation(ctx.db, 'INSTFAN', productId);
    const early = await startReceiver();
    const late = await startReceiver();
    await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: early.url, eventTypes: ['estate.created'] });

    // The engine's next load reads its table, then stalls before handing it over.
    const { cache, seen, release, stop } = stallingCache(ctx.db);
    ctx.workers!.engine.routing = cache;
    try {
      const first = hubEvent('INSTFAN', 'estate.created', { n: 1 });
      await publishEvents(ctx, [first]);
      await eventually(() => seen.stalled);

      // A subscription committed, then an event: its fan-out reads the newer version.
      await insertSubscription(ctx.db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: late.url, eventTypes: ['estate.created'] });
      const readsBefore = seen.versionReads;
      const second = hubEvent('INSTFAN', 'estate.created', { n: 2 });
      await publishEvents(ctx, [second]);
      await eventually(() => seen.versionReads > readsBefore);
      release();

      const [got] = await late.waitFor(1);
      expect(JSON.parse(got!.body)).toMatchObject({ eventId: second.id });
      const gotEarly = await early.waitFor(2);
      expect(gotEarly.map((r) => JSON.parse(r.body).eventId).sort()).toEqual([first.id, second.id].sort());
      // The first event was fanned out against the table of its own time: the later subscription is
      // not owed it. (Its message is written with its outcome: wait for the event's lease to be given up.)
      await eventually(async () => (await ctx.db('event_leases').where({ event_id: first.id }).first()) === undefined);
      expect(await ctx.db('messages').where({ event_id: first.id }).count({ n: '*' }).first()).toEqual({ n: 1 });
    } finally {
      stop();
      await Promise.all([early.close(), late.close()]);
    }
  });
});
