import type { Knex } from 'knex';
import { ensurePartitions, PARTITIONED, type PartitionedTable } from '../partitions.ts';

/**
 * `messages` (by created_at, weekly) and `attempts` (by attempted_at, daily) become range-
 * partitioned, so retention drops whole partitions instead of deleting rows (docs/partitioning.md).
 * On an existing database each table is renamed aside, a partitioned twin is made with the same
 * columns, defaults and checks, partitions are made for every row it holds (plus a default one
 * for stragglers and some ahead), the rows are copied, the old table dropped, and indexes and
 * constraints are rebuilt under their old names. A unique constraint on a partitioned table must
 * hold the partition key, so the primary keys become (id, created_at) / (id, attempted_at) and
 * the fan-out's dedup key becomes (event_id, subscription_id, created_at): the fan-out derives
 * created_at from the event's received_at, so a re-derived message hits the same key.
 * Runs in the migration's transaction: the tables are locked while rows are copied.
 */
export async function up(knex: Knex): Promise<void> {
  await partition(knex, 'messages');
  await knex.raw('alter table messages add primary key (id, created_at)');
  await knex.raw('alter table messages add constraint messages_event_id_subscription_id_unique unique (event_id, subscription_id, created_at)');
  await knex.raw('alter table messages add constraint messages_event_id_foreign foreign key (event_id) references events (id) on delete cascade');
  await knex.raw(
    'alter table messages add constraint messages_subscription_id_foreign foreign key (subscription_id) references subscriptions (id) on delete cascade',
  );
  await knex.raw('create index messages_subscription_log on messages (subscription_id, created_at desc, id desc)');
  await knex.raw("create index messages_due on messages (next_attempt_at) where status = 'pending'");
  await knex.raw("create index messages_held on messages (subscription_id) where status = 'held'");
  await knex.raw("create index messages_dead on messages (updated_at desc, id desc) where status = 'dead'");

  await partition(knex, 'attempts');
  await knex.raw('alter table attempts add primary key (id, attempted_at)');
  await knex.raw('create index attempts_message_id_index on attempts (message_id)');
  await knex.raw('create index attempts_subscription_id_attempted_at_index on attempts (subscription_id, attempted_at)');
  await knex.raw('create index attempts_attempted_at on attempts (attempted_at)');
}

/** Moves `table` aside, makes its partitioned twin, copies the rows and drops the old table. */
async function partition(knex: Knex, table: PartitionedTable): Promise<void> {
  const { column } = PARTITIONED[table];
  const old = `${table}_unpartitioned`;
  await knex.raw('alter table ?? rename to ??', [table, old]);
  await knex.raw('create table ?? (like ?? including defaults including constraints) partition by range (??)', [table, old, column]);
  const span = (await knex(old).first(knex.raw('min(??) as "from", max(??) as "to"', [column, column]))) as { from: Date | null; to: Date | null };
  await ensurePartitions(knex, table);
  if (span.from && span.to) await ensurePartitions(knex, table, { from: span.from, to: span.to });
  await knex.raw('insert into ?? select * from ??', [table, old]);
  // The id sequence belonged to the old table; without this it would be dropped with it.
  if (table === 'attempts') await knex.raw('alter sequence attempts_id_seq owned by attempts.id');
  await knex.raw('drop table ??', [old]);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['attempts', 'messages'] as const) {
    const old = `${table}_partitioned`;
    await knex.raw('alter table ?? rename to ??', [table, old]);
    await knex.raw('create table ?? (like ?? including defaults including constraints)', [table, old]);
    await knex.raw('insert into ?? select * from ??', [table, old]);
    if (table === 'attempts') await knex.raw('alter sequence attempts_id_seq owned by attempts.id');
    await knex.raw('drop table ?? cascade', [old]);
  }
  await knex.raw('alter table messages add primary key (id)');
  await knex.raw('alter table messages add constraint messages_event_id_subscription_id_unique unique (event_id, subscription_id)');
  await knex.raw('alter table messages add constraint messages_event_id_foreign foreign key (event_id) references events (id) on delete cascade');
  await knex.raw(
    'alter table messages add constraint messages_subscription_id_foreign foreign key (subscription_id) references subscriptions (id) on delete cascade',
  );
  await knex.raw('create index messages_subscription_log on messages (subscription_id, created_at desc, id desc)');
  await knex.raw("create index messages_due on messages (next_attempt_at) where status = 'pending'");
  await knex.raw("create index messages_held on messages (subscription_id) where status = 'held'");
  await knex.raw("create index messages_dead on messages (updated_at desc, id desc) where status = 'dead'");
  await knex.raw('alter table attempts add primary key (id)');
  await knex.raw('create index attempts_message_id_index on attempts (message_id)');
  await knex.raw('create index attempts_subscription_id_attempted_at_index on attempts (subscription_id, attempted_at)');
  await knex.raw('create index attempts_attempted_at on attempts (attempted_at)');
}
