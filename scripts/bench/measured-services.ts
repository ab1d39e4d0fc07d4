/**
 * What the scaling phase of `npm run bench -- --workers ...` measures beside the delivery rate:
 * a Postgres and a Redis of its own (so every CPU tick, WAL byte and Redis command read is the
 * bench's, not another program's on a shared machine), CPU time from /proc, and the counters
 * both servers keep (rows written per table, WAL, commits, Redis commands, connections).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import type { Knex } from '#shared/db/knex';
import { startEmbeddedPostgres, startRedisServer, type LocalService } from '../lib/local-services.ts';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The fields of /proc/PID/stat after the command name (which may hold spaces): [0] is the state, [1] the parent pid. */
function statFields(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
  } catch {
    return null; // gone meanwhile
  }
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat; with `children`, also its reaped children's. */
export function cpuSecondsOf(pid: number, children = false): number {
  const fields = statFields(pid);
  if (!fields) return 0;
  const ticks = Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
  return ticks / CLOCK_TICKS;
}

/**
 * CPU seconds of a process tree one level deep: the process with its reaped children, plus its
 * live children. Postgres forks every backend and helper from the postmaster, so this is all
 * of a Postgres server, backends that came and went with the pools included.
 */
export function treeCpuSeconds(rootPid: number): number {
  let total = cpuSecondsOf(rootPid, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === rootPid) total += cpuSecondsOf(Number(entry));
  }
  return total;
}

/** CPU seconds the whole machine has been busy (all cores: everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

/** Cores of this machine. */
export const CORES = cpus().length;

/** A Postgres and a Redis started for the measurement, with the pids their CPU is read from. */
export interface MeasuredServices {
  pg: LocalService;
  redis: LocalService;
  /** CPU seconds so far of the whole Postgres server (postmaster, backends, WAL writer, checkpointer, autovacuum). */
  postgresCpuSeconds(): number;
  /** CPU seconds so far of redis-server. */
  redisCpuSeconds(): number;
  /** What they are, for the report: versions and durability settings. */
  description: string;
  stop(): Promise<void>;
}

/**
 * Starts an embedded Postgres (its defaults: fsync and synchronous_commit on, as in production)
 * and a redis-server with the append-only file fsynced every second (as docker-compose.yml runs
 * it), both in a temporary directory removed by `stop`.
 */
