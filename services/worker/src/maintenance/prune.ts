import type { Db } from '#shared/db/knex';
import { dropPartitionsBefore, ensurePartitions, periodStart } from '#shared/db/partitions';
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

/** What one retention run removed: partitions dropped whole, rows deleted one by one. */
export interface RetentionResult {
  droppedPartitions: string[];
  keptPartitions: string[];
  attempts: number;
  messages: number;
  events: number;
}

/**
 * Retention (docs/partitioning.md): attempt partitions wholly older than `attemptsMs` are
 * dropped; message partitions wholly older than `messagesMs` are dropped unless they still hold
 * a pending or held message (those are never pruned: such a partition is kept, and only its
 * finished rows are deleted, in batches). Rows in the default partition older than the
 * partition cut are deleted in batches as before, then events left with no message. Where
 * attempts are kept for less time than messages, first successes kept in message rows before
 * that was set go at the attempts' cut too (their columns cleared).
 * Also expired idempotency keys, and unroutable events older than RETENTION_MESSAGES.
 */
export async function applyRetention(db: Db, retention: { messagesMs: number; attemptsMs: number }, now = new Date()): Promise<RetentionResult> {
  const attemptsCut = periodStart('attempts', new Date(now.getTime() - retention.attemptsMs));
  const messagesCut = periodStart('messages', new Date(now.getTime() - retention.messagesMs));
  const a = await dropPartitionsBefore(db, 'attempts', attemptsCut);
  const m = await dropPartitionsBefore(db, 'messages', messagesCut, "status in ('pending', 'held')");
  const attempts = await deleteInBatches(() =>
    db('attempts')
      .whereIn('id', (q) => q.from('attempts').where('attempted_at', '<', attemptsCut).limit(BATCH).select('id'))
      .delete(),
  );
  // A first success kept in its message's row (migration 0014) is an attempt: it goes at the
  // attempts' cut, while its message stays to the messages' one. Workers keep none while attempts
  // are kept for less time than messages; this clears those kept before that was so.
  const kept = retention.attemptsMs < retention.messagesMs ? await deleteInBatches(() => clearKeptAttempts(db, attemptsCut)) : 0;
  const messages = await deleteInBatches(() =>
    db('messages')
      .whereIn('id', (q) =>
        q.from('messages').whereIn('status', ['succeeded', 'dead', 'cancelled']).where('created_at', '<', messagesCut).limit(BATCH).select('id'),
      )
      .delete(),
  );
  const events = await deleteInBatches(() =>
    db('events')
      .whereIn('id', (q) =>
        q
          .from('events as e')
          .whereNotNull('e.fanout_at')
          .whereNotExists((l) => l.from('event_leases as l').whereRaw('l.event_id = e.id').select(db.raw('1')))
          .where('e.received_at', '<', messagesCut)
          .whereNotExists((sub) => sub.from('messages as m').whereRaw('m.event_id = e.id').select(db.raw('1')))
          .limit(BATCH)
          .select('e.id'),
      )
      .delete(),
  );
  return { droppedPartitions: [...a.dropped, ...m.dropped], keptPartitions: [...a.kept, ...m.kept], attempts: attempts + kept, messages, events };
}

/** Clears up to BATCH first successes kept in message rows from before `cut`; returns how many. */
async function clearKeptAttempts(db: Db, cut: Date): Promise<number> {
  // created_at (the event's received_at) is never after the first attempt: the partitions after the cut are skipped.
  const result = await db.raw(
    `update messages m set first_attempt_id = null, first_attempted_at = null, first_duration_ms = null, first_status_code = null,
       first_response_body = null, first_response_body_bytes = null, first_response_body_truncated = null,
       first_response_status_text = null, first_response_headers = null
     from (select id, created_at from messages where first_attempt_id is not null and first_attempted_at < ? and created_at < ? limit ?) old
     where m.id = old.id and m.created_at = old.created_at and m.created_at < ? and m.first_attempt_id is not null`,
    [cut, cut, BATCH, cut],
  );
  return result.rowCount ?? 0;
}

/** The hourly retention job: see `applyRetention`. */
export const prune: JobHandler<'maintenance', 'prune'> = async (_data, { deps, log }) => {
  const { db, config } = deps;
  const result = await applyRetention(db, { messagesMs: config.retentionMessagesMs, attemptsMs: config.retentionAttemptsMs });
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
  if (result.droppedPartitions.length + result.attempts + result.messages + result.events + idempotencyKeys + unroutable > 0) {
    log.info({ ...result, idempotencyKeys, unroutable }, 'pruned old delivery records');
  }
};

/** Makes the delivery tables' partitions ahead of time, so rows never pile up in the default one. */
export const makePartitions: JobHandler<'maintenance', 'partitions'> = async (_data, { deps, log }) => {
  const created = [...(await ensurePartitions(deps.db, 'messages')), ...(await ensurePartitions(deps.db, 'attempts'))];
  if (created.length > 0) log.info({ created }, 'made delivery partitions');
};
