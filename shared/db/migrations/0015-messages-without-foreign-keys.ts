import type { Knex } from 'knex';

/**
 * `messages` loses its foreign keys (to `events` and `subscriptions`, from 0003, recreated by
 * 0009). Each message row written fired two referential checks, each locking the row it names
 * (`for key share`); many writer batches naming the same events and subscriptions at once turn
 * those locks into multixacts. In the bench (issue 13) they were a fifth to a quarter of
 * Postgres's CPU per delivery: 36–43 µs with them, 29–33 µs without, and the first-delivery
 * insert's executor time fell by a quarter (pg_stat_statements; README, "Benchmark").
 *
 * What they gave holds without them. No code deletes an event or a subscription row (a
 * subscription is deleted by `deleted_at`; retention drops message partitions and deletes only
 * events no message names, worker/maintenance/prune.ts), so the cascades never ran. A message is
 * written only for an event the fan-out took (fanned out, or leased while its first deliveries
 * run, which retention skips) and a subscription of the routing table. `attempts` never had one
 * (0003), for the same reason.
 *
 * `down` adds them again; it fails if a message names a row that is gone.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table messages drop constraint if exists messages_event_id_foreign, drop constraint if exists messages_subscription_id_foreign');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table messages add constraint messages_event_id_foreign foreign key (event_id) references events (id) on delete cascade');
  await knex.raw(
    'alter table messages add constraint messages_subscription_id_foreign foreign key (subscription_id) references subscriptions (id) on delete cascade',
  );
}
