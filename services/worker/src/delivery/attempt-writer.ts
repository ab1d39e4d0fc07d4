import { columnBindings, type Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { RetrySchedule } from '#shared/delivery/retry-schedule';
import { storableHeaders, storableText, storeBody, type StoredResponse } from '#shared/delivery/response-body';
import type { AttemptRecord, AttemptWriterHealth, Unwritten } from './attempt-record.ts';
import type { DeliveryObserver } from './observer.ts';
import { addOutcomes, disableFailingSubscriptions, disableSubscriptions, type DisableOutcome } from '#shared/delivery/disable';
import { applyOutcomes, finishEventLeases, insertOutcomes, type EventLease } from '#shared/delivery/message-state';
import type { UnwrittenMessages } from './unwritten.ts';

export type { AttemptRecord, AttemptWriterHealth, RecordedResponse } from './attempt-record.ts';

/** Options of the AttemptWriter. */
export interface AttemptWriterOptions {
  /** Flush when this many records wait; default 500 (a 500-row insert passes 80k rows/s). */
  maxBatch?: number;
  /** Flush at most this long after the first record arrived; default 10 ms. */
  maxDelayMs?: number;
  /** No success for this long while failing disables a subscription. */
  disableAfterMs: number;
  /**
   * Most bytes of records held (while Postgres is slow or cannot be written); default 64 MiB,
   * some 100,000 typical records (a stored record is at most ~5 KiB). Past it a new record is
   * dropped (counted, logged): its message stays pending under its lease and is sent again.
   */
  maxBufferedBytes?: number;
  /** Longest wait between tries while Postgres cannot be written; default 5 s. */
  maxBackoffMs?: number;
  /** PUBLIC_URL, for the links in the mail telling a partner its subscription was disabled. */
  publicUrl?: string;
  /** Told, after the commit, the mails a batch wrote (a disabled subscription's partner is e-mailed); it enqueues them. */
  onMail?: (mailIds: string[]) => void;
  /** Told, after the commit, the ordered messages that finished (succeeded or dead): their entities' next may go. */
  onFinished?: (records: AttemptRecord[]) => void;
  /** The events whose first deliveries are not yet written: a batch writing the last of an event's gives its lease up. */
  unwritten?: UnwrittenMessages;
  /**
   * Keep a first attempt that succeeded in the message row its outcome writes, with no attempt
   * row (migration 0014); the worker sets it when attempts are kept at least as long as messages,
   * so that a kept attempt, which goes with its row, outlives no retention. Default false.
   */
  keepFirstSuccessInRow?: boolean;
}

/** An attempt row, made storable when its record arrives (so the buffer holds bounded rows). */
interface StoredAttempt extends StoredResponse {
  errorMessage: string | null;
}

interface Pending {
  /** The record, without its response (that lives on in `stored`). */
  record: AttemptRecord;
  stored: StoredAttempt;
  /** Bytes it counts in `heldBytes`. */
  bytes: number;
  /** Resolves `add`'s promise. No closure made in `add` is kept here: it would hold the record as it came, response and all. */
  resolve: () => void;
  settled: boolean;
}

/** Postgres could not be reached while a batch was being isolated: hold what is left, retry. */
class CannotCommitError extends Error {
  constructor(override readonly cause: unknown) {
    super('Postgres cannot be written');
  }
}

const noop = () => {};

/** About how many bytes a stored record holds in memory. */
function storedSize(s: StoredAttempt): number {
  const text = (v: string | null) => (v === null ? 0 : v.length * 2);
  return 512 + text(s.responseBody) + (s.responseBodyBytes?.length ?? 0) + text(s.responseStatusText) + text(s.responseHeaders) + text(s.errorMessage);
}

/** Makes a record's receiver-given parts storable: bytes split into preview and exact bytes, text NUL-safe and bounded. */
function storeAttempt(record: AttemptRecord): StoredAttempt {
  const response = record.response;
  const body = response ? storeBody(response.body) : null;
  const headers = response ? storableHeaders(response.headers) : null;
  return {
    responseBody: body?.text ?? null,
    responseBodyBytes: body?.bytes ?? null,
    responseBodyTruncated: response !== null && response.bytesRead > response.body.length,
    responseStatusText: response ? storableText(response.statusText, 256) : null,
    responseHeaders: headers ? JSON.stringify(headers) : null,
    errorMessage: record.errorMessage === null ? null : storableText(record.errorMessage),
  };
}

/** Postgres's own words for a failed statement, without the SQL knex puts in front of them. */
function describeDbError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const { code } = err as { code?: string };
  const message = err.message.includes(' - ') ? err.message.slice(err.message.lastIndexOf(' - ') + 3) : err.message;
  return code ? `${code}: ${message}` : message;
}

