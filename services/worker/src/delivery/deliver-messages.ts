import { buildPayload } from '#shared/delivery/payload';
import { claimMessages } from '#shared/delivery/requeue';
import type { JobHandler } from '../handlers.ts';
import type { DeliveryItem } from './dispatcher.ts';

/**
 * Delivery, stage two: a retry, a resend, a held message released, or a message the reconciler
 * found. Reloads each message and its event, claims the ones still due (another job carrying the
 * same message then finds it taken), and waits for the attempt to be written, so the job
 * completes only when the outcome is in Postgres.
 *
 * Failure policy: a message no longer pending (delivered, dead, cancelled, held) is skipped; a
 * message whose subscription is gone is cancelled. The job id is derived from the message id and
 * attempt count, so a duplicate enqueue is one job.
 */
export const deliverMessages: JobHandler<'deliver', 'deliver-messages'> = async ({ messageIds }, { deps }) => {
  const { db, engine } = deps;
  const rows: {
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
  }[] = await db('messages as m')
    .join('events as e', 'e.id', 'm.event_id')
    .whereIn('m.id', messageIds)
    .where('m.status', 'pending')
    .select(
      'm.id',
      'm.attempts',
      'm.created_at',
      'm.subscription_id',
      'e.id as event_id',
      'e.installation_id',
      'e.type',
      'e.entity_id',
      'e.occurred_at',
      'e.data',
    );
  if (rows.length === 0) return;

  const table = await engine.routing.get();
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
    items.push({ messageId: row.id, attemptsMade: row.attempts, subscription, body });
  }
  if (orphaned.length > 0) {
    await db('messages').whereIn('id', orphaned).where('status', 'pending').update({ status: 'cancelled', next_attempt_at: null, updated_at: db.fn.now() });
  }
  const claimed = new Set(
    await claimMessages(
      db,
      items.map((i) => i.messageId),
      deps.config.deliveryLeaseMs,
    ),
  );
  await engine.dispatcher.submit(items.filter((i) => claimed.has(i.messageId)));
};
