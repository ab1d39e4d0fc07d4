/**
 * Unknown fields: the paths of every key in the input that the route's schema does not name.
 *
 * zod's default object mode strips unknown keys silently, so a typo (`eventType` for
 * `eventTypes`) would be ignored and the caller would never know. The route machinery walks the
 * input beside its schema and refuses such keys (400 naming each), for every route at once,
 * without rewriting the schemas (rebuilding them would lose their checks and documentation).
 *
 * A schema opts out where extra keys are the point: `z.record(...)` (free-form data such as an
 * event's `data`) and loose objects (`z.looseObject`, a catchall) are not walked.
 */
import type { z } from 'zod';

// The parts of zod 4's internal definition this walk reads.
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

// Wrappers that hold one schema of the same value.
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The object schema a value is checked against once wrappers are peeled off, or null. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (let depth = 0; depth < 20; depth++) {
    const def = defOf(current);
    if (WRAPPERS.has(def.type) && def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else break;
  }
  return current;
}

/** Whether an object schema refuses keys it does not name (default strip mode, or strict). */
function closed(def: Def): boolean {
  return def.catchall === undefined || defOf(def.catchall).type === 'never';
}

/**
 * The paths (`body.foo`, `body.events.3.extra`) of keys `value` carries that `schema` does not
 * declare. Walks objects, arrays and wrappers; a union is checked only against the keys of all
 * its object options together.
 */
export function unknownFields(schema: z.ZodType, value: unknown, path: string, found: string[] = []): string[] {
  walk(schema, value, { key: path, parent: null }, found);
  return found;
}

// Where a value sits; its path is written out only for an unknown key (most inputs have none,
// and a path string per field was most of the walk's cost).
interface Place {
  key: string | number;
  parent: Place | null;
}

const pathOf = (place: Place, key: string): string => {
  const parts = [key];
  for (let p: Place | null = place; p; p = p.parent) parts.push(String(p.key));
  return parts.reverse().join('.');
};

function walk(schema: z.ZodType, value: unknown, place: Place, found: string[]): void {
  const inner = unwrap(schema);
  const def = defOf(inner);
  if (def.type === 'object' && def.shape && isPlainObject(value)) {
    const shape = def.shape;
    for (const key of Object.keys(value)) {
      // Own keys only: `__proto__` or `constructor` in the input must not find Object.prototype.
      const field = Object.hasOwn(shape, key) ? shape[key] : undefined;
      if (field) walk(field, value[key], { key, parent: place }, found);
      else if (closed(def)) found.push(pathOf(place, key));
    }
  } else if (def.type === 'array' && def.element && Array.isArray(value)) {
    const element = def.element;
    for (let i = 0; i < value.length; i++) walk(element, value[i], { key: i, parent: place }, found);
  } else if (def.type === 'union' && def.options && isPlainObject(value)) {
    const objects = def.options.map((option) => defOf(unwrap(option)));
    if (objects.every((o) => o.type === 'object' && o.shape && closed(o))) {
      const known = new Set(objects.flatMap((o) => Object.keys(o.shape ?? {})));
      for (const key of Object.keys(value)) if (!known.has(key)) found.push(pathOf(place, key));
    }
  }
}

/** Every key of an input that has no schema at all (a route that takes no query or no body). */
export function allFields(value: unknown, path: string): string[] {
  return isPlainObject(value) ? Object.keys(value).map((key) => `${path}.${key}`) : [];
}
