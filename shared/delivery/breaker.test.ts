import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { randomText } from '../ids.ts';
import { SubscriptionLimits, type Grant, type Grants } from './limits.ts';

// The breaker and the limits run as Redis scripts; a fixed clock passed in makes them deterministic.
describe('shared limits: breaker, in-flight cap, rate limit', () => {
  let redis: Redis;
  const prefix = `{t_${randomText(10)}}`;
  let clock = 1_000_000;
  let limits: SubscriptionLimits;
  let n = 0;
  const sub = (maxInFlight = 100, ratePerSecond: number | null = null) => ({ id: `sub_${++n}`, maxInFlight, ratePerSecond });

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
    limits = new SubscriptionLimits(redis, prefix, { slotLeaseMs: 5_000, now: () => clock });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  /** One request start and its end with `outcome`; returns the grant. */
  async function request(s: ReturnType<typeof sub>, outcome: 'success' | 'failure') {
    const grant = await limits.acquire(s);
    expect(grant.granted).toBe(true);
    return limits.release(s.id, (grant as Grant).token, outcome);
  }

  it('stays closed below the minimum volume, even when every answer failed', async () => {
    const s = sub();
    for (let i = 0; i < 19; i++) expect(await request(s, 'failure')).toBe('unchanged');
    expect(await limits.circuit(s.id)).toBe('closed');
    expect(await request(s, 'failure')).toBe('opened');
    expect(await limits.circuit(s.id)).toBe('open');
  });

  it('opens on a failure rate, not a streak: 40 % failures with a burst of 8 in a row stay closed', async () => {
    const s = sub();
    const pattern = [...Array(12).fill('success'), ...Array(8).fill('failure')] as ('success' | 'failure')[];
    for (let round = 0; round < 3; round++) for (const o of pattern) expect(await request(s, o)).toBe('unchanged');
    expect(await limits.circuit(s.id)).toBe('closed');
    // Half of the window failing opens it.
    for (let i = 0; i < 40; i++) {
      if ((await request(s, 'failure')) === 'opened') break;
    }
    expect(await limits.circuit(s.id)).toBe('open');
  });

  it('forgets answers older than the window', async () => {
    const s = sub();
    for (let i = 0; i < 15; i++) await request(s, 'failure');
    clock += 31_000;
    for (let i = 0; i < 15; i++) expect(await request(s, 'failure')).toBe('unchanged');
    expect(await limits.circuit(s.id)).toBe('closed');
  });

  it('while open defers every start; after the cool-down lets exactly one probe through; its success closes at full rate', async () => {
    const s = sub(4);
    for (let i = 0; i < 20; i++) await request(s, 'failure');
    const denied = await limits.acquire(s);
    expect(denied).toEqual({ granted: false, reason: 'open', retryAt: clock + 30_000 });

    clock += 30_000;
    expect(await limits.circuit(s.id)).toBe('half_open');
    const probe = await limits.acquire(s);
    expect(probe).toMatchObject({ granted: true, probe: true });
    // Any other start, from this worker or another, waits for the probe.
    expect(await limits.acquire(s)).toMatchObject({ granted: false, reason: 'probing' });
    expect(await limits.release(s.id, (probe as Grant).token, 'success')).toBe('closed');
    // Closed: the full cap at once.
    const grants = await Promise.all([1, 2, 3, 4].map(() => limits.acquire(s)));
    expect(grants.every((g) => g.granted && !g.probe)).toBe(true);
    expect(await limits.acquire(s)).toMatchObject({ granted: false, reason: 'cap' });
  });

  it('a failed probe opens it again for twice as long; a probe whose worker died frees the probe after its lease', async () => {
    const s = sub();
    for (let i = 0; i < 20; i++) await request(s, 'failure');
    clock += 30_000;
    const probe = (await limits.acquire(s)) as Grant;
    expect(await limits.release(s.id, probe.token, 'failure')).toBe('reopened');
    expect(await limits.acquire(s)).toEqual({ granted: false, reason: 'open', retryAt: clock + 60_000 });

    clock += 60_000;
    const lost = await limits.acquire(s);
    expect(lost).toMatchObject({ granted: true, probe: true });
    // Never released (its worker was SIGKILLed): after the slot lease another probe goes.
    expect(await limits.acquire(s)).toMatchObject({ granted: false, reason: 'probing' });
    clock += 5_001;
    expect(await limits.acquire(s)).toMatchObject({ granted: true, probe: true });
  });

  it('an answer that started before the circuit opened does not move it', async () => {
    const s = sub();
    const early = (await limits.acquire(s)) as Grant;
    for (let i = 0; i < 20; i++) await request(s, 'failure');
    expect(await limits.release(s.id, early.token, 'success')).toBe('unchanged');
    expect(await limits.circuit(s.id)).toBe('open');
  });

  it('caps slots across callers, and a slot that is never released comes back after its lease', async () => {
    const s = sub(2);
    const other = new SubscriptionLimits(redis, prefix, { slotLeaseMs: 5_000, now: () => clock });
    expect((await limits.acquire(s)).granted).toBe(true);
    expect((await other.acquire(s)).granted).toBe(true);
    expect(await other.acquire(s)).toEqual({ granted: false, reason: 'cap', retryAt: clock + 5_000 });
    expect(await limits.inFlight(s.id)).toBe(2);
    clock += 5_001;
    expect((await other.acquire(s)).granted).toBe(true);
  });

  it('limits request starts per second', async () => {
    const s = sub(100, 3);
    for (let i = 0; i < 3; i++) expect((await limits.acquire(s)).granted).toBe(true);
    expect(await limits.acquire(s)).toEqual({ granted: false, reason: 'rate', retryAt: clock + 1_000 });
    clock += 1_000;
    expect((await limits.acquire(s)).granted).toBe(true);
  });

  it('an exchange gives slots back first, then grants as many as the cap, the rate and the breaker allow', async () => {
    const s = sub(4, 6);
    const first = await limits.exchange(s, [], 10);
    expect(first.grant).toMatchObject({ granted: true, probe: false });
    const tokens = (first.grant as Grants).tokens;
    expect(tokens).toHaveLength(4);
    expect(new Set(tokens).size).toBe(4);
    expect(await limits.inFlight(s.id)).toBe(4);
    // Two finished: their slots come back in the same call that asks for more; the rate (6/s) leaves two.
    const second = await limits.exchange(s, [{ token: tokens[0]!, outcome: 'success' }, { token: tokens[1]!, outcome: 'failure' }], 3);
    expect((second.grant as Grants).tokens).toHaveLength(2);
    expect(await limits.inFlight(s.id)).toBe(4);
    const third = await limits.exchange(s, [], 1);
    expect(third.grant).toMatchObject({ granted: false, reason: 'cap' });
    expect(third.change).toBe('unchanged');
  });

  it('judges the answers of one exchange together: their rate opens it, not the order they are listed in', async () => {
    // One by one: 20 failures open the circuit at the 20th (the minimum volume), whatever follows.
    const one = sub(100);
    const oneTokens = ((await limits.exchange(one, [], 30)).grant as Grants).tokens;
    const outcomes = [...Array(20).fill('failure'), ...Array(10).fill('success')] as ('success' | 'failure')[];
    const changes: string[] = [];
    for (let i = 0; i < 30; i++) changes.push(await limits.release(one.id, oneTokens[i]!, outcomes[i]!));
    expect(changes.indexOf('opened')).toBe(19);
    // The same answers released in one exchange (two thirds failed): the same circuit, and no slot left taken.
    const all = sub(100);
    const allTokens = ((await limits.exchange(all, [], 30)).grant as Grants).tokens;
    const together = await limits.exchange(all, allTokens.map((token, i) => ({ token, outcome: outcomes[i]! })), 0);
    expect(together.change).toBe('opened');
    expect(await limits.circuit(all.id)).toBe(await limits.circuit(one.id));
    expect(await limits.inFlight(all.id)).toBe(0);
    // Below the rate, the window holds every answer of the exchange: 19 more failures with 21 successes stay closed, one more failure than success opens it.
    const window = sub(100);
    const wTokens = ((await limits.exchange(window, [], 40)).grant as Grants).tokens;
    const mixed = wTokens.map((token, i) => ({ token, outcome: (i < 21 ? 'success' : 'failure') as 'success' | 'failure' }));
    expect((await limits.exchange(window, mixed, 0)).change).toBe('unchanged');
    const more = ((await limits.exchange(window, [], 3)).grant as Grants).tokens;
    expect((await limits.exchange(window, more.map((token) => ({ token, outcome: 'failure' as const })), 0)).change).toBe('opened');
    // What a lane heard during a Redis fail-over, in one exchange: its 10 failures (released
    // first) and 96 successes (kept slots), beside 9 and 1 in the window. One by one the
    // failures alone would cross the rate (11 of 20); together one answer in ten failed.
    const burst = sub(200);
    const before = ((await limits.exchange(burst, [], 10)).grant as Grants).tokens;
    await limits.exchange(burst, before.map((token, i) => ({ token, outcome: (i === 0 ? 'failure' : 'success') as 'success' | 'failure' })), 0);
    const heard = ((await limits.exchange(burst, [], 106)).grant as Grants).tokens;
    const failures = heard.slice(0, 10).map((token) => ({ token, outcome: 'failure' as const }));
    const successes = heard.slice(10).map((token) => ({ token, outcome: 'success' as const }));
    expect((await limits.exchange(burst, failures, 0, successes)).change).toBe('unchanged');
    expect(await limits.circuit(burst.id)).toBe('closed');
  });

  it('frees, renews and grants thousands of slots in one exchange', async () => {
    const s = sub(5_000);
    const tokens = ((await limits.exchange(s, [], 4_500)).grant as Grants).tokens;
    expect(tokens).toHaveLength(4_500);
    expect(await limits.inFlight(s.id)).toBe(4_500);
    const half = tokens.slice(0, 2_250).map((token) => ({ token, outcome: 'success' as const }));
    const rest = tokens.slice(2_250).map((token) => ({ token, outcome: 'success' as const }));
    const next = await limits.exchange(s, half, 10, rest);
    expect((next.grant as Grants).tokens).toHaveLength(10);
    expect(await limits.inFlight(s.id)).toBe(2_260);
  });

  it('a kept slot stays taken with a renewed lease, and its outcome counts in the breaker', async () => {
    const s = sub(1);
    const token = ((await limits.exchange(s, [], 1)).grant as Grants).tokens[0]!;
    clock += 4_000;
    const kept = await limits.exchange(s, [], 0, [{ token, outcome: 'failure' }]);
    expect(kept.closed).toBe(true);
    // Past the first lease, within the renewed one: still taken.
    clock += 4_000;
    expect(await limits.inFlight(s.id)).toBe(1);
    expect((await limits.exchange(s, [], 1)).grant).toMatchObject({ granted: false, reason: 'cap' });
    for (let i = 0; i < 19; i++) await limits.exchange(s, [], 0, [{ token, outcome: 'failure' }]);
    expect(await limits.circuit(s.id)).toBe('open');
  });

  it('a half-open circuit grants one slot, its probe, however many are asked for; the probe\'s success in an exchange frees the rest', async () => {
    const s = sub();
    for (let i = 0; i < 20; i++) await request(s, 'failure');
    clock += 30_001;
    const probe = await limits.exchange(s, [], 5);
    expect(probe.grant).toMatchObject({ granted: true, probe: true });
    expect((probe.grant as Grants).tokens).toHaveLength(1);
    const after = await limits.exchange(s, [{ token: (probe.grant as Grants).tokens[0]!, outcome: 'success' }], 5);
    expect(after.change).toBe('closed');
    expect((after.grant as Grants).tokens).toHaveLength(5);
  });

  it('keeps every key of a subscription under the prefix, in the subscription\'s hash tag', async () => {
    const s = sub(1, 1);
    const g = (await limits.acquire(s)) as Grant;
    await limits.release(s.id, g.token, 'failure');
    const keys = await redis.keys(`${prefix}:limits:{${s.id}}:*`);
    expect(keys.sort()).toEqual([`${prefix}:limits:{${s.id}}:rate`, `${prefix}:limits:{${s.id}}:window`]);
  });
});
