import type { RedisConnection } from '#shared/queues/connection';
import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Metrics } from '#shared/metrics';
import type { Queues } from '#shared/queues/connection';

/** What the api needs from the outside; tests build these against their own schema and prefix. */
export interface AppDeps {
  config: Config;
  db: Knex;
  redis: RedisConnection;
  queues: Queues;
  logger: Logger;
  /**
   * Metrics to serve at /metrics. Give one only where the worker runs in the same process
   * (`npm start`, tests) so one scrape shows both; otherwise the app makes its own.
   */
  metrics?: Metrics;
}
