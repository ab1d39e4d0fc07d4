import type { Knex } from 'knex';
import { loadConfig } from '#shared/config';
import { createDb } from '#shared/db/knex';
import { migrations } from '#shared/db/migrations/index';
import { randomText } from '#shared/ids';
import { testEnv } from './context.ts';

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
