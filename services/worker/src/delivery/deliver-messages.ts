import { buildPayload } from '#shared/delivery/payload';
import { randomUUID } from 'node:crypto';
import { cancelMessages, claimMessages } from '#shared/delivery/message-state';
import type { Knex } from '#shared/db/knex';
import type { JobHandler } from '../job.ts';
import type { RoutingCache } from '../fanout/routing-table.ts';
import type { DeliveryItem } from './dispatcher.ts';

/**
 * Delivery, stage two: a retry, a resend, a held message released, or a message the reconciler
 * found. Claims the messages still due and reads them with their events in one statement
 * (another job carrying the same message then finds it taken), and waits for the attempt to be
 * written, so the job completes only when the outcome is in Postgres.
 *
 * Failure policy: a message no longer pending (delivered, dead, cancelled, held), or not due
 * (another worker holds its lease), is skipped; a message whose subscription is gone (deleted
 * in Postgres, not merely missing from a table) is cancelled. Claimed messages are leased to
 * this job until their outcome is written.
 */
export const deliverMessages: JobHandler<'deliver', 'deliver-messages'> = async ({ messageIds }, { deps }) => {
  const items = await claimItems(deps.db, deps.engine.routing, deps.config.deliveryLeaseMs, messageIds);
  if (items.length > 0) await deps.engine.dispatcher.submit(items);
};

/**
 * Claims the messages still due and reads them with their events in one statement, as items
 * for the dispatcher (its lease taken before the statement); cancels those of a subscription
 * really gone. Also the hand-on's way to take an entity's next message.
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
