import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type { Knex };
/** A knex handle: the pool itself or a transaction. Repositories take one of these. */
export type Db = Knex | Knex.Transaction;

// COUNT(*) and bigserial ids come back as int8; every count we keep fits a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

/** Options for `createDb`. */
export interface DbOptions {
  url: string;
  /** Work inside this schema (tests give each file its own); created by `migrateLatest`. */
  schema?: string;
  poolMax?: number;
}

/** A knex pool on Postgres; with `schema`, every query runs in that schema. */
export function createDb(options: DbOptions): Knex {
  const { url, schema, poolMax = 10 } = options;
  return knexFactory({
    client: 'pg',
    connection: url,
    // Only the given schema: a table missing from it must fail, not fall through to public.
    searchPath: schema ? [schema] : undefined,
    pool: { min: 0, max: poolMax },
    acquireConnectionTimeout: 10_000,
  });
}

/** Postgres error 23505 on the named unique index or constraint: a repository turns it into its "exists" answer. */
export const isUniqueViolation = (err: unknown, constraint: string) =>
  (err as { code?: string }).code === '23505' && (err as { constraint?: string }).constraint === constraint;

/** Resolves when Postgres answers a trivial query (used by /readyz and start-up). */
export async function pingDb(db: Knex): Promise<void> {
  await db.raw('select 1');
}

/**
 * Bindings for `unnest(?::text[], ?::int[], ...)`: one JS array per column. pg sends each as a
 * Postgres array, so any number of rows costs one parameter per column (knex's types do not
 * admit arrays as raw bindings, hence this one cast).
 */
export function columnBindings(...columns: unknown[][]): Knex.RawBinding[] {
  return columns as unknown as Knex.RawBinding[];
}
