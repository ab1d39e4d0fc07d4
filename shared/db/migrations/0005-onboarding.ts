import type { Knex } from 'knex';

/**
 * Onboarding and sign-in: access applications, one-time sign-in codes, the mail outbox,
 * account-level credentials (the setup from before product credentials) and partners' requests
 * to clean up legacy grants that products now cover.
 *
 * Sign-in codes are keyed by e-mail address, not by user: a request for an unregistered address
 * writes a row too (with no user and a code nobody is sent), so sign-in and verify do the same
 * work and give the same answers whether or not the address is registered.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('applications', (t) => {
    t.text('id').primary();
    t.text('company_name').notNullable();
    t.text('organisation_number').notNullable();
    t.text('contact_name').notNullable();
    // Stored lower-cased, like users.email.
    t.text('contact_email').notNullable();
    t.text('purpose').notNullable();
    // pending | approved | rejected
    t.text('status').notNullable().defaultTo('pending');
    t.text('decision_reason');
    t.timestamp('decided_at', { useTz: true });
    t.text('partner_id').references('partners.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['status', 'created_at']);
    t.index(['created_at', 'id']);
  });
  await knex.raw(
    "alter table applications add constraint applications_status_check check (status in ('pending', 'approved', 'rejected'))",
  );

  await knex.schema.createTable('sign_in_codes', (t) => {
    // One live code per address: asking again replaces it (and resets its tries).
    t.text('email').primary();
    // Null for an address no user has: the row exists so verify behaves the same, but never succeeds.
    t.text('user_id').references('users.id').onDelete('CASCADE');
    // HMAC-SHA256 under a server key of (email, code): codes are low-entropy, so a bare hash would not do.
    t.text('code_hash').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['expires_at']);
  });

  await knex.schema.createTable('mail_outbox', (t) => {
    t.text('id').primary();
    t.text('kind').notNullable();
    t.text('to_address').notNullable();
    t.text('subject').notNullable();
    // Null once a sensitive mail (a sign-in code) has been handed to the SMTP server.
    t.text('text_body');
    t.boolean('sensitive').notNullable().defaultTo(false);
    // pending | sent (to SMTP) | outbox (no SMTP configured: the row is the delivery) | failed
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.text('provider_message_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
    t.index(['created_at', 'id']);
  });
  await knex.raw(
    "alter table mail_outbox add constraint mail_outbox_status_check check (status in ('pending', 'sent', 'outbox', 'failed'))",
  );
  // The reconciler looks for mail that no job carried to the end.
  await knex.raw("create index mail_outbox_pending on mail_outbox (created_at) where status = 'pending'");

  // The old setup: one login per partner, with up to two active access keys under it.
  await knex.schema.alterTable('partners', (t) => {
    t.text('account_login').unique();
  });
  await knex.schema.createTable('account_credentials', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    t.text('secret_hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.index(['partner_id']);
  });

  await knex.schema.createTable('legacy_clean_up_requests', (t) => {
    t.text('id').primary();
    t.text('partner_id').notNullable().references('partners.id').onDelete('CASCADE');
    t.text('requested_by');
    // The grants that products covered when the partner asked: [{grantId, installationId, functionKey, coveredBy}].
    t.jsonb('grants').notNullable().defaultTo('[]');
    t.text('note').notNullable().defaultTo('');
    // open | done
    t.text('status').notNullable().defaultTo('open');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('resolved_at', { useTz: true });
    t.index(['status', 'created_at']);
    t.index(['partner_id']);
  });
  await knex.raw(
    "alter table legacy_clean_up_requests add constraint legacy_clean_up_requests_status_check check (status in ('open', 'done'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['legacy_clean_up_requests', 'account_credentials', 'mail_outbox', 'sign_in_codes', 'applications']) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.schema.alterTable('partners', (t) => {
    t.dropColumn('account_login');
  });
}
