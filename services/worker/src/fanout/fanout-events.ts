import { messageIdFor } from '#shared/ids';
import { randomUUID } from 'node:crypto';
import { insertMessages, lapsedLeases, takeForFanout, writtenMessages, type EntityLine } from '#shared/delivery/message-state';
import { entityKeyOf } from '#shared/delivery/ordering';
import { buildPayload } from '#shared/delivery/payload';
import type { Db, Knex } from '#shared/db/knex';
import type { EventRow as FullEventRow } from '#shared/db/rows';
import type { JobHandler, WorkerDeps } from '../job.ts';

type EventRow = Omit<FullEventRow, 'fanout_at'>;

import type { DeliveryItem } from '../delivery/dispatcher.ts';

// unnest() takes any number of rows in six parameters; chunks keep one statement's memory bounded.
const INSERT_CHUNK = 10_000;

/**
 * Fan-out, stage one of two: match each event against the routing table and send each message
 * (event, subscription) straight to the dispatcher for its first attempt (no job per message).
 * A message sent at once is not written yet: its row is made with its first outcome, so the
 * common case is one row written once (message-state.ts, "not yet written"); until then its
 * event holds the lease for it. Messages that wait (a paused subscription's, held; an ordered
 * one's, for its entity's turn) are written now. One transaction takes the events (marks them
 * fanned out, leases those with messages not yet written) and writes those rows.
 *
 * Failure policy: idempotent, and at least once. Events already fanned out are skipped, unless
 * the lease on their unwritten messages lapsed (the worker holding them died): then the messages
 * without a row, to the subscriptions the lease lists, are sent again under the same ids
 * (`messageIdFor`, the same `webhook-id`); a message with a row is never made twice (unique
 * event+subscription). Two fan-outs
 * of one event never both send it: the event's row lock decides which takes it.
 *
 * Backpressure: the lanes hold what waits in memory, so they are bounded. A fan-out takes its
 * events only once its messages fit under `DELIVERY_BACKLOG` waiting in this process's lanes
 * (or nothing waits: one larger goes alone); the events wait in Postgres meanwhile, durable,
 * and ingest goes on. While a fan-out waits, the dispatcher writes the newest messages of its
 * deepest lanes out as pending rows (`Dispatcher.admit`): a few slow receivers do not hold the
 * fan-out up for the others.
 */
