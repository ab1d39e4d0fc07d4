import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { Queue, type JobsOptions } from 'bullmq';
import { NotFoundError } from '../errors.ts';
import { QUEUES, QUEUE_NAMES, isSharded, type JobData, type JobName, type QueueName, type ShardedQueueName, type UnshardedQueueName } from './catalog.ts';
import { deliveryShards, type DeliveryShards } from './shards.ts';

/** A connection to Redis: one server, or a Redis Cluster (REDIS_CLUSTER_NODES). Every caller takes either. */
export type RedisConnection = Redis | Cluster;

/** A Redis Cluster seed, `host:port`. */
export interface ClusterSeed {
  host: string;
  port: number;
}

/** Where Redis is: the seeds of a cluster when given (REDIS_URL is then unused), else one URL. */
export interface RedisTarget {
  redisUrl: string;
  redisClusterNodes: ClusterSeed[] | null;
}

// BullMQ workers block on their connection, so requests must never give up.
const BULLMQ_OPTIONS = { maxRetriesPerRequest: null, enableReadyCheck: true } as const;

/**
 * A Redis connection for BullMQ and the engine's own keys. Given seeds, an ioredis `Cluster`:
 * it learns the slot map from them, follows MOVED/ASK redirects, and after a fail-over finds
 * the promoted replica by itself (a refresh of the slot map), so no process needs a restart.
 * `duplicate()` (BullMQ's blocking connections) makes another Cluster on the same seeds.
 */
export function createRedis(target: string, options?: RedisOptions): Redis;
export function createRedis(target: RedisTarget, options?: RedisOptions): RedisConnection;
export function createRedis(target: string | RedisTarget, options: RedisOptions = {}): RedisConnection {
  const url = typeof target === 'string' ? target : target.redisUrl;
  const seeds = typeof target === 'string' ? null : target.redisClusterNodes;
  if (!seeds || seeds.length === 0) return new Redis(url, { ...BULLMQ_OPTIONS, ...options });
  const { lazyConnect, ...redisOptions } = options;
  return new Cluster(seeds, {
    lazyConnect,
    enableReadyCheck: true,
    redisOptions: { ...BULLMQ_OPTIONS, ...redisOptions },
    // Commands wait while the slot map is refreshed (a fail-over), instead of failing at once.
    enableOfflineQueue: true,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2_000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
  });
}

/** True for a Redis Cluster connection. */
export const isCluster = (redis: RedisConnection): redis is Cluster => (redis as Cluster).isCluster === true;

/** Resolves when Redis answers PING. */
export async function pingRedis(redis: RedisConnection): Promise<void> {
  await redis.ping();
}

/**
 * The keys matching `pattern`, by SCAN (never KEYS). On a cluster every master holds its own
 * slots' keys only, so each master is scanned.
 */
export async function scanKeys(redis: RedisConnection, pattern: string): Promise<string[]> {
  const nodes: Redis[] = isCluster(redis) ? redis.nodes('master') : [redis];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** Deletes keys; on a cluster one at a time (keys of many slots cannot share one DEL). */
export async function deleteKeys(redis: RedisConnection, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  if (!isCluster(redis)) {
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
    return;
  }
  await Promise.all(keys.map((key) => redis.del(key)));
}

/**
 * Every key of a deployment's queue prefix and delivery shards (tests and benchmarks clean up
 * with it). Shard prefixes are `{tag:d…}` beside `{tag}`, so both patterns are scanned.
 */
export async function prefixKeys(redis: RedisConnection, shards: DeliveryShards, prefix: string): Promise<string[]> {
  const patterns = new Set([prefix, ...shards.prefixes].map((p) => `${p}:*`));
  const keys = new Set<string>();
  for (const pattern of patterns) for (const key of await scanKeys(redis, pattern)) keys.add(key);
  return [...keys];
}

/**
 * One producer handle per queue of the catalog, sharing one connection. A sharded queue
 * (`deliver`) has one BullMQ queue per delivery shard, index = shard, each under its shard's prefix.
 */
export type Queues = { [Q in UnshardedQueueName]: Queue } & { [Q in ShardedQueueName]: Queue[] } & {
  shards: DeliveryShards;
  /** Every BullMQ queue of a catalog name: one, or one per shard. */
  of(name: QueueName): Queue[];
  /** The BullMQ queue of a sharded queue that carries a subscription's jobs. */
  forSubscription(name: ShardedQueueName, subscriptionId: string): Queue;
  /**
   * Adds a job to an unsharded queue, typed by the catalog; the catalog's retry policy applies
   * unless overridden. Delivery jobs go through `enqueueDeliveries` (they need a subscription's shard).
   */
  enqueue<Q extends UnshardedQueueName, J extends JobName<Q>>(queue: Q, job: J, data: JobData<Q, J>, options?: JobsOptions): Promise<void>;
  close(): Promise<void>;
};

/** Opens the catalog's queues for producing jobs; `shards` splits the sharded ones (default one shard). */
export function createQueues(connection: RedisConnection, prefix: string, shards: DeliveryShards = deliveryShards(prefix, 1)): Queues {
  const open = (name: QueueName, queuePrefix: string) =>
    new Queue(name, { connection, prefix: queuePrefix, defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 5000, ...QUEUES[name].defaults } });
  const byName = Object.fromEntries(
    QUEUE_NAMES.map((name) => [name, isSharded(name) ? shards.prefixes.map((p) => open(name, p)) : [open(name, prefix)]]),
  ) as Record<QueueName, Queue[]>;
  const handles = Object.fromEntries(QUEUE_NAMES.map((name) => [name, isSharded(name) ? byName[name] : byName[name][0]]));
  return {
    ...(handles as { [Q in UnshardedQueueName]: Queue } & { [Q in ShardedQueueName]: Queue[] }),
    shards,
    of: (name) => byName[name],
    forSubscription: (name, subscriptionId) => byName[name][shards.of(subscriptionId)]!,
    async enqueue(queue, job, data, options) {
      await byName[queue][0]!.add(job, data, options);
    },
    async close() {
      await Promise.all(Object.values(byName).flat().map((q) => q.close()));
    },
  };
}

/** Every BullMQ queue by catalog name (the `Queues` handle without its helper functions). */
export function catalogQueues(queues: Queues): Record<QueueName, Queue[]> {
  return Object.fromEntries(QUEUE_NAMES.map((name) => [name, queues.of(name)])) as Record<QueueName, Queue[]>;
}

/** Resolves a queue name from a path to its BullMQ queues; an unknown one is a 404, as for any unknown id. */
export function findQueue(queues: Queues, name: string): { name: QueueName; queues: Queue[] } {
  if (!(QUEUE_NAMES as string[]).includes(name)) throw new NotFoundError('queue', name);
  return { name: name as QueueName, queues: queues.of(name as QueueName) };
}
