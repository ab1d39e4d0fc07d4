import type { DeliveryOutcome, Metrics } from '#shared/metrics';
import type { AttemptRecord } from './attempt-record.ts';
import type { DeliveryObserver } from './observer.ts';

/** How a committed attempt counts in `hubhook_deliveries_total`; null when no request was made (held, deferred, written out of a full lane). */
export function deliveryOutcome(record: AttemptRecord): DeliveryOutcome | null {
  if (record.attempt === null || (!record.reachedReceiver && (record.status === 'held' || record.error === 'circuit_open'))) return null;
  if (record.outcome === 'success') return 'success';
  if (record.statusCode === 410) return 'gone';
  if (record.statusCode !== null) return 'failure';
  if (record.error === 'timeout') return 'timeout';
  return 'error';
}

/**
 * The engine's observer that moves the Prometheus metrics. The engine calls it after each
 * commit, so the counters agree with what Postgres holds. Holds, circuit-open skips and
 * messages written out of a full lane (backlog) made no request: they count in `deliveries_skipped_total`, not as delivery outcomes, so the failure
 * ratio stays a ratio of real requests.
 */
export function metricsObserver(metrics: Metrics): DeliveryObserver {
  return {
    attempt(record) {
      const outcome = deliveryOutcome(record);
      if (outcome === null) {
        metrics.deliveriesSkipped.inc({ reason: record.status === 'held' ? 'held' : record.error === 'circuit_open' ? 'circuit_open' : 'backlog' });
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
