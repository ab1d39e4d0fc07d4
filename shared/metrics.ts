import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redisKeys } from './queues/redis-keys.ts';
import type { Queue } from 'bullmq';
import type { Db } from './db/knex.ts';
import type { Logger } from './logger.ts';

/**
 * Prometheus metrics of one process, in a registry of its own (never prom-client's global one),
 * so tests and several apps in one process do not collide.
 *
 * Who moves what:
 * - the api ingests events (`events_ingested_total`) and, with `sources` given, reads queue
 *   depths from BullMQ and subscription states from Postgres when scraped;
 * - the worker counts deliveries, their latency, fan-out lag, dead letters and disablings.
 * In production the api serves its registry at `GET /metrics` and the worker serves its own on
 * `METRICS_PORT`; Prometheus sums across instances. Where both run in one process (`npm start`,
 * tests) they share one `Metrics`, so one scrape shows everything.
 *
 * Failure policy: a scrape-time source that does not answer (Redis or Postgres down) must not
 * fail the scrape: its gauges keep their last values and `hubhook_metrics_source_up{source}`
 * turns 0, which the alert rules watch.
 */

/** How one delivery attempt ended, as the delivery worker classifies it. */
export type DeliveryOutcome = 'success' | 'failure' | 'timeout' | 'error' | 'gone';

/** Who disabled a subscription: the engine (410 Gone, or no success for DISABLE_AFTER) or an operator. */
export type DisableReason = 'engine' | 'operator';

/** The job states reported per queue; `waiting` sums BullMQ's wait, paused and prioritized lists. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** BullMQ's lists whose jobs are ready to run (or held by a pause): together, "waiting". */
const READY_TYPES = ['wait', 'paused', 'prioritized'] as const;

/**
 * Counts of one queue of the catalog in the states of QUEUE_STATES, summed over its BullMQ
 * queues (one per delivery shard for `deliver`); one Redis round trip each.
 */
export async function queueCounts(queue: Queue | readonly Queue[]): Promise<Record<(typeof QUEUE_STATES)[number], number>> {
  const all = await Promise.all((Array.isArray(queue) ? queue : [queue]).map((q: Queue) => q.getJobCounts(...READY_TYPES, 'active', 'delayed', 'failed', 'completed')));
  const sum = (type: string) => all.reduce((total, counts) => total + (counts[type] ?? 0), 0);
  return {
    waiting: READY_TYPES.reduce((total, type) => total + sum(type), 0),
    active: sum('active'),
    delayed: sum('delayed'),
    failed: sum('failed'),
    completed: sum('completed'),
  };
}

/** Where scrape-time gauges read from; both optional (the worker leaves them to the api). */
export interface MetricsSources {
  /**
   * The catalog's queues: depth per state and the age of the oldest waiting job. A name with
   * several BullMQ queues (the delivery shards) is reported as one, summed.
   */
  queues?: Readonly<Record<string, Queue | readonly Queue[]>>;
  /** Postgres: subscriptions per state. */
  db?: Db;
  /**
   * The worker's dispatcher: messages waiting in its lanes and requests in flight. A first
   * delivery has no row in Postgres until its outcome, so this is where such a backlog shows.
   */
  dispatcher?: () => { waiting: number; inFlight: number };
  /** Where a failing source is reported (once per failure streak). */
  logger?: Logger;
}

/** Options for `createMetrics`. */
export interface MetricsOptions extends MetricsSources {
  /** Node process metrics (CPU, memory, event loop lag, GC); default true. */
  defaultMetrics?: boolean;
  /** Labels put on every series, e.g. `{service: 'worker'}`. */
  labels?: Record<string, string>;
}

