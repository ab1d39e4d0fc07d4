import type { Knex } from '../db/knex.ts';
import { releaseLeases, reopenMessages, type Lease } from './message-state.ts';
import type { Queues } from '../queues/connection.ts';

/**
 * The job id of the delivery job for a message's next attempt. Derived from the message id and
 * its attempt count, so enqueueing the same attempt twice (a retry scheduled by the worker and
 * the reconciler re-enqueueing it after Redis lost it) leaves one job.
 */
export const deliveryJobId = (messageId: string, attemptsMade: number) => `${messageId}.${attemptsMade}`;

/** A message to enqueue: its id, its attempt count (the job id) and its subscription (the shard). */
export interface DeliveryToEnqueue {
  id: string;
  attempts: number;
  subscriptionId: string;
}

/**
 * Enqueues one delivery job per message, in the deliver queue of its subscription's shard;
 * duplicates collapse by job id (a subscription is always in the same shard, so the id is
 * unique where it matters). `jobIdSuffix` makes a job distinct from one that may still exist
 * under the plain id (a resend, a hand-back). The one way a delivery job is made from outside
 * the engine's retry pump.
 */
export async function enqueueDeliveries(queues: Queues, messages: DeliveryToEnqueue[], jobIdSuffix = ''): Promise<void> {
  if (messages.length === 0) return;
  const byShard = new Map<number, DeliveryToEnqueue[]>();
  for (const m of messages) {
    const shard = queues.shards.of(m.subscriptionId);
    byShard.set(shard, [...(byShard.get(shard) ?? []), m]);
  }
  await Promise.all(
    [...byShard].map(([shard, batch]) =>
      queues.deliver[shard]!.addBulk(
        batch.map((m) => ({
          name: 'deliver-messages',
          data: { messageIds: [m.id] },
          opts: { jobId: `${deliveryJobId(m.id, m.attempts)}${jobIdSuffix}`, removeOnComplete: true, removeOnFail: true },
        })),
      ),
    ),
  );
}

/**
 * Gives messages back to the queue (a stopping worker's unstarted deliveries): their leases
 * released, due now, with a job each under an id of their own, since the job that carried one
 * may still exist.
 */
export async function handBackMessages(db: Knex, queues: Queues, messages: (Lease & { attempts: number; subscriptionId: string })[]): Promise<void> {
  if (messages.length === 0) return;
  await releaseLeases(db, messages);
  await enqueueDeliveries(
    queues,
    messages.map((m) => ({ id: m.messageId, attempts: m.attempts, subscriptionId: m.subscriptionId })),
    `.handback.${Date.now()}`,
  );
}

/**
 * Sends messages again now, whatever their state but cancelled (resend, recover, dead-letter
 * replay): they become pending and due, and get a delivery job; one in a worker's hands already
 * is left to it (`reopenMessages`). Saved first, enqueued after: if the
 * enqueue fails, the reconciler finds them pending once the lease passes.
 * Takes the pool, not a transaction: the update must be committed before the jobs exist.
 * Returns the ids requeued.
 */
export async function requeueMessages(
  db: Knex,
  queues: Queues,
  where: (q: Knex.QueryBuilder) => void,
  // By default a job id of its own: a job for the same attempt may still exist (and would swallow
  // the add); two jobs for one message are harmless, since each claims it before sending.
  jobIdSuffix = `.requeue.${Date.now()}`,
): Promise<string[]> {
  const rows = await reopenMessages(db, where);
  await enqueueDeliveries(
    queues,
    rows.map((r) => ({ id: r.id, attempts: r.attempts, subscriptionId: r.subscription_id })),
    jobIdSuffix,
  );
  return rows.map((r) => r.id);
}

/**
 * Releases a subscription's held messages (it was resumed or enabled): they become pending and
 * get delivery jobs. Takes the pool, not a transaction; returns how many were released.
 */
export async function releaseHeldMessages(db: Knex, queues: Queues, subscriptionId: string): Promise<number> {
  // Held messages were never queued: the plain job id (message and attempt count) is free.
  return (await requeueMessages(db, queues, (q) => q.where({ subscription_id: subscriptionId, status: 'held' }), '')).length;
}
