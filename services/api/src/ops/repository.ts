import type { z } from 'zod';
import type { Db, Knex } from '#shared/db/knex';
import type { SubscriptionRow as FullSubscriptionRow, UnroutableEventRow } from '#shared/db/rows';
import { paginate, type Page } from '../http/pagination.ts';
import { attemptLog, messagesQuery, toMessage, type MessageLogRow } from '../messages/repository.ts';
import type { DeadLetter, DeadLetterQuery, ReplayBody, SubscriptionHealthQuery, UnroutableQuery } from './schema.ts';

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
  const rows: { subscription_id: string; attempts: number; successes: number }[] = await attemptLog(db)
    .whereIn('a.subscription_id', subscriptionIds)
    .where('a.attempted_at', '>=', db.raw(`now() - (? * interval '1 millisecond')`, [windowMs]))
    // A circuit-open skip made no request: it says nothing about the receiver.
    .whereRaw("coalesce(a.error, '') <> 'circuit_open'")
    .groupBy('a.subscription_id')
    .select('a.subscription_id', db.raw('count(*)::int as attempts'), db.raw("count(*) filter (where a.outcome = 'success')::int as successes"));
  return new Map(rows.map((r) => [r.subscription_id, { attempts: r.attempts, successes: r.successes }]));
}

/** A page of dead letters, newest death first, filtered by subscription and time of death. */
export async function pageDeadLetters(db: Db, query: z.infer<typeof DeadLetterQuery>): Promise<Page<DeadLetterRow>> {
  const q = deadLettersQuery(db);
  if (query.subscriptionId) q.where('m.subscription_id', query.subscriptionId);
  if (query.since) q.where('m.updated_at', '>=', query.since);
  return paginate<DeadLetterRow>(db, q, query, { keys: ['m.updated_at', 'm.id'], order: 'desc' });
}

/** Narrows a messages query to the dead letters a replay asks for: given ids, or a subscription's that died since a time. */
export function deadLettersToReplay(request: z.infer<typeof ReplayBody>): (q: Knex.QueryBuilder) => void {
  return (q) => {
    q.where('status', 'dead');
    if ('messageIds' in request) q.whereIn('id', request.messageIds);
    else q.where('subscription_id', request.subscriptionId).where('updated_at', '>=', request.since);
  };
}

/** An unroutable event as the ops view reads it. */
export type UnroutableListRow = Pick<UnroutableEventRow, 'event_id' | 'installation_id' | 'type' | 'reason' | 'received_at'>;

/** A page of the accepted events nobody can route, newest first, optionally by reason. */
export async function pageUnroutableEvents(db: Db, query: z.infer<typeof UnroutableQuery>): Promise<Page<UnroutableListRow>> {
  const q = db('unroutable_events').select('event_id', 'installation_id', 'type', 'reason', 'received_at');
  if (query.reason) q.where('reason', query.reason);
  return paginate<UnroutableListRow>(db, q, query, { keys: ['received_at', 'id'], order: 'desc' });
}

/** A page of live subscriptions with their health columns, oldest first, by state and by failing now. */
export async function pageSubscriptionHealth(db: Db, query: z.infer<typeof SubscriptionHealthQuery>): Promise<Page<SubscriptionRow>> {
  const q = subscriptionsQuery(db);
  const status = query.status ?? query.state;
  if (status) q.where('s.state', status);
  if (query.failing === 'true') q.whereNotNull('s.failing_since');
  if (query.failing === 'false') q.whereNull('s.failing_since');
  return paginate<SubscriptionRow>(db, q, query, { keys: ['s.created_at', 's.id'] });
}

/** Sets a subscription's ceiling on requests started per second (null: none). */
export async function setMaxRate(db: Db, id: string, ceiling: number | null): Promise<void> {
  await db('subscriptions').where({ id }).update({ max_rate_per_second: ceiling, updated_at: db.fn.now() });
}

/** Makes a subscription active again, with its disable reason and failure streak cleared. */
export async function reactivateSubscription(db: Db, id: string): Promise<void> {
  await db('subscriptions').where({ id }).update({
    state: 'active',
    disabled_reason: null,
    failing_since: null,
    consecutive_failures: 0,
    updated_at: db.fn.now(),
  });
}
