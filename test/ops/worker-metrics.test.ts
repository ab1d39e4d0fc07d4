import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerProcess, stopWorkerProcess } from '../support/worker-process.ts';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { createMetrics, metricValue } from '#shared/metrics';
import { deliveryOutcome, metricsObserver } from '#worker/delivery/metrics-observer';
import { startMetricsServer } from '#worker/metrics-server';
import type { AttemptRecord } from '#worker/delivery/attempt-record';

const record = (over: Partial<AttemptRecord>): AttemptRecord => ({
  messageId: 'msg_x',
  subscriptionId: 'sub_x',
  attempt: 1,
  attemptedAt: new Date(),
  durationMs: 20,
  outcome: 'failure',
  statusCode: null,
  error: null,
  errorMessage: null,
  response: null,
  status: 'pending',
  nextAttemptAt: null,
  reachedReceiver: true,
  ...over,
});

describe('the metrics observer of the delivery engine', () => {
  it('classifies each committed attempt', () => {
    expect(deliveryOutcome(record({ outcome: 'success', statusCode: 204, status: 'succeeded' }))).toBe('success');
    expect(deliveryOutcome(record({ statusCode: 503 }))).toBe('failure');
    expect(deliveryOutcome(record({ statusCode: 410, status: 'dead' }))).toBe('gone');
    expect(deliveryOutcome(record({ error: 'timeout' }))).toBe('timeout');
    expect(deliveryOutcome(record({ error: 'refused' }))).toBe('error');
    expect(deliveryOutcome(record({ error: 'forbidden_address' }))).toBe('error');
    // No request made: not a delivery outcome.
    expect(deliveryOutcome(record({ error: 'circuit_open', reachedReceiver: false }))).toBeNull();
    expect(deliveryOutcome(record({ attempt: null, status: 'held', reachedReceiver: false }))).toBeNull();
    // Written out of a full lane, untried (pending, due now).
    expect(deliveryOutcome(record({ attempt: null, status: 'pending', reachedReceiver: false }))).toBeNull();
  });

  it('moves the counters: outcomes with latency, skips apart, dead letters, disablings, fan-out', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const observer = metricsObserver(metrics);
    observer.attempt(record({ outcome: 'success', statusCode: 200, status: 'succeeded', durationMs: 1500 }));
    observer.attempt(record({ error: 'timeout', status: 'dead', durationMs: 5000 }));
    observer.attempt(record({ error: 'circuit_open', reachedReceiver: false }));
    observer.attempt(record({ attempt: null, status: 'held', reachedReceiver: false }));
    observer.attempt(record({ attempt: null, status: 'pending', reachedReceiver: false }));
    observer.disabled(0);
    observer.disabled(2);
    observer.fanout(7, [12, 30]);
    const value = (name: string, labels?: Record<string, string>) => metricValue(metrics, name, labels);
    expect(await value('hubhook_deliveries_total', { outcome: 'success' })).toBe(1);
    expect(await value('hubhook_deliveries_total', { outcome: 'timeout' })).toBe(1);
    expect(await value('hubhook_deliveries_skipped_total', { reason: 'circuit_open' })).toBe(1);
    expect(await value('hubhook_deliveries_skipped_total', { reason: 'held' })).toBe(1);
    expect(await value('hubhook_deliveries_skipped_total', { reason: 'backlog' })).toBe(1);
    expect(await value('hubhook_messages_dead_total')).toBe(1);
    expect(await value('hubhook_subscriptions_disabled_total', { reason: 'engine' })).toBe(2);
    expect(await value('hubhook_messages_created_total')).toBe(7);
    const text = await metrics.registry.metrics();
    expect(text).toContain('hubhook_delivery_attempt_duration_seconds_sum{outcome="success"} 1.5');
    expect(text).toContain('hubhook_delivery_attempt_duration_seconds_bucket{le="2.5",outcome="success"} 1');
    expect(text).toContain('hubhook_fanout_lag_seconds_count 2');
  });
});

describe("a worker's metrics endpoint", () => {
  it("reads the dispatcher's lanes at scrape time: messages waiting (first deliveries have no row yet) and requests in flight", async () => {
    let depth = { waiting: 3, inFlight: 2 };
    const metrics = createMetrics({ defaultMetrics: false, dispatcher: () => depth });
    expect(await metricValue(metrics, 'hubhook_deliveries_waiting')).toBe(3);
    expect(await metricValue(metrics, 'hubhook_deliveries_in_flight')).toBe(2);
    depth = { waiting: 0, inFlight: 7 };
    expect(await metricValue(metrics, 'hubhook_deliveries_waiting')).toBe(0);
    expect(await metricValue(metrics, 'hubhook_deliveries_in_flight')).toBe(7);
    // The api's metrics have no dispatcher: no such series there.
    expect(createMetrics({ defaultMetrics: false }).registry.getSingleMetric('hubhook_deliveries_waiting')).toBeUndefined();
  });

  it('serves /metrics to the operator token only, and /healthz to anyone', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.messagesDead.inc(4);
    const server = await startMetricsServer(metrics, { port: 0, host: '127.0.0.1', operatorToken: OPERATOR_TOKEN });
    try {
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await ok.text()).toContain('hubhook_messages_dead_total 4');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("reports a worker that cannot do its work: /healthz says degraded (alive), /readyz answers 503", async () => {
    let ok = true;
    const details = { attemptWriter: { committing: false, buffered: 12 } };
    const server = await startMetricsServer(createMetrics({ defaultMetrics: false }), { port: 0, host: '127.0.0.1', operatorToken: OPERATOR_TOKEN, health: () => ({ ok, details }) });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      ok = false;
      const live = await fetch(`${server.url}/healthz`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'degraded', ...details });
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'degraded', ...details });
    } finally {
      await server.close();
    }
  });

  describe('of the production entry point (services/worker/src/main.ts)', () => {
    let ctx: TestContext;
    beforeAll(async () => {
      ctx = await startTestContext();
    });
    afterAll(async () => {
      await ctx.stop();
    });

    it('listens on METRICS_PORT and serves the delivery metrics', { timeout: 60_000 }, async () => {
      const { child, started } = await startWorkerProcess(ctx);
      try {
        // The start line names the endpoint (port 0: the system picked one).
        const metricsUrl = started.metrics as string;
        const res = await fetch(metricsUrl, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
        expect(res.status).toBe(200);
        const text = await res.text();
        expect(text).toContain('# TYPE hubhook_deliveries_total counter');
        expect(text).toContain('# TYPE process_cpu_seconds_total counter');
        // Its lanes, read at scrape time (an idle worker: nothing waiting, nothing in flight).
        expect(text).toContain('hubhook_deliveries_waiting 0');
        expect(text).toContain('hubhook_deliveries_in_flight 0');
        // Queue depths are the api's to report: two processes must not both count them.
        expect(text).not.toContain('hubhook_queue_jobs');
        // Its health names the attempt writer's state.
        const health = await fetch(metricsUrl.replace(/\/metrics$/, '/readyz'));
        expect(health.status).toBe(200);
        expect(await health.json()).toMatchObject({ status: 'ok', attemptWriter: { committing: true, buffered: 0 } });
      } finally {
        await stopWorkerProcess(child, 'SIGTERM');
      }
    });
  });
});
