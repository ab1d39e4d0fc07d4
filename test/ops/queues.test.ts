import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_TOKEN, HUB_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { QUEUE_NAMES } from '#shared/queues/catalog';

describe('ops queue API', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('lists every queue of the catalog with its counts', async () => {
    // No workers run here, so jobs stay where they are put.
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_x', version: 2 });
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_y', version: 2 });
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_z', version: 2 }, { delay: 60_000 });
    await ctx.queues.enqueue('maintenance', 'reconcile', {}, { priority: 5 });

    const res = await ctx.request('GET', '/v1/ops/queues', { token: OPERATOR_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.data.map((q: { name: string }) => q.name)).toEqual(QUEUE_NAMES);
    const byName = Object.fromEntries(res.body.data.map((q: { name: string }) => [q.name, q]));
    expect(byName.notify).toEqual({ name: 'notify', waiting: 2, active: 0, delayed: 1, failed: 0, completed: 0, paused: false });
    // A prioritized job is ready to run too: it counts as waiting.
    expect(byName.maintenance).toMatchObject({ waiting: 1, delayed: 0, paused: false });
    expect(byName.fanout).toEqual({ name: 'fanout', waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0, paused: false });
  });

  it('pauses and resumes a queue, keeps its waiting jobs counted, and audits both', async () => {
    const pause = await ctx.request('POST', '/v1/ops/queues/notify/pause', { token: OPERATOR_TOKEN });
    // 200 with the queue's new state, as every pause and resume answers.
    expect(pause.status).toBe(200);
    expect(pause.body).toMatchObject({ name: 'notify', paused: true, waiting: 2 });
    expect(await ctx.queues.notify.isPaused()).toBe(true);
    let list = await ctx.request('GET', '/v1/ops/queues', { token: OPERATOR_TOKEN });
    expect(list.body.data.find((q: { name: string }) => q.name === 'notify')).toMatchObject({ paused: true, waiting: 2 });

    const resume = await ctx.request('POST', '/v1/ops/queues/notify/resume', { token: OPERATOR_TOKEN });
    expect(resume.status).toBe(200);
    expect(resume.body).toMatchObject({ name: 'notify', paused: false });
    expect(await ctx.queues.notify.isPaused()).toBe(false);
    list = await ctx.request('GET', '/v1/ops/queues', { token: OPERATOR_TOKEN });
    expect(list.body.data.find((q: { name: string }) => q.name === 'notify')).toMatchObject({ paused: false, waiting: 2 });

    const audit = await ctx.db('audit_log').where({ target_type: 'queue' }).orderBy('id').select('actor_type', 'action', 'target_id');
    expect(audit).toEqual([
      { actor_type: 'operator', action: 'queue.pause', target_id: 'notify' },
      { actor_type: 'operator', action: 'queue.resume', target_id: 'notify' },
    ]);
  });

  it('answers 404 for a queue that is not in the catalog', async () => {
    for (const name of ['nope', 'bull', '..%2Fnotify']) {
      const res = await ctx.request('POST', `/v1/ops/queues/${name}/pause`, { token: OPERATOR_TOKEN });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });

  it('is for operators only: 401 without a token, 403 with the HUB token', async () => {
    expect((await ctx.request('GET', '/v1/ops/queues')).status).toBe(401);
    expect((await ctx.request('GET', '/v1/ops/queues', { token: HUB_TOKEN })).status).toBe(403);
    expect((await ctx.request('POST', '/v1/ops/queues/notify/pause', { token: HUB_TOKEN })).status).toBe(403);
    expect(await ctx.queues.notify.isPaused()).toBe(false);
  });
});
