import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import { insertEvents, type StoredEvent } from './repository.ts';
import type { HubEventInput } from './schema.ts';

/** Fan-out enqueues this process leaves in flight before an answer waits for its own. */
const UNAWAITED_ENQUEUES = 256;
let enqueuesInFlight = 0;

/**
 * Takes a batch of HUB events. They are committed before anything else happens (the 202 means
 * "saved"); the fan-out job is enqueued after the commit. If that enqueue fails, the events
 * are still safe: the reconciler finds events not yet fanned out and enqueues them.
 * An id seen before (in this batch or earlier) counts as a duplicate, not an error.
 */
export async function ingestEvents(
  deps: { db: Knex; queues: Queues; logger: Logger },
  events: HubEventInput[],
): Promise<{ accepted: number; duplicates: number; stored: StoredEvent[] }> {
  const stored = await insertEvents(deps.db, events);
  const accepted = stored.map((s) => s.id);
  if (accepted.length > 0) {
    // No job id derived from the events: a completed job kept under the same id (events
    // re-published after a database reset) would swallow this one. A repeated batch is all
    // duplicates and enqueues nothing, so a random id costs no idempotency.
    // Not awaited: the 202 means "committed", which they are; the answer need not wait a Redis
    // round trip for the job, whose loss the reconciler repairs either way. But while Redis does
    // not answer, enqueues queue up in the connection: past UNAWAITED_ENQUEUES in flight the
    // answer waits for its own, so a Redis outage cannot grow this process's memory without bound.
    // Started on the next turn of the event loop, after the answer is written: building and
    // sending the job is CPU the answer need not wait for either.
    enqueuesInFlight++;
    const enqueued = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => deps.queues.enqueue('fanout', 'fanout-events', { eventIds: accepted }))
      .catch((err: unknown) => {
        deps.logger.warn({ err, events: accepted.length }, 'fan-out not enqueued; the reconciler will pick the events up');
      })
      .finally(() => enqueuesInFlight--);
    if (enqueuesInFlight > UNAWAITED_ENQUEUES) await enqueued;
  }
  return { accepted: accepted.length, duplicates: events.length - accepted.length, stored };
}