/** A record cut to what any row can hold: no response, and an error saying why it was cut. */
function minimalAttempt(p: Pending, reason: unknown): Pending {
  const why = storableText(describeDbError(reason), 300);
  const { record } = p;
  const int = (n: number | null) => (n === null || !Number.isSafeInteger(Math.round(n)) || Math.abs(n) > 2_147_483_647 ? null : Math.round(n));
  return {
    ...p,
    record: {
      ...record,
      durationMs: int(record.durationMs) ?? 0,
      statusCode: int(record.statusCode),
      error: record.error === null ? 'unrecordable_response' : storableText(record.error, 64),
      disableReason: record.disableReason === undefined ? undefined : storableText(record.disableReason, 300),
    },
    stored: {
      responseBody: null,
      responseBodyBytes: null,
      responseBodyTruncated: false,
      responseStatusText: null,
      responseHeaders: null,
      errorMessage: `the attempt could not be recorded as received (${why}); kept without the response`,
    },
  };
}

/**
 * Writes delivery outcomes in batches: one transaction inserts the attempts, moves the messages
 * on, updates each subscription's health and disables the ones that must be, then (after the
 * commit) schedules the retries. A single-row insert per delivery would cap the engine near 7k
 * rows/s; batches keep Postgres off the critical path. Retries go to the RetrySchedule.
 *
 * Failure policy: no receiver can jam the writer, and no batch is retried forever.
 * - Whatever a receiver sent is made storable when the record arrives (bytes kept exactly,
 *   text NUL-safe and bounded), so a response cannot fail a write.
 * - A batch that fails while Postgres answers is isolated: split in halves, each written on
 *   its own, down to single rows. A row that still fails is written again without its response
 *   and with an error saying why; if even that fails it is dropped and logged. Both are counted
 *   in `hubhook_attempt_records_unwritable_total`; neither holds back any other row.
 * - While Postgres does not answer at all (down, unreachable), the batch is kept and tried
 *   again with backoff; `health()` says so (the worker's /healthz and /readyz, and
 *   `hubhook_attempt_writer_failing` 1), one log line marks the start, reminders follow, one marks
 *   the end. Up to `maxBufferedBytes` of records are held meanwhile; past that, new ones are
 *   dropped (counted; their messages are still pending under a lease and are sent again).
 * - A crash loses at most the records held: their messages are still pending in Postgres under
 *   a lease, so the reconciler sends them again (at least once) and that attempt is logged.
 */
export class AttemptWriter {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly maxBufferedBytes: number;
  private readonly maxBackoffMs: number;
  /** Records taken from the buffer and not yet settled. */
  private inBatch = 0;
  /** Bytes of every record added and not yet settled. */
  private heldBytes = 0;
  private failingSince: Date | null = null;
  private lastError: string | null = null;
  private lastReminder = 0;

  constructor(
    private readonly db: Knex,
    private readonly schedule: RetrySchedule,
    private readonly logger: Logger,
    private readonly observer: DeliveryObserver,
    private readonly options: AttemptWriterOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
  }

