import type { JobName, QueueName } from '#shared/queues/catalog';
import type { JobHandler } from './job.ts';
import { fanoutEvents } from './fanout/fanout-events.ts';
import { deliverMessages } from './delivery/deliver-messages.ts';
import { reconcile } from './maintenance/reconcile.ts';
import { prune } from './maintenance/prune.ts';
import { disableFailing } from './maintenance/disable-failing.ts';
import { recordUpgradeNotices } from './notify/upgrade-available.ts';
import { sendMail } from './mail/send-mail.ts';

/** Every job of the catalog must have a handler here; the compiler checks it. */
export type HandlerTable = { [Q in QueueName]: { [J in JobName<Q>]: JobHandler<Q, J> } };

/** The handlers, one per job of the catalog. */
export const handlers: HandlerTable = {
  fanout: { 'fanout-events': fanoutEvents },
  deliver: { 'deliver-messages': deliverMessages },
  notify: { 'upgrade-available': recordUpgradeNotices },
  mail: {
    'send-mail': sendMail,
  },
  maintenance: { reconcile, prune, 'disable-failing': disableFailing },
};
