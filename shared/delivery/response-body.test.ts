import { describe, expect, it } from 'vitest';
import { MAX_STORED_HEADER_CHARS, showBody, storableHeaders, storableText, storeBody } from './response-body.ts';

describe('storeBody and showBody', () => {
  it('keeps a plain UTF-8 body as text only, shown as utf8 with the same bytes in base64', () => {
    const bytes = Buffer.from('{"ok":true,"name":"Åse"}');
    const stored = storeBody(bytes);
    expect(stored).toEqual({ text: '{"ok":true,"name":"Åse"}', bytes: null });
    const shown = showBody(stored.text, stored.bytes);
    expect(shown).toEqual({ responseBody: '{"ok":true,"name":"Åse"}', responseBodyBase64: bytes.toString('base64'), responseBodyEncoding: 'utf8' });
  });

  it('keeps the exact bytes of a body with NUL, and a preview without NUL', () => {
    const bytes = Buffer.from('ok\u0000after\u0000', 'latin1');
    const stored = storeBody(bytes);
    expect(stored.text).toBe('ok\uFFFDafter\uFFFD');
    expect(stored.bytes?.equals(bytes)).toBe(true);
    const shown = showBody(stored.text, stored.bytes);
    expect(shown.responseBodyEncoding).toBe('binary');
    expect(Buffer.from(shown.responseBodyBase64!, 'base64').equals(bytes)).toBe(true);
  });

  it('keeps the exact bytes of a body that is not UTF-8 (or binary)', () => {
    for (const bytes of [Buffer.from([0x6f, 0x6b, 0x80, 0xff, 0xc3, 0x28]), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00])]) {
      const stored = storeBody(bytes);
      expect(stored.text).not.toContain('\u0000');
      expect(stored.text).toContain('\uFFFD');
      expect(stored.bytes?.equals(bytes)).toBe(true);
    }
  });

  it('keeps the bytes of a prefix cut in the middle of a character', () => {
    const cut = Buffer.from('prix: 100 €').subarray(0, -1);
    expect(storeBody(cut).bytes?.equals(cut)).toBe(true);
  });

  it('shows an empty body as an empty utf8 text, and no body as nulls', () => {
    expect(showBody(storeBody(Buffer.alloc(0)).text, null)).toEqual({ responseBody: '', responseBodyBase64: '', responseBodyEncoding: 'utf8' });
    expect(showBody(null, null)).toEqual({ responseBody: null, responseBodyBase64: null, responseBodyEncoding: null });
  });
});

describe('storableText and storableHeaders', () => {
  it('replaces NUL and bounds the length', () => {
    expect(storableText('a\u0000b')).toBe('a\uFFFDb');
    expect(storableText('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`);
  });

  it('keeps headers in order up to the bound and counts the rest', () => {
    const flood = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-flood-${i}`, 'flood']));
    const { headers, omitted } = storableHeaders({ 'content-type': 'text/plain', ...flood });
    expect(Object.keys(headers)[0]).toBe('content-type');
    expect(JSON.stringify(headers).length).toBeLessThan(MAX_STORED_HEADER_CHARS * 2);
    expect(Object.keys(headers).length + omitted).toBe(2001);
    expect(omitted).toBeGreaterThan(1800);
  });

  it('keeps a header named __proto__ and NUL-free values, all as JSON can carry them', () => {
    const { headers } = storableHeaders({ ['__proto__']: 'x', 'x-nul': 'a\u0000b' });
    expect(JSON.parse(JSON.stringify(headers))).toEqual(JSON.parse('{"__proto__":"x","x-nul":"a\\ufffdb"}'));
  });
});
