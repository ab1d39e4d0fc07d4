import type { Logger } from '#shared/logger';
import type { Transport, PostResult } from '#shared/http/transport';
import type { RetryPolicy } from '#shared/delivery/retry-policy';
import { classifyOutcome } from '#shared/delivery/outcome';
import type { Grant, RequestOutcome, SubscriptionLimits } from '#shared/delivery/limits';
import type { Lease } from '#shared/delivery/message-state';
import { sign } from '#shared/signing';
import type { AttemptRecord, RecordedResponse } from './attempt-record.ts';
import type { AttemptWriter } from './attempt-writer.ts';
import type { RoutedSubscription } from '../fanout/routing-table.ts';

/** One message to deliver: the receiver, the body, how many attempts came before, and this worker's lease on it. */
export interface DeliveryItem {
  messageId: string;
  attemptsMade: number;
  subscription: RoutedSubscription;
  body: string;
  /** The lease this worker holds: its owner token and its end (ms, by this process's clock, taken before the statement). */
  lease: { owner: string; until: number };
}

/** Options of the Dispatcher. */
export interface DispatcherOptions {
  /** Requests in flight at once over all receivers, in this process. */
  concurrency: number;
  /** Requests in flight at once to one subscription, over all processes. */
  maxInFlightPerSubscription: number;
  /** The request timeout; a request never starts on a lease with less than this (and a quarter of the spare) left. */
  timeoutMs: number;
  /** The message lease (longer than `timeoutMs`). */
  leaseMs: number;
  /** Checks a receiver URL just before sending (the SSRF guard's static part); null = fine. */
  checkUrl: (url: string) => string | null;
  /** Returns unstarted messages to the queue when the dispatcher stops. */
  handBack: (messages: (Lease & { attempts: number; subscriptionId: string })[]) => Promise<void>;
  /** Extends leases this worker holds; returns the ids renewed (the others are no longer its own). */
  renew: (leases: Lease[]) => Promise<Set<string>>;
  /** How soon a lane whose slots are all taken (by any process) asks again; default 50 ms. */
  pollMs?: number;
  /** Random source in [0, 1), for the jitter of deferrals; tests fix it. */
  random?: () => number;
}

/** The shared limits as the dispatcher uses them (SubscriptionLimits; tests pass a fake). */
export type Limits = Pick<SubscriptionLimits, 'acquire' | 'release'>;

interface Waiting {
  item: DeliveryItem;
  done: () => void;
}

interface Lane {
  sub: RoutedSubscription;
  queue: Waiting[];
  inFlight: number;
  /** In the ready list. */
  ready: boolean;
  /** Asking the limits for a slot now: one question per lane at a time. */
  busy: boolean;
  /** Waiting to ask again (slots taken elsewhere, rate used up, a probe in flight). */
  timer: NodeJS.Timeout | null;
}

/** Spread of a deferral past the circuit's reopening, so the deferred do not all return at once. */
const DEFER_JITTER_MS = 1_000;
/** A Redis or Postgres error while starting: ask again after this. */
const ERROR_WAIT_MS = 1_000;
/** Longest a lane waits for a probe in flight before asking again. */
const PROBE_POLL_MS = 500;

/**
 * Sends messages to receivers, fairly. Each subscription has a lane; lanes take turns for this
 * process's slots, and every start asks the shared limits (`SubscriptionLimits`, in Redis) for
 * one of the subscription's slots, so the cap on requests in flight, the rate limit and the
 * circuit breaker hold over all worker processes together. A lane whose slots are taken waits
 * and asks again; its messages stay leased meanwhile (renewed), so no other worker takes them.
 * While the circuit is open, the lane's messages are deferred to its reopening: no attempt is
 * used, nothing goes dead for it.
 *
 * Failure policy: every item ends in exactly one record for the AttemptWriter (an attempt, a
 * deferral or a hold), or is dropped untried when its lease turned out to be someone else's. A
 * request never starts on a lease too short to cover it. On shutdown, items not yet started go
 * back to the queue; those in flight finish.
 */
