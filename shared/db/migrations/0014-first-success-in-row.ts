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
 * two index scans in attempted_at order (0.8 ms for the first page of 45,000 attempts); a WHERE
 * inside the view keeps Postgres from flattening the union (a branch with a qual is not an
 * append member), and every page then sorted all of the subscription's kept rows (46 ms).
 * The partial index holds only kept rows, and none of its columns changes after the insert (a
 * resend updates the `last_*` columns), so later updates of the message stay HOT.
 *
 * Only nullable columns are added: Postgres rewrites no rows; an existing database keeps its
 * attempts where they are. A first success kept in its message row lasts as long as that row
 * (the messages' retention, docs/partitioning.md).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table messages
    add column first_attempt_id bigint,
    add column first_attempted_at timestamptz,
    add column first_duration_ms integer,
    add column first_status_code integer,
    add column first_response_body text,
    add column first_response_body_bytes bytea,
    add column first_response_body_truncated boolean,
    add column first_response_status_text text,
    add column first_response_headers jsonb`);
  await knex.raw('create index messages_first_attempts on messages (subscription_id, first_attempted_at) where first_attempt_id is not null');
  await knex.raw(`create view attempt_log as
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
  await knex.raw('drop view attempt_log');
  await knex.raw('drop index messages_first_attempts');
  await knex.raw(`alter table messages
    drop column first_attempt_id, drop column first_attempted_at, drop column first_duration_ms, drop column first_status_code,
    drop column first_response_body, drop column first_response_body_bytes, drop column first_response_body_truncated,
    drop column first_response_status_text, drop column first_response_headers`);
}
