import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { unknownFields } from './unknown-fields.ts';

describe('unknownFields', () => {
  const schema = z.object({ url: z.string().optional(), nested: z.object({ a: z.number() }).optional() });

  it('names keys the schema does not declare, at any depth', () => {
    expect(unknownFields(schema, { url: 'x', colour: 1, nested: { a: 1, b: 2 } }, 'body')).toEqual(['body.colour', 'body.nested.b']);
  });

  it('treats keys that name Object.prototype members as unknown, not as schemas (a 500 the fuzz test found)', () => {
    const input = JSON.parse('{"__proto__":{"admin":true},"constructor":1,"toString":"x"}') as unknown;
    expect(unknownFields(schema, input, 'body')).toEqual(['body.__proto__', 'body.constructor', 'body.toString']);
  });
});
