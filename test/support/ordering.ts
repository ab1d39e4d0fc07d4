import type { ReceivedRequest } from './receiver.ts';
import { hubEvent } from './fixtures.ts';

/** What a delivery carried, read from the request: the entity and its place in the entity's sequence. */
export interface Delivered {
  entityId: string;
  seq: number;
  /** Its position among the receiver's requests. */
  at: number;
}

/**
 * `perEntity` events for each of `entities` entities, interleaved: round k holds every entity's
 * k-th event, the entities in a shuffled order, so one entity's events are spread over batches.
 * `data.seq` is the event's place in its entity's sequence.
 */
export function interleavedEvents(installationId: string, type: string, entities: number, perEntity: number, prefix = 'ent'): ReturnType<typeof hubEvent>[] {
  const events: ReturnType<typeof hubEvent>[] = [];
  for (let seq = 0; seq < perEntity; seq++) {
    const order = Array.from({ length: entities }, (_, i) => i).sort(() => Math.random() - 0.5);
    for (const e of order) events.push(hubEvent(installationId, type, { seq }, `${prefix}-${e}`));
  }
  return events;
}

/** The receiver's requests as deliveries, in arrival order. */
export function deliveries(requests: ReceivedRequest[]): Delivered[] {
  return requests.map((r, at) => {
    const body = JSON.parse(r.body) as { entityId: string; data: { seq: number } };
    return { entityId: body.entityId, seq: body.data.seq, at };
  });
}

/**
 * Each entity's deliveries, in arrival order. A duplicate (at least once) may repeat a message,
 * never go back to an earlier one after a later one arrived.
 */
export function byEntity(delivered: Delivered[]): Map<string, Delivered[]> {
  const map = new Map<string, Delivered[]>();
  for (const d of delivered) {
    const list = map.get(d.entityId) ?? [];
    list.push(d);
    map.set(d.entityId, list);
  }
  return map;
}

/** The entities whose deliveries went back in their sequence, with what they received (empty: all in order). */
export function outOfOrder(delivered: Delivered[]): string[] {
  const problems: string[] = [];
  for (const [entity, list] of byEntity(delivered)) {
    const seqs = list.map((d) => d.seq);
    if (seqs.some((s, i) => i > 0 && s < seqs[i - 1]!)) problems.push(`${entity}: ${seqs.join(',')}`);
  }
  return problems;
}
