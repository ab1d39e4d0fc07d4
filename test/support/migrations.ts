import type { Knex } from 'knex';
import { migrations } from '#shared/db/migrations/index';

/**
 * Brings `schema` to the state an earlier release left it in: runs only the named migrations,
 * recorded in knex's table as usual, so `migrateLatest` afterwards runs just the newer ones.
 */
export async function migrateThrough(db: Knex, schema: string, names: readonly string[]): Promise<void> {
  await db.migrate.latest({
    schemaName: schema,
    tableName: 'knex_migrations',
    migrationSource: {
      getMigrations: async () => [...names],
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => migrations[name]!,
    },
  });
}
