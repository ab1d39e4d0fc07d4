import type { Db } from './knex.ts';

/**
 * The time-partitioned delivery tables (docs/partitioning.md). Messages are cut by week: every
 * delivery reads and updates messages by id alone, which probes one index per partition, so
 * few partitions (30 d retention + 4 ahead ≈ 9) keep that cheap. Attempts are cut by day: they
 * are the biggest table, written in batches and read by message or by subscription and time,
 * never by id on the hot path, so the finer cut buys tighter retention for little cost.
 */
export const PARTITIONED = {
  messages: { column: 'created_at', period: 'week', ahead: 4 },
  attempts: { column: 'attempted_at', period: 'day', ahead: 7 },
} as const;

export type PartitionedTable = keyof typeof PARTITIONED;

const DAY_MS = 86_400_000;

function periodMs(table: PartitionedTable): number {
  return PARTITIONED[table].period === 'week' ? 7 * DAY_MS : DAY_MS;
}

/** The start (UTC midnight; Monday for weeks) of the partition period holding `at`. */
export function periodStart(table: PartitionedTable, at: Date): Date {
  const day = Math.floor(at.getTime() / DAY_MS) * DAY_MS;
  if (PARTITIONED[table].period === 'day') return new Date(day);
  // 1970-01-01 was a Thursday: shift so weeks start on Monday.
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  return new Date(day - weekday * DAY_MS);
}

function partitionName(table: PartitionedTable, start: Date): string {
  return `${table}_p${start.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** One range partition of a table, as named by `partitionName`. */
export interface Partition {
  name: string;
  from: Date;
  to: Date;
}

/** The table's range partitions (not the default one), oldest first. */
export async function listPartitions(db: Db, table: PartitionedTable): Promise<Partition[]> {
  const { rows } = (await db.raw('select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = ?::regclass', [
    table,
  ])) as { rows: { name: string }[] };
  const pattern = new RegExp(`^${table}_p(\\d{4})(\\d{2})(\\d{2})$`);
  const out: Partition[] = [];
  for (const { name } of rows) {
    const m = pattern.exec(name);
    if (!m) continue;
    const from = new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`);
    out.push({ name, from, to: new Date(from.getTime() + periodMs(table)) });
  }
  return out.sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * Makes sure partitions cover [from, to] (default: now to `ahead` periods past now) and that the
 * default partition exists; returns the names created. Rows that landed in the default
 * partition inside a new range are moved into it in the same transaction (Postgres refuses to
 * create a partition over rows the default holds). Safe to run concurrently (advisory lock).
 */
export async function ensurePartitions(db: Db, table: PartitionedTable, range: { from?: Date; to?: Date } = {}): Promise<string[]> {
  const { column, ahead } = PARTITIONED[table];
  const step = periodMs(table);
  const now = Date.now();
  const first = periodStart(table, range.from ?? new Date(now));
  const last = periodStart(table, range.to ?? new Date(now + ahead * step));
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`hubhook:partitions:${table}`]);
    const fallback = `${table}_default`;
    await trx.raw('create table if not exists ?? partition of ?? default', [fallback, table]);
    const existing = new Set((await listPartitions(trx, table)).map((p) => p.name));
    const created: string[] = [];
    for (let t = first.getTime(); t <= last.getTime(); t += step) {
      const from = new Date(t);
      const to = new Date(t + step);
      const name = partitionName(table, from);
      if (existing.has(name)) continue;
      const strays = await trx(fallback).where(column, '>=', from).where(column, '<', to).first(trx.raw('1 as one'));
      if (strays) {
        await trx.raw('create temp table partition_strays on commit drop as select * from ?? where ?? >= ? and ?? < ?', [fallback, column, from, column, to]);
        await trx(fallback).where(column, '>=', from).where(column, '<', to).delete();
      }
      // DDL takes no bind parameters; the bounds are our own ISO timestamps, safe to inline.
      await trx.raw(`create table ?? partition of ?? for values from ('${from.toISOString()}') to ('${to.toISOString()}')`, [name, table]);
      if (strays) {
        await trx.raw('insert into ?? select * from partition_strays', [table]);
        await trx.raw('drop table partition_strays');
      }
      created.push(name);
    }
    return created;
  });
}

/**
 * Drops every partition whose whole range is older than `before`, unless `keep` (a SQL
 * condition on its rows) matches a row in it; returns the names dropped. Each drop takes its
 * lock first, then checks `keep`, so no row can turn kept between the check and the drop. A
 * busy partition (lock not had within 5 s) is left for the next run rather than queueing
 * every reader behind the drop.
 */
export async function dropPartitionsBefore(db: Db, table: PartitionedTable, before: Date, keep?: string): Promise<{ dropped: string[]; kept: string[] }> {
  const dropped: string[] = [];
  const kept: string[] = [];
  for (const p of await listPartitions(db, table)) {
    if (p.to.getTime() > before.getTime()) continue;
    try {
      await db.transaction(async (trx) => {
        await trx.raw("set local lock_timeout = '5s'");
        // The drop locks the parent too: parent first, as every query does, so no deadlock.
        await trx.raw('lock table ??, ?? in access exclusive mode', [table, p.name]);
        if (keep && (await trx(p.name).whereRaw(keep).first(trx.raw('1 as one')))) {
          kept.push(p.name);
          return;
        }
        await trx.raw('drop table ??', [p.name]);
        dropped.push(p.name);
      });
    } catch (err) {
      if ((err as { code?: string }).code !== '55P03') throw err;
      kept.push(p.name);
    }
  }
  return { dropped, kept };
}
