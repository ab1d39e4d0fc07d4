import type { Job } from 'bullmq';
import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import type { JobData, JobName, QueueName } from '#shared/queues/catalog';
import type { DeliveryEngine } from './delivery/engine.ts';

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
