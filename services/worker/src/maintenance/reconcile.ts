import { createHash } from 'node:crypto';
import { enqueueDeliveries, requeueMessages } from '#shared/delivery/requeue';
import { requeuePendingMail } from '#shared/mail/outbox';
import { orphanedHeads } from '#shared/delivery/message-state';
import type { JobHandler } from '../job.ts';

/** At most this much is re-enqueued per run and kind; the next run takes the rest. */
const BATCH = 5_000;
const FANOUT_CHUNK = 100;

/**
 * Nothing accepted is lost: re-enqueues work that Postgres says is owed but that no job may
 * carry (Redis restarted empty, a crash between commit and enqueue, a lease that ran out):
 * events not yet fanned out or whose unwritten first deliveries' lease lapsed, pending messages
 * past their due time or lease, ordered messages
 * whose turn came but were not handed on, held messages
 * of subscriptions that are active again, and outgoing mail still pending. Safe to run any
 * number of times: fan-out skips events already done, and delivery and mail job ids derive from
 * message and mail ids, so a job that still exists is not doubled.
 */
export const reconcile: JobHandler<'maintenance', 'reconcile'> = async (_data, { deps, log }) => {
  const { db, queues, config } = deps;
  // Work older than one reconcile interval with no sign of progress is taken to be lost.
  const graceMs = config.reconcileIntervalMs;
  const graceAgo = db.raw(`now() - (? * interval '1 millisecond')`, [graceMs]);

  const unfanned: string[] = await db('events').whereNull('fanout_at').where('received_at', '<', graceAgo).orderBy('received_at').limit(BATCH).pluck('id');
  // Events whose first deliveries were sent but not all written, and whose lease lapsed (the worker
  // holding them died): the fan-out derives the messages without a row again, under the same ids.
  const lapsed: string[] = await db('events').where('deliveries_until', '<', graceAgo).orderBy('deliveries_until').limit(BATCH).pluck('id');
  const eventIds = [...unfanned, ...lapsed];
  for (let i = 0; i < eventIds.length; i += FANOUT_CHUNK) {
    const chunk = eventIds.slice(i, i + FANOUT_CHUNK);
    // One job per chunk and run: a failed earlier job with the same id must not block this one.
    const jobId = `reconcile-${Math.floor(Date.now() / graceMs)}-${createHash('sha1').update(chunk.join(',')).digest('hex')}`;
    await queues.enqueue('fanout', 'fanout-events', { eventIds: chunk }, { jobId });
  }

  // A message in a worker's hands (waiting in its lane or in flight) has a lease renewed ahead of
  // now, so it is never picked here; and a claim never takes a live lease anyway.
  // Each to its subscription's shard: also the work left in a shard that no longer exists after
  // DELIVERY_SHARDS changed (its queue and retry schedule are no longer read by any worker).
  const due: { id: string; attempts: number; subscription_id: string }[] = await db('messages')
    .where('status', 'pending')
    .where('next_attempt_at', '<', graceAgo)
    .orderBy('next_attempt_at')
    .limit(BATCH)
    .select('id', 'attempts', 'subscription_id');
  await enqueueDeliveries(
    queues,
    due.map((m) => ({ id: m.id, attempts: m.attempts, subscriptionId: m.subscription_id })),
  );

  // Ordered messages waiting with nothing earlier unfinished: their hand-on was lost (a worker
  // died after the outcome's commit). Waiting ones have no due time, so the query above skips them.
  const heads = await orphanedHeads(db, BATCH);
  await enqueueDeliveries(queues, heads);

  const released = await requeueMessages(db, queues, (q) =>
    q
      .whereIn('id', (held) =>
        held
          .from('messages as m')
          .join('subscriptions as s', 's.id', 'm.subscription_id')
          .where('m.status', 'held')
          .where('s.state', 'active')
          .whereNull('s.deleted_at')
          .limit(BATCH)
          .select('m.id'),
      )
      .where('status', 'held'),
    '',
  );

  // Mail rows still pending (job ids are mail ids: a job still queued or waiting to retry is not doubled).
  const mails = await requeuePendingMail(db, queues, graceMs);

  if (eventIds.length + due.length + heads.length + released.length + mails > 0) {
    log.info({ events: eventIds.length, messages: due.length, heads: heads.length, released: released.length, mails }, 'reconciled owed work');
  }
};
