import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import { insertEvents, type StoredEvent } from './repository.ts';
import type { HubEventInput } from './schema.ts';

/** Fan-out jobs this process leaves in flight before an answer waits for its own. */
const UNAWAITED_ENQUEUES = 256;
/**
 * Most events of several batches in one job (the reconciler's chunk too): a job fails and is
 * retried whole, so a bad event holds back at most this many of other requests' events.
 */
const SHARED_JOB_EVENTS = 100;

/**
 * The fan-out jobs of one process's queues: the batches committed in one turn of the event
 * loop (under load, many answers are written in the same turn) leave together on the next turn,
 * after the answers are written: small batches share a job of up to SHARED_JOB_EVENTS events, a
 * larger batch is a job of its own, as before. Under load that is one BullMQ add and one fan-out
 * run (a claim, the routing match, the event leases) for many requests instead of one each.
 */
export class FanoutJobs {
  private batches: string[][] = [];
  private sending: Promise<void> | null = null;
  private inFlight = 0;

  constructor(
    private readonly queues: Queues,
    private readonly logger: Logger,
  ) {}

  /**
   * Adds a committed batch to the next turn's jobs. `sent` resolves once its job is sent or its
   * failure logged (the reconciler finds events not fanned out); it never rejects. `mustWait`:
   * past UNAWAITED_ENQUEUES jobs in flight (Redis not answering), the answer should wait for it,
   * so that an outage cannot grow this process's memory without bound (the batches of the turn
   * that crosses the bound are let through: at most the pool's concurrent requests).
   */
  add(eventIds: string[]): { sent: Promise<void>; mustWait: boolean } {
    this.batches.push(eventIds);
    this.sending ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.send());
    return { sent: this.sending, mustWait: this.inFlight > UNAWAITED_ENQUEUES };
  }

  private async send(): Promise<void> {
    const batches = this.batches;
    this.batches = [];
    this.sending = null;
    const jobs: string[][] = [];
    let shared: string[] = [];
    for (const batch of batches) {
      if (batch.length > SHARED_JOB_EVENTS) jobs.push(batch);
      else {
        if (shared.length + batch.length > SHARED_JOB_EVENTS) {
          jobs.push(shared);
          shared = [];
        }
        shared.push(...batch);
      }
    }
    if (shared.length > 0) jobs.push(shared);
    await Promise.all(jobs.map((eventIds) => this.enqueue(eventIds)));
  }

  private async enqueue(eventIds: string[]): Promise<void> {
    this.inFlight++;
    try {
      // No job id derived from the events: a completed job kept under the same id (events
      // re-published after a database reset) would swallow this one. A repeated batch is all
      // duplicates and enqueues nothing, so a random id costs no idempotency.
      await this.queues.enqueue('fanout', 'fanout-events', { eventIds });
    } catch (err) {
      this.logger.warn({ err, events: eventIds.length }, 'fan-out not enqueued; the reconciler will pick the events up');
    } finally {
      this.inFlight--;
    }
  }
}

const fanoutJobs = new WeakMap<Queues, FanoutJobs>();

/**
 * Takes a batch of HUB events. They are committed before anything else happens (the 202 means
 * "saved"); the fan-out job is enqueued after the commit, together with those of the batches
 * committed in the same turn (`FanoutJobs`). If that enqueue fails, the events are still safe:
 * the reconciler finds events not yet fanned out and enqueues them.
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
