import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { createDb, type Knex } from './db/knex.ts';
import { createQueues, createRedis, type Queues } from './queues/connection.ts';

/** The connections a process holds: Postgres, Redis and the queue producers. */
export interface Resources {
  db: Knex;
  redis: Redis;
  queues: Queues;
  close(): Promise<void>;
}

/** Options for `openResources`. */
export interface ResourceOptions {
  /** A Postgres schema to work in (tests); default the connection's search path. */
  schema?: string;
  /** The queue prefix; default the configured one. */
  queuePrefix?: string;
}

/** Opens the connections a process needs; `close` ends them in reverse order. */
export function openResources(config: Config, options: ResourceOptions = {}): Resources {
  const db = createDb({ url: config.databaseUrl, schema: options.schema, poolMax: config.databasePoolMax });
  const redis = createRedis(config.redisUrl);
  const queues = createQueues(redis, options.queuePrefix ?? config.queuePrefix);
  return {
    db,
    redis,
    queues,
    async close() {
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
      await db.destroy();
    },
  };
}
