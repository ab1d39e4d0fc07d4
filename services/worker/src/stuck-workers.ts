import type { Job, Worker } from 'bullmq';
import type { Logger } from '#shared/logger';
import type { RedisConnection } from '#shared/queues/connection';

/** How often the watch looks, and how long a job may wait on a worker with room before the worker counts as stuck. */
export interface StuckWorkerOptions {
  /** Default 10 s. */
  everyMs?: number;
  /** Default 30 s. */
  stuckMs?: number;
}

/** One BullMQ worker as the watch sees it: the worker, how many of its jobs are in hand, and when it last had no room. */
export interface WatchedWorker {
  worker: Worker;
  concurrency: number;
  /** Jobs in the processor now (counted by the processor's wrapper). */
  active: number;
  /** When `active` last reached `concurrency` (ms). */
  fullAt: number;
  /** The job that waited longest in the queue at the last look, and since when it has. */
  oldest: { jobId: string; since: number } | null;
}

/**
 * A worker made by `create` around `processor`, counted for the watch: how many jobs it holds,
 * and when it last had no room.
 */
export function watchedWorker(concurrency: number, processor: (job: Job) => Promise<void>, create: (counted: (job: Job) => Promise<void>) => Worker): WatchedWorker {
  const entry: WatchedWorker = { worker: null as unknown as Worker, concurrency, active: 0, fullAt: 0, oldest: null };
  entry.worker = create(async (job) => {
    if (++entry.active >= concurrency) entry.fullAt = Date.now();
    try {
      await processor(job);
    } finally {
      if (entry.active-- >= concurrency) entry.fullAt = Date.now();
    }
  });
  return entry;
}

/** BullMQ's delayed set scores a job by its due time (ms) times 0x1000 plus a counter. */
const DELAYED_SCORE_SHIFT = 0x1000;

/**
 * Replaces a BullMQ worker that has stopped taking jobs. BullMQ's fetch loop can wedge after a
 * Redis fail-over: no error, `isRunning()` still true, the queue's jobs waiting, the same
 * process's other queues going on (test/engine/cluster-failover.test.ts caught the maintenance
 * queue's worker so in both processes, so the reconciler never ran again; upstream
 * taskforcesh/bullmq#4138 is the same shape). Nothing in BullMQ says so, so this looks from
 * outside, with three commands per worker per look: if the job that waited longest in the
 * queue (`LINDEX wait -1`: BullMQ pushes on the left and takes from the right) is still the
 * same `stuckMs` later, or a delayed job is overdue by `stuckMs` (any worker's fetch promotes
 * those), while this worker had room the whole time, the worker is closed without waiting for
 * it and `replace` makes a new one in its place. A worker holding a job, or full at any time in
 * that span (its jobs wait for room, not for a loop), is left alone, and so is a paused queue.
 */
export function watchStuckWorkers(
  redis: RedisConnection,
  watched: () => WatchedWorker[],
  replace: (stuck: WatchedWorker) => void,
  logger: Logger,
  options: StuckWorkerOptions = {},
): { stop(): void } {
  const { everyMs = 10_000, stuckMs = 30_000 } = options;
  let looking = false;
  const look = async () => {
    if (looking) return;
    looking = true;
    try {
      await Promise.all(watched().map((w) => lookAt(w)));
    } finally {
      looking = false;
    }
  };
  const lookAt = async (w: WatchedWorker) => {
    const now = Date.now();
    if (w.worker.closing) return;
    const { keys } = w.worker;
    const [oldest, delayed, paused] = await Promise.all([redis.lindex(keys.wait!, -1), redis.zrange(keys.delayed!, 0, 0, 'WITHSCORES'), redis.hexists(keys.meta!, 'paused')]).catch(
      // Redis unreachable: nothing to judge by; the next look tries again.
      () => [null, [], 1] as [null, string[], number],
    );
    // A paused queue (`npm run ops -- pause deliver`) is meant to wait.
    if (paused === 1) {
      w.oldest = null;
      return;
    }
    if (oldest === null) w.oldest = null;
    else if (w.oldest?.jobId !== oldest) w.oldest = { jobId: oldest, since: now };
    const waitedSince = Math.min(w.oldest?.since ?? Infinity, delayed[1] === undefined ? Infinity : Math.floor(Number(delayed[1]) / DELAYED_SCORE_SHIFT));
    // Stuck: no job in hand, room the whole span, and a job waiting since before it began. (With
    // a job in hand it waits: closing it would stop renewing that job's lock, and the new
    // worker's stalled check could run the job again beside it.)
    if (w.active > 0 || w.fullAt > now - stuckMs || waitedSince > now - stuckMs) return;
    logger.warn({ queue: w.worker.name, jobId: w.oldest?.jobId ?? delayed[0], waitedMs: now - waitedSince, active: w.active }, 'worker took no job while one waited and it had room; replacing it');
    w.oldest = null;
    replace(w);
  };
  const timer = setInterval(() => {
    void look().catch((err: unknown) => logger.error({ err }, 'watching for stuck workers failed'));
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
