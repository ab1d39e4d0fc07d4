/**
 * Retention measured: the time to drop one partition of N attempt rows beside deleting the same
 * N rows the way prune did before partitioning (DELETE in batches of 10,000 by id). Prints the
 * figures; asserts nothing (speed is a measurement, not a test).
 *
 * npm run bench -- --only retention           (a phase of the benchmark, 200,000 rows)
 * node --conditions=source --import tsx scripts/bench/retention.ts [--rows 200000]
 * Uses DATABASE_URL, else the local Postgres on 5432 (database `test`), else an embedded one,
 * in a schema of its own that it drops afterwards.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createDb, type Knex } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { dropPartitionsBefore, ensurePartitions, periodStart } from '#shared/db/partitions';
import { randomText } from '#shared/ids';
import { findTestPostgres } from '../lib/local-services.ts';

const BATCH = 10_000;

/** What one retention measurement found. */
export interface RetentionResult {
  rows: number;
  batch: number;
  deleteMs: number;
  dropMs: number;
  partition: string;
}

async function fill(db: Knex, day: Date, rows: number): Promise<void> {
  await db.raw(
    `insert into attempts (message_id, subscription_id, attempt, attempted_at, duration_ms, outcome, status_code, response_body)
     select 'msg_' || (g % 50000), 'sub_' || (g % 500), 1 + g % 8, ?::timestamptz + (g % 86000) * interval '1 second', 20 + g % 300,
            case when g % 10 = 0 then 'failure' else 'success' end, case when g % 10 = 0 then 500 else 200 end, 'ok'
     from generate_series(1, ?) as g`,
    [day, rows],
  );
  await db.raw('analyze attempts');
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Fills one day partition of `attempts` with `rows` rows twice: deletes them in batches, then drops the partition; in a schema of its own on `url`. */
export async function measureRetention(url: string, rows: number): Promise<RetentionResult> {
  const schema = `bench_retention_${randomText(8).toLowerCase()}`;
  const db = createDb({ url, schema, poolMax: 2 });
  try {
    await migrateLatest(db, schema);
    const day = periodStart('attempts', new Date(Date.now() - 30 * 86_400_000));
    const next = new Date(day.getTime() + 86_400_000);
    await ensurePartitions(db, 'attempts', { from: day, to: day });

    await fill(db, day, rows);
    const deleteMs = await timed(async () => {
      for (;;) {
        const n = await db('attempts')
          .whereIn('id', (q) => q.from('attempts').where('attempted_at', '<', next).limit(BATCH).select('id'))
          .delete();
        if (n < BATCH) break;
      }
    });

    await fill(db, day, rows);
    let dropped: string[] = [];
    const dropMs = await timed(async () => {
      dropped = (await dropPartitionsBefore(db, 'attempts', next)).dropped;
    });
    if (dropped.length !== 1) throw new Error(`expected one partition dropped, got ${dropped.join(', ') || 'none'}`);
    return { rows, batch: BATCH, deleteMs: Math.round(deleteMs * 10) / 10, dropMs: Math.round(dropMs * 10) / 10, partition: dropped[0]! };
  } finally {
    await db.raw('drop schema if exists ?? cascade', [schema]).catch(() => {});
    await db.destroy();
  }
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '200000' } } });
  const rows = Number.parseInt(args.rows, 10);
  if (!Number.isInteger(rows) || rows < 1) throw new Error('--rows takes a positive whole number');
  const pg = await findTestPostgres(process.env, path.resolve('.data/bench-postgres'));
  try {
    const r = await measureRetention(pg.url, rows);
    const fmt = (ms: number) => `${ms.toFixed(1).padStart(10)} ms`;
    console.log(`retention of ${r.rows.toLocaleString('en')} attempt rows (one day partition), Postgres ${pg.source}`);
    console.log(`  DELETE in batches of ${r.batch.toLocaleString('en')} (prune before partitioning) ${fmt(r.deleteMs)}`);
    console.log(`  DROP of the partition ${r.partition}          ${fmt(r.dropMs)}`);
    console.log(`  ratio DELETE / DROP: ${(r.deleteMs / r.dropMs).toFixed(0)}x  (DELETE also leaves dead tuples for vacuum; DROP frees the files)`);
  } finally {
    await pg.stop();
  }
}

// Run as a script; imported by the benchmark as its retention phase.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();
