import type { Knex } from 'knex';

/**
 * A message is written once, with its first outcome (issue 13). The fan-out no longer inserts a
 * pending row for each message it sends at once; the event holds the lease for them instead:
 * `deliveries_owner` (the fan-out's lease token) and `deliveries_until` (its end), set while
 * some of the event's first deliveries are in a worker's hands and not yet written, null once
 * every one is. A lease that lapses (the worker died) is the reconciler's: it fans the event out
 * again, and the messages not yet written are derived again under the same ids
 * (`messageIdFor`), so a receiver sees the same `webhook-id`. The index holds only the
 * outstanding events, a few at any time.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table events add column if not exists deliveries_owner text, add column if not exists deliveries_until timestamptz');
  await knex.raw('create index if not exists events_deliveries_outstanding on events (deliveries_until) where deliveries_until is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists events_deliveries_outstanding');
  await knex.raw('alter table events drop column if exists deliveries_owner, drop column if exists deliveries_until');
}