export const fanoutEvents: JobHandler<'fanout', 'fanout-events'> = async ({ eventIds }, { deps }) => {
  const { db, engine, config } = deps;
  const table = await engine.routing.get();
  // Not fanned out yet, or fanned out with first deliveries whose lease lapsed (their worker died).
  const heads: (Omit<EventRow, 'data' | 'occurred_at'> & { fanned_out: boolean })[] = await db('events')
    .whereIn('id', eventIds)
    .where((q) =>
      q
        .whereNull('fanout_at')
        .orWhereExists((l) => l.from('event_leases as l').whereRaw('l.event_id = events.id').where('l.until', '<', db.fn.now())),
    )
    .select('id', 'installation_id', 'type', 'entity_id', 'seq', 'received_at', db.raw('fanout_at is not null as fanned_out'));
  if (heads.length === 0) return;
  // A lapsed lease lists the subscriptions the event was sent to: exactly those are owed the
  // messages without a row (whatever matches now: one edited or paused since is owed it still,
  // one made since never had it).
  const again = new Map((await lapsedLeases(db, heads.filter((e) => e.fanned_out).map((e) => e.id))).map((l) => [l.eventId, l.subscriptionIds]));
  const written = await writtenMessages(db, [...again.keys()]);
  // Most events want nobody's attention; only those some subscription could want are read whole.
  const wanted = heads.filter((e) => again.has(e.id) || (!e.fanned_out && table.mayMatch(e.installation_id, e.type))).map((e) => e.id);
  const events: EventRow[] =
    wanted.length === 0
      ? []
      : await db('events').whereIn('id', wanted).select('id', 'installation_id', 'type', 'entity_id', 'occurred_at', 'data', 'received_at', 'seq');

  type Sub = ReturnType<typeof table.match>[number];
  type Planned = { id: string; event: EventRow; sub: Sub; entityKey: string | null; now: boolean };
  const planned: Planned[] = [];
  for (const event of events) {
    const listed = again.get(event.id);
    const subs: Sub[] =
      listed === undefined
        ? table.match({ installationId: event.installation_id, type: event.type, data: event.data })
        : // A subscription deleted since is owed nothing.
          listed.filter((id) => !written.has(`${event.id}/${id}`)).flatMap((id) => table.subscriptions.get(id) ?? []);
    for (const sub of subs) {
      const entityKey = entityKeyOf(sub.ordering, event);
      // Sent at once (not yet written): an active subscription's message in no entity order.
      planned.push({ id: messageIdFor(event.id, sub.id), event, sub, entityKey, now: sub.state === 'active' && entityKey === null });
    }
  }
  const sentTo = new Map<string, string[]>();
  for (const p of planned) {
    if (!p.now) continue;
    const list = sentTo.get(p.event.id);
    if (list) list.push(p.sub.id);
    else sentTo.set(p.event.id, [p.sub.id]);
  }

  // Room in the lanes for the messages sent at once; meanwhile the events wait, not taken.
  const sentNow = planned.filter((p) => p.now).length;
  const admission = sentNow > 0 ? await engine.dispatcher.admit(sentNow, config.deliveryBacklog) : null;
  try {
    await takeAndSend();
  } finally {
    // Handed over by then, unless something failed (a no-op after the hand-over).
    admission?.close();
  }

  async function takeAndSend(): Promise<void> {
    const now = new Date();
    const lease = new Date(now.getTime() + config.deliveryLeaseMs);
    const owner = randomUUID();
    const take = (trx: Db) =>
      takeForFanout(
        trx,
        heads.map((e) => ({ id: e.id, subscriptionIds: sentTo.get(e.id) ?? [], lapsed: e.fanned_out })),
        owner,
        config.deliveryLeaseMs,
        now,
      );
    // Those that wait are written in the same transaction: a held one until its subscription is
    // active again, an ordered one (no owner, no due time) until the hand-on below takes its
    // entity's head. Without any, taking the events is one statement, its own transaction.
    const waiting = planned.filter((p) => !p.now);
    const takeAndWrite = async (trx: Knex.Transaction) => {
      const ids = await take(trx);
      await writeWaiting(trx, waiting.filter((p) => ids.has(p.event.id)), now);
      return ids;
    };
    const taken = waiting.length === 0 ? await take(db) : await db.transaction(takeAndWrite);
    const mine = planned.filter((p) => taken.has(p.event.id));

    engine.observer.fanout(
      mine.length,
      heads.filter((e) => taken.has(e.id)).map((e) => now.getTime() - e.received_at.getTime()),
    );

    // The body is the same for every subscription of an event: build it once.
    const bodies = new Map<string, string>();
    const items: DeliveryItem[] = [];
    const perEvent = new Map<string, number>();
    for (const p of mine) {
      if (!p.now) continue;
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
          p.event.received_at,
        );
        bodies.set(p.event.id, body);
      }
      perEvent.set(p.event.id, (perEvent.get(p.event.id) ?? 0) + 1);
      items.push({
        messageId: p.id,
        attemptsMade: 0,
        subscription: p.sub,
        body,
        lease: { owner, until: lease.getTime() },
        unwritten: { eventId: p.event.id, createdAt: p.event.received_at, owner },
      });
    }
    for (const [eventId, count] of perEvent) engine.unwritten.add({ eventId, owner }, count, lease.getTime());
    // First attempts run while this job completes; their outcomes are written by the dispatcher.
    if (admission) void admission.submit(items);
    // Ordered subscriptions: these events are fanned out now, so their entities' next messages
    // (made here, or waiting for these events) may go.
    engine.handOn.lines(orderedLines(heads.filter((e) => taken.has(e.id)), table));
  }
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

/** The messages of taken events that wait (held, ordered), written in chunks; created_at is the event's received_at (the partition key), so re-deriving stays idempotent. */
async function writeWaiting(
  trx: Db,
  waiting: { id: string; event: Pick<EventRow, 'id' | 'received_at' | 'seq'>; sub: { id: string; state: string }; entityKey: string | null }[],
  now: Date,
): Promise<void> {
  for (let i = 0; i < waiting.length; i += INSERT_CHUNK) {
    await insertMessages(
      trx,
      waiting.slice(i, i + INSERT_CHUNK).map((p) => ({
        id: p.id,
        eventId: p.event.id,
        subscriptionId: p.sub.id,
        status: p.sub.state === 'active' ? 'pending' : 'held',
        nextAttemptAt: null,
        leaseOwner: null,
        createdAt: p.event.received_at,
        entityKey: p.entityKey,
        seq: p.entityKey === null ? null : p.event.seq,
      })),
      now,
    );
  }
}