export async function startMeasuredServices(): Promise<MeasuredServices> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hubhook-bench-'));
  // As root, Postgres runs as the postgres user, which must be able to make its data dir here.
  chmodSync(dir, 0o777);
  const dataDir = path.join(dir, 'postgres');
  const redisDir = path.join(dir, 'redis');
  mkdirSync(redisDir);
  const started: LocalService[] = [];
  try {
    const postgres = await startEmbeddedPostgres({ dataDir, database: 'hubhook_bench', persistent: false });
    started.push(postgres);
    const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const redis = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', redisDir]);
    started.push(redis);
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    const settings = await client.query<{ v: string; f: string; s: string }>(
      "select current_setting('server_version') as v, current_setting('fsync') as f, current_setting('synchronous_commit') as s",
    );
    await client.end();
    const { v, f, s } = settings.rows[0]!;
    const redisVersion = /v=(\S+)/.exec(spawnSync('redis-server', ['--version']).stdout.toString())?.[1] ?? '?';
    return {
      pg: postgres,
      redis,
      description: `its own Postgres ${v} (fsync ${f}, synchronous_commit ${s}) and Redis ${redisVersion} (appendonly, fsync every second)`,
      postgresCpuSeconds: () => treeCpuSeconds(postmaster),
      redisCpuSeconds: () => cpuSecondsOf(redis.pid),
      async stop() {
        await redis.stop();
        await postgres.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const service of started.reverse()) await service.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Rows inserted, updated (of them HOT) and deleted, per table; partitions count under their parent. */
export type RowCounts = Record<string, { ins: number; upd: number; hot: number; del: number }>;

/** What Postgres has counted so far: rows written in `schema`, WAL, commits in this database. */
export interface PostgresCounters {
  rows: RowCounts;
  /** Bytes of WAL written by the whole server so far (pg_current_wal_lsn). */
  walLsnBytes: bigint;
  /** pg_stat_wal: records and full-page images (a page's first change after a checkpoint is logged whole). */
  walRecords: number;
  walFpi: number;
  commits: number;
}

/** A pg_lsn (`16/B374D848`) as a byte position. */
export const lsnBytes = (lsn: string): bigint => {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
};

/**
 * Reads Postgres's counters. Backends report row and WAL statistics lazily (when idle for a
 * second, at the latest when they exit), so read the final counters after the processes stopped.
 */
export async function postgresCounters(db: Knex, schema: string): Promise<PostgresCounters> {
  const { rows } = await db.raw<{ rows: { name: string; ins: number; upd: number; hot: number; del: number }[] }>(
    `select coalesce(parent.relname, c.relname) as name,
            sum(s.n_tup_ins)::int8 as ins, sum(s.n_tup_upd)::int8 as upd, sum(s.n_tup_hot_upd)::int8 as hot, sum(s.n_tup_del)::int8 as del
       from pg_stat_user_tables s
       join pg_class c on c.oid = s.relid
       left join pg_inherits i on i.inhrelid = c.oid
       left join pg_class parent on parent.oid = i.inhparent
      where s.schemaname = ?
      group by 1`,
    [schema],
  );
  const {
    rows: [wal],
  } = await db.raw<{ rows: { lsn: string; records: number; fpi: number; commits: number }[] }>(
    `select pg_current_wal_lsn()::text as lsn, w.wal_records::int8 as records, w.wal_fpi::int8 as fpi, d.xact_commit::int8 as commits
       from pg_stat_wal w, pg_stat_database d
      where d.datname = current_database()`,
  );
  return {
    rows: Object.fromEntries(rows.map(({ name, ...counts }) => [name, counts])),
    walLsnBytes: lsnBytes(wal!.lsn),
    walRecords: wal!.records,
    walFpi: wal!.fpi,
    commits: wal!.commits,
  };
}

/**
 * Bytes on disk per row of each of `tables` in `schema` (heap, indexes and TOAST; a partitioned
 * table's partitions summed): what a delivery leaves behind until retention drops it.
 */
export async function bytesPerRow(db: Knex, schema: string, tables: string[]): Promise<Record<string, number>> {
  const { rows } = await db.raw<{ rows: { name: string; bytes: number }[] }>(
    `select coalesce(parent.relname, c.relname) as name, sum(pg_total_relation_size(c.oid))::int8 as bytes
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_inherits i on i.inhrelid = c.oid
       left join pg_class parent on parent.oid = i.inhparent
      where n.nspname = ? and c.relkind = 'r'
      group by 1`,
    [schema],
  );
  const result: Record<string, number> = {};
  for (const table of tables) {
    const count = Number((await db(table).count({ n: '*' }).first())?.n ?? 0);
    const bytes = rows.find((row) => row.name === table)?.bytes ?? 0;
    if (count > 0) result[table] = Math.round(bytes / count);
  }
  return result;
}

/**
 * CPU seconds so far of each Postgres backend open now whose `application_name` is one of
 * `applicationNames`, by pid: one system's backends on a shared server, without the rest.
 */
export async function backendCpuSeconds(db: Knex, applicationNames: string[]): Promise<Map<number, number>> {
  const { rows } = await db.raw<{ rows: { pid: number }[] }>('select pid from pg_stat_activity where application_name = any(?)', [applicationNames]);
  return new Map(rows.map(({ pid }) => [pid, cpuSecondsOf(pid)]));
}

/**
 * CPU seconds the backends spent between two `backendCpuSeconds` readings. A backend first seen
 * in the second counts whole (it started meanwhile); one gone by then took its time with it.
 */
export function backendCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, now] of after) seconds += now - (before.get(pid) ?? 0);
  return seconds;
}

/** Postgres connections open now, by application_name (the bench names the api's and the workers'). */
export async function postgresConnections(db: Knex): Promise<Record<string, number>> {
  const { rows } = await db.raw<{ rows: { name: string; n: number }[] }>(
    `select application_name as name, count(*)::int8 as n from pg_stat_activity where datname = current_database() group by 1`,
  );
  return Object.fromEntries(rows.map((row) => [row.name, row.n]));
}

/** Commands Redis has processed so far (in all, and by command; commands that Lua scripts call count too), and the clients connected now. */
export async function redisCounters(redis: Redis): Promise<{ commands: number; clients: number; byCommand: Record<string, number> }> {
  const info = await redis.info('all');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const byCommand = Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, calls]) => [name!, Number(calls)]));
  return { commands: field('total_commands_processed'), clients: field('connected_clients'), byCommand };
}
