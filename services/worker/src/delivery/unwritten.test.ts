import { describe, expect, it } from 'vitest';
import { UnwrittenMessages } from './unwritten.ts';

const lease = (eventId: string, owner = 'o1') => ({ eventId, owner });

describe('UnwrittenMessages', () => {
  it("gives an event's lease up with the batch that writes its last message, or right after when it was split", () => {
    const u = new UnwrittenMessages();
    u.add(lease('e1'), 3, 10_000);
    u.add(lease('e2'), 1, 10_000);
    // A batch with two of e1's three and e2's only one: only e2 completes with it.
    expect(u.completedBy(new Map([['e1', { owner: 'o1', count: 2 }], ['e2', { owner: 'o1', count: 1 }]]))).toEqual([lease('e2')]);
    expect(u.written(lease('e1'), 2, false)).toBeNull();
    expect(u.written(lease('e2'), 1, true)).toBeNull();
    expect(u.size).toBe(1);
    // The last of e1 committed in a batch that did not give the lease up: the caller must.
    expect(u.written(lease('e1'), 1, false)).toEqual(lease('e1'));
    expect(u.size).toBe(0);
  });

  it("never gives up a lease that is not its own, and forgets lost or lapsed ones", () => {
    const u = new UnwrittenMessages();
    u.add(lease('e1'), 2, 1_000);
    u.add(lease('e2'), 2, 1_000);
    u.add(lease('e3'), 2, 5_000);
    // Another owner's records (the event fanned out again elsewhere) do not count here.
    expect(u.completedBy(new Map([['e1', { owner: 'other', count: 2 }]]))).toEqual([]);
    expect(u.written(lease('e1', 'other'), 2, false)).toBeNull();
    u.lost(lease('e1'));
    expect(u.written(lease('e1'), 2, false)).toBeNull();
    // A renewal keeps e2 past the sweep; e3 was leased longer.
    u.renewed(lease('e2'), 9_000);
    u.sweep(2_000);
    expect(u.size).toBe(2);
    u.sweep(6_000);
    expect(u.size).toBe(1);
    expect(u.written(lease('e2'), 2, true)).toBeNull();
    expect(u.size).toBe(0);
  });
});
