import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '#shared/secret-box';
import { loadRoutingTable, RoutingCache, type RoutingTable } from '#worker/fanout/routing-table';
import { SECRETS_KEY, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/receiver.ts';
import { seedActivation, seedFunction, seedPartner, seedProduct, seedSubscription } from '../support/engine-fixtures.ts';

describe('the routing cache', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
    await seedFunction(ctx.db, 'estates.read', ['estate.created']);
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('never answers a table older than the version the caller read, even while an older load is stalled', async () => {
    const { partner } = await seedPartner(ctx.db);
    const productId = await seedProduct(ctx.db, partner.id, { 'estates.read': {} });
    await seedActivation(ctx.db, 'INSTROUTE', productId);
    const box = createSecretBox(SECRETS_KEY);

    // The first load reads its table, then stalls before handing it over.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loads: number[] = [];
    let firstRead = false;
    const cache = new RoutingCache(ctx.db, box, {
      load: async (version) => {
        loads.push(version);
        const table = await loadRoutingTable(ctx.db, box, version);
        if (loads.length === 1) {
          firstRead = true;
          await gate;
        }
        return table;
      },
    });
    // Count the version reads, to know when the second caller has read the newer one.
    let versionReads = 0;
    const onResponse = (_response: unknown, query: { sql: string }) => {
      if (query.sql.includes('routing_state')) versionReads++;
    };
    ctx.db.on('query-response', onResponse);
    try {
      const first = cache.get();
      await eventually(() => firstRead);

      const sub = await seedSubscription(ctx.db, { partnerId: partner.id, productId, functionKey: 'estates.read', url: 'http://127.0.0.1:9/hook', eventTypes: ['estate.created'] });
      const readsBefore = versionReads;
      const second = cache.get();
      await eventually(() => versionReads > readsBefore);
      release();

      const [older, newer] = (await Promise.all([first, second])) as [RoutingTable, RoutingTable];
      expect(older.subscriptions.has(sub.id)).toBe(false);
      expect(newer.version).toBeGreaterThan(older.version);
      expect(newer.subscriptions.has(sub.id)).toBe(true);
      expect(newer.match({ installationId: 'INSTROUTE', type: 'estate.created', data: {} }).map((s) => s.id)).toEqual([sub.id]);
      // The stalled, older load ended last: the cache keeps the newer table all the same.
      expect((await cache.get()).subscriptions.has(sub.id)).toBe(true);
      expect(loads).toHaveLength(2);
    } finally {
      release();
      ctx.db.off('query-response', onResponse);
    }
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
});
