import type { Logger } from '#shared/logger';
import type { Transport, PostResult } from '#shared/http/transport';
import type { RetryPolicy } from '#shared/delivery/retry-policy';
import { classifyOutcome } from '#shared/delivery/outcome';
import { sign } from '#shared/signing';
import type { AttemptRecord, RecordedResponse } from './attempt-record.ts';
import type { AttemptWriter } from './attempt-writer.ts';
import type { RoutedSubscription } from '../fanout/routing-table.ts';

/** One message to deliver: the receiver, the body, and how many attempts came before. */
export interface DeliveryItem {
  messageId: string;
  attemptsMade: number;
  subscription: RoutedSubscription;
  body: string;
}

/** Options of the Dispatcher. */
export interface DispatcherOptions {
  /** Requests in flight at once over all receivers. */
  concurrency: number;
  /** Requests in flight at once to one subscription. */
  maxInFlightPerSubscription: number;
  /** Consecutive failures that open a subscription's circuit; default 5. */
  breakerThreshold?: number;
  /** How long an opened circuit stays open before one probe; doubles while probes fail. Default 30 s. */
  breakerCooldownMs?: number;
  /** Longest a circuit stays open before a probe; default 10 min. */
  breakerMaxCooldownMs?: number;
  /** Checks a receiver URL just before sending (the SSRF guard's static part); null = fine. */
  checkUrl: (url: string) => string | null;
  /** Returns unstarted messages to the queue when the dispatcher stops. */
  handBack: (messages: { id: string; attempts: number }[]) => Promise<void>;
}

type BreakerState = { failures: number; openUntil: number; cooldownMs: number; probing: boolean };

interface Lane {
  sub: RoutedSubscription;
  queue: { item: DeliveryItem; done: () => void }[];
  inFlight: number;
  ready: boolean;
  breaker: BreakerState;
}

/**
 * Sends messages to receivers, fairly. Each subscription has a lane with its own cap on
 * requests in flight; lanes take turns for the global slots, so one slow or hanging receiver
 * uses at most its cap and never the workers of everyone else. A subscription whose receiver
 * keeps failing gets its circuit opened: while open, its messages are not tried but held on the
 * retry schedule (logged as `circuit_open`), and once the cool-down passes one message probes
 * the receiver; success closes the circuit.
 *
 * Failure policy: every item ends in exactly one record for the AttemptWriter. On shutdown,
 * items not yet started go back to the queue as delivery jobs; those in flight finish.
 */
