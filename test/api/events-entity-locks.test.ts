import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvents } from '#api/events/repository';
import { startTestContext, type TestContext } from '../support/context.ts';
import { hubEvent } from '../support/fixtures.ts';

/**
 * Ingest takes transaction-scoped advisory locks so that per entity `seq` order is commit
 * order (services/api/src/events/repository.ts). Locks live in Postgres's shared lock table
 * (max_locks_per_transaction x max_connections slots, 6,400 by default): with one lock per
 * distinct entity, a few full batches of distinct entities whose commits are slow at the same
 * time (a loaded Postgres, several api processes) exhausted it: "out of shared memory", a 500.
 * The locks are taken per bucket of entities now, a bounded number per batch.
 */
describe('ingest under many distinct entities at once', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ env: { DATABASE_POOL_MAX: '25' } });
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('takes twenty full batches of 1,000 distinct entities at once, each commit slow: every batch stored', async () => {
    const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 1000 }, (_, i) => hubEvent('INSTLOCK', 'estate.updated', { i }, `entity-${b}-${i}`)));
    // Each transaction holds its locks a while after its insert, as behind a slow commit. (Batches
    // sharing a bucket wait for each other's commit: that is the price of the bound, and why the
    // wait here is short.)
    const results = await Promise.allSettled(
      batches.map((events) =>
        ctx.db.transaction(async (trx) => {
          const stored = await insertEvents(trx, events);
          await trx.raw('select pg_sleep(0.1)');
          return stored.length;
        }),
      ),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual(batches.map(() => 1000));
    const stored = await ctx.db('events').where('installation_id', 'INSTLOCK').count({ n: '*' }).first();
    expect(Number(stored!.n)).toBe(20_000);
  }, 120_000);
});
