import type { Knex } from 'knex';
import { migrations } from './migrations/index.ts';

/**
 * Migrations are listed in code (not discovered on disk) so the same list runs under tsx in
 * development and from `dist/` in production, with no loader tricks.
 */
class ListedMigrations implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return Object.keys(migrations);
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    const migration = migrations[name];
    if (!migration) throw new Error(`unknown migration ${name}`);
    return migration;
  }
}

/** Brings the schema (the db's search path, or `schema`) up to date; returns the names applied. */
export async function migrateLatest(db: Knex, schema?: string): Promise<string[]> {
  if (schema) await db.raw('create schema if not exists ??', [schema]);
  const [, applied] = (await db.migrate.latest({
    migrationSource: new ListedMigrations(),
    schemaName: schema,
    tableName: 'knex_migrations',
  })) as [number, string[]];
  return applied;
}
