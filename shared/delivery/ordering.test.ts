import { describe, expect, it } from 'vitest';
import { entityKeyOf } from './ordering.ts';

describe('entityKeyOf', () => {
  const event = { installation_id: 'INST1', entity_id: 'estate-7', seq: '42' };

  it('keys an entity by installation and entityId when the subscription orders by entity', () => {
    expect(entityKeyOf('entity', event)).toBe('INST1/estate-7');
  });

  it('orders nothing without entity ordering, an entityId, or a publication order', () => {
    expect(entityKeyOf('none', event)).toBeNull();
    expect(entityKeyOf('entity', { ...event, entity_id: null })).toBeNull();
    expect(entityKeyOf('entity', { ...event, seq: null })).toBeNull();
  });
});
