import { z } from 'zod';
import type { JobsOptions } from 'bullmq';

/**
 * The one catalog of queues and jobs. Every queue name, job name, payload schema and retry
 * policy is defined here; producers (`enqueue`) and workers are typed from it.
 * Payloads carry ids only: workers reload the rows from Postgres, the source of truth.
 */
export const QUEUES = {
  /** Jobs of ingested events (the small batches committed in one turn of the api share one): match subscriptions, create messages. */
  fanout: {
    jobs: {
      'fanout-events': z.object({ eventIds: z.array(z.string()).min(1) }),
    },
    defaults: { attempts: 10, backoff: { type: 'exponential', delay: 1_000 } },
  },
  /**
   * Deliveries: batches of first attempts and single delayed retries. Sharded: one BullMQ queue
   * per delivery shard (DELIVERY_SHARDS), a subscription's jobs always in its shard's (`shards.ts`).
   */
  deliver: {
    sharded: true,
    jobs: {
      'deliver-messages': z.object({ messageIds: z.array(z.string()).min(1) }),
    },
    defaults: { attempts: 5, backoff: { type: 'exponential', delay: 1_000 } },
  },
  /** Notices to partners and installations (upgrade available, subscription disabled, ...). */
  notify: {
    jobs: {
      'upgrade-available': z.object({ productId: z.string(), version: z.number().int() }),
    },
    defaults: { attempts: 10, backoff: { type: 'exponential', delay: 2_000 } },
  },
  /**
   * Outgoing e-mail (sign-in codes, invitations, application outcomes). The request writes the
   * mail row and enqueues after commit; the worker sends it (SMTP) or marks it delivered to the
   * outbox. Retries here, so a slow or failing mail server never slows or fails a request.
   */
  mail: {
    jobs: {
      'send-mail': z.object({ mailId: z.string() }),
    },
    // 2 s, 4 s, 8 s ... the twelfth try comes about 2 h after the first.
    defaults: { attempts: 12, backoff: { type: 'exponential', delay: 2_000 } },
  },
  /** Periodic upkeep: reconciliation, retention, partitions made ahead, auto-disable. */
  maintenance: {
    jobs: {
      reconcile: z.object({}),
      prune: z.object({}),
      partitions: z.object({}),
      'disable-failing': z.object({}),
    },
    defaults: { attempts: 1 },
  },
} as const satisfies Record<string, { jobs: Record<string, z.ZodType>; defaults: JobsOptions; sharded?: true }>;

export type QueueName = keyof typeof QUEUES;
/** Queues split over the delivery shards (one BullMQ queue per shard). */
export type ShardedQueueName = { [Q in QueueName]: (typeof QUEUES)[Q] extends { sharded: true } ? Q : never }[QueueName];
/** Queues of one BullMQ queue under the queue prefix. */
export type UnshardedQueueName = Exclude<QueueName, ShardedQueueName>;
export type JobName<Q extends QueueName> = keyof (typeof QUEUES)[Q]['jobs'] & string;
export type JobData<Q extends QueueName, J extends JobName<Q>> = z.infer<(typeof QUEUES)[Q]['jobs'][J]>;

export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];

/** True for a queue split over the delivery shards. */
export const isSharded = (name: QueueName): name is ShardedQueueName => 'sharded' in QUEUES[name];

/** Validates a job's payload against the catalog; a malformed job is a bug, so it throws. */
export function parseJobData<Q extends QueueName, J extends JobName<Q>>(queue: Q, job: J, data: unknown): JobData<Q, J> {
  const schema = (QUEUES[queue].jobs as Record<string, z.ZodType>)[job];
  if (!schema) throw new Error(`queue ${queue} has no job named ${job}`);
  return schema.parse(data) as JobData<Q, J>;
}