export class Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready: Lane[] = [];
  private inFlight = 0;
  private starting = 0;
  private stopped = false;
  private readonly renewer: NodeJS.Timeout;
  private renewing = false;
  private readonly pollMs: number;
  private readonly random: () => number;
  /** A request starts only with at least this much lease left: the timeout and a quarter of the spare. */
  private readonly startNeedMs: number;
  private readonly renewEveryMs: number;

  constructor(
    private readonly transport: Transport,
    private readonly writer: Pick<AttemptWriter, 'add' | 'flush'>,
    private readonly policy: RetryPolicy,
    private readonly limits: Limits,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {
    if (options.leaseMs <= options.timeoutMs) throw new Error('the delivery lease must be longer than the request timeout');
    this.pollMs = options.pollMs ?? 50;
    this.random = options.random ?? Math.random;
    // A request starts with its timeout and a quarter of the spare left (for writing its outcome);
    // waiting messages are renewed once less than half the spare is left beyond the timeout, by
    // a ticker fast enough that none drops below the start's need between two ticks.
    const spare = options.leaseMs - options.timeoutMs;
    this.startNeedMs = options.timeoutMs + spare / 4;
    this.renewEveryMs = Math.min(5_000, Math.max(50, spare / 8));
    this.renewer = setInterval(() => void this.renewWaiting(), this.renewEveryMs);
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

  /** Messages waiting in lanes and requests in flight, in this process (for tests and views). */
  depth(): { waiting: number; inFlight: number } {
    let waiting = 0;
    for (const lane of this.lanes.values()) waiting += lane.queue.length;
    return { waiting, inFlight: this.inFlight };
  }

  /**
   * Stops taking work: items not yet started go back to the queue (as delivery jobs), those
   * in flight finish, and their outcomes are written.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewer);
    const unstarted: Waiting[] = [];
    for (const lane of this.lanes.values()) {
      unstarted.push(...lane.queue.splice(0));
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
    }
    this.ready.length = 0;
    if (unstarted.length > 0) {
      await this.handBack(unstarted.map((u) => u.item));
      for (const { done } of unstarted) done();
    }
    while (this.inFlight > 0 || this.starting > 0) await new Promise((r) => setTimeout(r, 20));
    await this.writer.flush();
  }

  /** Returns items to the queue as delivery jobs, due now. */
  private async handBack(items: DeliveryItem[]): Promise<void> {
    await this.options
      .handBack(items.map((i) => ({ messageId: i.messageId, owner: i.lease.owner, attempts: i.attemptsMade, subscriptionId: i.subscription.id })))
      .catch((err: unknown) => this.logger.warn({ err }, 'could not return unstarted deliveries; the reconciler will once their leases pass'));
  }

  private lane(sub: RoutedSubscription): Lane {
    let lane = this.lanes.get(sub.id);
    if (!lane) {
      lane = { sub, queue: [], inFlight: 0, ready: false, busy: false, timer: null };
      this.lanes.set(sub.id, lane);
    }
    // A reloaded routing table carries the newest url, secrets and limits.
    lane.sub = sub;
    return lane;
  }

  private markReady(lane: Lane): void {
    if (this.stopped || lane.ready || lane.busy || lane.timer || lane.queue.length === 0) return;
    // This process's own requests count against the cap too: no need to ask Redis when they fill it.
    if (lane.inFlight >= this.options.maxInFlightPerSubscription) return;
    lane.ready = true;
    this.ready.push(lane);
  }

  private pump(): void {
    while (this.inFlight + this.starting < this.options.concurrency && this.ready.length > 0) {
      const lane = this.ready.shift()!;
      lane.ready = false;
      if (lane.queue.length === 0) continue;
      lane.busy = true;
      this.starting++;
      void this.startNext(lane)
        .catch((err: unknown) => {
          this.logger.error({ err, subscriptionId: lane.sub.id }, 'starting a delivery failed');
          this.waitUntil(lane, Date.now() + ERROR_WAIT_MS);
        })
        .finally(() => {
          lane.busy = false;
          this.starting--;
          // Round robin: the lane goes to the back if it still has work and room.
          this.markReady(lane);
          this.pump();
        });
    }
    if (this.inFlight === 0 && this.starting === 0) this.forgetIdleLanes();
  }

  /** Asks the lane to try again at `at` (ms). */
  private waitUntil(lane: Lane, at: number): void {
    if (this.stopped) return;
    if (lane.timer) clearTimeout(lane.timer);
    lane.timer = setTimeout(() => {
      lane.timer = null;
      this.markReady(lane);
      this.pump();
    }, Math.max(0, at - Date.now()));
  }

  /** Starts the lane's next message if the shared limits let it, or decides how it waits. */
  private async startNext(lane: Lane): Promise<void> {
    const head = lane.queue[0]!;
    const sub = lane.sub;
    if (sub.state !== 'active') {
      // Paused or disabled: keep the message, untried, until the subscription is active again.
      lane.queue.shift();
      this.record(head, this.untried(head.item, 'held', null, null));
      return;
    }
    let verdict: Awaited<ReturnType<Limits['acquire']>>;
    try {
      verdict = await this.limits.acquire({ id: sub.id, maxInFlight: this.options.maxInFlightPerSubscription, ratePerSecond: sub.rateLimitPerSecond });
    } catch (err) {
      // Fail closed: without Redis no cap can be kept, so nothing starts; the leases are renewed meanwhile.
      this.logger.warn({ err, subscriptionId: sub.id }, 'shared limits unavailable; waiting');
      this.waitUntil(lane, Date.now() + ERROR_WAIT_MS);
      return;
    }
    if (!verdict.granted) {
      const now = Date.now();
      if (verdict.reason === 'open') this.deferLane(lane, verdict.retryAt);
      else if (verdict.reason === 'cap') this.waitUntil(lane, Math.min(verdict.retryAt, now + this.pollMs));
      else if (verdict.reason === 'probing') this.waitUntil(lane, Math.min(verdict.retryAt, now + PROBE_POLL_MS));
      else this.waitUntil(lane, verdict.retryAt);
      return;
    }
    if (this.stopped || lane.queue[0] !== head) {
      // Handed back while we asked: give the slot back untouched.
      await this.releaseSlot(sub, verdict, 'none');
      return;
    }
    if (head.item.lease.until - Date.now() < this.startNeedMs) {
      // The lease must cover the whole request and the writing of its outcome: extend it first.
      const askedAt = Date.now();
      const renewed = await this.options.renew([{ messageId: head.item.messageId, owner: head.item.lease.owner }]).catch((err: unknown) => {
        this.logger.warn({ err, messageId: head.item.messageId }, 'could not extend a lease; waiting');
        return null;
      });
      if (renewed === null || this.stopped || lane.queue[0] !== head) {
        await this.releaseSlot(sub, verdict, 'none');
        if (renewed === null) this.waitUntil(lane, Date.now() + ERROR_WAIT_MS);
        return;
      }
      lane.queue.shift();
      if (!renewed.has(head.item.messageId)) {
        await this.releaseSlot(sub, verdict, 'none');
        this.logger.info({ messageId: head.item.messageId }, 'lease no longer ours; not sending');
        head.done();
        return;
      }
      head.item.lease.until = askedAt + this.options.leaseMs;
    } else {
      lane.queue.shift();
    }
    lane.inFlight++;
    this.inFlight++;
    void this.run(lane, head.item, verdict).then(
      (record) => {
        this.release(lane);
        this.record(head, record);
      },
      (err: unknown) => {
        // A bug, not a receiver failure: leave the message to its lease and the reconciler.
        this.logger.error({ err, messageId: head.item.messageId }, 'delivery crashed');
        void this.releaseSlot(sub, verdict, 'none').then(() => {
          this.release(lane);
          head.done();
        });
      },
    );
  }

  /** The circuit is open until `until`: every message of the lane waits for it, untried, out of memory. */
  private deferLane(lane: Lane, until: number): void {
    for (const waiting of lane.queue.splice(0)) {
      const at = new Date(until + Math.round(this.random() * DEFER_JITTER_MS));
      this.record(waiting, this.untried(waiting.item, 'pending', at, 'circuit_open'));
    }
  }

  private record(waiting: Waiting, record: AttemptRecord): void {
    void this.writer.add(record).then(waiting.done);
  }

  private release(lane: Lane): void {
    lane.inFlight--;
    this.inFlight--;
    // A slot of ours came free: a lane waiting for one may ask at once.
    if (lane.timer && lane.queue.length > 0) {
      clearTimeout(lane.timer);
      lane.timer = null;
    }
    this.markReady(lane);
    this.pump();
  }

  /** Gives the slot back and counts the outcome in the breaker; a failure only costs the slot its lease. */
  private async releaseSlot(sub: RoutedSubscription, grant: Grant, outcome: RequestOutcome): Promise<void> {
    try {
      const change = await this.limits.release(sub.id, grant.token, outcome);
      if (change === 'opened' || change === 'reopened') this.logger.warn({ subscriptionId: sub.id, change }, 'circuit opened');
      else if (change === 'closed') this.logger.info({ subscriptionId: sub.id }, 'circuit closed');
    } catch (err) {
      this.logger.warn({ err, subscriptionId: sub.id }, 'could not release a slot; its lease frees it');
    }
  }

  /** Renews the leases of messages waiting in lanes before they run short; drops those no longer ours. */
  private async renewWaiting(): Promise<void> {
    if (this.renewing || this.stopped) return;
    this.renewing = true;
    try {
      const askedAt = Date.now();
      const due: Waiting[] = [];
      for (const lane of this.lanes.values()) {
        for (const w of lane.queue) if (w.item.lease.until - askedAt < this.startNeedMs + this.renewEveryMs * 2) due.push(w);
      }
      if (due.length === 0) return;
      const renewed = await this.options.renew(due.map((w) => ({ messageId: w.item.messageId, owner: w.item.lease.owner })));
      const lost = new Set<Waiting>();
      for (const w of due) {
        if (renewed.has(w.item.messageId)) w.item.lease.until = Math.max(w.item.lease.until, askedAt + this.options.leaseMs);
        else lost.add(w);
      }
      if (lost.size === 0) return;
      for (const lane of this.lanes.values()) {
        if (!lane.queue.some((w) => lost.has(w))) continue;
        lane.queue = lane.queue.filter((w) => !lost.has(w));
      }
      this.logger.info({ messages: lost.size }, 'leases no longer ours (delivered, cancelled or taken over); not sending them');
      for (const w of lost) w.done();
    } catch (err) {
      this.logger.warn({ err }, 'could not renew leases; a request will not start on a short one');
    } finally {
      this.renewing = false;
    }
  }

  /** Lanes with nothing queued, asked or in flight carry no state worth keeping (the breaker lives in Redis). */
  private forgetIdleLanes(): void {
    if (this.lanes.size < 10_000) return;
    for (const [id, lane] of this.lanes) {
      if (lane.queue.length === 0 && lane.inFlight === 0 && !lane.busy && !lane.timer) this.lanes.delete(id);
    }
  }

  /** Makes one attempt, under a slot of the shared limits, and says what to record. */
  private async run(lane: Lane, item: DeliveryItem, grant: Grant): Promise<AttemptRecord> {
    const { sub } = lane;
    const attempt = item.attemptsMade + 1;
    const base = { messageId: item.messageId, subscriptionId: sub.id, attemptedAt: new Date() };
    const refusal = this.options.checkUrl(sub.url);
    const timestamp = Math.floor(Date.now() / 1000);
    const result: PostResult = refusal
      ? { kind: 'error', error: 'forbidden_address', message: refusal, durationMs: 0 }
      : await this.transport.post(sub.url, item.body, {
          'content-type': 'application/json',
          ...sign({ id: item.messageId, timestamp, body: item.body, secrets: sub.secrets }),
        });
    const outcome = classifyOutcome({ result });
    const response = result.kind === 'response' ? result : null;
    await this.releaseSlot(sub, grant, refusal ? 'none' : outcome.kind === 'success' ? 'success' : 'failure');

    if (outcome.kind === 'success') {
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
    if (outcome.kind === 'gone') {
      const record = this.failed(base, attempt, result.durationMs, outcome.statusCode, null, response, null, true, outcome.message);
      return { ...record, status: 'dead', nextAttemptAt: null, disableReason: outcome.reason };
    }
    return this.failed(base, attempt, result.durationMs, outcome.statusCode, outcome.error, response, outcome.retryAfterMs, true, outcome.message);
  }

  /** A record for a message not tried: held (subscription not active) or deferred (circuit open). */
  private untried(item: DeliveryItem, status: 'held' | 'pending', nextAttemptAt: Date | null, error: string | null): AttemptRecord {
    return {
      messageId: item.messageId,
      subscriptionId: item.subscription.id,
      attemptedAt: new Date(),
      attempt: null,
      attemptsMade: item.attemptsMade,
      durationMs: 0,
      outcome: 'failure',
      statusCode: null,
      error,
      errorMessage: null,
      response: null,
      status,
      nextAttemptAt,
      reachedReceiver: false,
    };
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
