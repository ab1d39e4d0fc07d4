import type { Queue } from 'bullmq';
import { NotFoundError } from '#shared/errors';
import { QUEUE_NAMES, type QueueName } from '#shared/queues/catalog';
import type { Queues } from '#shared/queues/connection';
import { queueCounts } from '#shared/metrics';
import type { QueueStats } from './schema.ts';

/** The catalog's queues by name (the `Queues` handle without its helper functions). */
export function catalogQueues(queues: Queues): Record<QueueName, Queue> {
  return Object.fromEntries(QUEUE_NAMES.map((name) => [name, queues[name]])) as Record<QueueName, Queue>;
}

/** Resolves a queue name from a path; an unknown one is a 404, as for any unknown id. */
export function findQueue(queues: Queues, name: string): Queue {
  if (!(QUEUE_NAMES as string[]).includes(name)) throw new NotFoundError('queue', name);
  return queues[name as QueueName];
}

/** Counts per state of every queue of the catalog, in catalog order. */
export async function listQueueStats(queues: Queues): Promise<QueueStats[]> {
  return Promise.all(
    QUEUE_NAMES.map(async (name) => {
      const queue = queues[name];
      const [counts, paused] = await Promise.all([queueCounts(queue), queue.isPaused()]);
      return { name, ...counts, paused };
    }),
  );
}
