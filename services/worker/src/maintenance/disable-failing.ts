import type { JobHandler } from '../job.ts';
import { disableFailingSubscriptions } from '#shared/delivery/disable';
import { dispatchMail } from '#shared/mail/outbox';

/**
 * Disables subscriptions failing for longer than DISABLE_AFTER even when no attempt reaches
 * the writer (their circuit is open and their messages wait on the retry schedule). Each
 * partner gets a notice and its contact person a mail, enqueued after the commit.
 */
export const disableFailing: JobHandler<'maintenance', 'disable-failing'> = async (_data, { deps, log }) => {
  const { count, mailIds } = await deps.db.transaction((trx) =>
    disableFailingSubscriptions(trx, deps.config.disableAfterMs, null, deps.config.publicUrl),
  );
  dispatchMail(deps.queues, mailIds, log);
  deps.engine.observer.disabled(count);
  if (count > 0) log.warn({ count }, 'disabled failing subscriptions');
};