  /** Queues a record; resolves once it is committed (or, past `maxBufferedBytes`, dropped). */
  add(record: AttemptRecord): Promise<void> {
    const stored = storeAttempt(record);
    const size = storedSize(stored);
    if (this.heldBytes > 0 && this.heldBytes + size > this.maxBufferedBytes) {
      this.observer.unwritable('dropped', 1);
      this.logger.error({ messageId: record.messageId, ...this.health() }, 'attempt writer full; outcome dropped, its message is sent again after its lease');
      return Promise.resolve();
    }
    this.heldBytes += size;
    const pending: Pending = { record: { ...record, response: null }, stored, bytes: size, resolve: noop, settled: false };
    const added = new Promise<void>((resolve) => {
      pending.resolve = resolve;
    });
    this.buffer.push(pending);
    if (this.buffer.length >= this.maxBatch) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.maxDelayMs);
    return added;
  }

  /** A record is done with (committed or dropped): its bytes no longer count, its `add` resolves. */
  private done(p: Pending): void {
    this.heldBytes -= p.bytes;
    p.resolve();
  }

  /** Writes everything buffered now (used on shutdown). */
  async flush(): Promise<void> {
    while (this.buffer.length > 0 || this.flushing) {
      this.kick();
      await this.flushing;
    }
  }

  /** Whether outcomes are being committed, and how many wait. */
  health(): AttemptWriterHealth {
    return {
      committing: this.failingSince === null,
      failingSince: this.failingSince,
      lastError: this.lastError,
      buffered: this.buffer.length + this.inBatch,
      bufferedBytes: this.heldBytes,
    };
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushing || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.maxBatch);
    this.inBatch = batch.length;
    this.flushing = this.writeBatch(batch).finally(() => {
      this.flushing = null;
      this.inBatch = 0;
      this.observer.writer(this.health());
      if (this.buffer.length > 0) this.kick();
    });
  }

  /** Writes a batch: whole, else isolated; while Postgres cannot be written, again with backoff. */
  private async writeBatch(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const left = batch.filter((p) => !p.settled);
      if (left.length === 0) break;
      try {
        try {
          await this.commit(left);
        } catch (err) {
          if (!(await this.reachable())) throw new CannotCommitError(err);
          this.logger.warn({ err, records: left.length }, 'writing delivery attempts failed; isolating the failing rows');
          await this.isolate(left, err);
        }
        break;
      } catch (err) {
        // Only CannotCommitError reaches here (isolation settles every row it can); anything
        // else is a bug, held and retried like an outage so that no outcome is dropped.
        this.markFailing(err instanceof CannotCommitError ? err.cause : err, batch.filter((p) => !p.settled).length);
        const waitMs = Math.min(this.maxBackoffMs, 100 * 2 ** attempt);
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
    this.markCommitting();
  }

  /** Splits a failing batch until each failing row stands alone; those are written minimal, or dropped. */
  private async isolate(batch: Pending[], err: unknown): Promise<void> {
    if (batch.length === 1) return this.writeAlone(batch[0]!, err);
    const middle = Math.ceil(batch.length / 2);
    for (const half of [batch.slice(0, middle), batch.slice(middle)]) {
      try {
        await this.commit(half);
      } catch (halfErr) {
        if (!(await this.reachable())) throw new CannotCommitError(halfErr);
        await this.isolate(half, halfErr);
      }
    }
  }

  /** A row that fails on its own: written without its response, else dropped; never tried again. */
  private async writeAlone(p: Pending, err: unknown): Promise<void> {
    const minimal = minimalAttempt(p, err);
    try {
      await this.commit([minimal]);
      p.settled = true;
      this.observer.unwritable('minimal', 1);
      this.logger.error({ err, messageId: p.record.messageId, subscriptionId: p.record.subscriptionId }, 'attempt recorded without its response: the row could not be written');
    } catch (minimalErr) {
      if (!(await this.reachable())) throw new CannotCommitError(minimalErr);
      p.settled = true;
      this.done(p);
      this.observer.unwritable('dropped', 1);
      this.logger.error({ err: minimalErr, messageId: p.record.messageId, subscriptionId: p.record.subscriptionId }, 'attempt not recorded: even the minimal row failed; its message is sent again after its lease');
    }
  }

  /** True when Postgres answers a trivial query: a failing write is then about its rows. */
  private async reachable(): Promise<boolean> {
    return this.db.raw('select 1').then(
      () => true,
      () => false,
    );
  }

  private markFailing(err: unknown, held: number): void {
    this.lastError = storableText(describeDbError(err), 300);
    const now = Date.now();
    if (this.failingSince === null) {
      this.failingSince = new Date(now);
      this.lastReminder = now;
      this.logger.error({ err, held }, 'attempt writer cannot commit: Postgres is not answering; holding outcomes and retrying');
      this.observer.writer(this.health());
    } else if (now - this.lastReminder >= 30_000) {
      this.lastReminder = now;
      this.logger.error({ err, held, failingSince: this.failingSince }, 'attempt writer still cannot commit; holding outcomes');
    }
  }

  private markCommitting(): void {
    if (this.failingSince === null) return;
    this.logger.info({ failedForMs: Date.now() - this.failingSince.getTime() }, 'attempt writer commits again; held outcomes written');
    this.failingSince = null;
    this.lastError = null;
  }

  /** Commits the rows in one transaction, then settles them; what follows the commit cannot fail it. */
  private async commit(batch: Pending[]): Promise<void> {
    const records = batch.map((p) => p.record);
    const events = unwrittenByEvent(records);
    const finishing = this.options.unwritten?.completedBy(events) ?? [];
    const disabled = await this.write(batch, finishing);
    for (const p of batch) p.settled = true;
    try {
      await this.afterCommit(records, disabled, events, finishing);
    } finally {
      for (const p of batch) this.done(p);
    }
  }

  /**
   * One transaction: messages not yet written (each row made in its state after the outcome, a
   * first success kept in it when `keepFirstSuccessInRow`), the other attempts, the states of
   * messages with a row, health, disablings, and the leases of events whose last unwritten
   * message this is. Returns what the disablings did.
   */
  private async write(batch: Pending[], finishing: EventLease[]): Promise<DisableOutcome> {
    const records = batch.map((p) => p.record);
    // One row per message: a duplicate delivery in the same batch keeps the later record.
    const byMessage = new Map<string, Pending>();
    for (const p of batch) byMessage.set(p.record.messageId, p);
    const latest = [...byMessage.values()];

    return this.db.transaction(async (trx) => {
      // Rows first: an attempt names its message.
      // A record carries its message's outcome as both statements take it: no copy per row.
      const fresh = latest.filter((p) => p.record.unwritten !== undefined);
      const keep = new Set(this.options.keepFirstSuccessInRow === true ? fresh.filter(keptInRow) : []);
      const inserted = await insertOutcomes(
        trx,
        fresh.map((p) => p.record as AttemptRecord & { unwritten: Unwritten }),
        keep.size === 0 ? [] : fresh.map((p) => (keep.has(p) ? p.stored : null)),
      );
      // A first success whose row this insert made lives in that row; every other attempt is a row of its own.
      const kept = new Set([...keep].filter((p) => inserted.has(p.record.messageId)));
      const attempts = batch.filter((p) => p.record.attempt !== null && !kept.has(p));
      const column = <T>(pick: (r: AttemptRecord, s: StoredAttempt) => T) => attempts.map((p) => pick(p.record, p.stored));
      if (attempts.length > 0) {
        await trx.raw(
          `insert into attempts (message_id, subscription_id, attempt, attempted_at, duration_ms, outcome, status_code, error,
             response_body, response_body_bytes, response_body_truncated, response_status_text, response_headers, error_message)
           select * from unnest(?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::int[], ?::text[], ?::int[], ?::text[],
             ?::text[], ?::bytea[], ?::boolean[], ?::text[], ?::jsonb[], ?::text[])`,
          columnBindings(
            column((r) => r.messageId),
            column((r) => r.subscriptionId),
            column((r) => r.attempt),
            column((r) => r.attemptedAt),
            column((r) => Math.round(r.durationMs)),
            column((r) => r.outcome),
            column((r) => r.statusCode),
            column((r) => r.error),
            column((_r, s) => s.responseBody),
            column((_r, s) => s.responseBodyBytes),
            column((_r, s) => s.responseBodyTruncated),
            column((_r, s) => s.responseStatusText),
            column((_r, s) => s.responseHeaders),
            column((_r, s) => s.errorMessage),
          ),
        );
      }
      // A message whose row another worker wrote meanwhile (its event's lease lapsed) moves as any other.
      await applyOutcomes(
        trx,
        latest.filter((p) => !p.record.unwritten || !inserted.has(p.record.messageId)).map((p) => p.record),
      );
      await finishEventLeases(trx, finishing);
      await this.updateHealth(trx, records);
      return this.disable(trx, records);
    });
  }

  /**
   * After the commit: the events whose unwritten messages are all written now give their leases
   * up (when the batch did not), retries (and deferrals) go to the retry schedule, the observer
   * hears of each outcome. Never throws.
   */
  private async afterCommit(
    records: AttemptRecord[],
    disabled: DisableOutcome,
    events: Map<string, { owner: string; count: number }>,
    finishing: EventLease[],
  ): Promise<void> {
    if (this.options.unwritten && events.size > 0) {
      const finished = new Set(finishing.map((l) => l.eventId));
      const left: EventLease[] = [];
      for (const [eventId, { owner, count }] of events) {
        const lease = this.options.unwritten.written({ eventId, owner }, count, finished.has(eventId));
        if (lease) left.push(lease);
      }
      // Only when a batch was split: the last rows of an event committed apart from its first.
      await finishEventLeases(this.db, left).catch((err: unknown) => {
        this.logger.warn({ err, events: left.length }, 'could not give up event leases; they lapse and the reconciler finds the messages written');
      });
    }
    const byMessage = new Map<string, AttemptRecord>();
    for (const r of records) byMessage.set(r.messageId, r);
    const latest = [...byMessage.values()];
    const retries = latest.filter((r) => r.status === 'pending' && r.nextAttemptAt);
    if (retries.length > 0) {
      await this.schedule
        .add(retries.map((r) => ({ messageId: r.messageId, subscriptionId: r.subscriptionId, attemptsMade: r.attempt ?? r.attemptsMade ?? 0, dueAt: r.nextAttemptAt!.getTime() })))
        .catch((err: unknown) => {
          // The messages are saved as pending with their due time; the reconciler enqueues them.
          this.logger.warn({ err, retries: retries.length }, 'could not schedule retries; the reconciler will');
        });
    }
    try {
      if (this.options.onFinished) {
        const finished = latest.filter((r) => r.entityKey && (r.status === 'succeeded' || r.status === 'dead'));
        if (finished.length > 0) this.options.onFinished(finished);
      }
      if (disabled.mailIds.length > 0) this.options.onMail?.(disabled.mailIds);
      for (const r of records) this.observer.attempt(r);
      this.observer.disabled(disabled.count);
    } catch (err) {
      this.logger.warn({ err }, 'delivery observer or mail hand-off failed; the outcomes are committed');
    }
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

/**
 * A first attempt that succeeded on a message with no row yet: it may live in the row its
 * outcome writes (migration 0014). Not one cut down to a minimal record (its error says why):
 * the row has no place for that, so it stays an attempt row.
 */
function keptInRow(p: Pending): boolean {
  const r = p.record;
  return r.unwritten !== undefined && r.attempt === 1 && r.outcome === 'success' && r.status === 'succeeded' && r.error === null && p.stored.errorMessage === null;
}

/** Records of messages not yet written, counted per event (with the event lease's owner). */
function unwrittenByEvent(records: AttemptRecord[]): Map<string, { owner: string; count: number }> {
  const events = new Map<string, { owner: string; count: number }>();
  for (const r of records) {
    if (!r.unwritten) continue;
    const e = events.get(r.unwritten.eventId);
    if (e) e.count++;
    else events.set(r.unwritten.eventId, { owner: r.unwritten.owner, count: 1 });
  }
  return events;
}
