import type { JobHandler } from '../job.ts';
import { disableFailingSubscriptions } from '#shared/delivery/disable';

/**
 * Disables subscriptions failing for longer than DISABLE_AFTER even when no attempt reaches
 * the writer (their circuit is open and their messages wait on the retry schedule).
 */
export const disableFailing: JobHandler<'maintenance', 'disable-failing'> = async (_data, { deps, log }) => {
  const count = await deps.db.transaction((trx) => disableFailingSubscriptions(trx, deps.config.disableAfterMs, null));
  deps.engine.observer.disabled(count);
  if (count > 0) log.warn({ count }, 'disabled failing subscriptions');
};
