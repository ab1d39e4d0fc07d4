/**
 * Keyset pagination for this branch's lists (`?limit=` default 50, max 500; `?cursor=`;
 * `{data, nextCursor}`), kept local until the shared helper services/api/src/http/pagination.ts
 * lands on main; it has the same names (PageQuery, pageOf, paginate), so switching is an import.
 *
 * The cursor is base64url JSON of the last row's sort keys as Postgres prints them (`::text`),
 * so timestamps keep their microseconds. Failure policy: a cursor we did not hand out is a 400
 * on `query.cursor`, never a 5xx.
 */
import { z } from 'zod';
import type { Db, Knex } from '#shared/db/knex';
import { ValidationError } from '#shared/errors';

/** `?limit=&cursor=`. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(2000).optional(),
});
export type PageRequest = z.infer<typeof PageQuery>;

/** The answer schema of a list of `item`s. */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });

/** One page and the cursor of the next (null on the last). */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

const badCursor = () =>
  new ValidationError('invalid query: query.cursor', [{ path: 'query.cursor', message: 'not a cursor this list handed out', code: 'invalid_cursor' }]);

function decode(cursor: string, count: number): string[] {
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(values) || values.length !== count || !values.every((v) => typeof v === 'string')) throw badCursor();
  return values as string[];
}

/**
 * Runs `query` (which must select its columns explicitly) for one page ordered by `keys`
 * (unique together: end with the id), ascending unless `order` is 'desc'.
 */
export async function paginate<Row extends Record<string, unknown>>(
  db: Db,
  query: Knex.QueryBuilder,
  page: PageRequest,
  options: { keys: readonly string[]; order?: 'asc' | 'desc' },
): Promise<Page<Row>> {
  const { keys, order = 'asc' } = options;
  const alias = (i: number) => `__page_key_${i}`;
  const q = query.clone();
  keys.forEach((key, i) => q.select(db.raw('??::text as ??', [key, alias(i)])));
  if (page.cursor !== undefined) {
    const values = decode(page.cursor, keys.length);
    const marks = (mark: string) => keys.map(() => mark).join(', ');
    q.whereRaw(`(${marks('??')}) ${order === 'asc' ? '>' : '<'} (${marks('?')})`, [...keys, ...values]);
  }
  q.orderBy(keys.map((column) => ({ column, order }))).limit(page.limit + 1);
  let rows: Record<string, unknown>[];
  try {
    rows = await q;
  } catch (err) {
    // SQLSTATE class 22: a cursor value the column cannot read back, i.e. a tampered cursor.
    if (page.cursor !== undefined && String((err as { code?: unknown }).code ?? '').startsWith('22')) throw badCursor();
    throw err;
  }
  const kept = rows.slice(0, page.limit);
  const last = kept[kept.length - 1];
  const nextCursor =
    rows.length > page.limit && last
      ? Buffer.from(JSON.stringify(keys.map((_, i) => String(last[alias(i)]))), 'utf8').toString('base64url')
      : null;
  const data = kept.map((row) => {
    const clean = { ...row };
    keys.forEach((_, i) => delete clean[alias(i)]);
    return clean as Row;
  });
  return { data, nextCursor };
}
