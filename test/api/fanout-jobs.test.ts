import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { FanoutJobs } from '#api/events/service';
import { MAX_EVENTS } from '#api/events/schema';
import type { Queues } from '#shared/queues/connection';
import { HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { hubEvent } from '../support/fixtures.ts';

/**
 * The api's fan-out jobs (no worker runs here, so they wait in the queue to be read): the
 * batches committed in one turn of the event loop leave as one job, at most MAX_EVENTS ids each,
 * every event in exactly one job; a failed enqueue is logged, not thrown (the reconciler repairs it).
 */
describe('fan-out jobs', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext({ captureLogs: true });
  });
  afterAll(async () => {
    await ctx.stop();
  });
  const fanout = () => ctx.queues.of('fanout')[0]!;
  beforeEach(async () => {
    await fanout().drain();
  });
  const waiting = async () => (await fanout().getJobs(['waiting'])) as Job<{ eventIds: string[] }>[];
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  it('the batches of one turn leave as one job, on the next turn', async () => {
    const jobs = new FanoutJobs(ctx.queues, ctx.logger);
    const a = jobs.add(ids('a', 3));
    const b = jobs.add(ids('b', 2));
    const c = jobs.add(ids('c', 1));
    expect(a.sent).toBe(b.sent);
    expect([a.mustWait, b.mustWait, c.mustWait]).toEqual([false, false, false]);
    // Nothing sent in the turn the batches were added in.
    expect(await waiting()).toHaveLength(0);
    await c.sent;
    const [job, ...more] = await waiting();
    expect(more).toHaveLength(0);
    expect(job!.data.eventIds).toEqual([...ids('a', 3), ...ids('b', 2), ...ids('c', 1)]);
    // A later turn's batch is a job of its own, with only its events.
    await jobs.add(ids('d', 2)).sent;
    const later = (await waiting()).filter((j) => j.id !== job!.id);
    expect(later.map((j) => j.data.eventIds)).toEqual([ids('d', 2)]);
  });

  it('small batches share jobs of at most 100 events; a larger batch is a job of its own', async () => {
    const jobs = new FanoutJobs(ctx.queues, ctx.logger);
    const batches = [ids('p', 60), ids('q', 30), ids('r', 20), ids('big', MAX_EVENTS), ids('s', 5)];
    const sent = batches.map((batch) => jobs.add(batch).sent);
    await sent.at(-1);
    const found = (await waiting()).map((j) => j.data.eventIds);
    expect(found.map((e) => e.length).sort((x, y) => x - y)).toEqual([25, 90, MAX_EVENTS]);
    expect(found).toContainEqual([...ids('p', 60), ...ids('q', 30)]);
    expect(found).toContainEqual(ids('big', MAX_EVENTS));
    expect(found).toContainEqual([...ids('r', 20), ...ids('s', 5)]);
    expect(found.flat().sort()).toEqual(batches.flat().sort());
  });

  it('logs a failed enqueue (even one that throws at once) and resolves: the events wait for the reconciler', async () => {
    const failing = {
      ...ctx.queues,
      enqueue: () => {
        throw new Error('redis is gone');
      },
    } as unknown as Queues;
    const jobs = new FanoutJobs(failing, ctx.logger);
    await expect(jobs.add(ids('lost', 2)).sent).resolves.toBeUndefined();
    expect(ctx.logs.some((line) => line.includes('fan-out not enqueued') && line.includes('"events":2'))).toBe(true);
  });

  it('past 256 jobs in flight (Redis not answering) an answer must wait; once they are done, none must', async () => {
    const stuck: (() => void)[] = [];
    const slow = { ...ctx.queues, enqueue: () => new Promise<void>((resolve) => stuck.push(resolve)) } as unknown as Queues;
    const jobs = new FanoutJobs(slow, ctx.logger);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const waits: boolean[] = [];
    for (let i = 0; i < 260; i++) {
      waits.push(jobs.add([`t-${i}`]).mustWait);
      await turn();
    }
    expect(stuck).toHaveLength(260);
    // The i-th turn's answer sees the i jobs of the turns before it in flight.
    expect(waits.slice(0, 257)).toEqual(Array(257).fill(false));
    expect(waits.slice(257)).toEqual([true, true, true]);
    for (const resolve of stuck) resolve();
    await turn();
    expect(jobs.add(['after']).mustWait).toBe(false);
  });

  it('concurrent requests: every accepted event is in exactly one job, in no more jobs than requests', async () => {
    const batches = Array.from({ length: 20 }, (_, r) => Array.from({ length: 5 }, (_, i) => hubEvent('MSVPAR', 'estate.updated', { r, i })));
    const answers = await Promise.all(batches.map((events) => ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events } })));
    expect(answers.map((a) => a.status)).toEqual(batches.map(() => 202));
    const sent = batches.flat().map((e) => e.id);
    await eventually(async () => (await waiting()).flatMap((j) => j.data.eventIds).length === sent.length);
    const found = await waiting();
    expect(found.length).toBeLessThanOrEqual(batches.length);
    expect(found.flatMap((j) => j.data.eventIds).sort()).toEqual([...sent].sort());
  });
});
