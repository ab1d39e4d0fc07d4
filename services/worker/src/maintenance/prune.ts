import type { JobHandler } from '../job.ts';

const BATCH = 10_000;
/** Bounded work per run: the next run continues where this one stopped. */
const MAX_ROUNDS = 50;

async function deleteInBatches(run: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const deleted = await run();
    total += deleted;
    if (deleted < BATCH) break;
  }
  return total;
}

/**
 * Retention: attempts older than RETENTION_ATTEMPTS, finished messages older than
 * RETENTION_MESSAGES, events left with no message, expired idempotency keys, and unroutable
 * events older than RETENTION_MESSAGES. Deletes in batches so no statement
 * holds locks for long. Pending and held messages are never pruned.
 */
export const prune: JobHandler<'maintenance', 'prune'> = async (_data, { deps, log }) => {
  const { db, config } = deps;
  const attempts = await deleteInBatches(() =>
    db('attempts')
      .whereIn('id', (q) =>
        q.from('attempts').where('attempted_at', '<', db.raw(`now() - (? * interval '1 millisecond')`, [config.retentionAttemptsMs])).limit(BATCH).select('id'),
      )
      .delete(),
  );
  const messages = await deleteInBatches(() =>
    db('messages')
      .whereIn('id', (q) =>
        q
          .from('messages')
          .whereIn('status', ['succeeded', 'dead', 'cancelled'])
          .where('created_at', '<', db.raw(`now() - (? * interval '1 millisecond')`, [config.retentionMessagesMs]))
          .limit(BATCH)
          .select('id'),
      )
      .delete(),
  );
  const events = await deleteInBatches(() =>
    db('events')
      .whereIn('id', (q) =>
        q
          .from('events as e')
          .whereNotNull('e.fanout_at')
          .where('e.received_at', '<', db.raw(`now() - (? * interval '1 millisecond')`, [config.retentionMessagesMs]))
          .whereNotExists((sub) => sub.from('messages as m').whereRaw('m.event_id = e.id').select(db.raw('1')))
          .limit(BATCH)
          .select('e.id'),
      )
      .delete(),
  );
  // Idempotency keys live 24 h; the unroutable-events list is kept as long as messages.
  const idempotencyKeys = await deleteInBatches(() =>
    db('idempotency_keys')
      .whereIn(['scope', 'key'], (q) => q.from('idempotency_keys').where('expires_at', '<=', db.fn.now()).limit(BATCH).select('scope', 'key'))
      .delete(),
  );
  const unroutable = await deleteInBatches(() =>
    db('unroutable_events')
      .whereIn('id', (q) =>
        q.from('unroutable_events').where('received_at', '<', db.raw(`now() - (? * interval '1 millisecond')`, [config.retentionMessagesMs])).limit(BATCH).select('id'),
      )
      .delete(),
  );
  if (attempts + messages + events + idempotencyKeys + unroutable > 0) {
    log.info({ attempts, messages, events, idempotencyKeys, unroutable }, 'pruned old delivery records');
  }
};
