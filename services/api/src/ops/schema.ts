import { z } from 'zod';
import { QUEUE_NAMES } from '#shared/queues/catalog';

/** Job counts of one queue, and whether it is paused. */
export const QueueStats = z.object({
  name: z.enum(QUEUE_NAMES as [string, ...string[]]),
  /** Ready to run (or held by a pause), including prioritized jobs. */
  waiting: z.number().int(),
  active: z.number().int(),
  delayed: z.number().int(),
  failed: z.number().int(),
  completed: z.number().int(),
  paused: z.boolean(),
});
export type QueueStats = z.infer<typeof QueueStats>;

export const QueueList = z.object({ data: z.array(QueueStats) });

export const QueueParams = z.object({ name: z.string() });
