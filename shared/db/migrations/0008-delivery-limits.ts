import type { Knex } from 'knex';

/**
 * Limits that hold across worker processes, and leases that mean "in flight".
 *
 * - `subscriptions.max_rate_per_second`: the operator's ceiling on requests started per second
 *   (null: none); `subscriptions.rate_per_second`: the partner's own limit, never above the
 *   ceiling (null: the ceiling). The engine enforces the lower of the two.
 * - `messages.lease_owner`: who holds a pending message's lease (`next_attempt_at`) while it
 *   waits in a lane or is in flight; only the holder may renew it. Null when nobody holds it
 *   (waiting for its retry, handed back, or due).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('subscriptions', (t) => {
    t.integer('max_rate_per_second');
    t.integer('rate_per_second');
  });
  await knex.raw('alter table subscriptions add constraint subscriptions_rate_check check (max_rate_per_second > 0 and rate_per_second > 0)');
  await knex.schema.alterTable('messages', (t) => {
    t.text('lease_owner');
  });
  // The engine's routing table carries the rate limits: changing one must reload it.
  await knex.raw('drop trigger subscriptions_routing on subscriptions');
  await knex.raw(
    `create trigger subscriptions_routing after insert or update of state, url, event_types, secret_sealed, previous_secret_sealed,
       previous_secret_expires_at, deleted_at, max_rate_per_second, rate_per_second or delete
     on subscriptions for each statement execute function bump_routing_version()`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger subscriptions_routing on subscriptions');
  await knex.raw(
    `create trigger subscriptions_routing after insert or update of state, url, event_types, secret_sealed, previous_secret_sealed,
       previous_secret_expires_at, deleted_at or delete
     on subscriptions for each statement execute function bump_routing_version()`,
  );
  await knex.schema.alterTable('messages', (t) => t.dropColumn('lease_owner'));
  await knex.raw('alter table subscriptions drop constraint subscriptions_rate_check');
  await knex.schema.alterTable('subscriptions', (t) => {
    t.dropColumn('max_rate_per_second');
    t.dropColumn('rate_per_second');
  });
}
