import { Redis, type RedisOptions } from 'ioredis';
import { Queue, type JobsOptions } from 'bullmq';
import { NotFoundError } from '../errors.ts';
import { QUEUES, QUEUE_NAMES, type JobData, type JobName, type QueueName } from './catalog.ts';

/** A Redis connection for BullMQ: workers block on it, so requests must never give up. */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}

/** Resolves when Redis answers PING. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redis.ping();
}

/** One producer handle per queue of the catalog, sharing one connection and one prefix. */
export type Queues = { [Q in QueueName]: Queue } & {
  /** Adds a job, typed by the catalog; the catalog's retry policy applies unless overridden. */
  enqueue<Q extends QueueName, J extends JobName<Q>>(queue: Q, job: J, data: JobData<Q, J>, options?: JobsOptions): Promise<void>;
  close(): Promise<void>;
};

/** Opens the catalog's queues for producing jobs. */
export function createQueues(connection: Redis, prefix: string): Queues {
  const entries = QUEUE_NAMES.map((name) => [
    name,
    new Queue(name, { connection, prefix, defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 5000, ...QUEUES[name].defaults } }),
  ]);
  const byName = Object.fromEntries(entries) as { [Q in QueueName]: Queue };
  return {
    ...byName,
    async enqueue(queue, job, data, options) {
      await byName[queue].add(job, data, options);
    },
    async close() {
      await Promise.all(Object.values(byName).map((q) => q.close()));
    },
  };
}

/** The catalog's queues by name (the `Queues` handle without its helper functions). */
export function catalogQueues(queues: Queues): Record<QueueName, Queue> {
  return Object.fromEntries(QUEUE_NAMES.map((name) => [name, queues[name]])) as Record<QueueName, Queue>;
}

/** Resolves a queue name from a path; an unknown one is a 404, as for any unknown id. */
export function findQueue(queues: Queues, name: string): Queue {
  if (!(QUEUE_NAMES as string[]).includes(name)) throw new NotFoundError('queue', name);
  return queues[name as QueueName];
}
