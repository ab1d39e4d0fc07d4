import type { Knex } from 'knex';

/**
 * The delivery engine's truth: events as HUB published them, one message per (event,
 * subscription), one attempt row per try. Hot tables carry few indexes and no foreign keys on
 * attempts (written in batches; pruned by age), so ingest and delivery stay cheap.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('events', (t) => {
    // HUB's own event id: a second publication of the same id is a duplicate, not a new event.
    t.text('id').primary();
    t.text('installation_id').notNullable();
    t.text('type').notNullable();
    t.text('entity_id');
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.jsonb('data').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Set when the fan-out committed this event's messages; null = fan-out still owed.
    t.timestamp('fanout_at', { useTz: true });
  });
  await knex.raw('create index events_fanout_pending on events (received_at) where fanout_at is null');
  await knex.raw('create index events_received on events (received_at)');

  await knex.schema.createTable('messages', (t) => {
    t.text('id').primary();
    t.text('event_id').notNullable().references('events.id').onDelete('CASCADE');
    t.text('subscription_id').notNullable().references('subscriptions.id').onDelete('CASCADE');
    // pending: an attempt is owed at next_attempt_at; held: its subscription is paused;
    // succeeded; dead: the last retry failed (kept, replayable); cancelled: subscription deleted.
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    // When the next attempt is due; while a worker holds the message it is a lease: the
    // reconciler takes over only after it passes.
    t.timestamp('next_attempt_at', { useTz: true });
    t.timestamp('last_attempt_at', { useTz: true });
    t.integer('last_status_code');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('succeeded_at', { useTz: true });
    t.unique(['event_id', 'subscription_id']);
  });
  await knex.raw(
    "alter table messages add constraint messages_status_check check (status in ('pending', 'held', 'succeeded', 'dead', 'cancelled'))",
  );
  // The delivery log, newest first, per subscription.
  await knex.raw('create index messages_subscription_log on messages (subscription_id, created_at desc, id desc)');
  // What the reconciler scans: attempts owed whose lease or retry time has passed.
  await knex.raw("create index messages_due on messages (next_attempt_at) where status = 'pending'");
  await knex.raw("create index messages_held on messages (subscription_id) where status = 'held'");
  await knex.raw("create index messages_dead on messages (updated_at desc, id desc) where status = 'dead'");

  await knex.schema.createTable('attempts', (t) => {
    t.bigIncrements('id');
    t.text('message_id').notNullable();
    t.text('subscription_id').notNullable();
    t.integer('attempt').notNullable();
    t.timestamp('attempted_at', { useTz: true }).notNullable();
    t.integer('duration_ms').notNullable();
    // success | failure
    t.text('outcome').notNullable();
    t.integer('status_code');
    // timeout | dns | refused | reset | tls | forbidden_address | other, when no response came
    t.text('error');
    // The first 2 KiB of the receiver's answer.
    t.text('response_body');
    t.index(['message_id']);
    t.index(['subscription_id', 'attempted_at']);
  });
  await knex.raw('create index attempts_attempted_at on attempts (attempted_at)');

  // Fan-out keeps an in-memory routing table; this counter tells it when to reload.
  // Triggers bump it on every change that can alter who receives what, so no code path can
  // forget to invalidate the cache.
  await knex.schema.createTable('routing_state', (t) => {
    t.integer('id').primary();
    t.bigInteger('version').notNullable();
  });
  await knex('routing_state').insert({ id: 1, version: 1 });
  await knex.raw(`
    create function bump_routing_version() returns trigger language plpgsql as $$
    begin
      update routing_state set version = version + 1 where id = 1;
      return null;
    end $$`);
  const watched: [string, string][] = [
    ['products', 'insert or update of status, active_version, availability_mode, availability_installation_ids or delete'],
    ['version_functions', 'insert or update or delete'],
    ['activations', 'insert or update or delete'],
    ['subscriptions', 'insert or update of state, url, event_types, secret_sealed, previous_secret_sealed, previous_secret_expires_at, deleted_at or delete'],
    ['functions', 'insert or update of event_types or delete'],
  ];
  for (const [table, events] of watched) {
    await knex.raw(
      `create trigger ${table}_routing after ${events} on ${table} for each statement execute function bump_routing_version()`,
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['products', 'version_functions', 'activations', 'subscriptions', 'functions']) {
    await knex.raw(`drop trigger if exists ${table}_routing on ${table}`);
  }
  await knex.raw('drop function if exists bump_routing_version()');
  await knex.schema.dropTableIfExists('routing_state');
  await knex.schema.dropTableIfExists('attempts');
  await knex.schema.dropTableIfExists('messages');
  await knex.schema.dropTableIfExists('events');
}
