import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import { insertEvents, type StoredEvent } from './repository.ts';
import { MAX_EVENTS, type HubEventInput } from './schema.ts';

/** Fan-out jobs this process leaves in flight before an answer waits for its own. */
const UNAWAITED_ENQUEUES = 256;

/**
 * The fan-out jobs of one process's queues: the events of every batch committed in one turn of
 * the event loop (under load, many answers are written in the same turn) leave as one job, of at
 * most MAX_EVENTS ids, on the next turn, after the answers are written. Under load that is one
 * BullMQ add and one fan-out run (a claim, the routing match, the event leases) for many
 * requests instead of one each; an answer never waits for it, bar the bound below.
 */
export class FanoutJobs {
  private ids: string[] = [];
  private sending: Promise<void> | null = null;
  private inFlight = 0;

  constructor(
    private readonly queues: Queues,
    private readonly logger: Logger,
  ) {}

  /**
   * Adds committed events to the next job. Resolves once it is sent (or its failure logged:
   * the reconciler finds events not fanned out); only worth awaiting past the bound.
   */
  add(ids: string[]): { sent: Promise<void>; mustWait: boolean } {
    for (const id of ids) this.ids.push(id);
    this.sending ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.send());
    return { sent: this.sending, mustWait: this.inFlight > UNAWAITED_ENQUEUES };
  }

  private async send(): Promise<void> {
    const ids = this.ids;
    this.ids = [];
    this.sending = null;
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < ids.length; i += MAX_EVENTS) {
      const eventIds = ids.slice(i, i + MAX_EVENTS);
      // No job id derived from the events: a completed job kept under the same id (events
      // re-published after a database reset) would swallow this one. A repeated batch is all
      // duplicates and enqueues nothing, so a random id costs no idempotency.
      this.inFlight++;
      jobs.push(
        this.queues
          .enqueue('fanout', 'fanout-events', { eventIds })
          .catch((err: unknown) => {
            this.logger.warn({ err, events: eventIds.length }, 'fan-out not enqueued; the reconciler will pick the events up');
          })
          .finally(() => this.inFlight--),
      );
    }
    await Promise.all(jobs);
  }
}

const fanoutJobs = new WeakMap<Queues, FanoutJobs>();

/**
 * Takes a batch of HUB events. They are committed before anything else happens (the 202 means
 * "saved"); the fan-out job is enqueued after the commit, together with those of the batches
 * committed in the same turn (`FanoutJobs`). If that enqueue fails, the events are still safe: the reconciler finds events not yet fanned out and enqueues them.
 * An id seen before (in this batch or earlier) counts as a duplicate, not an error.
 */
export async function ingestEvents(
  deps: { db: Knex; queues: Queues; logger: Logger },
  events: HubEventInput[],
): Promise<{ accepted: number; duplicates: number; stored: StoredEvent[] }> {
  const stored = await insertEvents(deps.db, events);
  const accepted = stored.map((s) => s.id);
  if (accepted.length > 0) {
    // Not awaited: the 202 means "committed", which they are; the answer need not wait a Redis
    // round trip for the job, whose loss the reconciler repairs either way. But while Redis does
    // not answer, enqueues queue up in the connection: past UNAWAITED_ENQUEUES jobs in flight the
    // answer waits for its own, so a Redis outage cannot grow this process's memory without bound.
    let jobs = fanoutJobs.get(deps.queues);
    if (!jobs) fanoutJobs.set(deps.queues, (jobs = new FanoutJobs(deps.queues, deps.logger)));
    const { sent, mustWait } = jobs.add(accepted);
    if (mustWait) await sent;
  }
  return { accepted: accepted.length, duplicates: events.length - accepted.length, stored };
}
