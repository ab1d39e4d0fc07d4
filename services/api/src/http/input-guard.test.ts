import { describe, expect, it } from 'vitest';
import { MAX_NESTING_DEPTH, inputProblems } from './input-guard.ts';

/** `depth` arrays one inside the other, built without recursion. */
function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('inputProblems', () => {
  it('names every string and key Postgres or JSON cannot hold, in document order', () => {
    const problems = inputProblems({ a: 'ok', b: ['fine', 'x\u0000'], 'k\ud800': 'never looked at', c: { d: '\udfff' }, e: 'pair \ud83d\ude00 is fine' });
    expect(problems.map((p) => [p.path.join('.'), p.code])).toEqual([
      ['b.1', 'nul_character'],
      ['k\\ud800', 'lone_surrogate'],
      ['c.d', 'lone_surrogate'],
    ]);
    expect(inputProblems('\u0000')).toEqual([expect.objectContaining({ path: [], code: 'nul_character' })]);
    expect(inputProblems({ n: 1, t: true, z: null, s: 'ü' })).toEqual([]);
  });

  it('allows MAX_NESTING_DEPTH levels and names where the next one starts', () => {
    expect(inputProblems(nested(MAX_NESTING_DEPTH))).toEqual([]);
    const [problem, ...more] = inputProblems({ x: nested(MAX_NESTING_DEPTH) });
    expect(more).toEqual([]);
    expect(problem).toMatchObject({ code: 'nesting_too_deep' });
    expect(problem!.path).toEqual(['x', ...Array(MAX_NESTING_DEPTH - 1).fill(0)]);
  });

  it('walks a million levels without overflowing the stack, stopping at the limit', () => {
    const problems = inputProblems(nested(1_000_000));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.path).toHaveLength(MAX_NESTING_DEPTH);
  });
});
