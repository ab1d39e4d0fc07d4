import { newId } from '#shared/ids';
import { randomUUID } from 'node:crypto';
import { insertMessages, type EntityLine } from '#shared/delivery/message-state';
import { entityKeyOf } from '#shared/delivery/ordering';
import { buildPayload } from '#shared/delivery/payload';
import type { EventRow as FullEventRow } from '#shared/db/rows';
import type { JobHandler, WorkerDeps } from '../job.ts';

type EventRow = Omit<FullEventRow, 'fanout_at'>;

import type { DeliveryItem } from '../delivery/dispatcher.ts';

// unnest() takes any number of rows in six parameters; chunks keep one statement's memory bounded.
const INSERT_CHUNK = 10_000;

/**
 * Fan-out, stage one of two: match each event against the routing table, create one message per
 * (event, subscription) and mark the events fanned out, all in one transaction, then hand the
 * new messages to the dispatcher for their first attempt straight away (no job per message).
 *
 * Failure policy: idempotent. Events already fanned out are skipped; a message that exists is
 * not made twice (unique event+subscription). A crash after the commit leaves the messages
 * pending under a lease, and the reconciler sends them once it passes.
 */
export const fanoutEvents: JobHandler<'fanout', 'fanout-events'> = async ({ eventIds }, { deps }) => {
  const { db, engine } = deps;
  const table = await engine.routing.get();
  const heads: Omit<EventRow, 'data' | 'occurred_at'>[] = await db('events')
    .whereIn('id', eventIds)
    .whereNull('fanout_at')
    .select('id', 'installation_id', 'type', 'entity_id', 'seq', 'received_at');
  if (heads.length === 0) return;
  // Most events want nobody's attention; only those some subscription could want are read whole.
  const wanted = heads.filter((e) => table.mayMatch(e.installation_id, e.type)).map((e) => e.id);
  const events: EventRow[] =
    wanted.length === 0
      ? []
      : await db('events').whereIn('id', wanted).select('id', 'installation_id', 'type', 'entity_id', 'occurred_at', 'data', 'received_at', 'seq');

  const now = new Date();
  const lease = new Date(now.getTime() + deps.config.deliveryLeaseMs);
  const planned: { id: string; event: EventRow; sub: ReturnType<typeof table.match>[number]; entityKey: string | null }[] = [];
  for (const event of events) {
    for (const sub of table.match({ installationId: event.installation_id, type: event.type, data: event.data })) {
      planned.push({ id: newId('message'), event, sub, entityKey: entityKeyOf(sub.ordering, event) });
    }
  }

  // The new pending messages are leased to this worker: it hands them to its dispatcher at once.
  const owner = randomUUID();
  const created = await db.transaction(async (trx) => {
    const ids = new Set<string>();
    for (let i = 0; i < planned.length; i += INSERT_CHUNK) {
      // created_at is the event's received_at (the partition key): re-deriving stays idempotent.
      const made = await insertMessages(
        trx,
        planned.slice(i, i + INSERT_CHUNK).map((p) => {
          const active = p.sub.state === 'active';
          // An ordered message starts waiting (no owner, no due time): the hand-on below takes
          // its entity's head once this commits.
          const leased = active && p.entityKey === null;
          return {
            id: p.id,
            eventId: p.event.id,
            subscriptionId: p.sub.id,
            status: active ? 'pending' : 'held',
            nextAttemptAt: leased ? lease : null,
            leaseOwner: leased ? owner : null,
            createdAt: p.event.received_at,
            entityKey: p.entityKey,
            seq: p.entityKey === null ? null : p.event.seq,
          };
        }),
        now,
      );
      for (const id of made) ids.add(id);
    }
    await trx('events')
      .whereIn(
        'id',
        heads.map((e) => e.id),
      )
      .whereNull('fanout_at')
      .update({ fanout_at: now });
    return ids;
  });

  engine.observer.fanout(
    created.size,
    heads.map((e) => now.getTime() - e.received_at.getTime()),
  );

  // The body is the same for every subscription of an event: build it once.
  const bodies = new Map<string, string>();
  const items: DeliveryItem[] = [];
  for (const p of planned) {
    if (!created.has(p.id) || p.sub.state !== 'active' || p.entityKey !== null) continue;
    let body = bodies.get(p.event.id);
    if (body === undefined) {
      body = buildPayload(
        {
          id: p.event.id,
          installationId: p.event.installation_id,
          type: p.event.type,
          entityId: p.event.entity_id,
          occurredAt: p.event.occurred_at,
          data: p.event.data,
        },
        now,
      );
      bodies.set(p.event.id, body);
    }
    items.push({ messageId: p.id, attemptsMade: 0, subscription: p.sub, body, lease: { owner, until: lease.getTime() } });
  }
  // First attempts run while this job completes; their outcomes are written by the dispatcher.
  void engine.dispatcher.submit(items);
  // Ordered subscriptions: these events are fanned out now, so their entities' next messages
  // (made here, or waiting for these events) may go.
  engine.handOn.lines(orderedLines(heads, table));
};

/** The (entity, subscription) lines of ordered subscriptions these events' installations reach. */
function orderedLines(events: Pick<EventRow, 'installation_id' | 'entity_id' | 'seq'>[], table: Awaited<ReturnType<WorkerDeps['engine']['routing']['get']>>): EntityLine[] {
  const lines: EntityLine[] = [];
  for (const event of events) {
    if (event.entity_id === null) continue;
    for (const sub of table.orderedFor(event.installation_id)) {
      const entityKey = entityKeyOf(sub.ordering, event);
      if (entityKey !== null) lines.push({ entityKey, subscriptionId: sub.id });
    }
  }
  return lines;
};
