import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, parseJobData, type QueueName } from '#shared/queues/catalog';
import { handlers, type JobHandler, type WorkerDeps } from './handlers.ts';

/** Options for `startWorkers`. */
export interface WorkerOptions {
  prefix: string;
  /** Jobs processed at once per queue; default 8. */
  concurrency?: Partial<Record<QueueName, number>>;
}

/** Running BullMQ workers, one per queue of the catalog. */
export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs and waits for active ones; past `deadlineMs` it abandons them (they are retried). */
  close(deadlineMs: number): Promise<void>;
}

/** Starts a worker for every queue of the catalog, dispatching each job to its handler. */
export function startWorkers(connection: Redis, deps: WorkerDeps, options: WorkerOptions): RunningWorkers {
  // A job's lock must outlive the longest delivery it may be making; a lock that expires mid-request
  // lets a second worker take the job and deliver the same message twice in parallel.
  const lockDuration = Math.max(30_000, deps.config.deliveryTimeoutMs * 2 + 5_000);
  const workers = QUEUE_NAMES.map(
    (queue) =>
      new Worker(
        queue,
        async (job: Job) => {
          const table = handlers[queue] as Record<string, JobHandler<typeof queue, never>>;
          const handler = table[job.name];
          if (!handler) throw new Error(`no handler for job ${job.name} on queue ${queue}`);
          const log = deps.logger.child({ queue, jobId: job.id, job: job.name });
          await handler(parseJobData(queue, job.name as never, job.data) as never, { job, log, deps });
        },
        {
          connection,
          prefix: options.prefix,
          concurrency: options.concurrency?.[queue] ?? 8,
          lockDuration,
          autorun: true,
        },
      ),
  );
  for (const worker of workers) {
    worker.on('failed', (job, err) => deps.logger.warn({ queue: worker.name, jobId: job?.id, err }, 'job failed'));
    worker.on('error', (err) => deps.logger.error({ queue: worker.name, err }, 'worker error'));
  }
  return {
    workers,
    async close(deadlineMs) {
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((w) => w.close()));
      const deadline = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), deadlineMs);
      });
      const outcome = await Promise.race([graceful, deadline]);
      clearTimeout(timer);
      if (outcome === 'late') {
        deps.logger.warn({ deadlineMs }, 'workers did not finish in time; forcing close, active jobs will be retried');
        await Promise.all(workers.map((w) => w.close(true)));
      }
    },
  };
}
