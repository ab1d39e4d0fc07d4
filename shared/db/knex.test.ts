import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { testEnv } from '../../test/support/context.ts';
import { arrayLiteral, columnBindings, createDb } from './knex.ts';

// Only selects: no schema of its own is needed.
const db = createDb({ url: loadConfig(testEnv()).databaseUrl, poolMax: 2 });
afterAll(() => db.destroy());

/** What Postgres reads back from `values` cast to `type[]`, element by element, as text (`::text`). */
async function readBack(type: string, values: unknown[]): Promise<(string | null)[]> {
  const result = await db.raw(`select v::text as v from unnest(?::${type}[]) with ordinality as u(v, n) order by n`, [arrayLiteral(values)]);
  return (result.rows as { v: string | null }[]).map((r) => r.v);
}

describe('arrayLiteral', () => {
  it('carries strings that need quoting or escaping as they are', async () => {
    const strings = ['', 'NULL', 'null', 'a,b', '{x}', ' spaced ', 'quote "q"', 'back\\slash', '\\"', 'tab\tnew\nline', 'ümlaut ✓ 😀'];
    expect(await readBack('text', strings)).toEqual(strings);
  });

  it('carries nulls, numbers, booleans, bigints, dates, bytes and JSON as pg would', async () => {
    expect(await readBack('int', [1, null, -7, undefined])).toEqual(['1', null, '-7', null]);
    expect(await readBack('bigint', [9007199254740993n, 0])).toEqual(['9007199254740993', '0']);
    expect(await readBack('boolean', [true, false, null])).toEqual(['true', 'false', null]);
    const at = new Date('2026-12-04T01:02:03.456Z');
    const read = await db.raw(`select extract(epoch from v) * 1000 as ms from unnest(?::timestamptz[]) as v`, columnBindings([at, null]));
    expect((read.rows as { ms: string | null }[]).map((r) => (r.ms === null ? null : Number(r.ms)))).toEqual([at.getTime(), null]);
    expect(await readBack('bytea', [Buffer.from([0, 1, 0x5c, 0x22, 255]), Buffer.alloc(0), null])).toEqual(['\\x00015c22ff', '\\x', null]);
    const doc = { a: 'quote " and \\', b: [1, { c: null }] };
    const json = await db.raw(`select v from unnest(?::jsonb[]) as v`, columnBindings([doc, JSON.stringify(doc), null]));
    expect((json.rows as { v: unknown }[]).map((r) => r.v)).toEqual([doc, doc, null]);
    const nested = await db.raw(`select (?::int[])::text as v`, [arrayLiteral([[1, 2], [3, null]])]);
    expect((nested.rows as { v: string }[])[0]!.v).toBe('{{1,2},{3,NULL}}');
  });

  it('round-trips any string and any JSON value (property)', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text), { maxLength: 20 }), async (values) => {
        expect(await readBack('text', values)).toEqual(values.map((v) => v ?? null));
      }),
      { numRuns: 60 },
    );
    const jsonValue = fc.jsonValue({ maxDepth: 3 }).filter((v) => !JSON.stringify(v).includes('\\u0000'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.dictionary(fc.string(), jsonValue), { maxLength: 10 }), async (docs) => {
        const read = await db.raw(`select v from unnest(?::jsonb[]) with ordinality as u(v, n) order by n`, columnBindings(docs));
        // jsonb keeps numbers as numerics: compare through JSON as Postgres would give them back.
        expect((read.rows as { v: unknown }[]).map((r) => r.v)).toEqual(docs.map((d) => JSON.parse(JSON.stringify(d)) as unknown));
      }),
      { numRuns: 60 },
    );
  });

  it('carries any instant Postgres can hold, to the millisecond (property)', async () => {
    const instant = fc.date({ min: new Date('-004000-01-01T00:00:00Z'), max: new Date('+200000-01-01T00:00:00Z'), noInvalidDate: true });
    await fc.assert(
      fc.asyncProperty(fc.array(instant, { minLength: 1, maxLength: 20 }), async (dates) => {
        const read = await db.raw(`select (extract(epoch from v) * 1000)::float8 as ms from unnest(?::timestamptz[]) with ordinality as u(v, n) order by n`, columnBindings(dates));
        expect((read.rows as { ms: number }[]).map((r) => r.ms)).toEqual(dates.map((d) => d.getTime()));
      }),
      { numRuns: 100 },
    );
    const near = new Date('2026-12-04T01:02:03.000Z');
    const sameSecond = [near, new Date(near.getTime() + 999), new Date(near.getTime() + 1000), new Date(near.getTime() - 1)];
    expect(arrayLiteral(sameSecond)).toBe('{"2026-12-04T01:02:03.000Z","2026-12-04T01:02:03.999Z","2026-12-04T01:02:04.000Z","2026-12-04T01:02:02.999Z"}');
    expect(() => arrayLiteral([new Date(Number.NaN)])).toThrow(RangeError);
  });
});
