import { randomUUID } from 'node:crypto';
import { buildPayload } from '#shared/delivery/payload';
import { cancelMessages, claimMessages } from '#shared/delivery/message-state';
import type { Knex } from '#shared/db/knex';
import type { RoutingCache } from '../fanout/routing-table.ts';
import type { DeliveryItem } from './dispatcher.ts';

/**
 * Claims the messages still due and reads them with their events in one statement, as items
 * for the dispatcher (its lease taken before the statement); cancels those of a subscription
 * really gone. The delivery job's way (deliver-messages.ts) and the hand-on's way to take an entity's next message.
 */
export async function claimItems(db: Knex, routing: Pick<RoutingCache, 'get'>, leaseMs: number, messageIds: string[]): Promise<DeliveryItem[]> {
  const owner = randomUUID();
  // Taken before the statement: the lease, as this process counts it, ends no later than Postgres's.
  const leaseUntil = Date.now() + leaseMs;
  const rows = await claimMessages(db, messageIds, leaseMs, owner);
  if (rows.length === 0) return [];

  const table = await routing.get();
  const items: DeliveryItem[] = [];
  const orphaned: string[] = [];
  for (const row of rows) {
    const subscription = table.subscriptions.get(row.subscription_id);
    if (!subscription) {
      orphaned.push(row.id);
      continue;
    }
    const body = buildPayload(
      { id: row.event_id, installationId: row.installation_id, type: row.type, entityId: row.entity_id, occurredAt: row.occurred_at, data: row.data },
      row.created_at,
    );
    items.push({ messageId: row.id, attemptsMade: row.attempts, subscription, body, lease: { owner, until: leaseUntil }, entityKey: row.entity_key });
  }
  if (orphaned.length > 0) {
    // Only for a subscription really gone: one the table lacks but Postgres has stays pending
    // under its lease (the routing table is never older than the claim, so this is a safeguard).
    await cancelMessages(db, (q) =>
      q
        .whereIn('id', orphaned)
        .where('status', 'pending')
        .whereNotExists((s) => s.from('subscriptions as s').whereRaw('s.id = messages.subscription_id').whereNull('s.deleted_at')),
    );
  }
  return items;
}