/** Delivery latency buckets (seconds): loopback-fast receivers up to the 15 s default timeout. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30];
/** Fan-out lag buckets (seconds): milliseconds normally, minutes when a backlog builds up. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Creates the registry and every hubhook metric in it; see the comment on each metric. */
export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  // Every scrape-time gauge awaits one shared refresh: prom-client collects all metrics of a
  // scrape at once, so they share the in-flight reads and `source_up` reports this scrape's.
  const refreshers: (() => Promise<void>)[] = [];
  let inflight: Promise<void> | null = null;
  const refresh = (): Promise<void> => {
    inflight ??= Promise.all(refreshers.map((r) => r())).then(
      () => {
        inflight = null;
      },
      () => {
        inflight = null;
      },
    );
    return inflight;
  };

  const sourceUp: Gauge<'source'> = new Gauge({
    name: 'hubhook_metrics_source_up',
    help: 'Whether a scrape-time source (redis, postgres) answered at the last scrape: 1 yes, 0 no.',
    labelNames: ['source'] as const,
    registers,
    collect: refresh,
  });
  const failing = new Set<string>();
  /** Adds one scrape-time read; a failure is logged once per streak and shown as source_up 0. */
  function onScrape(source: 'redis' | 'postgres', work: () => Promise<void>): void {
    refreshers.push(async () => {
      try {
        await work();
        sourceUp.set({ source }, 1);
        failing.delete(source);
      } catch (err) {
        sourceUp.set({ source }, 0);
        if (!failing.has(source)) options.logger?.warn({ err, source }, 'metrics source failed; its gauges are stale');
        failing.add(source);
      }
    });
  }

  const metrics = {
    registry,

    /** Attempts to deliver a message, by outcome: success (2xx), failure (other status), timeout, error (connect, DNS, guard), gone (410). */
    deliveries: new Counter({
      name: 'hubhook_deliveries_total',
      help: 'Delivery attempts by outcome: success, failure (non-2xx), timeout, error (connection, DNS, url guard), gone (410).',
      labelNames: ['outcome'] as const,
      registers,
    }),

    /** Messages not tried: held (subscription paused or disabled) or skipped while the receiver's circuit is open. */
    deliveriesSkipped: new Counter({
      name: 'hubhook_deliveries_skipped_total',
      help: 'Messages due but not sent, by reason: held (subscription paused or disabled), circuit_open (receiver failing; retried later), backlog (written out of a full lane; sent later by a delivery job).',
      labelNames: ['reason'] as const,
      registers,
    }),

    /** Seconds from sending the request to the end of the answer (or the timeout), by outcome. */
    attemptDuration: new Histogram({
      name: 'hubhook_delivery_attempt_duration_seconds',
      help: 'Duration of one delivery attempt, request sent to answer read or timeout, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),

    /** Seconds from an event's commit at ingest to its messages being created by the fan-out. */
    fanoutLag: new Histogram({
      name: 'hubhook_fanout_lag_seconds',
      help: 'Seconds from an event being received (committed) to its messages being created by the fan-out.',
      buckets: LAG_BUCKETS,
      registers,
    }),

    /** Messages that exhausted their retries (dead letters); replays do not decrement it. */
    messagesDead: new Counter({
      name: 'hubhook_messages_dead_total',
      help: 'Messages that failed their last retry and became dead letters.',
      registers,
    }),

    /** Subscriptions disabled, by who: engine (410 Gone, or no success for DISABLE_AFTER) or operator. */
    subscriptionsDisabled: new Counter({
      name: 'hubhook_subscriptions_disabled_total',
      help: 'Subscriptions disabled, by reason: engine (receiver answered 410, or no success for DISABLE_AFTER) or operator.',
      labelNames: ['reason'] as const,
      registers,
    }),

    /** 1 while Postgres refuses every write of the attempt writer (outcomes are held, not lost); 0 while it commits. */
    attemptWriterFailing: new Gauge({
      name: 'hubhook_attempt_writer_failing',
      help: 'Whether the delivery attempt writer cannot commit to Postgres: 1 failing (outcomes are held in memory and retried), 0 committing.',
      registers,
    }),

    /** Delivery outcomes waiting to be written. */
    attemptWriterBuffered: new Gauge({
      name: 'hubhook_attempt_writer_buffered',
      help: 'Delivery outcomes held by the attempt writer, waiting to be committed.',
      registers,
    }),

    /** Outcomes whose row could not be written as received: `minimal` (kept without the response), `dropped` (message resent after its lease). */
    attemptRecordsUnwritable: new Counter({
      name: 'hubhook_attempt_records_unwritable_total',
      help: 'Attempt rows that could not be written as received, by fate: minimal (written without the response, with an error saying why), dropped (not written; the message is sent again after its lease).',
      labelNames: ['fate'] as const,
      registers,
    }),

    /** Events taken in by POST /v1/hub/events: accepted (new) or duplicate (id seen before). */
    eventsIngested: new Counter({
      name: 'hubhook_events_ingested_total',
      help: 'Events received from the HUB, by result: accepted (new), duplicate (an id seen before) or rejected (invalid, not taken).',
      labelNames: ['result'] as const,
      registers,
    }),

    /**
     * Accepted events nobody can route: their installation or their event type is unknown to
     * hubhook (listed at GET /v1/ops/unroutable-events). With HUB_REJECT_UNKNOWN they are refused instead.
     */
    eventsUnroutable: new Counter({
      name: 'hubhook_events_unroutable_total',
      help: 'Events accepted that no subscription can ever receive, by reason: unknown_installation, unknown_event_type.',
      labelNames: ['reason'] as const,
      registers,
    }),

    /** Messages created by the fan-out (one per matching event and subscription). */
    messagesCreated: new Counter({
      name: 'hubhook_messages_created_total',
      help: 'Messages created by the fan-out: one per (event, matching subscription).',
      registers,
    }),
  };

  const queues = options.queues;
  if (queues) {
    const names = Object.keys(queues);
    const depthGauge = new Gauge({
      name: 'hubhook_queue_jobs',
      help: 'Jobs per BullMQ queue and state (waiting includes paused and prioritized), read from Redis at scrape time.',
      labelNames: ['queue', 'state'] as const,
      registers,
      collect: refresh,
    });
    /** 1 while an operator has paused the queue: the alert on a backed-up queue ignores paused ones. */
    const pausedGauge = new Gauge({
      name: 'hubhook_queue_paused',
      help: 'Whether the queue is paused (1) or running (0).',
      labelNames: ['queue'] as const,
      registers,
      collect: refresh,
    });
    /** Age of the oldest job ready to run: a queue backing up shows here before anywhere else. */
    const oldestGauge = new Gauge({
      name: 'hubhook_queue_oldest_waiting_seconds',
      help: 'Seconds the oldest waiting (ready, not yet taken) job of each queue has waited; 0 when none waits.',
      labelNames: ['queue'] as const,
      registers,
      collect: refresh,
    });
    /** Retries wait in the retry schedule (a sorted set), not as delayed jobs: they show here. */
    const retriesGauge = new Gauge({
      name: 'hubhook_retries_scheduled',
      help: 'Deliveries waiting for their retry time in the retry schedule, read from Redis at scrape time.',
      registers,
      collect: refresh,
    });
    onScrape('redis', async () => {
      const now = Date.now();
      const shardsOf = (name: string): readonly Queue[] => {
        const queue = queues[name]!;
        return Array.isArray(queue) ? queue : [queue as Queue];
      };
      // Each delivery shard's retry schedule sits beside its deliver queue, under the same prefix.
      if (queues.deliver) {
        const sizes = await Promise.all(shardsOf('deliver').map(async (q) => (await q.client).zcard(redisKeys(q.opts.prefix ?? 'bull').retrySchedule)));
        retriesGauge.set(sizes.reduce((a, b) => a + b, 0));
      }
      // Per queue: counts, the pause flag (paused when any shard is), and the oldest job of each ready list.
      const read = await Promise.all(
        names.map(async (name) => {
          const shards = shardsOf(name);
          const [counts, paused, oldest] = await Promise.all([
            queueCounts(shards),
            Promise.all(shards.map((q) => q.isPaused())),
            Promise.all(shards.map((q) => q.getJobs([...READY_TYPES], 0, 0, true))),
          ]);
          return [counts, paused.some(Boolean), oldest.flat()] as const;
        }),
      );
      names.forEach((queue, i) => {
        const [counts, paused, oldest] = read[i]!;
        for (const state of QUEUE_STATES) depthGauge.set({ queue, state }, counts[state]);
        pausedGauge.set({ queue }, paused ? 1 : 0);
        // A delayed job became ready at timestamp + delay; its wait starts then.
        const readyAt = Math.min(now, ...oldest.map((job) => job.timestamp + (job.delay ?? 0)));
        oldestGauge.set({ queue }, Math.max(0, (now - readyAt) / 1000));
      });
    });
  }

  const depth = options.dispatcher;
  if (depth) {
    new Gauge({
      name: 'hubhook_deliveries_waiting',
      help: "Messages in this worker's lanes, not yet started (first deliveries among them have no message row until their outcome).",
      registers,
      collect() {
        this.set(depth().waiting);
      },
    });
    new Gauge({
      name: 'hubhook_deliveries_in_flight',
      help: 'Requests to receivers this worker has in flight now.',
      registers,
      collect() {
        this.set(depth().inFlight);
      },
    });
  }

  const db = options.db;
  if (db) {
    const subscriptionGauge = new Gauge({
      name: 'hubhook_subscriptions',
      help: 'Live (not deleted) subscriptions per state: active, paused, disabled; read from Postgres at scrape time.',
      labelNames: ['state'] as const,
      registers,
      collect: refresh,
    });
    onScrape('postgres', async () => {
      const rows = (await db('subscriptions').whereNull('deleted_at').groupBy('state').select('state').count({ n: '*' })) as {
        state: string;
        n: string | number;
      }[];
      for (const state of ['active', 'paused', 'disabled']) {
        subscriptionGauge.set({ state }, Number(rows.find((r) => r.state === state)?.n ?? 0));
      }
    });
  }

  return metrics;
}

/** The metrics of one process; see `createMetrics`. */
export type Metrics = ReturnType<typeof createMetrics>;

/** The value of one series of a counter or gauge (0 when it has not been touched); for tests and tools. */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric named ${name}`);
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value));
  return match?.value ?? 0;
}
