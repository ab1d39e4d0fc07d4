import type { Knex } from '../db/knex.ts';
import type { Queues } from '../queues/connection.ts';

/** `now() + leaseMs`, in SQL: how long the worker that takes a message may hold it. */
export const leaseUntil = (db: Knex, leaseMs: number) => db.raw(`now() + (? * interval '1 millisecond')`, [leaseMs]);

/**
 * The job id of the delivery job for a message's next attempt. Derived from the message id and
 * its attempt count, so enqueueing the same attempt twice (a retry scheduled by the worker and
 * the reconciler re-enqueueing it after Redis lost it) leaves one job.
 */
export const deliveryJobId = (messageId: string, attemptsMade: number) => `${messageId}.${attemptsMade}`;

/**
 * Enqueues one delivery job per message; duplicates collapse by job id. `jobIdSuffix` makes a
 * job distinct from one that may still exist under the plain id (a resend, a hand-back).
 */
export async function enqueueDeliveries(
  queues: Queues,
  messages: { id: string; attempts: number }[],
  jobIdSuffix = '',
): Promise<void> {
  if (messages.length === 0) return;
  await queues.deliver.addBulk(
    messages.map((m) => ({
      name: 'deliver-messages',
      data: { messageIds: [m.id] },
      opts: { jobId: `${deliveryJobId(m.id, m.attempts)}${jobIdSuffix}`, removeOnComplete: true, removeOnFail: true },
    })),
  );
}

/**
 * Takes messages for delivery: of those given, the ones that are pending and due (or overdue:
 * a lease that ran out) get a new lease, atomically, and are returned. Two jobs carrying the same
 * message cannot both take it, so a reconciled copy of a job never sends a message twice.
 * `now() + 1 s` admits a delayed job that fires a moment before its due time.
 */
export async function claimMessages(db: Knex, ids: string[], leaseMs: number): Promise<string[]> {
  if (ids.length === 0) return [];
  return db('messages')
    .whereIn('id', ids)
    .where('status', 'pending')
    .where('next_attempt_at', '<=', db.raw(`now() + interval '1 second'`))
    .update({ next_attempt_at: leaseUntil(db, leaseMs) })
    .returning('id')
    .then((rows: { id: string }[]) => rows.map((r) => r.id));
}

/**
 * Gives messages back to the queue (a stopping worker's unstarted deliveries): due now, with a
 * job each under an id of their own, since the job that carried one may still exist.
 */
export async function handBackMessages(db: Knex, queues: Queues, messages: { id: string; attempts: number }[]): Promise<void> {
  if (messages.length === 0) return;
  await db('messages')
    .whereIn(
      'id',
      messages.map((m) => m.id),
    )
    .where('status', 'pending')
    .update({ next_attempt_at: db.fn.now() });
  await enqueueDeliveries(queues, messages, `.handback.${Date.now()}`);
}

/**
 * Sends messages again now, whatever their state but cancelled (resend, recover, dead-letter
 * replay): they become pending and due, and get a delivery job. Saved first, enqueued after: if the
 * enqueue fails, the reconciler finds them pending once the lease passes.
 * Takes the pool, not a transaction: the update must be committed before the jobs exist.
 * Returns the ids requeued.
 */
export async function requeueMessages(db: Knex, queues: Queues, where: (q: Knex.QueryBuilder) => void): Promise<string[]> {
  const rows: { id: string; attempts: number }[] = await db('messages')
    .where(where)
    .whereNot('status', 'cancelled')
    .update({ status: 'pending', next_attempt_at: db.fn.now(), updated_at: db.fn.now() })
    .returning(['id', 'attempts']);
  // A resend must not collide with a retry job of the same attempt that may still exist.
  await enqueueDeliveries(queues, rows, `.resend.${Date.now()}`);
  return rows.map((r) => r.id);
}

/**
 * Releases a subscription's held messages (it was resumed or enabled): they become pending and
 * get delivery jobs. Takes the pool, not a transaction; returns how many were released.
 */
export async function releaseHeldMessages(db: Knex, queues: Queues, subscriptionId: string): Promise<number> {
  const rows: { id: string; attempts: number }[] = await db('messages')
    .where({ subscription_id: subscriptionId, status: 'held' })
    .update({ status: 'pending', next_attempt_at: db.fn.now(), updated_at: db.fn.now() })
    .returning(['id', 'attempts']);
  await enqueueDeliveries(queues, rows);
  return rows.length;
}
