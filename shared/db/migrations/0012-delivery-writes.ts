import type { Knex } from 'knex';

/**
 * Fewer index writes per delivery: `attempts_attempted_at` goes. Every attempt inserted wrote
 * four index entries (the primary key, by message, by subscription and time, by time); the
 * lists read attempts by message or by subscription and time, the health counts by
 * subscription and time, and anything by time alone is bounded by the daily partitions
 * (attempts are range-partitioned on attempted_at, docs/partitioning.md), so the index by time
 * only cost writes. On an existing database dropping the partitioned index drops it from every
 * partition; a database that never had it is left as it is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists attempts_attempted_at');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('create index if not exists attempts_attempted_at on attempts (attempted_at)');
}
