import type { Knex } from 'knex';

/**
 * What the API's conventions keep in Postgres (see docs/api-conventions.md):
 * - `idempotency_keys`: per caller and Idempotency-Key, the request's fingerprint and, once it
 *   finished, its answer (sealed with SECRETS_KEY: create answers hold one-time secrets), for
 *   24 h; `status` is null while the first request runs.
 * - `unroutable_events`: events hubhook accepted but cannot route (an installation or an event
 *   type it does not know), newest first for the operators' view.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (t) => {
    // `operator`, `hub`, or `partner:<partner id>:<api key id>`.
    t.text('scope').notNullable();
    t.text('key').notNullable();
    t.text('fingerprint').notNullable();
    t.integer('status');
    t.text('reply_sealed');
    t.timestamp('locked_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.primary(['scope', 'key']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('unroutable_events', (t) => {
    t.bigIncrements('id');
    t.text('event_id').notNullable();
    t.text('installation_id').notNullable();
    t.text('type').notNullable();
    // unknown_installation | unknown_event_type
    t.text('reason').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['received_at', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('unroutable_events');
  await knex.schema.dropTableIfExists('idempotency_keys');
}
