import type { Knex } from 'knex';

/**
 * The partner portal: partners and their users, API keys, installations, the function catalog,
 * products with versions, credentials and activations, notifications, legacy grants, audit log.
 * Ids are prefixed text (see shared/ids.ts); InstallationIDs and function keys are natural keys.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('partners', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('contact_email').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index partners_name_key on partners (lower(name))');

  await knex.schema.createTable('users', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    // Stored lower-cased: e-mail addresses are compared case-insensitively.
    t.text('email').notNullable().unique();
    t.boolean('is_contact').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['partner_id']);
  });

  // Bearer keys of partner users (and, later, sessions and account-level credentials).
  // Only a SHA-256 of the secret part is kept; keys are random, so a slow hash adds nothing.
  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    t.text('user_id').references('users.id').onDelete('CASCADE');
    t.text('kind').notNullable().defaultTo('user');
    t.text('secret_hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.index(['user_id']);
  });

  await knex.schema.createTable('installations', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  // The shared partner test installation exists from the first start.
  await knex('installations').insert({ id: 'MSVPAR', name: 'Next Partner' });

  await knex.schema.createTable('functions', (t) => {
    t.text('key').primary();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.specificType('event_types', 'text[]').notNullable().defaultTo('{}');
    t.specificType('filter_fields', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('products', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('type').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('order_url');
    t.text('availability_mode').notNullable().defaultTo('all');
    t.specificType('availability_installation_ids', 'text[]').notNullable().defaultTo('{}');
    // draft until a version is activated; then active, granting `active_version`.
    t.text('status').notNullable().defaultTo('draft');
    t.integer('active_version');
    t.text('login').unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['partner_id']);
  });
  await knex.raw('create unique index products_partner_name_key on products (partner_id, lower(name))');
  await knex.raw("alter table products add constraint products_type_check check (type in ('order_integration', 'rights'))");
  await knex.raw("alter table products add constraint products_availability_check check (availability_mode in ('all', 'restricted'))");

  await knex.schema.createTable('product_versions', (t) => {
    t.text('product_id').notNullable().references('products.id').onDelete('CASCADE');
    t.integer('number').notNullable();
    t.text('status').notNullable().defaultTo('draft');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('activated_at', { useTz: true });
    t.primary(['product_id', 'number']);
  });

  await knex.schema.createTable('version_functions', (t) => {
    t.text('product_id').notNullable();
    t.integer('version').notNullable();
    t.text('function_key').notNullable().references('functions.key');
    t.boolean('require_access').notNullable().defaultTo(true);
    // { field: [allowed values] }; an event matches when each listed field's value is allowed.
    t.jsonb('filters').notNullable().defaultTo('{}');
    t.primary(['product_id', 'version', 'function_key']);
    t.foreign(['product_id', 'version']).references(['product_id', 'number']).inTable('product_versions').onDelete('CASCADE');
    t.index(['function_key']);
  });

  await knex.schema.createTable('product_credentials', (t) => {
    t.text('id').primary();
    t.text('product_id').notNullable().references('products.id').onDelete('CASCADE');
    t.text('secret_hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
    t.index(['product_id']);
  });

  await knex.schema.createTable('activations', (t) => {
    t.text('installation_id').notNullable().references('installations.id').onDelete('CASCADE');
    t.text('product_id').notNullable().references('products.id').onDelete('CASCADE');
    t.integer('version').notNullable();
    t.timestamp('activated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['installation_id', 'product_id']);
    t.index(['product_id']);
  });

  await knex.schema.createTable('notifications', (t) => {
    t.text('id').primary();
    t.text('partner_id').references('partners.id').onDelete('CASCADE');
    t.text('installation_id').references('installations.id').onDelete('CASCADE');
    t.text('product_id').references('products.id').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.text('message').notNullable();
    t.jsonb('data').notNullable().defaultTo('{}');
    // Jobs that record notices may run twice; the key makes the second insert a no-op.
    t.text('dedupe_key').unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('read_at', { useTz: true });
    t.index(['partner_id', 'created_at']);
    t.index(['installation_id', 'created_at']);
  });

  await knex.schema.createTable('legacy_grants', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    t.text('installation_id').notNullable().references('installations.id').onDelete('CASCADE');
    t.text('function_key').notNullable().references('functions.key');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['partner_id', 'installation_id', 'function_key']);
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('actor_type').notNullable();
    t.text('actor_id');
    t.text('partner_id');
    t.text('action').notNullable();
    t.text('target_type');
    t.text('target_id');
    t.jsonb('data').notNullable().defaultTo('{}');
    t.text('request_id');
    t.index(['partner_id', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'audit_log',
    'legacy_grants',
    'notifications',
    'activations',
    'product_credentials',
    'version_functions',
    'product_versions',
    'products',
    'functions',
    'installations',
    'api_keys',
    'users',
    'partners',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
