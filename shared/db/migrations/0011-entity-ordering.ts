import type { Knex } from 'knex';

/**
 * Ordered delivery per entity (docs/receivers.md, "Ordering").
 *
 * - `subscriptions.ordering`: `none` (default, as before) or `entity`. The routing table carries
 *   it, so the subscriptions trigger now watches it too.
 * - `events.seq`: the publication order, from a sequence; the ingest statement takes it in the
 *   batch's array order. Rows older than this migration keep null (they are never ordered).
 * - `messages.entity_key` (`<installation>/<entityId>`) and `messages.seq` (the event's): set
 *   only on messages of subscriptions ordering by entity, when the event has an entityId. Null
 *   everywhere else, so unordered messages never touch the indexes below.
 * - `messages_entity_open`: the unfinished (pending or held) ordered messages of each
 *   (entity, subscription) by publication order: the head is the first row, and "is an earlier
 *   one unfinished?" is one probe per partition.
 * - `events_entity_unfanned`: events with an entity not yet fanned out: a later message of the
 *   same entity must wait for them (their messages may not exist yet).
 *
 * Adding nullable columns without a default is a catalogue change (no table rewrite); the
 * default of `events.seq` is set after the column exists, so existing rows are not filled.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("alter table subscriptions add column ordering text not null default 'none'");
  await knex.raw("alter table subscriptions add constraint subscriptions_ordering_check check (ordering in ('none', 'entity'))");
  await knex.raw('drop trigger subscriptions_routing on subscriptions');
  await knex.raw(
    `create trigger subscriptions_routing after insert or update of state, url, event_types, secret_sealed, previous_secret_sealed,
       previous_secret_expires_at, deleted_at, max_rate_per_second, rate_per_second, ordering or delete
     on subscriptions for each statement execute function bump_routing_version()`,
  );

  await knex.raw('create sequence events_publication_seq');
  await knex.raw('alter table events add column seq bigint');
  await knex.raw("alter table events alter column seq set default nextval('events_publication_seq')");
  await knex.raw('alter sequence events_publication_seq owned by events.seq');
  await knex.raw(
    "create index if not exists events_entity_unfanned on events ((installation_id || '/' || entity_id), seq) where fanout_at is null and entity_id is not null",
  );

  await knex.raw('alter table messages add column entity_key text, add column seq bigint');
  await knex.raw(
    "create index if not exists messages_entity_open on messages (entity_key, subscription_id, seq) where entity_key is not null and status in ('pending', 'held')",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index messages_entity_open');
  await knex.raw('alter table messages drop column entity_key, drop column seq');
  await knex.raw('drop index events_entity_unfanned');
  await knex.raw('alter table events drop column seq');
  await knex.raw('drop trigger subscriptions_routing on subscriptions');
  await knex.raw(
    `create trigger subscriptions_routing after insert or update of state, url, event_types, secret_sealed, previous_secret_sealed,
       previous_secret_expires_at, deleted_at, max_rate_per_second, rate_per_second or delete
     on subscriptions for each statement execute function bump_routing_version()`,
  );
  await knex.raw('alter table subscriptions drop constraint subscriptions_ordering_check');
  await knex.raw('alter table subscriptions drop column ordering');
}
