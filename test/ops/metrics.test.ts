import { RetrySchedule } from '#shared/delivery/retry-schedule';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createMetrics, metricValue } from '#shared/metrics';

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('asks for the operator token', async () => {
    expect((await ctx.request('GET', '/metrics')).status).toBe(401);
    expect((await ctx.request('GET', '/metrics', { token: HUB_TOKEN })).status).toBe(403);
  });

  it('serves Prometheus text with the process metrics and every hubhook metric', async () => {
    const res = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const name of [
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'hubhook_deliveries_total',
      'hubhook_delivery_attempt_duration_seconds',
      'hubhook_fanout_lag_seconds',
      'hubhook_messages_dead_total',
      'hubhook_subscriptions_disabled_total',
      'hubhook_events_ingested_total',
      'hubhook_events_unroutable_total',
      'hubhook_messages_created_total',
      'hubhook_queue_jobs',
      'hubhook_queue_paused',
      'hubhook_queue_oldest_waiting_seconds',
      'hubhook_subscriptions',
      'hubhook_metrics_source_up',
    ]) {
      expect(res.text).toContain(`# TYPE ${name} `);
    }
  });

  it('reads queue depth per state, pause flags and the oldest waiting job from BullMQ when scraped', async () => {
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_a', version: 2 }, { timestamp: Date.now() - 90_000 });
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_b', version: 2 });
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_c', version: 2 }, { delay: 60_000 });
    await ctx.queues.maintenance.pause();
    await ctx.queues.enqueue('maintenance', 'reconcile', {});

    const { text } = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
    expect(sample(text, 'hubhook_queue_jobs{queue="notify",state="waiting"}')).toBe(2);
    expect(sample(text, 'hubhook_queue_jobs{queue="notify",state="delayed"}')).toBe(1);
    expect(sample(text, 'hubhook_queue_jobs{queue="notify",state="active"}')).toBe(0);
    // Jobs held by a pause still count as waiting.
    expect(sample(text, 'hubhook_queue_jobs{queue="maintenance",state="waiting"}')).toBe(1);
    expect(sample(text, 'hubhook_queue_paused{queue="maintenance"}')).toBe(1);
    expect(sample(text, 'hubhook_queue_paused{queue="notify"}')).toBe(0);
    expect(sample(text, 'hubhook_retries_scheduled')).toBe(0);
    expect(sample(text, 'hubhook_queue_oldest_waiting_seconds{queue="notify"}')).toBeGreaterThanOrEqual(90);
    expect(sample(text, 'hubhook_queue_oldest_waiting_seconds{queue="fanout"}')).toBe(0);
    expect(sample(text, 'hubhook_metrics_source_up{source="redis"}')).toBe(1);
    expect(sample(text, 'hubhook_metrics_source_up{source="postgres"}')).toBe(1);
    expect(sample(text, 'hubhook_subscriptions{state="active"}')).toBe(0);
    await ctx.queues.maintenance.resume();
  });
  it('shows the retries waiting in the retry schedule', async () => {
    await new RetrySchedule(ctx.redis, ctx.queuePrefix).add([
      { messageId: 'msg_a', subscriptionId: 'sub_a', attemptsMade: 1, dueAt: Date.now() + 60_000 },
      { messageId: 'msg_b', subscriptionId: 'sub_a', attemptsMade: 2, dueAt: Date.now() + 60_000 },
    ]);
    const { text } = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
    expect(sample(text, 'hubhook_retries_scheduled')).toBe(2);
  });

  it('exposes the metrics object the api serves, so tests and tools can read values', async () => {
    ctx.api.metrics.eventsIngested.inc({ result: 'accepted' }, 3);
    expect(await metricValue(ctx.api.metrics, 'hubhook_events_ingested_total', { result: 'accepted' })).toBe(3);
    const { text } = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
    expect(sample(text, 'hubhook_events_ingested_total{result="accepted"}')).toBe(3);
  });
});

describe('createMetrics', () => {
  it('keeps each registry apart: two in one process do not collide or share values', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.deliveries.inc({ outcome: 'success' });
    expect(await metricValue(a, 'hubhook_deliveries_total', { outcome: 'success' })).toBe(1);
    expect(await metricValue(b, 'hubhook_deliveries_total', { outcome: 'success' })).toBe(0);
  });

  it('still answers a scrape when Redis is down, reporting the source as down', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => {});
    const queue = new Queue('q', { connection: dead });
    queue.on('error', () => {});
    const metrics = createMetrics({ queues: { q: queue }, defaultMetrics: false });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'hubhook_metrics_source_up{source="redis"}')).toBe(0);
    expect(text).toContain('# TYPE hubhook_deliveries_total counter');
    await queue.close().catch(() => {});
    dead.disconnect();
  });
});
