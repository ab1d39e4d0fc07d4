import { columnBindings, type Knex } from '../db/knex.ts';
import type { Queues } from '../queues/connection.ts';

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

/** A message taken for delivery, with its event: all the delivery needs from Postgres. */
export interface ClaimedMessage {
  id: string;
  attempts: number;
  created_at: Date;
  subscription_id: string;
  event_id: string;
  installation_id: string;
  type: string;
  entity_id: string | null;
  occurred_at: Date;
  data: unknown;
}

/**
 * Takes messages for delivery: of those given, the ones that are pending and due (or overdue:
 * a lease that ran out) get a new lease, atomically, and come back with their events in the same
 * statement. Two jobs carrying the same message cannot both take it, so a reconciled copy of a
 * job never sends a message twice. `now() + 1 s` admits a job that fires a moment early.
 */
export async function claimMessages(db: Knex, ids: string[], leaseMs: number): Promise<ClaimedMessage[]> {
  if (ids.length === 0) return [];
  const result = await db.raw(
    `with claimed as (
       update messages set next_attempt_at = now() + (? * interval '1 millisecond')
       where id = any(?::text[]) and status = 'pending' and next_attempt_at <= now() + interval '1 second'
       returning id, attempts, created_at, subscription_id, event_id)
     select c.id, c.attempts, c.created_at, c.subscription_id, c.event_id, e.installation_id, e.type, e.entity_id, e.occurred_at, e.data
     from claimed c join events e on e.id = c.event_id`,
    [leaseMs, ...columnBindings(ids)],
  );
  return result.rows as ClaimedMessage[];
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
export async function requeueMessages(
  db: Knex,
  queues: Queues,
  where: (q: Knex.QueryBuilder) => void,
  // By default a job id of its own: a job for the same attempt may still exist (and would swallow
  // the add); two jobs for one message are harmless, since each claims it before sending.
  jobIdSuffix = `.requeue.${Date.now()}`,
): Promise<string[]> {
  const rows: { id: string; attempts: number }[] = await db('messages')
    .where(where)
    .whereNot('status', 'cancelled')
    .update({ status: 'pending', next_attempt_at: db.fn.now(), updated_at: db.fn.now() })
    .returning(['id', 'attempts']);
  await enqueueDeliveries(queues, rows, jobIdSuffix);
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
