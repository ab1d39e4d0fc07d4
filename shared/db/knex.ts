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
 * Bindings for `unnest(?::text[], ?::int[], ...)`: one parameter per column, whatever the number
 * of rows. Each column goes as the text of a Postgres array (`arrayLiteral`), which the cast
 * parses as its element type.
 */
export function columnBindings(...columns: readonly unknown[][]): Knex.RawBinding[] {
  return columns.map(arrayLiteral);
}

/** Characters that need a backslash inside a quoted array element. */
const ARRAY_ESCAPED = /["\\]/;

/**
 * The text of a Postgres array (`{"a","b",NULL}`) holding `values`, as the cast `?::type[]`
 * reads it: a string is quoted (backslash and quote escaped), a Date is its ISO instant, a
 * Buffer its bytea hex, a number or bigint its digits, a boolean `t`/`f`, an array a nested
 * array, any other object its JSON, null and undefined NULL: what pg itself would send for a
 * JS array. Built here because pg's own encoder (`arrayString`: a regex replace per element, a
 * local-time string per Date) was a quarter of the worker's allocations on the delivery path
 * (issue 13), and knex then walks every element of an array binding looking for `undefined`.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) text += ',';
    text += arrayElement(values[i]);
  }
  return text + '}';
}

function arrayElement(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'number':
    case 'bigint':
      return String(value);
    case 'boolean':
      return value ? 't' : 'f';
    default:
      if (value instanceof Date) return quotedInstant(value);
      // bytea's hex form, its backslash escaped for the array's quoting.
      if (Buffer.isBuffer(value)) return `"\\\\x${value.toString('hex')}"`;
      if (Array.isArray(value)) return arrayLiteral(value);
      return quoted(JSON.stringify(value));
  }
}

/** JSON is full of quotes: replaceAll with a plain pattern allocated half what a regex replace did. */
function quoted(text: string): string {
  return ARRAY_ESCAPED.test(text) ? `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"` : `"${text}"`;
}

/** The second the last Date was written in, and its ISO text up to there (`"2026-12-04T01:02:03`): a batch's instants mostly share it. */
let instantSecond = NaN;
let instantPrefix = '';
const INSTANT_MILLIS = Array.from({ length: 1000 }, (_, ms) => `.${String(ms).padStart(3, '0')}Z"`);

/** A Date as its quoted ISO instant; toISOString once a second, not once a value (it was 0.7 µs each). An invalid Date throws, as toISOString does. */
function quotedInstant(date: Date): string {
  const ms = date.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== instantSecond) {
    const iso = date.toISOString();
    if (iso.length !== 24 || iso.startsWith('0000')) return farInstant(date);
    instantSecond = second;
    instantPrefix = `"${iso.slice(0, 19)}`;
  }
  return instantPrefix + INSTANT_MILLIS[ms - second * 1000]!;
}

/** A year Postgres writes otherwise than ISO does: past 9999 without ISO's sign and zeros, before year 1 as "BC". */
function farInstant(date: Date): string {
  const year = date.getUTCFullYear();
  const rest = date.toISOString().replace(/^[+-]?\d+/, '');
  return year > 0 ? `"${year}${rest}"` : `"${String(1 - year).padStart(4, '0')}${rest} BC"`;
}