export class Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready: Lane[] = [];
  private inFlight = 0;
  private stopped = false;
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly maxCooldownMs: number;

  constructor(
    private readonly transport: Transport,
    private readonly writer: AttemptWriter,
    private readonly policy: RetryPolicy,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {
    this.threshold = options.breakerThreshold ?? 5;
    this.cooldownMs = options.breakerCooldownMs ?? 30_000;
    this.maxCooldownMs = options.breakerMaxCooldownMs ?? 600_000;
  }

  /** Delivers the items; resolves when every outcome is committed. */
  submit(items: DeliveryItem[]): Promise<void> {
    if (this.stopped) return this.handBack(items);
    const done = items.map(
      (item) =>
        new Promise<void>((resolve) => {
          const lane = this.lane(item.subscription);
          lane.queue.push({ item, done: resolve });
          this.markReady(lane);
        }),
    );
    this.pump();
    return Promise.all(done).then(() => undefined);
  }

  /** Circuit state of a subscription in this process, for health views. */
  circuit(subscriptionId: string): 'closed' | 'open' | 'half_open' {
    const b = this.lanes.get(subscriptionId)?.breaker;
    if (!b || b.failures < this.threshold) return 'closed';
    return b.probing || Date.now() >= b.openUntil ? 'half_open' : 'open';
  }

  /**
   * Stops taking work: items not yet started go back to the queue (as delivery jobs), those
   * in flight finish, and their outcomes are written.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const unstarted: { item: DeliveryItem; done: () => void }[] = [];
    for (const lane of this.lanes.values()) unstarted.push(...lane.queue.splice(0));
    this.ready.length = 0;
    if (unstarted.length > 0) {
      await this.handBack(unstarted.map((u) => u.item));
      for (const { done } of unstarted) done();
    }
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    await this.writer.flush();
  }

  /** Returns items to the queue as delivery jobs, due now. */
  private async handBack(items: DeliveryItem[]): Promise<void> {
    await this.options.handBack(items.map((i) => ({ id: i.messageId, attempts: i.attemptsMade }))).catch((err: unknown) => this.logger.warn({ err }, 'could not return unstarted deliveries; the reconciler will'));
  }

  private lane(sub: RoutedSubscription): Lane {
    let lane = this.lanes.get(sub.id);
    if (!lane) {
      lane = { sub, queue: [], inFlight: 0, ready: false, breaker: { failures: 0, openUntil: 0, cooldownMs: this.cooldownMs, probing: false } };
      this.lanes.set(sub.id, lane);
    }
    // A reloaded routing table carries the newest url and secrets.
    lane.sub = sub;
    return lane;
  }

  private markReady(lane: Lane): void {
    if (!lane.ready && lane.queue.length > 0 && lane.inFlight < this.options.maxInFlightPerSubscription) {
      lane.ready = true;
      this.ready.push(lane);
    }
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.ready.length > 0) {
      const lane = this.ready.shift()!;
      lane.ready = false;
      const next = lane.queue.shift();
      if (!next) continue;
      lane.inFlight++;
      this.inFlight++;
      void this.run(lane, next.item).then(
        (record) => this.finish(lane, record, next.done),
        (err: unknown) => {
          // A bug, not a receiver failure: leave the message to its lease and the reconciler.
          this.logger.error({ err, messageId: next.item.messageId }, 'delivery crashed');
          this.release(lane);
          next.done();
        },
      );
      // Round robin: the lane goes to the back if it still has work and room.
      this.markReady(lane);
    }
    if (this.inFlight === 0) this.forgetIdleLanes();
  }

  private release(lane: Lane): void {
    lane.inFlight--;
    this.inFlight--;
    this.markReady(lane);
    this.pump();
  }

  private finish(lane: Lane, record: AttemptRecord, done: () => void): void {
    this.release(lane);
    void this.writer.add(record).then(done);
  }

  /** Lanes with nothing queued or in flight and a closed circuit carry no state worth keeping. */
  private forgetIdleLanes(): void {
    if (this.lanes.size < 10_000) return;
    for (const [id, lane] of this.lanes) {
      if (lane.queue.length === 0 && lane.inFlight === 0 && lane.breaker.failures === 0) this.lanes.delete(id);
    }
  }

  /** Makes one attempt (or decides not to) and says what to record. */
  private async run(lane: Lane, item: DeliveryItem): Promise<AttemptRecord> {
    const { sub } = lane;
    const attempt = item.attemptsMade + 1;
    const base = { messageId: item.messageId, subscriptionId: sub.id, attemptedAt: new Date() };
    if (sub.state !== 'active') {
      // Paused or disabled: keep the message, untried, until the subscription is active again.
      return { ...base, attempt: null, durationMs: 0, outcome: 'failure', statusCode: null, error: null, errorMessage: null, response: null, status: 'held', nextAttemptAt: null, reachedReceiver: false };
    }
    const breaker = lane.breaker;
    const open = breaker.failures >= this.threshold;
    if (open && (Date.now() < breaker.openUntil || breaker.probing)) {
      return this.failed(base, attempt, 0, null, 'circuit_open', null, null, false);
    }
    if (open) breaker.probing = true;

    const refusal = this.options.checkUrl(sub.url);
    const timestamp = Math.floor(Date.now() / 1000);
    const result: PostResult = refusal
      ? { kind: 'error', error: 'forbidden_address', message: refusal, durationMs: 0 }
      : await this.transport.post(sub.url, item.body, {
          'content-type': 'application/json',
          ...sign({ id: item.messageId, timestamp, body: item.body, secrets: sub.secrets }),
        });
    breaker.probing = false;
    const outcome = classifyOutcome({ result });
    const response = result.kind === 'response' ? result : null;

    if (outcome.kind === 'success') {
      breaker.failures = 0;
      breaker.cooldownMs = this.cooldownMs;
      return {
        ...base,
        attempt,
        durationMs: result.durationMs,
        outcome: 'success',
        statusCode: outcome.statusCode,
        error: null,
        errorMessage: null,
        response,
        status: 'succeeded',
        nextAttemptAt: null,
        reachedReceiver: true,
      };
    }

    breaker.failures++;
    if (breaker.failures >= this.threshold) {
      // Opened now, or a probe failed: wait longer before the next probe.
      if (open) breaker.cooldownMs = Math.min(breaker.cooldownMs * 2, this.maxCooldownMs);
      breaker.openUntil = Date.now() + breaker.cooldownMs;
      if (!open) this.logger.warn({ subscriptionId: sub.id, cooldownMs: breaker.cooldownMs }, 'circuit opened');
    }
    if (outcome.kind === 'gone') {
      const record = this.failed(base, attempt, result.durationMs, outcome.statusCode, null, response, null, true, outcome.message);
      return { ...record, status: 'dead', nextAttemptAt: null, disableReason: outcome.reason };
    }
    return this.failed(base, attempt, result.durationMs, outcome.statusCode, outcome.error, response, outcome.retryAfterMs, true, outcome.message);
  }

  private failed(
    base: Pick<AttemptRecord, 'messageId' | 'subscriptionId' | 'attemptedAt'>,
    attempt: number,
    durationMs: number,
    statusCode: number | null,
    error: string | null,
    response: RecordedResponse | null,
    retryAfterMs: number | null,
    reachedReceiver: boolean,
    errorMessage: string | null = null,
  ): AttemptRecord {
    const delay = this.policy.nextDelayMs(attempt, retryAfterMs);
    return {
      ...base,
      attempt,
      durationMs,
      outcome: 'failure',
      statusCode,
      error,
      errorMessage,
      response,
      status: delay === null ? 'dead' : 'pending',
      nextAttemptAt: delay === null ? null : new Date(Date.now() + delay),
      reachedReceiver,
    };
  }
}
