/**
 * What the ingest route costs Postgres per batch of 100 bench-like events (1 KiB each, each its
 * own entity): the wall time of the event insert and of the unroutable check as the api runs
 * them (one after another, from one connection), and `EXPLAIN (ANALYZE, WAL, BUFFERS)` of the
 * insert: WAL bytes and records per event, buffers touched, and the time of each plan node. A
 * fresh schema (dropped after) holding `prefill` events first, so the indexes have some size.
 *
 *   node --conditions=source --import tsx scripts/bench/ingest-cost.ts [batches, default 200] [prefill, default 50000]
 */
import { createDb } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { randomText } from '#shared/ids';
import { insertEvents } from '#api/events/repository';
import { findUnroutable } from '#api/events/unroutable';
import { findTestPostgres } from '../lib/local-services.ts';
import { BODY_1KIB } from './raw-post.ts';

const batches = Number(process.argv[2] ?? 200);
const prefill = Number(process.argv[3] ?? 50_000);
const pg = await findTestPostgres(process.env, '.data/bench-postgres');
const schema = `ingest_cost_${randomText(6)}`;
const db = createDb({ url: pg.url, schema, poolMax: 1 });

let counter = 0;
const batch = (n = 100) =>
  Array.from({ length: n }, () => ({
    id: `cost-${++counter}`,
    installationId: 'INGEST',
    type: 'bench.event',
    entityId: String(counter),
    occurredAt: new Date().toISOString(),
    data: { padding: BODY_1KIB.slice(0, 820) },
  }));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(label: string, run: () => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < batches; i++) {
    const started = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  console.log(`${label.padEnd(42)} median ${median(ms).toFixed(2)} ms per batch of 100 (${batches} batches)`);
}

interface PlanNode {
  'Node Type': string;
  'Actual Total Time': number;
  'WAL Bytes'?: number;
  'WAL Records'?: number;
  'Shared Hit Blocks'?: number;
  Plans?: PlanNode[];
}

function printPlan(node: PlanNode, depth = 0): void {
  console.log(`  ${'  '.repeat(depth)}${node['Node Type']} ${node['Actual Total Time'].toFixed(2)} ms`);
  for (const child of node.Plans ?? []) printPlan(child, depth + 1);
}

try {
  await migrateLatest(db, schema);
  await db('functions').insert({ key: 'bench.read', name: 'Bench', event_types: ['bench.event'], filter_fields: [] });
  await db('installations').insert({ id: 'INGEST', name: 'INGEST' });
  for (let i = 0; i < prefill; i += 1000) await insertEvents(db, batch(1000));
  await db.raw('vacuum analyze events');
  await timed('insert (insertEvents)', () => insertEvents(db, batch()));
  await timed('HUB_REJECT_UNKNOWN check (findUnroutable)', () => findUnroutable(db, batch()));

  // The statement insertEvents sends, as knex reports it, explained with the next batch.
  let sql = '';
  const capture = (query: { sql: string }) => (sql = query.sql);
  db.on('query', capture);
  await insertEvents(db, batch(1));
  db.off('query', capture);
  const events = batch();
  const result = await db.raw(`explain (analyze, wal, buffers, format json) ${sql.replace('$1', '?')}`, [JSON.stringify(events)]);
  const [top] = (result.rows as { 'QUERY PLAN': { 'Execution Time': number; 'Planning Time': number; Plan: PlanNode }[] }[])[0]!['QUERY PLAN'];
  const plan = top!.Plan;
  console.log(
    `insert explained: planning ${top!['Planning Time'].toFixed(2)} ms, execution ${top!['Execution Time'].toFixed(2)} ms; per event WAL ${((plan['WAL Bytes'] ?? 0) / events.length).toFixed(0)} B, ${((plan['WAL Records'] ?? 0) / events.length).toFixed(1)} records, ${((plan['Shared Hit Blocks'] ?? 0) / events.length).toFixed(1)} buffers hit`,
  );
  printPlan(plan);
  const { rows } = await db.raw<{ rows: { indexname: string; bytes: number }[] }>(
    `select indexrelname as indexname, pg_relation_size(indexrelid)::int8 as bytes from pg_stat_user_indexes where schemaname = ? and relname = 'events' order by 1`,
    [schema],
  );
  const n = Number((await db('events').count({ n: '*' }).first())?.n ?? 1);
  console.log(`indexes on events (bytes per row): ${rows.map((r) => `${r.indexname} ${Math.round(r.bytes / n)}`).join(', ')}`);
} finally {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
  await pg.stop();
}
