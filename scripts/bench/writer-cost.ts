/**
 * What the attempt writer costs per first delivery, with its first success kept in the message
 * row (migration 0014, the default) and without (every attempt a row of its own): the real
 * `AttemptWriter` commits batches of 500 first-try successes, each to another subscription, in a
 * fresh schema (dropped after); the two ways alternate round by round. Prints, per record, the
 * writer process's CPU, its Postgres backends' CPU (from /proc) and the WAL written. No retries
 * happen, so the retry schedule is a no-op.
 *
 *   node --conditions=source --import tsx scripts/bench/writer-cost.ts [rounds, default 6] [records per round, default 10000]
 */
import { createDb } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { newId, randomText } from '#shared/ids';
import { createLogger } from '#shared/logger';
import type { RetrySchedule } from '#shared/delivery/retry-schedule';
import { AttemptWriter, type AttemptRecord } from '#worker/delivery/attempt-writer';
import { NO_OBSERVER } from '#worker/delivery/observer';
import { findTestPostgres } from '../lib/local-services.ts';
import { backendCpuBetween, backendCpuSeconds, lsnBytes } from './measured-services.ts';

const rounds = Number(process.argv[2] ?? 6);
const perRound = Number(process.argv[3] ?? 10_000);
const SUBSCRIPTIONS = 2_000;
const pg = await findTestPostgres(process.env, '.data/bench-postgres');
const schema = `writer_cost_${randomText(6)}`;
const appName = `writer-cost-${randomText(6)}`;
const url = new URL(pg.url);
url.searchParams.set('application_name', appName);
const db = createDb({ url: url.toString(), schema, poolMax: 4 });
const noSchedule = { add: async () => {} } as unknown as RetrySchedule;
const logger = createLogger({ level: 'silent' });

try {
  await migrateLatest(db, schema);
  const subs = Array.from({ length: SUBSCRIPTIONS }, (_, i) => `sub_${i}`);
  await db.transaction(async (trx) => {
    await trx.raw('set local session_replication_role = replica');
    await trx.raw(
      `insert into subscriptions (id, partner_id, product_id, function_key, url, event_types, secret_sealed)
       select v, 'ptn', 'prd', 'fn', 'https://r.test/', array['t'], 's' from unnest(?::text[]) v`,
      [subs],
    );
  });
  const walNow = async () => lsnBytes((await db.raw('select pg_current_wal_lsn() as l')).rows[0].l as string);

  const round = async (keep: boolean) => {
    const writer = new AttemptWriter(db, noSchedule, logger, NO_OBSERVER, { disableAfterMs: 86_400_000, keepFirstSuccessInRow: keep });
    const receivedAt = new Date();
    const events = Array.from({ length: Math.ceil(perRound / SUBSCRIPTIONS) }, () => newId('event'));
    const records: AttemptRecord[] = [];
    for (const eventId of events) {
      for (const subscriptionId of subs) {
        if (records.length === perRound) break;
        records.push({
          messageId: newId('message'),
          subscriptionId,
          unwritten: { eventId, createdAt: receivedAt, owner: 'bench' },
          attempt: 1,
          attemptedAt: new Date(),
          durationMs: 3,
          outcome: 'success',
          statusCode: 200,
          error: null,
          errorMessage: null,
          response: { statusText: 'OK', headers: { 'content-type': 'text/plain', 'content-length': '2', date: new Date().toUTCString() }, body: Buffer.from('ok'), bytesRead: 2 },
          status: 'succeeded',
          nextAttemptAt: null,
          reachedReceiver: true,
        });
      }
    }
    const pgBefore = await backendCpuSeconds(db, [appName]);
    const walBefore = await walNow();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(records.map((r) => writer.add(r)));
    await writer.flush();
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const wal = Number((await walNow()) - walBefore);
    const pgCpu = backendCpuBetween(pgBefore, await backendCpuSeconds(db, [appName]));
    const per = (v: number) => ((v * 1e6) / records.length).toFixed(1).padStart(6);
    console.log(
      `${keep ? 'kept in row ' : 'attempt rows'}  ${per(ms / 1000)} µs wall  ${per((cpu.user + cpu.system) / 1e6)} µs writer CPU  ${per(pgCpu)} µs Postgres CPU  ${(wal / records.length).toFixed(0).padStart(5)} B WAL  (per record, ${records.length} records)`,
    );
  };

  await round(true); // warm-up, both ways
  await round(false);
  console.log('-- measured');
  for (let i = 0; i < rounds; i++) {
    await round(i % 2 === 0);
    await round(i % 2 !== 0);
  }
} finally {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
  await pg.stop();
}
