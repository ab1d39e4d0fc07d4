/**
 * Keyset pagination for every list route: `?limit=` (default 50, max 500) and `?cursor=`,
 * answered as `{data: [...], nextCursor: string | null, hasMore: boolean}` (`hasMore` is true
 * exactly when `nextCursor` is a cursor).
 *
 * The cursor is opaque to callers: base64url of a JSON array holding the sort-key values of the
 * last row of the page, as Postgres prints them (`::text`), so a timestamptz keeps its
 * microseconds (a JS Date would round them away and rows could repeat or go missing).
 *
 * Use it in three steps:
 * ```ts
 * query: PageQuery,                                     // or PageQuery.extend({status: ...})
 * responses: { 200: pageOf(Partner) },
 * const page = await paginate(db, db('partners').select('partners.*'), query, { keys: ['created_at', 'id'] });
 * return { status: 200, body: mapPage(page, toPartner) };
 * ```
 *
 * Failure policy: a cursor that is not one of ours (bad base64 or JSON, wrong number of keys, a
 * value Postgres cannot read back) is the caller's doing: 400 naming `query.cursor`, never a 5xx.
 */
import { z } from 'zod';
import type { Db, Knex } from '#shared/db/knex';
import { ValidationError } from '#shared/errors';

/** The default and the largest page size. */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

/** `?limit=&cursor=`; extend it with a list's own filters. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
  cursor: z.string().min(1).max(2000).optional(),
});
export type PageRequest = z.infer<typeof PageQuery>;

const pages = new WeakMap<z.ZodType, z.ZodType>();

/**
 * The answer schema of a list of `item`s, named after the item in the OpenAPI document
 * (`Subscription` → `SubscriptionPage`). The item must be named (`.meta({ id })`); one schema
 * per item, however many routes list it.
 */
export function pageOf<T extends z.ZodType>(item: T) {
  const known = pages.get(item);
  if (known) return known as ReturnType<typeof page<T>>;
  const id = item.meta()?.id;
  if (typeof id !== 'string') throw new Error('pageOf needs a named item schema: give it .meta({ id })');
  const schema = page(item).meta({ id: `${id}Page`, description: `A page of ${id} items; \`nextCursor\` fetches the next one.` });
  pages.set(item, schema);
  return schema;
}

const page = <T extends z.ZodType>(item: T) =>
  z.object({
    data: z.array(item),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
    /** Whether another page follows: the same as `nextCursor !== null`, for clients that test a flag. */
    hasMore: z.boolean().meta({ description: 'Whether another page follows: true exactly when `nextCursor` is not null.' }),
  });

/** One page of rows, the cursor of the next one (null on the last page) and whether there is one. */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
  hasMore: boolean;
}

/** The same page with each row turned into what the API shows. */
export function mapPage<T, U>(page: Page<T>, view: (row: T) => U): Page<U> {
  return { data: page.data.map((row) => view(row)), nextCursor: page.nextCursor, hasMore: page.hasMore };
}

/** The same page with its rows replaced (for views built from all rows at once). */
export function withRows<T, U>(page: Page<T>, data: U[]): Page<U> {
  return { data, nextCursor: page.nextCursor, hasMore: page.hasMore };
}

/** How a list is ordered. */
export interface KeysetOptions {
  /**
   * Sort columns, most significant first; together they must be unique (end with the id).
   * Qualify them (`products.created_at`) when the query joins tables sharing a column name.
   */
  keys: readonly string[];
  /** Default 'asc' (oldest first); 'desc' for newest-first lists. */
  order?: 'asc' | 'desc';
}

const badCursor = (message = 'not a cursor this list handed out') =>
  new ValidationError(`invalid query: query.cursor`, [{ path: 'query.cursor', message, code: 'invalid_cursor' }]);

/** Encodes sort-key values as an opaque cursor. */
export function encodeCursor(values: readonly string[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

/** Decodes a cursor into `count` sort-key values; a ValidationError on `query.cursor` otherwise. */
export function decodeCursor(cursor: string, count: number): string[] {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw badCursor();
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(values) || values.length !== count || !values.every((v) => typeof v === 'string')) throw badCursor();
  return values as string[];
}

const KEY_ALIAS = (i: number) => `__page_key_${i}`;

// SQLSTATE class 22 (data exception): a cursor value the column type cannot read, e.g. a timestamp
// of month 13. Only a tampered cursor gets here; it is bad input, not a fault of ours.
const isDataException = (err: unknown) => typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('22');

/**
 * Runs `query` for one page: adds the keyset condition, the order and the limit, and returns the
 * rows (without the helper's own columns) and the next cursor. The query must select its columns
 * explicitly (`.select('t.*')`): the helper adds its key columns to the select list.
 */
export async function paginate<Row extends Record<string, unknown>>(
  db: Db,
  query: Knex.QueryBuilder,
  page: PageRequest,
  options: KeysetOptions,
): Promise<Page<Row>> {
  const { keys, order = 'asc' } = options;
  const q = query.clone();
  keys.forEach((key, i) => q.select(db.raw('??::text as ??', [key, KEY_ALIAS(i)])));
  if (page.cursor !== undefined) {
    const values = decodeCursor(page.cursor, keys.length);
    const placeholders = (mark: string) => keys.map(() => mark).join(', ');
    // A row comparison walks the composite order exactly: (a, b) > (x, y) means a > x or (a = x and b > y).
    q.whereRaw(`(${placeholders('??')}) ${order === 'asc' ? '>' : '<'} (${placeholders('?')})`, [...keys, ...values]);
  }
  q.orderBy(keys.map((column) => ({ column, order })));
  // One extra row tells whether there is a next page without a count query.
  q.limit(page.limit + 1);

  let rows: Record<string, unknown>[];
  try {
    rows = await q;
  } catch (err) {
    if (page.cursor !== undefined && isDataException(err)) throw badCursor();
    throw err;
  }
  const more = rows.length > page.limit;
  const kept = more ? rows.slice(0, page.limit) : rows;
  const last = kept[kept.length - 1];
  const nextCursor = more && last ? encodeCursor(keys.map((_, i) => String(last[KEY_ALIAS(i)]))) : null;
  const data = kept.map((row) => {
    const clean = { ...row };
    keys.forEach((_, i) => delete clean[KEY_ALIAS(i)]);
    return clean as Row;
  });
  return { data, nextCursor, hasMore: nextCursor !== null };
}
