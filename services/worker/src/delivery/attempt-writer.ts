import { columnBindings, type Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { RetrySchedule } from '#shared/delivery/retry-schedule';
import type { DeliveryObserver } from './observer.ts';
import { addOutcomes, disableFailingSubscriptions, disableSubscriptions, type DisableOutcome } from '#shared/delivery/disable';

/** What happened to one message, to be written: an attempt (or none, for a hold) and the message's new state. */
export interface AttemptRecord {
  messageId: string;
  subscriptionId: string;
  /** The attempt's number (1 = first try); null when nothing was tried (the message is held). */
  attempt: number | null;
  attemptedAt: Date;
  durationMs: number;
  outcome: 'success' | 'failure';
  statusCode: number | null;
  /** timeout, dns, refused, ..., circuit_open (not tried: the receiver's circuit is open). */
  error: string | null;
  responseBody: string | null;
  /** The message's state after this attempt. */
  status: 'succeeded' | 'pending' | 'held' | 'dead';
  /** For `pending`: when the next attempt is due. */
  nextAttemptAt: Date | null;
  /** True when a network attempt was made (false for circuit-open skips and holds); counts for health. */
  reachedReceiver: boolean;
  /** Disable the subscription at once with this reason (410 Gone). */
  disableReason?: string;
}

/** Options of the AttemptWriter. */
export interface AttemptWriterOptions {
  /** Flush when this many records wait; default 500 (a 500-row insert passes 80k rows/s). */
  maxBatch?: number;
  /** Flush at most this long after the first record arrived; default 10 ms. */
  maxDelayMs?: number;
  /** No success for this long while failing disables a subscription. */
  disableAfterMs: number;
  /** PUBLIC_URL, for the links in the mail telling a partner its subscription was disabled. */
  publicUrl?: string;
  /** Told, after the commit, the mails a batch wrote (a disabled subscription's partner is e-mailed); it enqueues them. */
  onMail?: (mailIds: string[]) => void;
}

interface Pending {
  record: AttemptRecord;
  done: () => void;
}

/**
 * Writes delivery outcomes in batches: one transaction inserts the attempts, moves the messages
 * on, updates each subscription's health and disables the ones that must be, then (after the
 * commit) schedules the retries. A single-row insert per delivery would cap the engine near 7k
 * rows/s; batches keep Postgres off the critical path. Retries go to the RetrySchedule.
 *
 * Failure policy: a failed flush is retried with backoff and nothing is dropped. A crash loses
 * at most the records of one batch window (≤ maxDelayMs): their messages are still pending in
 * Postgres under a lease, so the reconciler sends them again (at least once) and that attempt
 * is logged.
 */
export class AttemptWriter {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly db: Knex,
    private readonly schedule: RetrySchedule,
    private readonly logger: Logger,
    private readonly observer: DeliveryObserver,
    private readonly options: AttemptWriterOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10;
  }

  /** Queues a record; resolves once it is committed. */
  add(record: AttemptRecord): Promise<void> {
    return new Promise((resolve) => {
      this.buffer.push({ record, done: resolve });
      if (this.buffer.length >= this.maxBatch) this.kick();
      else this.timer ??= setTimeout(() => this.kick(), this.maxDelayMs);
    });
  }

  /** Writes everything buffered now (used on shutdown). */
  async flush(): Promise<void> {
    while (this.buffer.length > 0 || this.flushing) {
      this.kick();
      await this.flushing;
    }
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushing || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.maxBatch);
    this.flushing = this.writeWithRetry(batch).finally(() => {
      this.flushing = null;
      if (this.buffer.length > 0) this.kick();
    });
  }

  private async writeWithRetry(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.write(batch.map((p) => p.record));
        for (const p of batch) p.done();
        return;
      } catch (err) {
        const waitMs = Math.min(5_000, 100 * 2 ** attempt);
        this.logger.error({ err, records: batch.length, attempt, waitMs }, 'writing delivery attempts failed; retrying');
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  private async write(records: AttemptRecord[]): Promise<void> {
    // One row per message: a duplicate delivery in the same batch keeps the later record.
    const byMessage = new Map<string, AttemptRecord>();
    for (const r of records) byMessage.set(r.messageId, r);
    const latest = [...byMessage.values()];
    const attempts = records.filter((r) => r.attempt !== null);

    const disabled = await this.db.transaction(async (trx) => {
      if (attempts.length > 0) {
        await trx.raw(
          `insert into attempts (message_id, subscription_id, attempt, attempted_at, duration_ms, outcome, status_code, error, response_body)
           select * from unnest(?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::int[], ?::text[], ?::int[], ?::text[], ?::text[])`,
          columnBindings(
            attempts.map((r) => r.messageId),
            attempts.map((r) => r.subscriptionId),
            attempts.map((r) => r.attempt),
            attempts.map((r) => r.attemptedAt),
            attempts.map((r) => Math.round(r.durationMs)),
            attempts.map((r) => r.outcome),
            attempts.map((r) => r.statusCode),
            attempts.map((r) => r.error),
            attempts.map((r) => r.responseBody),
          ),
        );
      }
      // Only a pending message moves on: one cancelled meanwhile (subscription deleted) stays so.
      await trx.raw(
        `update messages m set
           status = v.status,
           attempts = coalesce(v.attempt, m.attempts),
           next_attempt_at = v.next_attempt_at,
           last_attempt_at = case when v.attempt is null then m.last_attempt_at else v.attempted_at end,
           last_status_code = case when v.attempt is null then m.last_status_code else v.status_code end,
           last_error = case when v.attempt is null then m.last_error else v.error end,
           succeeded_at = case when v.status = 'succeeded' then v.attempted_at else m.succeeded_at end,
           updated_at = now()
         from unnest(?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::timestamptz[], ?::int[], ?::text[])
           as v(id, status, attempt, next_attempt_at, attempted_at, status_code, error)
         where m.id = v.id and m.status = 'pending'`,
        columnBindings(
          latest.map((r) => r.messageId),
          latest.map((r) => r.status),
          latest.map((r) => r.attempt),
          latest.map((r) => r.nextAttemptAt),
          latest.map((r) => r.attemptedAt),
          latest.map((r) => r.statusCode),
          latest.map((r) => r.error),
        ),
      );
      await this.updateHealth(trx, records);
      return this.disable(trx, records);
    });

    // After the commit: retries wait in the retry schedule until they are due.
    const retries = latest.filter((r) => r.status === 'pending' && r.nextAttemptAt && r.attempt !== null);
    if (retries.length > 0) {
      await this.schedule
        .add(retries.map((r) => ({ messageId: r.messageId, attemptsMade: r.attempt!, dueAt: r.nextAttemptAt!.getTime() })))
        .catch((err: unknown) => {
          // The messages are saved as pending with their due time; the reconciler enqueues them.
          this.logger.warn({ err, retries: retries.length }, 'could not schedule retries; the reconciler will');
        });
    }
    if (disabled.mailIds.length > 0) this.options.onMail?.(disabled.mailIds);
    for (const r of records) this.observer.attempt(r);
    this.observer.disabled(disabled.count);
  }

  /** Folds the batch into each subscription's health: last success/failure, failure streak, failing since. */
  private async updateHealth(trx: Knex.Transaction, records: AttemptRecord[]): Promise<void> {
    type Health = { lastSuccess: Date | null; lastFailure: Date | null; streak: number; hadSuccess: boolean; firstFailure: Date | null };
    const health = new Map<string, Health>();
    for (const r of records) {
      if (!r.reachedReceiver) continue;
      const h = health.get(r.subscriptionId) ?? { lastSuccess: null, lastFailure: null, streak: 0, hadSuccess: false, firstFailure: null };
      if (r.outcome === 'success') {
        h.lastSuccess = r.attemptedAt;
        h.hadSuccess = true;
        h.streak = 0;
        h.firstFailure = null;
      } else {
        h.lastFailure = r.attemptedAt;
        h.streak += 1;
        h.firstFailure ??= r.attemptedAt;
      }
      health.set(r.subscriptionId, h);
    }
    if (health.size === 0) return;
    const ids = [...health.keys()];
    const rows = ids.map((id) => health.get(id)!);
    await trx.raw(
      `update subscriptions s set
         last_success_at = greatest(s.last_success_at, v.last_success),
         last_failure_at = greatest(s.last_failure_at, v.last_failure),
         consecutive_failures = case when v.had_success then v.streak else s.consecutive_failures + v.streak end,
         failing_since = case when v.streak = 0 then null
                              when v.had_success then v.first_failure
                              else coalesce(s.failing_since, v.first_failure) end
       from unnest(?::text[], ?::timestamptz[], ?::timestamptz[], ?::int[], ?::boolean[], ?::timestamptz[])
         as v(id, last_success, last_failure, streak, had_success, first_failure)
       where s.id = v.id`,
      columnBindings(
        ids,
        rows.map((h) => h.lastSuccess),
        rows.map((h) => h.lastFailure),
        rows.map((h) => h.streak),
        rows.map((h) => h.hadSuccess),
        rows.map((h) => h.firstFailure),
      ),
    );
  }

  /** Disables subscriptions whose receiver answered 410 Gone, and those failing too long (each partner is told). */
  private async disable(trx: Knex.Transaction, records: AttemptRecord[]): Promise<DisableOutcome> {
    const gone = new Map<string, string>();
    const failing = new Set<string>();
    for (const r of records) {
      if (r.disableReason) gone.set(r.subscriptionId, r.disableReason);
      else if (r.outcome === 'failure' && r.reachedReceiver) failing.add(r.subscriptionId);
    }
    const { publicUrl } = this.options;
    let outcome: DisableOutcome = gone.size > 0 ? await disableSubscriptions(trx, gone, publicUrl) : { count: 0, mailIds: [] };
    if (failing.size > 0) outcome = addOutcomes(outcome, await disableFailingSubscriptions(trx, this.options.disableAfterMs, [...failing], publicUrl));
    return outcome;
  }
}
