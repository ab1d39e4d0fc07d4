import type { Job } from 'bullmq';
import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import type { JobData, JobName, QueueName } from '#shared/queues/catalog';

/** What a job handler may use. */
export interface WorkerDeps {
  config: Config;
  db: Knex;
  queues: Queues;
  logger: Logger;
}

/** A handler for one job of the catalog; it gets the parsed payload and a job-scoped logger. */
export type JobHandler<Q extends QueueName, J extends JobName<Q>> = (
  data: JobData<Q, J>,
  ctx: { job: Job; log: Logger; deps: WorkerDeps },
) => Promise<void>;

/** Every job of the catalog must have a handler here; the compiler checks it. */
export type HandlerTable = { [Q in QueueName]: { [J in JobName<Q>]: JobHandler<Q, J> } };

/** The handlers. Later issues replace these placeholders with the real work. */
export const handlers: HandlerTable = {
  fanout: {
    'fanout-events': async (data, { log }) => {
      log.debug({ events: data.eventIds.length }, 'fan-out not yet implemented');
    },
  },
  deliver: {
    'deliver-messages': async (data, { log }) => {
      log.debug({ messages: data.messageIds.length }, 'delivery not yet implemented');
    },
  },
  notify: {
    'upgrade-available': async (data, { log }) => {
      log.debug({ productId: data.productId }, 'upgrade notices not yet implemented');
    },
  },
  maintenance: {
    reconcile: async (_data, { log }) => {
      log.debug('reconcile not yet implemented');
    },
  },
};
