import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDb, type Knex } from '#shared/db/knex';
import { randomText } from '#shared/ids';
import { AppError } from '#shared/errors';
import { PageQuery, decodeCursor, encodeCursor, paginate } from './pagination.ts';

// Against the real Postgres: the keyset condition and the ::text round trip are what matter.
describe('paginate', () => {
  const schema = `t_${randomText(10)}`;
  let db: Knex;
  beforeAll(async () => {
    db = createDb({ url: inject('databaseUrl'), schema });
    await db.raw('create schema ??', [schema]);
    await db.schema.createTable('items', (t) => {
      t.text('id').primary();
      t.timestamp('created_at', { useTz: true }).notNullable();
    });
    // Seven rows share one timestamp (a transaction's now()) and differ below the millisecond,
    // which a JS Date would round away.
    const rows = Array.from({ length: 12 }, (_, i) => ({
      id: `it_${String(i).padStart(2, '0')}`,
      created_at: db.raw(`'2024-05-01T10:00:00Z'::timestamptz + ?::int * interval '1 microsecond'`, [i < 7 ? 0 : i]),
    }));
    await db('items').insert(rows);
  });
  afterAll(async () => {
    await db.raw('drop schema if exists ?? cascade', [schema]);
    await db.destroy();
  });

  async function walk(order: 'asc' | 'desc', limit: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = await paginate<{ id: string }>(db, db('items').select('items.*'), { limit, cursor }, { keys: ['created_at', 'id'], order });
      expect(page.data.length).toBeLessThanOrEqual(limit);
      expect(Object.keys(page.data[0] ?? { id: 1, created_at: 1 }).sort()).toEqual(['created_at', 'id']);
      seen.push(...page.data.map((row) => row.id));
      if (!page.nextCursor) return seen;
      cursor = page.nextCursor;
    }
    throw new Error('did not end');
  }

  it('walks every row once, in order, both ways', async () => {
    const all = Array.from({ length: 12 }, (_, i) => `it_${String(i).padStart(2, '0')}`);
    expect(await walk('asc', 5)).toEqual(all);
    expect(await walk('desc', 5)).toEqual([...all].reverse());
    expect(await walk('asc', 12)).toEqual(all);
    expect(await walk('asc', 500)).toEqual(all);
  });

  it('ends with a null cursor when the last page is exactly full', async () => {
    const first = await paginate(db, db('items').select('*'), { limit: 6 }, { keys: ['created_at', 'id'] });
    const second = await paginate(db, db('items').select('*'), { limit: 6, cursor: first.nextCursor! }, { keys: ['created_at', 'id'] });
    expect(second.data).toHaveLength(6);
    expect(second.nextCursor).toBeNull();
  });

  it.each([
    ['not base64url', '***'],
    ['not JSON', Buffer.from('nope').toString('base64url')],
    ['the wrong number of keys', encodeCursor(['x'])],
    ['not strings', Buffer.from('[1,2]').toString('base64url')],
    ['a timestamp Postgres cannot read', encodeCursor(['2024-13-45 99:00:00+00', 'it_01'])],
    ['text that is not a timestamp', encodeCursor(['yesterday-ish', 'it_01'])],
  ])('refuses a cursor that is %s with 400 on query.cursor', async (_why, cursor) => {
    const error = await paginate(db, db('items').select('*'), { limit: 5, cursor }, { keys: ['created_at', 'id'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ status: 400, details: [{ path: 'query.cursor' }] });
  });

  it('round-trips cursor values', () => {
    expect(decodeCursor(encodeCursor(['a', 'ü "b"']), 2)).toEqual(['a', 'ü "b"']);
  });

  it('parses ?limit= with the documented default and bounds', () => {
    expect(PageQuery.parse({})).toEqual({ limit: 50 });
    expect(PageQuery.parse({ limit: '500' }).limit).toBe(500);
    expect(PageQuery.safeParse({ limit: '501' }).success).toBe(false);
    expect(PageQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(PageQuery.safeParse({ limit: 'ten' }).success).toBe(false);
  });
});
