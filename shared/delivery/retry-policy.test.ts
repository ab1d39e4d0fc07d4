import { describe, expect, it } from 'vitest';
import { createRetryPolicy, parseRetryAfter } from './retry-policy.ts';

const schedule = [5_000, 300_000, 1_800_000];

describe('createRetryPolicy', () => {
  it('counts the first try plus one attempt per scheduled retry', () => {
    expect(createRetryPolicy({ scheduleMs: schedule }).maxAttempts).toBe(4);
  });

  it('follows the schedule without jitter, then gives up', () => {
    const policy = createRetryPolicy({ scheduleMs: schedule, jitter: 0 });
    expect([1, 2, 3, 4].map((n) => policy.nextDelayMs(n))).toEqual([5_000, 300_000, 1_800_000, null]);
  });

  it('spreads each delay within the jitter band', () => {
    const low = createRetryPolicy({ scheduleMs: schedule, jitter: 0.2, random: () => 0 });
    const high = createRetryPolicy({ scheduleMs: schedule, jitter: 0.2, random: () => 0.999999 });
    expect(low.nextDelayMs(1)).toBe(4_000);
    expect(high.nextDelayMs(1)).toBe(6_000);
  });

  it('honours a longer Retry-After, capped', () => {
    const policy = createRetryPolicy({ scheduleMs: schedule, jitter: 0, maxRetryAfterMs: 60_000 });
    expect(policy.nextDelayMs(1, 30_000)).toBe(30_000);
    expect(policy.nextDelayMs(1, 1_000)).toBe(5_000);
    expect(policy.nextDelayMs(1, 10_000_000)).toBe(60_000);
    expect(policy.nextDelayMs(3, 30_000)).toBe(1_800_000);
    expect(policy.nextDelayMs(4, 30_000)).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  });
  it('ignores absent or malformed values', () => {
    expect(parseRetryAfter(undefined)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter('-5')).toBeNull();
  });
});
