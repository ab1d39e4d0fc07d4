import type { Knex } from 'knex';

/**
 * Accounts a person controls:
 * - A person may be a user of several partners (a consultant working for two), so an address is
 *   unique per partner, not across all of them. Sign-in looks users up by address, hence the
 *   plain index on `email`.
 * - Sign-in codes belong to an address, not to one user: which user (which partner) the session
 *   is for is settled when the code is exchanged, so `sign_in_codes.user_id` goes.
 * - API keys a user mints have a name; the first key of every existing user is named for what
 *   it is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropUnique(['email'], 'users_email_unique');
    t.unique(['partner_id', 'email'], { indexName: 'users_partner_email_unique' });
    t.index(['email'], 'users_email_index');
  });
  await knex.schema.alterTable('sign_in_codes', (t) => {
    t.dropColumn('user_id');
  });
  await knex.schema.alterTable('api_keys', (t) => {
    t.text('name');
  });
  await knex('api_keys').where({ kind: 'user' }).whereNull('name').update({ name: 'first key' });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.dropColumn('name');
  });
  // Codes are short-lived; the old shape needs a user per code, so the live ones are dropped.
  await knex('sign_in_codes').delete();
  await knex.schema.alterTable('sign_in_codes', (t) => {
    t.text('user_id').references('users.id').onDelete('CASCADE');
  });
  // Fails if an address is now a user of two partners: that data has no place in the old shape.
  await knex.schema.alterTable('users', (t) => {
    t.dropIndex(['email'], 'users_email_index');
    t.dropUnique(['partner_id', 'email'], 'users_partner_email_unique');
    t.unique(['email'], { indexName: 'users_email_unique' });
  });
}
