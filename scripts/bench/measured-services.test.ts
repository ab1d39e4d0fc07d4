import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Knex } from '#shared/db/knex';
import { randomText } from '#shared/ids';
import { backendCpuBetween, backendCpuSeconds, cpuSecondsOf, lsnBytes, machineBusySeconds, postgresCounters, treeCpuSeconds } from './measured-services.ts';

/** Burns at least `seconds` of this process's CPU time (however long that takes on a loaded machine). */
function burn(seconds: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1e6 >= seconds) return;
  }
}

// A child that burns 0.4 s of CPU, says so, and idles until killed.
const BURNING_CHILD = `
  const start = process.cpuUsage();
  for (;;) { const u = process.cpuUsage(start); if (u.user + u.system >= 400000) break; }
  console.log('burnt');
  setInterval(() => {}, 1000);
`;

describe('CPU time from /proc', () => {
  it('counts a process, and its children in the tree', async () => {
    const before = cpuSecondsOf(process.pid);
    const machineBefore = machineBusySeconds();
    burn(0.3);
    // /proc counts in ticks of 10 ms.
    expect(cpuSecondsOf(process.pid) - before).toBeGreaterThanOrEqual(0.28);
    expect(machineBusySeconds() - machineBefore).toBeGreaterThanOrEqual(0.28);

    // The tree sees the child's CPU while it lives, and keeps it once it has exited and was reaped.
    const child = spawn(process.execPath, ['-e', BURNING_CHILD], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const ownNow = cpuSecondsOf(process.pid, true);
    const treeNow = treeCpuSeconds(process.pid);
    expect(treeNow - ownNow).toBeGreaterThanOrEqual(0.38);
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill();
    });
    expect(treeCpuSeconds(process.pid)).toBeGreaterThanOrEqual(treeNow);
    expect(cpuSecondsOf(999_999_999)).toBe(0);
  });

  it('reads a WAL position as bytes', () => {
    expect(lsnBytes('0/0')).toBe(0n);
    expect(lsnBytes('0/10')).toBe(16n);
    expect(lsnBytes('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
  });
});

describe('Postgres counters', () => {
  const schema = `t_counters_${randomText(8).toLowerCase()}`;
  let db: Knex;
  beforeAll(async () => {
    // One connection: its statistics are flushed on demand below.
    db = createDb({ url: inject('databaseUrl'), schema, poolMax: 1 });
    await db.raw('create schema ??', [schema]);
  });
  afterAll(async () => {
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  });

  it('counts rows written per table, a partitioned table under its own name, and WAL written', async () => {
    await db.raw('create table ??.parted (id int, at date) partition by range (at)', [schema]);
    await db.raw(`create table ??.parted_a partition of ??.parted for values from ('2026-01-01') to ('2026-02-01')`, [schema, schema]);
    await db.raw(`create table ??.parted_b partition of ??.parted for values from ('2026-02-01') to ('2026-03-01')`, [schema, schema]);
    await db.raw('create table ??.plain (id int)', [schema]);
    await db.raw('select pg_stat_force_next_flush()');
    const before = await postgresCounters(db, schema);

    await db('parted').insert([{ id: 1, at: '2026-01-05' }, { id: 2, at: '2026-02-05' }, { id: 3, at: '2026-02-06' }]);
    await db('parted').where('id', 3).update({ id: 4 });
    await db('plain').insert({ id: 1 });
    await db('plain').delete();
    await db.raw('select pg_stat_force_next_flush()');
    const after = await postgresCounters(db, schema);

    expect(after.rows.parted).toMatchObject({ ins: 3, upd: 1, del: 0 });
    expect(after.rows.plain).toMatchObject({ ins: 1, upd: 0, del: 1 });
    expect(Object.keys(after.rows).sort()).toEqual(['parted', 'plain']);
    expect(before.rows.parted?.ins ?? 0).toBe(0);
    expect(after.walLsnBytes).toBeGreaterThan(before.walLsnBytes);
    expect(after.commits).toBeGreaterThan(before.commits);
  });
});

describe('CPU time of named Postgres backends', () => {
  it('reads only the backends of the names given, and what they spent between two readings', async () => {
    const name = `t_backend_${randomText(8).toLowerCase()}`;
    const url = new URL(inject('databaseUrl'));
    url.searchParams.set('application_name', name);
    const named = createDb({ url: url.toString(), poolMax: 1 });
    const other = createDb({ url: inject('databaseUrl'), poolMax: 1 });
    try {
      const { rows } = await named.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid');
      const pid = rows[0]!.pid;
      const before = await backendCpuSeconds(other, [name, 'no such application']);
      expect([...before.keys()]).toEqual([pid]);
      // Burns at least 0.3 s in that backend (however long that takes on a loaded machine).
      for (let burnt = 0; burnt < 0.3; burnt = backendCpuBetween(before, await backendCpuSeconds(other, [name]))) {
        await named.raw('select count(*) from generate_series(1, 2000000)');
      }
      const after = await backendCpuSeconds(other, [name]);
      expect(backendCpuBetween(before, after)).toBeGreaterThanOrEqual(0.3);
      // A backend first seen in the later reading counts whole; one gone by then counts nothing.
      expect(backendCpuBetween(new Map(), new Map([[1, 2]]))).toBe(2);
      expect(backendCpuBetween(new Map([[1, 2]]), new Map())).toBe(0);
    } finally {
      await named.destroy();
      await other.destroy();
    }
  });
});
