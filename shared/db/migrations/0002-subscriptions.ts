import type { Knex } from 'knex';

/**
 * Push subscriptions: a receiver URL on a pushable function of a product. The signing secret is
 * stored sealed (AES-256-GCM under SECRETS_KEY); during a rotation the previous one keeps
 * signing until `previous_secret_expires_at`. Deleting a subscription keeps its row (and its
 * delivery log) with `deleted_at` set.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('subscriptions', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    t.text('product_id').notNullable().references('products.id').onDelete('CASCADE');
    t.text('function_key').notNullable().references('functions.key');
    t.text('url').notNullable();
    t.specificType('event_types', 'text[]').notNullable();
    t.text('description').notNullable().defaultTo('');
    // active | paused | disabled
    t.text('state').notNullable().defaultTo('active');
    t.text('disabled_reason');
    t.text('secret_sealed').notNullable();
    t.text('previous_secret_sealed');
    t.timestamp('previous_secret_expires_at', { useTz: true });
    // Health, kept by the delivery worker.
    t.timestamp('last_success_at', { useTz: true });
    t.timestamp('last_failure_at', { useTz: true });
    t.timestamp('failing_since', { useTz: true });
    t.integer('consecutive_failures').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('deleted_at', { useTz: true });
    t.index(['product_id']);
    t.index(['partner_id']);
  });
  await knex.raw(
    "alter table subscriptions add constraint subscriptions_state_check check (state in ('active', 'paused', 'disabled'))",
  );
  // Fan-out looks subscriptions up by function among the live ones.
  await knex.raw('create index subscriptions_function_live on subscriptions (function_key) where deleted_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('subscriptions');
}
