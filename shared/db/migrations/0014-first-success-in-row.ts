import type { Knex } from 'knex';

/**
 * A first attempt that succeeds lives in its message's row (issue 13): the common delivery is
 * one row, written once. The attempt writer inserts a first delivery's message with its outcome
 * (0013); when that outcome is a success it now fills the `first_*` columns instead of inserting
 * an attempt row (a heap tuple, three index entries and a statement per batch saved).
 * `attempts` holds retries and failures, and any first success whose message row was written
 * before its outcome (held, entity-ordered, or re-derived after a lapsed lease).
 *
 * `attempt_log` is what reads every attempt: `attempts` and the first successes kept in message
 * rows, with the same columns. A kept first success takes its id from the attempts' sequence, so
 * ids stay unique and the lists' keyset (attempted_at, id) pages through both alike. Its second
 * branch has a row for every message, with a null id where none is kept: read it only through
 * `attemptLog()` (services/api/src/messages/repository.ts), which asks `id is not null`. That
 * condition, put into each branch, is the partial index's, so a subscription's page merges
 * two index scans in attempted_at order (0.7-0.8 ms for the first page of 45,000 attempts); a
 * WHERE inside the view keeps Postgres from flattening the union (a branch with a qual is not
 * an append member), and every page then sorted all of the subscription's kept rows (46 ms).
 * The partial index holds only kept rows (a resend updates the `last_*` columns, not these).
 *
 * Only nullable columns are added: Postgres rewrites no rows; an existing database keeps its
 * attempts where they are. A first success kept in its message row goes with that row: the
 * worker keeps one only while attempts are kept at least as long as messages (docs/partitioning.md).
 *
 * Not one transaction: on a database with many messages the index is built partition by
 * partition, `concurrently` where a partition holds rows, so deliveries and the api go on while
 * it builds; in one transaction the new columns' lock would have stopped every reader and writer
 * of `messages` for the whole build. Each step is safe to run again after a failure.
 */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  // Metadata only (nullable columns, no default): a brief lock, no row rewritten.
  await knex.raw(`alter table messages
    add column if not exists first_attempt_id bigint,
    add column if not exists first_attempted_at timestamptz,
    add column if not exists first_duration_ms integer,
    add column if not exists first_status_code integer,
    add column if not exists first_response_body text,
    add column if not exists first_response_body_bytes bytea,
    add column if not exists first_response_body_truncated boolean,
    add column if not exists first_response_status_text text,
    add column if not exists first_response_headers jsonb`);
  // The parent's index (partitions made later get theirs with it), then each partition's, attached.
  const columns = '(subscription_id, first_attempted_at) where first_attempt_id is not null';
  await knex.raw(`create index if not exists messages_first_attempts on only messages ${columns}`);
  const { rows: partitions } = (await knex.raw(
    `select c.relname as name, exists (select 1 from pg_index x where x.indrelid = c.oid and x.indexrelid in (
       select inhrelid from pg_inherits where inhparent = 'messages_first_attempts'::regclass)) as attached
     from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'messages'::regclass`,
  )) as { rows: { name: string; attached: boolean }[] };
  for (const { name, attached } of partitions) {
    if (attached) continue;
    const index = `${name}_first_attempts`;
    const { rows } = (await knex.raw('select exists (select 1 from ??) as "hasRows"', [name])) as { rows: { hasRows: boolean }[] };
    await knex.raw(`create index ${rows[0]!.hasRows ? 'concurrently ' : ''}if not exists ?? on ?? ${columns}`, [index, name]);
    await knex.raw('alter index messages_first_attempts attach partition ??', [index]);
  }
  await knex.raw(`create or replace view attempt_log as
    select id, message_id, subscription_id, attempt, attempted_at, duration_ms, outcome, status_code, error,
      response_body, response_body_bytes, response_body_truncated, response_status_text, response_headers, error_message
    from attempts
    union all
    select first_attempt_id, id, subscription_id, 1, first_attempted_at, first_duration_ms, 'success'::text, first_status_code, null::text,
      first_response_body, first_response_body_bytes, first_response_body_truncated, first_response_status_text, first_response_headers, null::text
    from messages`);
}

export async function down(knex: Knex): Promise<void> {
  // Back into attempts first, so that going down loses no attempt.
  await knex.raw(`insert into attempts (id, message_id, subscription_id, attempt, attempted_at, duration_ms, outcome, status_code,
      response_body, response_body_bytes, response_body_truncated, response_status_text, response_headers)
    select first_attempt_id, id, subscription_id, 1, first_attempted_at, first_duration_ms, 'success', first_status_code,
      first_response_body, first_response_body_bytes, coalesce(first_response_body_truncated, false), first_response_status_text, first_response_headers
    from messages where first_attempt_id is not null`);
  await knex.raw('drop view if exists attempt_log');
  await knex.raw('drop index if exists messages_first_attempts');
  await knex.raw(`alter table messages
    drop column first_attempt_id, drop column first_attempted_at, drop column first_duration_ms, drop column first_status_code,
    drop column first_response_body, drop column first_response_body_bytes, drop column first_response_body_truncated,
    drop column first_response_status_text, drop column first_response_headers`);
}
