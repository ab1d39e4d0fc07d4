import type { Job } from 'bullmq';
import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import type { JobData, JobName, QueueName } from '#shared/queues/catalog';
import type { DeliveryEngine } from './delivery/engine.ts';
import { fanoutEvents } from './fanout/fanout-events.ts';
import { deliverMessages } from './delivery/deliver-messages.ts';
import { reconcile } from './maintenance/reconcile.ts';
import { makePartitions, prune } from './maintenance/prune.ts';
import { disableFailing } from './maintenance/disable-failing.ts';
import { recordUpgradeNotices } from './notify/upgrade-available.ts';
import { sendMail } from './mail/send-mail.ts';

/** What a job handler may use. */
export interface WorkerDeps {
  config: Config;
  db: Knex;
  queues: Queues;
  logger: Logger;
  engine: DeliveryEngine;
}

/** A handler for one job of the catalog; it gets the parsed payload and a job-scoped logger. */
export type JobHandler<Q extends QueueName, J extends JobName<Q>> = (
  data: JobData<Q, J>,
  ctx: { job: Job; log: Logger; deps: WorkerDeps },
) => Promise<void>;

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
  maintenance: { reconcile, prune, partitions: makePartitions, 'disable-failing': disableFailing },
};
