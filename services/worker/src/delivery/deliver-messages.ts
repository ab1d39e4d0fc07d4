import type { JobHandler } from '../job.ts';
import { claimItems } from './claim.ts';

/**
 * Delivery, stage two: a retry, a resend, a held message released, or a message the reconciler
 * found. Claims the messages still due and reads them with their events in one statement
 * (another job carrying the same message then finds it taken), and waits for the attempt to be
 * written, so the job completes only when the outcome is in Postgres; a message whose lane would
 * keep it waiting long is written back as pending for later instead (`submitFromJob`), so a slow
 * receiver's messages do not hold the queue's job slots.
 *
 * Failure policy: a message no longer pending (delivered, dead, cancelled, held), or not due
 * (another worker holds its lease), is skipped; a message whose subscription is gone (deleted
 * in Postgres, not merely missing from a table) is cancelled. Claimed messages are leased to
 * this job until their outcome is written.
 */
export const deliverMessages: JobHandler<'deliver', 'deliver-messages'> = async ({ messageIds }, { deps }) => {
  const items = await claimItems(deps.db, deps.engine.routing, deps.config.deliveryLeaseMs, messageIds);
  if (items.length > 0) await deps.engine.dispatcher.submitFromJob(items);
};
