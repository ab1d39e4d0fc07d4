import type { Knex } from 'knex';

/**
 * A message is written once, with its first outcome (issue 13). The fan-out no longer inserts a
 * pending row for each message it sends at once; a lease on the event covers them instead, one
 * small row here while some of the event's first deliveries are in a worker's hands and not yet
 * written: its owner (the fan-out's lease token), its end, and the subscriptions the event was
 * sent to. It is deleted with the last of them. A lease that lapses (the worker died) is the
 * reconciler's: the fan-out runs again and sends the messages without a row, under the same ids
 * (`messageIdFor`, the same `webhook-id`), to exactly the subscriptions listed here (not to
 * whatever matches now: one edited or paused meanwhile is still owed what it was sent).
 *
 * A table of its own rather than columns on `events`: setting and clearing a lease there
 * rewrote the event's ~1 KiB row and its four index entries twice; here it is a small insert
 * and a delete. No foreign key (the retention job keeps an event while it has a lease).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table if not exists event_leases (
    event_id text primary key,
    owner text not null,
    until timestamptz not null,
    subscription_ids text[] not null
  )`);
  await knex.raw('create index if not exists event_leases_until on event_leases (until)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists event_leases');
}
