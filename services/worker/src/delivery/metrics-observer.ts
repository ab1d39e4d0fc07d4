import type { DeliveryOutcome, Metrics } from '#shared/metrics';
import type { AttemptRecord } from './attempt-record.ts';
import type { DeliveryObserver } from './observer.ts';

/** How a committed attempt counts in `hubhook_deliveries_total`; null when no request was made. */
export function deliveryOutcome(record: AttemptRecord): DeliveryOutcome | null {
  if (!record.reachedReceiver && (record.status === 'held' || record.error === 'circuit_open')) return null;
  if (record.outcome === 'success') return 'success';
  if (record.statusCode === 410) return 'gone';
  if (record.statusCode !== null) return 'failure';
  if (record.error === 'timeout') return 'timeout';
  return 'error';
}

/**
 * The engine's observer that moves the Prometheus metrics. The engine calls it after each
 * commit, so the counters agree with what Postgres holds. Holds and circuit-open skips made no
 * request: they count in `deliveries_skipped_total`, not as delivery outcomes, so the failure
 * ratio stays a ratio of real requests.
 */
export function metricsObserver(metrics: Metrics): DeliveryObserver {
  return {
    attempt(record) {
      const outcome = deliveryOutcome(record);
      if (outcome === null) {
        metrics.deliveriesSkipped.inc({ reason: record.status === 'held' ? 'held' : 'circuit_open' });
      } else {
        metrics.deliveries.inc({ outcome });
        metrics.attemptDuration.observe({ outcome }, record.durationMs / 1000);
      }
      if (record.status === 'dead') metrics.messagesDead.inc();
    },
    disabled(count) {
      if (count > 0) metrics.subscriptionsDisabled.inc({ reason: 'engine' }, count);
    },
    fanout(messages, lagMs) {
      if (messages > 0) metrics.messagesCreated.inc(messages);
      for (const ms of lagMs) metrics.fanoutLag.observe(ms / 1000);
    },
    writer(health) {
      metrics.attemptWriterFailing.set(health.committing ? 0 : 1);
      metrics.attemptWriterBuffered.set(health.buffered);
    },
    unwritable(fate, count) {
      metrics.attemptRecordsUnwritable.inc({ fate }, count);
    },
  };
}
