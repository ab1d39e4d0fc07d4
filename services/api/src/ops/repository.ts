import type { Db, Knex } from '#shared/db/knex';
import type { SubscriptionRow as FullSubscriptionRow } from '#shared/db/rows';
import { messagesQuery, toMessage, type MessageLogRow } from '../messages/repository.ts';
import type { DeadLetter } from './schema.ts';

/** A dead message row with its owner, as `deadLettersQuery` selects it. */
export type DeadLetterRow = MessageLogRow & { partner_id: string; product_id: string; updated_at: Date };

/** Dead messages with their events and subscriptions; order and page it with `paginate`. */
export function deadLettersQuery(db: Db): Knex.QueryBuilder {
  return messagesQuery(db)
    .join('subscriptions as s', 's.id', 'm.subscription_id')
    .where('m.status', 'dead')
    .select('s.partner_id', 's.product_id', 'm.updated_at');
}

/** A dead-letter row as the API shows it. `updated_at` is when it died: nothing touches a dead message but a replay. */
export function toDeadLetter(row: DeadLetterRow): DeadLetter {
  const { status: _status, nextAttemptAt: _next, succeededAt: _succeeded, waitingFor: _waiting, ...message } = toMessage(row);
  return { ...message, partnerId: row.partner_id, productId: row.product_id, deadAt: row.updated_at.toISOString() };
}

/** The live (not deleted) subscription; null when unknown or deleted. */
export async function findSubscription(db: Db, id: string): Promise<SubscriptionRow | null> {
  return ((await subscriptionsQuery(db).where('s.id', id).first()) as SubscriptionRow | undefined) ?? null;
}

/** A subscription row as the ops views read it: the columns `subscriptionsQuery` selects. */
export type SubscriptionRow = Pick<
  FullSubscriptionRow,
  | 'id'
  | 'partner_id'
  | 'product_id'
  | 'function_key'
  | 'url'
  | 'event_types'
  | 'state'
  | 'disabled_reason'
  | 'created_at'
  | 'last_success_at'
  | 'last_failure_at'
  | 'failing_since'
  | 'consecutive_failures'
  | 'max_rate_per_second'
  | 'rate_per_second'
>;

/** Live subscriptions with the health columns the delivery worker keeps. */
export function subscriptionsQuery(db: Db): Knex.QueryBuilder {
  return db('subscriptions as s')
    .whereNull('s.deleted_at')
    .select(
      's.id',
      's.partner_id',
      's.product_id',
      's.function_key',
      's.url',
      's.event_types',
      's.state',
      's.disabled_reason',
      's.created_at',
      's.last_success_at',
      's.last_failure_at',
      's.failing_since',
      's.consecutive_failures',
      's.max_rate_per_second',
      's.rate_per_second',
    );
}

/** Attempts and successes per subscription over the last `windowMs`, one grouped query for a page of them. */
export async function attemptCounts(db: Db, subscriptionIds: string[], windowMs: number): Promise<Map<string, { attempts: number; successes: number }>> {
  if (subscriptionIds.length === 0) return new Map();
  const rows: { subscription_id: string; attempts: number; successes: number }[] = await db('attempts')
    .whereIn('subscription_id', subscriptionIds)
    .where('attempted_at', '>=', db.raw(`now() - (? * interval '1 millisecond')`, [windowMs]))
    // A circuit-open skip made no request: it says nothing about the receiver.
    .whereRaw("coalesce(error, '') <> 'circuit_open'")
    .groupBy('subscription_id')
    .select('subscription_id', db.raw('count(*)::int as attempts'), db.raw("count(*) filter (where outcome = 'success')::int as successes"));
  return new Map(rows.map((r) => [r.subscription_id, { attempts: r.attempts, successes: r.successes }]));
}
