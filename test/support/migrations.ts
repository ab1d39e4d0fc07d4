import type { Knex } from 'knex';
import { loadConfig } from '#shared/config';
import { createDb } from '#shared/db/knex';
import { migrations } from '#shared/db/migrations/index';
import { messageIdFor, randomText } from '#shared/ids';
import { testEnv } from './context.ts';
import { insertFunction, insertPartner, insertProduct, insertSubscription, type TestSubscription } from './fixtures.ts';

/**
 * Brings `schema` to the state an earlier release left it in: runs only the named migrations,
 * recorded in knex's table as usual, so `migrateLatest` afterwards runs just the newer ones.
 */
export async function migrateThrough(db: Knex, schema: string, names: readonly string[]): Promise<void> {
  await db.migrate.latest(listed(schema, names));
}

/** Undoes the last migration applied in `schema` (its `down`), as knex's table records it. */
export async function migrateDownOne(db: Knex, schema: string): Promise<void> {
  await db.migrate.down(listed(schema, Object.keys(migrations)));
}

/** knex's settings for the `names` migrations of the list, recorded in `schema`'s table. */
function listed(schema: string, names: readonly string[]): Knex.MigratorConfig {
  return {
    schemaName: schema,
    tableName: 'knex_migrations',
    migrationSource: {
      getMigrations: async () => [...names],
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => migrations[name]!,
    },
  };
}

/** A database in a schema of its own, as an earlier release left it. */
export interface EarlierRelease {
  db: Knex;
  schema: string;
  /** Drops the schema and closes the connections. */
  drop(): Promise<void>;
}

/** Opens a fresh schema of the test database and runs only the `names` migrations in it (see `migrateThrough`). */
export async function openEarlierRelease(names: readonly string[]): Promise<EarlierRelease> {
  const schema = `t_${randomText(10)}`;
  const db = createDb({ url: loadConfig(testEnv()).databaseUrl, schema });
  await db.raw('create schema ??', [schema]);
  await migrateThrough(db, schema, names);
  return {
    db,
    schema,
    async drop() {
      await db.raw('drop schema if exists ?? cascade', [schema]);
      await db.destroy();
    },
  };
}

/** What `insertDeliveredMessage` wrote. */
export interface DeliveredMessage {
  sub: TestSubscription;
  /** The events' received_at, and so the messages' partition key. */
  receivedAt: Date;
  /** The message of `evt-old`, delivered (its row written by the earlier release). */
  oldId: string;
}

/**
 * The rows a migration test starts from, as an earlier release wrote them: a subscription to
 * `estate.updated` in MSVPAR, two fanned-out events a minute old (`evt-old`, `evt-new`), and
 * the message of `evt-old`, delivered; `evt-new` has none yet.
 */
export async function insertDeliveredMessage(db: Knex): Promise<DeliveredMessage> {
  await insertFunction(db, { key: 'estates.read', eventTypes: ['estate.updated'] });
  const partner = await insertPartner(db);
  const productId = await insertProduct(db, { partnerId: partner.partnerId, versions: [{ 'estates.read': {} }] });
  const sub = await insertSubscription(db, { partnerId: partner.partnerId, productId, functionKey: 'estates.read', url: 'https://receiver.example/hook', eventTypes: ['estate.updated'] });
  const receivedAt = new Date(Date.now() - 60_000);
  const event = (id: string) => ({ id, installation_id: 'MSVPAR', type: 'estate.updated', occurred_at: receivedAt, data: {}, received_at: receivedAt, fanout_at: receivedAt });
  await db('events').insert([event('evt-old'), event('evt-new')]);
  const oldId = messageIdFor('evt-old', sub.id);
  await db('messages').insert({ id: oldId, event_id: 'evt-old', subscription_id: sub.id, status: 'succeeded', attempts: 1, created_at: receivedAt });
  return { sub, receivedAt, oldId };
}
