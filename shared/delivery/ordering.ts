/**
 * Ordered delivery per entity (docs/receivers.md, "Ordering"): what `ordering` means and which
 * messages it applies to. The state changes it needs (take only an entity's head, wait, hand on)
 * live with every other change of a message's state, in message-state.ts.
 */

/** A subscription's `ordering`: `none` (any order, as fast as possible) or `entity`. */
export const ORDERINGS = ['none', 'entity'] as const;
export type Ordering = (typeof ORDERINGS)[number];

/**
 * The key that orders a message, or null when it is not ordered: its subscription orders by
 * entity and its event has an entityId (and a publication order: events older than migration
 * 0011 have none). An entity is one installation's: `<installation>/<entityId>` (installation
 * ids hold no `/`, so the key is unambiguous).
 */
export function entityKeyOf(ordering: Ordering, event: { installation_id: string; entity_id: string | null; seq: string | null }): string | null {
  if (ordering !== 'entity' || event.entity_id === null || event.seq === null) return null;
  return `${event.installation_id}/${event.entity_id}`;
}
