/**
 * Queries behind subscriptions. Each takes a `Db` (the pool or a transaction) so the service can
 * run several in one transaction. Partner scoping is part of every lookup a partner can reach:
 * another partner's row is simply not found.
 */
import type { Db } from '#shared/db/knex';
import { paginate, type Page, type PageRequest } from '../http/pagination.ts';
import type { SubscriptionRow } from '#shared/db/rows';
import { cancelMessages, dropOrdering, insertMessages } from '#shared/delivery/message-state';

export type { SubscriptionRow };

/** The product's latest version (highest number) and, if it grants `functionKey`, that grant's filters. */
export async function latestVersionGrant(
  db: Db,
  productId: string,
  functionKey: string,
): Promise<{ version: number | null; filters: Record<string, unknown[]> | null }> {
  const latest = await db('product_versions').where({ product_id: productId }).max<{ max: number | null }>('number as max').first();
  const version = latest?.max ?? null;
  if (version === null) return { version: null, filters: null };
  const grant = await db('version_functions')
    .where({ product_id: productId, version, function_key: functionKey })
    .first<{ filters: Record<string, unknown[]> } | undefined>('filters');
  return { version, filters: grant ? grant.filters : null };
}

/** How many live (not deleted) subscriptions the product has. */
export async function countLiveSubscriptions(db: Db, productId: string): Promise<number> {
  const row = await db('subscriptions').where({ product_id: productId }).whereNull('deleted_at').count<{ count: number }>('* as count').first();
  return Number(row?.count ?? 0);
}

/** Inserts a subscription and returns its row. */
export async function insertSubscription(
  db: Db,
  values: Pick<SubscriptionRow, 'id' | 'partner_id' | 'product_id' | 'function_key' | 'url' | 'event_types' | 'description' | 'secret_sealed' | 'ordering'>,
): Promise<SubscriptionRow> {
  const [row] = await db('subscriptions').insert(values).returning('*');
  return row as SubscriptionRow;
}

/** The partner's live subscription, or null (deleted ones and other partners' are not found). */
export async function findPartnerSubscription(
  db: Db,
  partnerId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<SubscriptionRow | null> {
  const q = db('subscriptions').where({ id, partner_id: partnerId }).whereNull('deleted_at').first('*');
  if (options.forUpdate) q.forUpdate();
  return ((await q) as SubscriptionRow | undefined) ?? null;
}

/** One page of a product's live subscriptions, oldest first. */
export async function listProductSubscriptions(db: Db, productId: string, page: PageRequest): Promise<Page<SubscriptionRow>> {
  const query = db('subscriptions').select('subscriptions.*').where({ product_id: productId }).whereNull('deleted_at');
  return paginate<SubscriptionRow & Record<string, unknown>>(db, query, page, { keys: ['created_at', 'id'] });
}

/** Updates columns of a subscription (and `updated_at`); returns the new row. */
export async function updateSubscription(
  db: Db,
  id: string,
  values: Partial<
    Pick<
      SubscriptionRow,
      'url' | 'event_types' | 'description' | 'state' | 'disabled_reason' | 'secret_sealed' | 'previous_secret_sealed' | 'previous_secret_expires_at' | 'deleted_at' | 'rate_per_second' | 'max_rate_per_second' | 'ordering'
    >
  >,
): Promise<SubscriptionRow> {
  const [row] = await db('subscriptions')
    .where({ id })
    .update({ ...values, updated_at: db.fn.now() })
    .returning('*');
  return row as SubscriptionRow;
}

/** Takes the subscription's unfinished messages out of entity order (ordering turned off); returns those that were waiting, now due. */
export async function releaseOrderedMessages(db: Db, subscriptionId: string): Promise<{ id: string; attempts: number; subscriptionId: string }[]> {
  return dropOrdering(db, subscriptionId);
}

/** Marks the subscription's undelivered messages (pending or held) cancelled; returns how many. */
export async function cancelOpenMessages(db: Db, subscriptionId: string): Promise<number> {
  return cancelMessages(db, (q) => q.where({ subscription_id: subscriptionId }));
}

/** Inserts an event that needs no fan-out (its one message is made with it) and that message. */
export async function insertDirectMessage(
  db: Db,
  event: { id: string; installation_id: string; type: string; entity_id: string | null; occurred_at: Date; data: unknown },
  message: { id: string; subscription_id: string; status: 'pending' | 'held'; next_attempt_at: Date | null },
): Promise<void> {
  // fanout_at is set at once: the fan-out (and the reconciler) must never match this event to
  // other subscriptions; it exists for the one message below.
  await db('events').insert({ ...event, data: JSON.stringify(event.data), fanout_at: db.fn.now() });
  await insertMessages(db, [{ id: message.id, eventId: event.id, subscriptionId: message.subscription_id, status: message.status, nextAttemptAt: message.next_attempt_at, leaseOwner: null }]);
}
