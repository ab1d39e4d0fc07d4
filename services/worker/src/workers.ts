import { Worker, type Job } from 'bullmq';
import type { RedisConnection } from '#shared/queues/connection';
import { QUEUE_NAMES, isSharded, parseJobData, type QueueName } from '#shared/queues/catalog';
import { handlers } from './handlers.ts';
import type { JobHandler, WorkerDeps } from './job.ts';
import { createDeliveryEngine, type DeliveryEngine } from './delivery/engine.ts';
import type { DeliveryObserver } from './delivery/observer.ts';
import { watchStuckWorkers, watchedWorker, type StuckWorkerOptions, type WatchedWorker } from './stuck-workers.ts';

/** Options for `startWorkers`. */
export interface WorkerOptions {
  prefix: string;
  /**
   * Jobs processed at once per queue; for the sharded deliver queue, over all the shards served
   * (each shard's worker gets its part, at least 10).
   */
  concurrency?: Partial<Record<QueueName, number>>;
  /** Register the periodic maintenance jobs (default true). */
  schedules?: boolean;
  /** Metrics hook for the engine. */
  observer?: DeliveryObserver;
  /** When a worker that takes no jobs is replaced (`stuck-workers.ts`). */
  stuckWorkers?: StuckWorkerOptions;
}

/** Running BullMQ workers, one per queue of the catalog, and the delivery engine they share. */
export interface RunningWorkers {
  /** The BullMQ workers running now (a replaced stuck one is no longer among them). */
  workers: Worker[];
  engine: DeliveryEngine;
  /** Stops taking jobs and finishes or hands back work in hand; past `deadlineMs` it abandons the rest (it is retried). */
  close(deadlineMs: number): Promise<void>;
}

// Deliveries wait on receivers, so many run at once; upkeep is short and rare. A fan-out job
// is a handful of Postgres round trips: eight at once keep 1000 events/s in batches of 10
// flowing on a loaded machine, where each round trip waits for a core.
const DEFAULT_CONCURRENCY: Record<QueueName, number> = { fanout: 8, deliver: 100, notify: 8, mail: 4, maintenance: 1 };

/** Periodic upkeep: how often each maintenance job runs. */
const schedules = (reconcileEvery: number) =>
  [
    { name: 'reconcile', every: reconcileEvery },
    { name: 'disable-failing', every: 300_000 },
    { name: 'prune', every: 3_600_000 },
    { name: 'partitions', every: 3_600_000 },
  ] as const;

/**
 * Starts a worker for every queue of the catalog, dispatching each job to its handler; for the
 * sharded deliver queue one worker per delivery shard served (WORKER_SHARDS, default all), each
 * on its shard's prefix. Each BullMQ worker blocks on a connection of its own (`duplicate()`,
 * another Cluster on a cluster).
 */
export function startWorkers(connection: RedisConnection, deps: Omit<WorkerDeps, 'engine'>, options: WorkerOptions): RunningWorkers {
  const engine = createDeliveryEngine(deps, connection, options.observer);
  engine.start();
  const workerDeps: WorkerDeps = { ...deps, engine };
  // A job's lock must outlive the longest delivery it may be making; a lock that expires mid-request
  // lets a second worker take the job and deliver the same message twice in parallel.
  const lockDuration = Math.max(30_000, deps.config.deliveryTimeoutMs * 2 + 5_000);
  const served = deps.config.workerShards;
  const targets = QUEUE_NAMES.flatMap((queue): { queue: QueueName; prefix: string; concurrency: number }[] => {
    const concurrency = options.concurrency?.[queue] ?? DEFAULT_CONCURRENCY[queue];
    if (!isSharded(queue)) return [{ queue, prefix: options.prefix, concurrency }];
    // The shards served share the queue's concurrency.
    const share = served.length === 1 ? concurrency : Math.max(10, Math.ceil(concurrency / served.length));
    return served.map((shard) => ({ queue, prefix: deps.queues.shards.prefixes[shard]!, concurrency: share }));
  });
  const watched: WatchedWorker[] = [];
  /** A BullMQ worker for one target, its jobs counted for the stuck-worker watch. */
  const startWorker = ({ queue, prefix, concurrency }: (typeof targets)[number]): WatchedWorker => {
    const processor = async (job: Job) => {
      const table = handlers[queue] as Record<string, JobHandler<typeof queue, never>>;
      const handler = table[job.name];
      if (!handler) throw new Error(`no handler for job ${job.name} on queue ${queue}`);
      const log = deps.logger.child({ queue, jobId: job.id, job: job.name });
      await handler(parseJobData(queue, job.name as never, job.data) as never, { job, log, deps: workerDeps });
    };
    const entry = watchedWorker(concurrency, processor, (counted) => new Worker(queue, counted, { connection, prefix, concurrency, lockDuration, autorun: true }));
    entry.worker.on('failed', (job, err) => deps.logger.warn({ queue, jobId: job?.id, err }, 'job failed'));
    entry.worker.on('error', (err) => deps.logger.error({ queue, err }, 'worker error'));
    return entry;
  };
  for (const target of targets) watched.push(startWorker(target));
  /** The workers running now (a stuck one's replacement in its place). */
  const workers = () => watched.map((w) => w.worker);
  const stuckWatch = watchStuckWorkers(
    connection,
    () => watched,
    (stuck) => {
      const i = watched.indexOf(stuck);
      if (i < 0) return;
      // Not awaited: a stuck worker's close may never finish. (Not `disconnect()`: that would
      // close the connection every worker shares.)
      void stuck.worker.close(true).catch((err: unknown) => deps.logger.warn({ err, queue: stuck.worker.name }, 'closing a stuck worker failed'));
      watched[i] = startWorker(targets[i]!);
    },
    deps.logger,
    options.stuckWorkers,
  );
  // Registered again every reconcile interval: a Redis emptied while workers run would otherwise
  // lose the schedulers, and with them the reconciler that repairs what Redis lost. Idempotent.
  const registerSchedules = () => {
    for (const { name, every } of schedules(deps.config.reconcileIntervalMs)) {
      void deps.queues.maintenance
        .upsertJobScheduler(name, { every }, { name, data: {} })
        .catch((err: unknown) => deps.logger.error({ err, name }, 'could not schedule maintenance job'));
    }
  };
  const scheduleTimer = options.schedules !== false ? setInterval(registerSchedules, Math.max(5_000, deps.config.reconcileIntervalMs)) : null;
  if (options.schedules !== false) registerSchedules();
  const byName = (name: QueueName) => workers().filter((w) => w.name === name);

  async function closeGracefully(): Promise<void> {
    if (scheduleTimer) clearInterval(scheduleTimer);
    stuckWatch.stop();
    // New events first, so nothing new reaches the dispatcher. Then, together: the delivery
    // worker stops fetching (else it would take the handed-back jobs again) and waits for its
    // active jobs, while the dispatcher hands back what it has not started and finishes what is
    // in flight, which completes those jobs.
    await Promise.all(byName('fanout').map((w) => w.close()));
    await Promise.all([...byName('deliver').map((w) => w.close()), engine.stop()]);
    await Promise.all(workers().map((w) => w.close()));
  }

  return {
    get workers() {
      return workers();
    },
    engine,
    async close(deadlineMs) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), deadlineMs);
      });
      const outcome = await Promise.race([closeGracefully(), deadline]);
      clearTimeout(timer);
      if (outcome === 'late') {
        deps.logger.warn({ deadlineMs }, 'workers did not finish in time; forcing close, active jobs will be retried');
        await Promise.all(workers().map((w) => w.close(true)));
      }
    },
  };
}
