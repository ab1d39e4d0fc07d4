/**
 * What a routing-table reload costs the worker with many subscriptions: the real
 * `RoutingCache` over `subscriptions` subscriptions with sealed secrets, in a fresh schema
 * (dropped after). Prints, for the first load and for reloads after the version moved, the
 * load's wall time, the worker's CPU for it and the longest the event loop was held up meanwhile
 * (`monitorEventLoopDelay`): a fan-out waiting behind a reload waits that long.
 *
 *   node --conditions=source --import tsx scripts/bench/routing-load-cost.ts [subscriptions, default 10000] [reloads, default 5]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createDb } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { randomText } from '#shared/ids';
import { createSecretBox, generateKey } from '#shared/secret-box';
import { generateSecret } from '#shared/signing';
import { RoutingCache } from '#worker/fanout/routing-table';
import { findTestPostgres } from '../lib/local-services.ts';

const count = Number(process.argv[2] ?? 10_000);
const reloads = Number(process.argv[3] ?? 5);
const pg = await findTestPostgres(process.env, '.data/bench-postgres');
const schema = `routing_cost_${randomText(6)}`;
const db = createDb({ url: pg.url, schema, poolMax: 4 });
const box = createSecretBox(generateKey());

async function timed(label: string, run: () => Promise<unknown>): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await run();
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  delay.disable();
  console.log(
    `${label.padEnd(24)} wall ${wall.toFixed(0).padStart(5)} ms, CPU ${((used.user + used.system) / 1000).toFixed(0).padStart(5)} ms, event loop held up to ${(delay.max / 1e6).toFixed(0)} ms`,
  );
}

try {
  await migrateLatest(db, schema);
  await db.transaction(async (trx) => {
    // Partners and products are not what is measured: the subscriptions stand alone.
    await trx.raw('set local session_replication_role = replica');
    const ids = Array.from({ length: count }, (_, i) => `sub_${i}`);
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      await trx.raw(
        `insert into subscriptions (id, partner_id, product_id, function_key, url, event_types, secret_sealed)
         select v.id, 'ptn', 'prd', 'fn', 'https://r.test/', array['t'], v.sealed from unnest(?::text[], ?::text[]) as v(id, sealed)`,
        [chunk, chunk.map(() => box.seal(generateSecret()))],
      );
    }
  });
  const routing = new RoutingCache(db, box);
  await timed('first load', () => routing.get());
  for (let i = 1; i <= reloads; i++) {
    // A change anywhere moves the version: every worker reloads the whole table.
    await db('routing_state').where({ id: 1 }).increment('version', 1);
    await timed(`reload ${i}`, () => routing.get());
  }
} finally {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
  await pg.stop();
}
