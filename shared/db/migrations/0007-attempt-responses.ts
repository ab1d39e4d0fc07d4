import type { Knex } from 'knex';

/**
 * Attempts keep what a receiver answered as it was sent: the body's exact bytes when its text
 * preview (`response_body`, NUL-safe UTF-8) is not exactly them, whether more body came than was
 * kept, the status line's text, the headers (bounded, NUL-safe) and a sentence saying what went
 * wrong. Only columns are added (nullable or with a constant default, so Postgres rewrites no
 * rows): an existing database keeps its attempts, shown as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('attempts', (t) => {
    t.binary('response_body_bytes');
    t.boolean('response_body_truncated').notNullable().defaultTo(false);
    t.text('response_status_text');
    // {"headers": {name: value}, "omitted": n}
    t.jsonb('response_headers');
    t.text('error_message');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('attempts', (t) => {
    t.dropColumns('response_body_bytes', 'response_body_truncated', 'response_status_text', 'response_headers', 'error_message');
  });
}
