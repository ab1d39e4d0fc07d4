/**
 * What the delivery path's statements write, per row: `EXPLAIN (ANALYZE, WAL, BUFFERS)` of the
 * fan-out's message insert, the attempt writer's outcome update and attempt insert, a first
 * delivery's row written with its outcome (0013) and with its first success kept in it (0014:
 * no attempt row), and the events' fan-out mark, in a fresh schema (dropped after), inside one transaction that is
 * rolled back. WAL records per row count the heap tuple and each index entry written, which is
 * what a delivery costs Postgres whatever else the machine runs.
 *
 *   node --conditions=source --import tsx scripts/bench/write-cost.ts [rows, default 5000]
 */
import { columnBindings, createDb, type Knex } from '#shared/db/knex';
import { migrateLatest } from '#shared/db/migrate';
import { newId, randomText } from '#shared/ids';
import { findTestPostgres } from '../lib/local-services.ts';

const rows = Number(process.argv[2] ?? 5000);
const pg = await findTestPostgres(process.env, '.data/bench-postgres');
const schema = `write_cost_${randomText(6)}`;
const db = createDb({ url: pg.url, schema, poolMax: 1 });

interface PlanTop {
  'Execution Time': number;
  Plan: { 'WAL Bytes': number; 'WAL Records': number; 'Shared Hit Blocks': number };
}

async function explain(trx: Knex.Transaction, label: string, sql: string, bindings: readonly Knex.RawBinding[], per = rows): Promise<void> {
  const result = await trx.raw(`explain (analyze, wal, buffers, format json) ${sql}`, bindings);
  const [top] = (result.rows as { 'QUERY PLAN': PlanTop[] }[])[0]!['QUERY PLAN'];
  const p = top!.Plan;
  console.log(
    `${label.padEnd(28)} ${((top!['Execution Time'] * 1000) / per).toFixed(1).padStart(6)} µs  WAL ${(p['WAL Bytes'] / per).toFixed(0).padStart(5)} B  ${(p['WAL Records'] / per).toFixed(1)} records  ${(p['Shared Hit Blocks'] / per).toFixed(1)} buffers  (per row)`,
  );
}

try {
  await migrateLatest(db, schema);
  await db
    .transaction(async (trx) => {
      // No subscriptions, partners or products to seed: foreign keys are not what is measured.
      await trx.raw('set local session_replication_role = replica');
      const now = new Date();
      const subscriptions = 50;
      const eventIds = Array.from({ length: Math.ceil(rows / subscriptions) }, () => newId('event'));
      await trx.raw(
        `insert into events (id, installation_id, type, occurred_at, data, received_at)
         select v, 'I', 'bench.event', now(), jsonb_build_object('padding', repeat('x', 820)), ? from unnest(?::text[]) v`,
        [now, eventIds],
      );
      const ids: string[] = [];
      const events: string[] = [];
      const subs: string[] = [];
      for (const e of eventIds) {
        for (let s = 0; s < subscriptions && ids.length < rows; s++) {
          ids.push(newId('message'));
          events.push(e);
          subs.push(`sub_${s}`);
        }
      }
      await explain(
        trx,
        'insert message (fan-out)',
        `insert into messages (id, event_id, subscription_id, status, next_attempt_at, lease_owner, created_at, updated_at)
         select v.id, v.event_id, v.subscription_id, 'pending', now() + interval '30 s', 'owner', ?, now()
         from unnest(?::text[], ?::text[], ?::text[]) as v(id, event_id, subscription_id)`,
        [now, ...columnBindings(ids, events, subs)],
      );
      await explain(
        trx,
        'message succeeded (update)',
        `update messages m set status = 'succeeded', attempts = 1, next_attempt_at = null, lease_owner = null, last_attempt_at = now(),
           last_status_code = 200, last_error = null, succeeded_at = now(), updated_at = now()
         from unnest(?::text[]) as v(id) where m.id = v.id and m.status = 'pending'`,
        columnBindings(ids),
      );
      await explain(
        trx,
        'insert attempt',
        `insert into attempts (message_id, subscription_id, attempt, attempted_at, duration_ms, outcome, status_code, response_body, response_headers)
         select v.id, v.s, 1, now(), 3, 'success', 200, 'ok', '{"headers":{"content-type":"text/plain"},"omitted":0}'::jsonb
         from unnest(?::text[], ?::text[]) as v(id, s)`,
        columnBindings(ids, subs),
      );
      // A first delivery now: its row written once, with its outcome; a first success kept in it.
      const fresh = (n: number) => Array.from({ length: n }, () => newId('message'));
      await explain(
        trx,
        'message with outcome (0013)',
        `insert into messages (id, event_id, subscription_id, status, attempts, last_attempt_at, last_status_code, succeeded_at, created_at, updated_at)
         select v.id, v.event_id, v.subscription_id, 'succeeded', 1, now(), 200, now(), ?, now()
         from unnest(?::text[], ?::text[], ?::text[]) as v(id, event_id, subscription_id)`,
        [new Date(now.getTime() + 1), ...columnBindings(fresh(ids.length), events, subs)],
      );
      await explain(
        trx,
        'message, success kept (0014)',
        `insert into messages (id, event_id, subscription_id, status, attempts, last_attempt_at, last_status_code, succeeded_at, created_at, updated_at,
           first_attempt_id, first_attempted_at, first_duration_ms, first_status_code, first_response_body, first_response_body_truncated, first_response_headers)
         select v.id, v.event_id, v.subscription_id, 'succeeded', 1, now(), 200, now(), ?, now(),
           nextval('attempts_id_seq'), now(), 3, 200, 'ok', false, '{"headers":{"content-type":"text/plain"},"omitted":0}'::jsonb
         from unnest(?::text[], ?::text[], ?::text[]) as v(id, event_id, subscription_id)`,
        [new Date(now.getTime() + 2), ...columnBindings(fresh(ids.length), events, subs)],
      );
      await explain(trx, 'event fanned out (update)', 'update events set fanout_at = now() where id = any(?::text[]) and fanout_at is null', [eventIds], eventIds.length);
      throw new Error('rollback');
    })
    .catch((err: unknown) => {
      if (!(err instanceof Error && err.message === 'rollback')) throw err;
    });
} finally {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
  await pg.stop();
}
