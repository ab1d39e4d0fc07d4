/**
 * fast-check arbitraries for fuzzing the API from its own OpenAPI document: near-valid values
 * built from a route's JSON schemas (each leaf sometimes swapped for something nasty), and the
 * nasty values themselves (NUL, lone surrogates, deep nesting, timestamps out of range, ...).
 *
 * No library fits: json-schema-fast-check needs fast-check 1, zod-fast-check needs zod 3, and
 * this project's schemas use a small subset of JSON Schema (what zod-to-openapi writes).
 */
import fc from 'fast-check';

/** The part of JSON Schema that zod-to-openapi writes. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
}

/**
 * Stands for JSON nested `depth` deep: `serialize` writes it as text, so neither fast-check nor
 * JSON.stringify has to build or walk it (either would overflow the stack at 20,000).
 */
export class Deep {
  constructor(readonly depth: number) {}
  toJSON(): string {
    return `@@deep-${this.depth}@@`;
  }
}

/** JSON text of `value`, with every `Deep` written out as nested arrays around an object. */
export function serialize(value: unknown): string {
  return JSON.stringify(value).replace(/"@@deep-(\d+)@@"/g, (_m, n: string) => `${'['.repeat(Number(n))}{"x":1}${']'.repeat(Number(n))}`);
}

/** Strings no route may store: NUL, lone surrogates of both halves, and their company. */
export const nastyString = fc.constantFrom(
  'x\u0000',
  '\u0000',
  'x\ud800',
  '\udfff',
  '\ud800\u0000',
  'ok\ud83d\ude00',
  '',
  ' ',
  'x'.repeat(5000),
  '0000-01-01T00:00:00Z',
  '1969-12-31T23:59:59Z',
  '9999-12-31T23:59:59-01:00',
  '10000-01-01T00:00:00Z',
  '2026-02-30T00:00:00Z',
  '\u202e\ufeff',
  '%00',
  "'; drop table partners; --",
  '../../etc/passwd',
  'MSVPAR',
  'msvpar',
  'http://10.0.0.1/',
  'http://[::1]:1/',
  'javascript:alert(1)',
);

/** Any value no route should choke on: nasty strings, extreme numbers, wrong types, deep nesting. */
export const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: nastyString },
  { weight: 2, arbitrary: fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, true, false, null) },
  { weight: 1, arbitrary: fc.constantFrom({}, [], [[]], { '\u0000': 1 }, { 'k\ud800': 'v' }, JSON.parse('{"__proto__": {"admin": true}}') as unknown, { constructor: { prototype: 1 } }) },
  { weight: 1, arbitrary: fc.constantFrom(new Deep(65), new Deep(200), new Deep(20_000)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Values the fuzz knows are meaningful (ids of real rows, keys, addresses), by field name. */
export type KnownValues = Record<string, fc.Arbitrary<unknown>>;

const TIMESTAMP_EDGES = fc.constantFrom('1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-01-05T12:00:00+01:00', '2026-01-05T12:00:00.123456Z');

function stringFor(schema: JsonSchema, loopbackUrl: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const maxLength = Math.min(schema.maxLength ?? 40, 40);
  if (schema.format === 'date-time') {
    return fc.oneof(
      fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
      TIMESTAMP_EDGES,
    );
  }
  if (schema.format === 'email') return fc.emailAddress();
  if (schema.format === 'uri' || schema.format === 'url') return loopbackUrl;
  if (schema.pattern) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? Infinity));
    } catch {
      // A pattern fast-check cannot generate from: plain strings stand in.
    }
  }
  return fc.string({ minLength: Math.min(schema.minLength ?? 0, maxLength), maxLength });
}

/** Options of `nearValid`. */
export interface NearValidOptions {
  /** Meaningful values by property name, used often in place of what the schema would make. */
  known: KnownValues;
  /** URLs of a receiver on loopback: every `uri` the fuzz makes points there, never off the machine. */
  loopbackUrl: fc.Arbitrary<string>;
  /** The document's named schemas, which `$ref: '#/components/schemas/<name>'` points at. */
  components?: Record<string, JsonSchema>;
  /** How often (1 in n) a leaf is swapped for a nasty value. */
  nastyOneIn?: number;
}

/**
 * Values that mostly fit `schema` (required fields present, enums respected, formats made),
 * with a nasty value swapped in at some leaves, a required field dropped now and then, and an
 * unknown field added now and then: what a careless or hostile client sends.
 */
