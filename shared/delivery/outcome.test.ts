import { describe, expect, it } from 'vitest';
import type { PostResponse, PostResult } from '../http/transport.ts';
import { classifyOutcome } from './outcome.ts';

const answer = (status: number, headers: Record<string, string> = {}, statusText = ''): PostResponse => ({
  kind: 'response',
  status,
  statusText,
  headers,
  body: Buffer.alloc(0),
  bytesRead: 0,
  truncated: false,
  durationMs: 5,
});
const failure = (error: Extract<PostResult, { kind: 'error' }>['error'], message: string): PostResult => ({ kind: 'error', error, message, durationMs: 5 });

describe('classifyOutcome', () => {
  it('counts every 2xx, and only a 2xx, as success', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(classifyOutcome({ result: answer(status) })).toEqual({ kind: 'success', statusCode: status });
    for (const status of [199, 300, 400, 500]) expect(classifyOutcome({ result: answer(status) }).kind).toBe('retry');
  });

  it('counts a 2xx whose body was cut at the read cap as success', () => {
    expect(classifyOutcome({ result: { ...answer(200), truncated: true, bytesRead: 70_000 } }).kind).toBe('success');
  });

  it('makes 410 Gone the end of the subscription, with a reason for the partner', () => {
    expect(classifyOutcome({ result: answer(410, {}, 'Gone') })).toMatchObject({ kind: 'gone', statusCode: 410, reason: 'the receiver answered 410 Gone' });
  });

  it('retries any other status with the status named, and no error kind', () => {
    expect(classifyOutcome({ result: answer(500, {}, 'Internal Server Error') })).toEqual({
      kind: 'retry',
      statusCode: 500,
      error: null,
      message: 'the receiver answered 500 Internal Server Error',
      retryAfterMs: null,
    });
    expect(classifyOutcome({ result: answer(404) })).toMatchObject({ kind: 'retry', statusCode: 404, message: 'the receiver answered 404' });
  });

  it('retries a redirect as a redirect, naming where it points, since none is followed', () => {
    expect(classifyOutcome({ result: answer(302, { location: 'https://elsewhere.test/hook' }, 'Found') })).toEqual({
      kind: 'retry',
      statusCode: 302,
      error: 'redirect',
      message: 'the receiver answered 302 Found, a redirect to https://elsewhere.test/hook; redirects are not followed',
      retryAfterMs: null,
    });
  });

  it('reads Retry-After on 429 and 503 only, in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-05T12:00:00Z');
    expect(classifyOutcome({ result: answer(429, { 'retry-after': '120' }), now })).toMatchObject({ kind: 'retry', retryAfterMs: 120_000 });
    expect(classifyOutcome({ result: answer(503, { 'retry-after': 'Mon, 05 Jan 2026 12:01:00 GMT' }), now })).toMatchObject({ retryAfterMs: 60_000 });
    expect(classifyOutcome({ result: answer(500, { 'retry-after': '120' }), now })).toMatchObject({ retryAfterMs: null });
    expect(classifyOutcome({ result: answer(429, { 'retry-after': 'soon' }), now })).toMatchObject({ retryAfterMs: null });
    expect(classifyOutcome({ result: answer(429), now })).toMatchObject({ retryAfterMs: null });
  });

  it('retries a request that got no complete answer, keeping the transport kind and sentence', () => {
    for (const kind of ['timeout', 'dns', 'refused', 'reset', 'tls', 'forbidden_address', 'protocol', 'other'] as const) {
      expect(classifyOutcome({ result: failure(kind, `it went ${kind}`) })).toEqual({ kind: 'retry', statusCode: null, error: kind, message: `it went ${kind}`, retryAfterMs: null });
    }
  });

  it('is pure: the same input gives the same answer', () => {
    const input = { result: answer(503, { 'retry-after': '7' }), now: 0 };
    expect(classifyOutcome(input)).toEqual(classifyOutcome(input));
  });
});
