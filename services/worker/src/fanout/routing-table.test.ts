import { describe, expect, it } from 'vitest';
import { filtersMatch, RoutingTable, type RoutedSubscription } from './routing-table.ts';

describe('filtersMatch', () => {
  it('lets everything through when the version sets no filter', () => {
    expect(filtersMatch({}, { departmentId: 'D1' })).toBe(true);
    expect(filtersMatch({}, null)).toBe(true);
    expect(filtersMatch({}, 'not an object')).toBe(true);
  });

  it('needs every filtered field to hold one of its allowed values', () => {
    const filters = { departmentId: ['D1', 'D2'], estateStatus: ['for_sale'] };
    expect(filtersMatch(filters, { departmentId: 'D2', estateStatus: 'for_sale', other: 1 })).toBe(true);
    expect(filtersMatch(filters, { departmentId: 'D3', estateStatus: 'for_sale' })).toBe(false);
    expect(filtersMatch(filters, { departmentId: 'D1', estateStatus: 'sold' })).toBe(false);
    expect(filtersMatch(filters, { departmentId: 'D1' })).toBe(false);
  });

  it('compares numbers and booleans by their text, and never matches null, objects or arrays', () => {
    expect(filtersMatch({ departmentId: ['42'] }, { departmentId: 42 })).toBe(true);
    expect(filtersMatch({ archived: ['true'] }, { archived: true })).toBe(true);
    expect(filtersMatch({ departmentId: ['null'] }, { departmentId: null })).toBe(false);
    expect(filtersMatch({ departmentId: ['D1'] }, { departmentId: ['D1'] })).toBe(false);
    expect(filtersMatch({ departmentId: ['[object Object]'] }, { departmentId: { id: 'D1' } })).toBe(false);
  });

  it('matches nothing for a field filtered to no values, and no data that is not an object', () => {
    expect(filtersMatch({ departmentId: [] }, { departmentId: 'D1' })).toBe(false);
    expect(filtersMatch({ departmentId: ['D1'] }, null)).toBe(false);
    expect(filtersMatch({ departmentId: ['D1'] }, 'D1')).toBe(false);
  });

  it('reads only own fields of the data, as plain values', () => {
    expect(filtersMatch({ toString: [String(Object.prototype.toString)] }, {})).toBe(false);
    expect(filtersMatch({ constructor: [String(Object)] }, {})).toBe(false);
  });
});

describe('RoutingTable.match', () => {
  const sub = (id: string, over: Partial<RoutedSubscription> = {}): RoutedSubscription => ({
    id,
    partnerId: 'ptn_1',
    productId: 'prd_1',
    functionKey: 'estates.read',
    url: `https://${id}.test/hook`,
    eventTypes: new Set(['estate.created']),
    state: 'active',
    secrets: ['whsec_x'],
    secretsChangeAt: null,
    rateLimitPerSecond: null,
    ordering: 'none',
    createdAt: 0,
    ...over,
  });
  const table = (subs: RoutedSubscription[], product = { active: true, availableToAll: true, installations: new Set<string>() }, filters: Record<string, string[]> = {}) =>
    new RoutingTable(
      1,
      new Map(subs.map((s) => [s.id, s])),
      new Map([['INST1', new Map([['prd_1', 1]])]]),
      new Map([['prd_1', new Map([['estate.created', subs]])]]),
      new Map([['prd_1', product]]),
      new Map([['prd_1\u00001\u0000estates.read', filters]]),
      Date.now(),
      Number.POSITIVE_INFINITY,
    );
  const event = (over: Partial<{ installationId: string; type: string; data: unknown }> = {}) => ({ installationId: 'INST1', type: 'estate.created', data: { departmentId: 'D1' }, ...over });

  it('matches active and paused subscriptions, not disabled ones', () => {
    const t = table([sub('a'), sub('p', { state: 'paused' }), sub('d', { state: 'disabled' })]);
    expect(t.match(event()).map((s) => s.id)).toEqual(['a', 'p']);
  });

  it('matches only the installations that activated the product, and only the wanted type', () => {
    const t = table([sub('a')]);
    expect(t.match(event({ installationId: 'INST2' }))).toEqual([]);
    expect(t.match(event({ type: 'estate.deleted' }))).toEqual([]);
    expect(t.mayMatch('INST1', 'estate.created')).toBe(true);
    expect(t.mayMatch('INST1', 'estate.deleted')).toBe(false);
  });

  it('honours the product: inactive matches nothing, restricted matches only listed installations', () => {
    expect(table([sub('a')], { active: false, availableToAll: true, installations: new Set() }).match(event())).toEqual([]);
    expect(table([sub('a')], { active: true, availableToAll: false, installations: new Set(['INST9']) }).match(event())).toEqual([]);
    expect(table([sub('a')], { active: true, availableToAll: false, installations: new Set(['INST1']) }).match(event())).toHaveLength(1);
  });

  it("applies the activated version's filters for the subscription's function", () => {
    const t = table([sub('a')], undefined, { departmentId: ['D1'] });
    expect(t.match(event())).toHaveLength(1);
    expect(t.match(event({ data: { departmentId: 'D2' } }))).toEqual([]);
    // A function the activated version does not grant: no match.
    expect(table([sub('a', { functionKey: 'contacts.read' })]).match(event())).toEqual([]);
  });
});
