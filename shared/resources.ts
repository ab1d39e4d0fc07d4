import type { Config } from './config.ts';
import { createDb, type Knex } from './db/knex.ts';
import { createQueues, createRedis, type Queues, type RedisConnection } from './queues/connection.ts';
import { deliveryShards } from './queues/shards.ts';

/** The connections a process holds: Postgres, Redis and the queue producers. */
export interface Resources {
  db: Knex;
  /** One Redis server, or a Redis Cluster when REDIS_CLUSTER_NODES is set. */
  redis: RedisConnection;
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
  const redis = createRedis(config);
  const prefix = options.queuePrefix ?? config.queuePrefix;
  const queues = createQueues(redis, prefix, deliveryShards(prefix, config.deliveryShards));
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
