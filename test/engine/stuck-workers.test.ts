import { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '#shared/queues/connection';
import { watchStuckWorkers, watchedWorker, type WatchedWorker } from '#worker/stuck-workers';
import { startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';

// A BullMQ worker whose fetch loop has stopped (after a Redis fail-over, cluster-failover.test.ts)
// looks from outside like a paused one: running, no error, jobs waiting. Paused workers stand in
// for it here.
const WATCH = { everyMs: 100, stuckMs: 600 };

describe('a worker that takes no jobs while they wait', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, captureLogs: true, workerOptions: { stuckWorkers: WATCH } });
  });
  afterAll(async () => {
    await ctx?.stop();
  });

  it('is replaced, and the new one runs the waiting job (the maintenance queue: the reconciler)', async () => {
    const running = ctx.workers!;
    const stuck = running.workers.find((w) => w.name === 'maintenance')!;
    await stuck.pause(true);
    await ctx.queues.maintenance.add('reconcile', {}, { jobId: 'after-pause' });

    const job = await eventually(async () => ((await ctx.queues.maintenance.getJob('after-pause'))?.finishedOn ? ctx.queues.maintenance.getJob('after-pause') : null), {
      what: 'the reconcile job run by a new worker',
      timeoutMs: 10_000,
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${ctx.logs.filter((l) => !l.includes('"level":20')).slice(-20).join('\n')}`);
    });
    expect(await job!.getState()).toBe('completed');
    const replacement = running.workers.find((w) => w.name === 'maintenance')!;
    expect(replacement).not.toBe(stuck);
    expect(replacement.isRunning()).toBe(true);
    const line = ctx.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'worker took no job while one waited and it had room; replacing it');
    expect(line).toMatchObject({ queue: 'maintenance', jobId: 'after-pause' });
    expect(line!.waitedMs as number).toBeGreaterThanOrEqual(WATCH.stuckMs);
  });
});

describe('watching workers', () => {
  const prefix = `{stuck-${Date.now().toString(36)}}`;
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const logger = pino({ level: 'silent' });
  const queue = new Queue('watched', { connection: redis, prefix });
  const started: Worker[] = [];

  afterAll(async () => {
    await Promise.all(started.map((w) => w.close(true)));
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });

  function start(processor: () => Promise<void>, concurrency: number): WatchedWorker {
    const entry = watchedWorker(concurrency, processor, (counted) => new Worker('watched', counted, { connection: redis, prefix, concurrency }));
    started.push(entry.worker);
    return entry;
  }

  it('leaves a worker alone whose jobs wait for room, not for its loop', async () => {
    let release!: () => void;
    const busy = new Promise<void>((resolve) => (release = resolve));
    const full = start(() => busy, 1);
    const replaced: WatchedWorker[] = [];
    const watch = watchStuckWorkers(redis, () => [full], (w) => replaced.push(w), logger, WATCH);
    await queue.add('slow', {}, { jobId: 'in-hand' });
    await eventually(() => full.active === 1, 'the first job in hand');
    await queue.add('next', {}, { jobId: 'waiting' });
    // Several spans of stuckMs with a job waiting behind the one in hand: not stuck.
    await new Promise((resolve) => setTimeout(resolve, WATCH.stuckMs * 3));
    expect(await (await queue.getJob('waiting'))!.getState()).toBe('waiting');
    expect(replaced).toEqual([]);
    release();
    await eventually(async () => (await queue.getJob('waiting'))?.finishedOn !== undefined, 'the waiting job done once there was room');
    watch.stop();
    await full.worker.close();
  });

  it('waits for a stuck worker to finish the jobs in its hands before replacing it', async () => {
    const stuck = start(async () => {}, 2);
    await stuck.worker.pause(true);
    const replaced: WatchedWorker[] = [];
    const watch = watchStuckWorkers(redis, () => [stuck], (w) => replaced.push(w), logger, WATCH);
    await queue.add('next', {}, { jobId: 'behind-it' });
    // One job in its hands (as its processor wrapper counts them), room for another, and its
    // loop takes none: closing it now would stop renewing that job's lock.
    stuck.active = 1;
    await new Promise((resolve) => setTimeout(resolve, WATCH.stuckMs * 3));
    expect(replaced).toEqual([]);
    stuck.active = 0;
    await eventually(() => replaced.length === 1, { what: 'the worker replaced once its job was done', timeoutMs: 5_000 });
    watch.stop();
    await queue.remove('behind-it');
    await stuck.worker.close(true);
  });

  it('leaves alone the workers of a paused queue (an operator paused delivery)', async () => {
    const idle = start(async () => {}, 2);
    await queue.pause();
    const replaced: WatchedWorker[] = [];
    const watch = watchStuckWorkers(redis, () => [idle], (w) => replaced.push(w), logger, WATCH);
    // Delayed: a paused queue's waiting jobs sit in its paused list, but its delayed ones stay overdue.
    await queue.add('held', {}, { jobId: 'while-paused', delay: 50 });
    await new Promise((resolve) => setTimeout(resolve, WATCH.stuckMs * 3));
    expect(replaced).toEqual([]);
    await queue.resume();
    await eventually(async () => (await queue.getJob('while-paused'))?.finishedOn !== undefined, 'the job done once the queue was resumed');
    watch.stop();
    await idle.worker.close();
  });

  it('replaces a worker with room that takes neither a waiting job nor an overdue delayed one', async () => {
    for (const kind of ['waiting', 'delayed'] as const) {
      const idle = start(async () => {}, 2);
      await idle.worker.pause(true);
      const replaced: WatchedWorker[] = [];
      const watch = watchStuckWorkers(redis, () => [idle], (w) => replaced.push(w), logger, WATCH);
      const id = `${kind}-job`;
      await queue.add(kind, {}, { jobId: id, delay: kind === 'delayed' ? 50 : 0 });
      await eventually(() => replaced.length === 1, { what: `the worker replaced for a ${kind} job`, timeoutMs: 5_000 });
      expect(replaced[0]).toBe(idle);
      watch.stop();
      await queue.remove(id);
      await idle.worker.close(true);
    }
  });
});
