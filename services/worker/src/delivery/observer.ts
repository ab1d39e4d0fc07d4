import type { AttemptRecord, AttemptWriterHealth } from './attempt-record.ts';

/**
 * What the engine reports as it works, for metrics. The engine calls it after each commit, so
 * counts match what Postgres holds. The default does nothing.
 */
export interface DeliveryObserver {
  /** One committed delivery outcome (an attempt, a circuit-open skip, or a hold). */
  attempt(record: AttemptRecord): void;
  /** Subscriptions disabled in a batch (410 Gone, or failing too long). */
  disabled(count: number): void;
  /** Messages created by a fan-out, and how long after the events were received. */
  fanout(messages: number, lagMs: number[]): void;
  /** The attempt writer's state, after each batch and when it stops committing. */
  writer(health: AttemptWriterHealth): void;
  /** Records whose row could not be written: kept without their response (`minimal`) or not kept (`dropped`). */
  unwritable(fate: 'minimal' | 'dropped', count: number): void;
}

export const NO_OBSERVER: DeliveryObserver = {
  attempt() {},
  disabled() {},
  fanout() {},
  writer() {},
  unwritable() {},
};