export function nearValid(schema: JsonSchema | undefined, options: NearValidOptions, name?: string, depth = 0): fc.Arbitrary<unknown> {
  const { known } = options;
  const nastyOneIn = options.nastyOneIn ?? 12;
  const valid = exact(schema ?? {}, options, name, depth);
  const withKnown = name !== undefined && known[name] ? fc.oneof({ weight: 3, arbitrary: known[name]! }, { weight: 2, arbitrary: valid }) : valid;
  return fc.oneof({ weight: nastyOneIn - 1, arbitrary: withKnown }, { weight: 1, arbitrary: nastyValue });
}

function exact(schema: JsonSchema, options: NearValidOptions, name: string | undefined, depth: number): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  if (schema.$ref) return exact(options.components?.[schema.$ref.split('/').pop()!] ?? {}, options, name, depth);
  const alternatives = schema.anyOf ?? schema.oneOf ?? (schema.allOf ? [Object.assign({}, ...schema.allOf) as JsonSchema] : undefined);
  if (alternatives) return fc.oneof(...alternatives.map((s) => exact(s, options, name, depth)));
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const types = [schema.type ?? []].flat();
  const type = types.find((t) => t !== 'null');
  const base = ((): fc.Arbitrary<unknown> => {
    switch (type) {
      case 'string':
        return stringFor(schema, options.loopbackUrl);
      case 'integer':
        return fc.integer({ min: Math.max(schema.minimum ?? -1000, -1e9), max: Math.min(schema.maximum ?? 1000, 1e9) });
      case 'number':
        return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
      case 'boolean':
        return fc.boolean();
      case 'array': {
        const maxLength = Math.min(schema.maxItems ?? 4, 4);
        const items = fc.array(nearValid(schema.items, options, name, depth + 1), { minLength: Math.min(schema.minItems ?? 0, maxLength), maxLength });
        // Now and then exactly one item too many, to reach the limit's own answer.
        return schema.maxItems !== undefined && schema.maxItems <= 1000
          ? fc.oneof({ weight: 19, arbitrary: items }, { weight: 1, arbitrary: exact(schema.items ?? {}, options, name, depth + 1).map((item) => Array(schema.maxItems! + 1).fill(item)) })
          : items;
      }
      case 'object':
        return objectFor(schema, options, depth);
      default:
        return fc.jsonValue({ maxDepth: 2 });
    }
  })();
  return types.includes('null') || schema.nullable ? fc.option(base, { nil: null }) : base;
}

function objectFor(schema: JsonSchema, options: NearValidOptions, depth: number): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(properties).map(([key, inner]) =>
    fc
      .tuple(
        // Required fields are there 19 times in 20; optional ones half the time.
        fc.integer({ min: 0, max: 19 }).map((n) => (required.has(key) ? n > 0 : n % 2 === 0)),
        nearValid(inner, options, key, depth + 1),
      )
      .map(([present, value]) => (present ? ([[key, value]] as [string, unknown][]) : [])),
  );
  const extra =
    typeof schema.additionalProperties === 'object'
      ? fc.dictionary(fc.string({ maxLength: 12 }), nearValid(schema.additionalProperties, options, undefined, depth + 1), { maxKeys: 3 })
      : fc.oneof({ weight: 9, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 1 }) });
  return fc.tuple(fc.tuple(...fields), extra).map(([present, more]) => ({ ...more, ...Object.fromEntries(present.flat()) }));
}

/**
 * A path segment or query value as it goes on the wire: usually percent-encoded text, sometimes
 * raw bytes no decoder accepts (`%ED%A0%80` is a surrogate in UTF-8 form, `%zz` is not hex).
 */
export function wireText(text: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: text.map((value) => encodeText(typeof value === 'string' ? value : JSON.stringify(value) ?? '')) },
    { weight: 1, arbitrary: fc.constantFrom('%00', '%ED%A0%80', '%FF%FE', '%', '%zz', '%C0%80', 'a%2Fb', '..', '%2e%2e', encodeText('x'.repeat(3000))) },
  );
}

/** Percent-encodes `text`; a lone surrogate (which encodeURIComponent refuses) goes as U+FFFD. */
export function encodeText(text: string): string {
  return [...text].map((c) => (/\p{Cs}/u.test(c) ? '%EF%BF%BD' : encodeURIComponent(c))).join('');
}
