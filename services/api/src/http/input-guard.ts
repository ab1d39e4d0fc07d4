/**
 * What no route accepts, whatever its schema says: strings Postgres or JSON cannot hold, and
 * containers nested deeper than any real input is. route.ts runs this over the path
 * parameters, the query and the body of every request before the route's schema sees them.
 *
 * - NUL (`\u0000`): Postgres text and jsonb refuse it.
 * - A lone UTF-16 surrogate (`"x\ud800"`, as `JSON.parse` builds from a `\ud800` escape): not
 *   a Unicode character, so it has no UTF-8 form; Postgres jsonb refuses the escape and text
 *   columns would silently get U+FFFD instead.
 * - Nesting deeper than MAX_NESTING_DEPTH: everything after the parser (zod, the pg driver's
 *   JSON.stringify, Postgres' jsonb parser) recurses on the call stack, and a 20,000-deep body
 *   would overflow one of them.
 *
 * The walk itself keeps its own stack (no recursion), and does not descend past the depth
 * limit, so it is linear in the size of the input whatever its shape.
 * Failure policy: every problem is reported with the path of its field (keys too), so the
 * caller can answer 400 naming each one; nothing is repaired or dropped silently.
 */

/** Containers (objects and arrays) may be nested this deep; the body itself is level 1. */
export const MAX_NESTING_DEPTH = 64;

/** One thing in the input that no route accepts, at `path` (segments from the part's root). */
export interface InputProblem {
  path: (string | number)[];
  code: 'nul_character' | 'lone_surrogate' | 'nesting_too_deep';
  message: string;
}

// With the u flag a well-formed pair is one astral code point; only a lone half is in Cs.
const LONE_SURROGATE = /\p{Cs}/u;

/** Why a string cannot be stored, or null when it can. */
function stringProblem(value: string): Pick<InputProblem, 'code' | 'message'> | null {
  if (value.includes('\u0000')) return { code: 'nul_character', message: 'must not contain NUL characters' };
  if (LONE_SURROGATE.test(value)) return { code: 'lone_surrogate', message: 'must be valid Unicode (a lone UTF-16 surrogate is not)' };
  return null;
}

/** A key fit to appear in a field path: what cannot be stored is written as a `\uXXXX` escape. */
function printableKey(key: string): string {
  return [...key].map((c) => (stringProblem(c) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('');
}

// Where a value sits: its key and its container's place, so a path is built only for a problem
// (most inputs have none, and a path per value was most of the walk's cost).
interface Place {
  key: string | number;
  parent: Place | null;
}

const pathOf = (place: Place | null): (string | number)[] => {
  const path: (string | number)[] = [];
  for (let p = place; p; p = p.parent) path.push(p.key);
  return path.reverse();
};

/** Every problem in `value` (a parsed JSON body, a query or path parameters), without recursion. */
export function inputProblems(value: unknown, maxDepth = MAX_NESTING_DEPTH): InputProblem[] {
  const problems: InputProblem[] = [];
  // A key that cannot be stored rides the stack as its problem, so problems come out in document order.
  type Pending = { value: unknown; place: Place | null; depth: number; keyProblem?: InputProblem };
  const stack: Pending[] = [{ value, place: null, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value: current, place, depth, keyProblem } = next;
    if (keyProblem) {
      problems.push(keyProblem);
      continue;
    }
    if (typeof current === 'string') {
      const problem = stringProblem(current);
      if (problem) problems.push({ path: pathOf(place), ...problem });
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) {
      problems.push({ path: pathOf(place), code: 'nesting_too_deep', message: `nests objects and arrays more than ${maxDepth} levels deep` });
      continue;
    }
    // Pushed in reverse, so popped in order.
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], place: { key: i, parent: place }, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(current);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const problem = stringProblem(key);
      // A key that is wrong is the field to name; what it holds does not matter any more.
      if (problem) {
        const keyPath = [...pathOf(place), printableKey(key)];
        stack.push({ value: undefined, place, depth, keyProblem: { path: keyPath, code: problem.code, message: `key ${problem.message}` } });
      } else stack.push({ value: (current as Record<string, unknown>)[key], place: { key, parent: place }, depth: depth + 1 });
    }
  }
  return problems;
}
