import Denque from 'denque';
import type { Logger } from '#shared/logger';
import type { Transport, PostResult } from '#shared/http/transport';
import type { RetryPolicy } from '#shared/delivery/retry-policy';
import { classifyOutcome } from '#shared/delivery/outcome';
import type { BreakerChange } from '#shared/delivery/breaker';
import type { Denial, Grants, RequestOutcome, SlotRelease, SubscriptionLimits } from '#shared/delivery/limits';
import type { Lease } from '#shared/delivery/message-state';
import { sign } from '#shared/signing';
import type { AttemptRecord, RecordedResponse, Unwritten } from './attempt-record.ts';
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
  /** Set when the message is delivered in entity order: its outcome hands on to the entity's next. */
  entityKey?: string | null;
  /** Set on a first delivery whose message has no row yet: its lease is its event's (`lease.owner` owns that). */
  unwritten?: Unwritten;
}

/** Room in the lanes, given to a fan-out for its messages (`Dispatcher.admit`). */
export interface Admission {
  /** Hands over the messages (at most the count admitted) and ends the admission; resolves when every outcome is committed. */
  submit(items: DeliveryItem[]): Promise<void>;
  /** Ends the admission without handing anything over. */
  close(): void;
}

/** A lease the dispatcher holds on an item: the message's, or, for one not yet written, its event's. */
export type HeldLease = Lease & { unwritten?: Unwritten };

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
  handBack: (messages: (HeldLease & { attempts: number; subscriptionId: string })[]) => Promise<void>;
  /** Extends leases this worker holds; returns the message ids renewed (the others are no longer its own). */
  renew: (leases: HeldLease[]) => Promise<Set<string>>;
  /**
   * The subscription as the newest routing table has it: null when it is gone (deleted),
   * undefined when no table is known. A lane reads it before each exchange, so a subscription
   * paused, disabled or deleted stops its backlog at once, not only when its next message arrives.
   */
  current?: (subscriptionId: string) => RoutedSubscription | null | undefined;
  /** Told the items of a deleted subscription's lane, dropped untried (nothing is owed them). */
  gone?: (items: DeliveryItem[]) => void;
  /** How soon a lane whose slots are all taken (by any process) asks again; default 50 ms. */
  pollMs?: number;
  /** Random source in [0, 1), for the jitter of deferrals; tests fix it. */
  random?: () => number;
  /**
   * How long the slot of a success waits for the lane's next message when none waits yet, and
   * the longest the outcome of a slot passed on waits for an exchange the lane makes anyway;
   * default 20 ms. Under a steady load a lane's queue is often empty between messages, and a
   * message that finds a spare slot starts without a round trip to the shared limits (give back,
   * ask again, report). A spare slot stays taken in the cap meanwhile, and the breaker hears of
   * a success this much later.
   */
  spareHoldMs?: number;
  /** How long a fan-out waits for room before the deepest lanes' newest first deliveries are written out for it (`admit`); default 2 s. */
  spillAfterMs?: number;
  /** The longest a delivery job's message may expect to wait in its lane before it is written back for later instead (`submitFromJob`); default 5 s. */
  jobWaitMs?: number;
}

/** The shared limits as the dispatcher uses them (SubscriptionLimits; tests pass a fake). */
export type Limits = Pick<SubscriptionLimits, 'exchange' | 'slotLeaseMs'>;

interface Waiting {
  item: DeliveryItem;
  done: () => void;
}

/** A slot of the shared limits this process holds: its token, its lease's end (ms, by this clock, taken before asking), whether it is the probe. */
interface Slot {
  token: string;
  until: number;
  probe: boolean;
}

interface Lane {
  sub: RoutedSubscription;
  /** Waiting in arrival order. A deque: an array's shift() copies the whole array once it passes some 16,000 entries (V8), which a backlog in one lane reaches. */
  queue: Denque<Waiting>;
  /** Requests of this lane running now. */
  inFlight: number;
  /** Slots the lane holds in the shared limits: its requests running, and finished ones whose slots are not yet given back. */
  held: number;
  /** Slots to give back (finished requests, with how they went) with the lane's next exchange. */
  releases: SlotRelease[];
  /**
   * Slots passed on to another of the lane's messages, with when: their outcomes go with the
   * lane's next exchange, which renews their leases, at the latest `spareHoldMs` later.
   */
  kept: { slot: Slot; outcome: RequestOutcome; since: number }[];
  /** Slots of successes kept a moment for a message yet to come (the lane's queue was empty), with when each was kept. */
  spare: { slot: Slot; outcome: RequestOutcome; since: number }[];
  /** The circuit was closed at the lane's last exchange: a slot may pass on after a success. */
  closed: boolean;
  /** In the ready list (wants slots). */
  ready: boolean;
  /** In the releasing list (has slots to give back). */
  releasing: boolean;
  /** Exchanging with the limits now (and extending leases of what it was granted): one exchange per lane at a time. */
  busy: boolean;
  /** Waiting to ask again (slots taken elsewhere, rate used up, a probe in flight). */
  timer: NodeJS.Timeout | null;
  /** Requests started since the last renewal tick: how fast the lane's queue moves. */
  starts: number;
  /** How long the lane's requests take, a moving mean (ms); the request timeout until one answered. */
  meanMs: number;
}

/** Spread of a deferral past the circuit's reopening, so the deferred do not all return at once. */
const DEFER_JITTER_MS = 1_000;
/** A Redis or Postgres error while starting: ask again after this. */
const ERROR_WAIT_MS = 1_000;
/** Longest a lane waits for a probe in flight before asking again. */
const PROBE_POLL_MS = 500;
/** Spills of the lanes, while a fan-out waits for room, at most this often. */
const SPILL_EVERY_MS = 100;

/**
 * Sends messages to receivers, fairly. Each subscription has a lane; lanes take turns for this
 * process's slots, and every start holds one of the subscription's slots in the shared limits
 * (`SubscriptionLimits`, in Redis), so the cap on requests in flight, the rate limit and the
 * circuit breaker hold over all worker processes together. A lane talks to the limits in
 * exchanges, one at a time: each gives back the slots of the requests that finished since the
 * last one (with their outcomes, for the breaker) and asks for as many slots as it has messages
 * and room, so a busy lane pays one Redis round trip per turn rather than two per request. A lane whose slots are taken waits
 * and asks again; its messages stay leased meanwhile (renewed), so no other worker takes them.
 * While the circuit is open, the lane's messages are deferred to its reopening: no attempt is
 * used, nothing goes dead for it. What waits is bounded: fan-outs are admitted against a limit of
 * first deliveries (`admit`), and lanes that hold a fan-out up are written out (`spill`).
 *
 * Failure policy: every item ends in exactly one record for the AttemptWriter (an attempt, a
 * deferral, a hold or a spill), or is dropped untried when its lease turned out to be someone else's. A
 * request never starts on a lease too short to cover it. On shutdown, items not yet started go
 * back to the queue; those in flight finish.
 */
export class Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready = new Denque<Lane>();
  /** Lanes with slots to give back: served first, even when every slot of this process is taken. */
  private readonly releasing = new Denque<Lane>();
  /** Lanes holding spare slots or outcomes of slots passed on, and the timer that sends those held past `spareHoldMs`. */
  private readonly holding = new Set<Lane>();
  private holdTimer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  /** Messages waiting in lanes, not started (the sum of the lanes' queues). */
  private queued = 0;
  /** First deliveries (not yet written) among them: what fan-outs are admitted against. */
  private queuedFirst = 0;
  /** Messages admitted (`admit`) and not yet submitted: they count as waiting. */
  private admitted = 0;
  /** A spill of the deepest lanes is due (a fan-out waits for room), and when the last one ran. */
  private spillTimer: NodeJS.Timeout | null = null;
  private spilledAt = 0;
  /** Fan-outs waiting for room, in arrival order. */
  private readonly admissions: { count: number; limit: number; resolve: (admission: Admission) => void }[] = [];
  /** Since when the fan-out first in line has been first (ms). */
  private headSince = 0;
  /** Slots asked for in exchanges not yet answered (they count against `concurrency`). */
  private reserved = 0;
  /** Lanes exchanging now. */
  private busy = 0;
  private pumpScheduled = false;
  private stopped = false;
  private readonly renewer: NodeJS.Timeout;
  private renewing = false;
  private readonly pollMs: number;
  private readonly spareHoldMs: number;
  private readonly spillAfterMs: number;
  private readonly jobWaitMs: number;
  private readonly random: () => number;
  /** A request starts only with at least this much lease left: the timeout and a quarter of the spare. */
  private readonly startNeedMs: number;
  /** A waiting message not about to start is renewed once less than this is left, so its lease never lapses. */
  private readonly keepNeedMs: number;
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
    this.spareHoldMs = options.spareHoldMs ?? 20;
    this.spillAfterMs = options.spillAfterMs ?? 2_000;
    this.jobWaitMs = options.jobWaitMs ?? 5_000;
    this.random = options.random ?? Math.random;
    // A request starts with its timeout and a quarter of the spare left (for writing its outcome).
    // A waiting message about to start (near its lane's head) is renewed before it drops below
    // that, by a ticker fast enough that none does between two ticks; one further back only once
    // half its lease is used (the other half is the margin against a lapse while Postgres is
    // slow), so under a backlog it is renewed about twice per lease rather than once per spare/8
    // (issue 13), and once more when it nears the head. One that reaches the head short is
    // extended at its start.
    const spare = options.leaseMs - options.timeoutMs;
    this.startNeedMs = options.timeoutMs + spare / 4;
    this.renewEveryMs = Math.min(5_000, Math.max(50, spare / 8));
    this.keepNeedMs = options.leaseMs / 2;
    this.renewer = setInterval(() => void this.renewWaiting(), this.renewEveryMs);
  }

  /** Delivers the items; resolves when every outcome is committed. */
  submit(items: DeliveryItem[]): Promise<void> {
    return this.enqueue(items, false);
  }

  /**
   * Delivers the items of a delivery job (retries, resends, spilled or released messages: each
   * has a row), as `submit`, except that one whose lane would keep it waiting longer than
   * `jobWaitMs` (`jobRoom`) is not kept here: it is written back as pending, untried, due when
   * the lane should have worked through what waits in it now (`drainedAt`), and comes back by
   * the retry schedule. The job then completes instead of holding one of the deliver queue's
   * job slots while a slow receiver works through its lane: one slow subscription's jobs could
   * hold every slot, and every other subscription's retries waited behind them.
   */
  submitFromJob(items: DeliveryItem[]): Promise<void> {
    return this.enqueue(items, true);
  }

  private enqueue(items: DeliveryItem[], fromJob: boolean): Promise<void> {
    if (this.stopped) return this.handBack(items);
    let deferred = 0;
    const done = items.map(
      (item) =>
        new Promise<void>((resolve) => {
          const lane = this.lane(item.subscription);
          const waiting = { item, done: resolve };
          if (fromJob && !item.unwritten && lane.queue.length >= this.jobRoom(lane)) {
            deferred++;
            this.record(waiting, this.untried(item, 'pending', this.drainedAt(lane), null));
            return;
          }
          lane.queue.push(waiting);
          this.enqueued([waiting]);
          if (lane.spare.length > 0) this.startOnSpare(lane);
          this.markReady(lane);
        }),
    );
    if (deferred > 0) this.logger.info({ messages: deferred }, 'lanes deep: messages of delivery jobs written back as pending, due when their lanes should have room');
    this.pump();
    return Promise.all(done).then(() => undefined);
  }

  /**
   * How many may wait in the lane before one more would wait longer than `jobWaitMs` to start:
   * the rounds of `maxInFlightPerSubscription` requests that take, at the lane's mean request
   * time, two rounds at least.
   */
  private jobRoom(lane: Lane): number {
    const cap = this.options.maxInFlightPerSubscription;
    return Math.max(2, Math.floor(this.jobWaitMs / Math.max(1, lane.meanMs)) + 1) * cap;
  }

  /**
   * When the lane should have worked through what waits in it now, and one round more: 1 s to
   * 30 s (a receiver that recovered gets what was written back within half a minute; one still
   * slow sends it back again, a row update and a retry entry a message each time), spread by a
   * fifth either way so that what is written back does not return at once.
   */
  private drainedAt(lane: Lane): Date {
    const rounds = Math.ceil(lane.queue.length / this.options.maxInFlightPerSubscription) + 1;
    const ms = Math.min(30_000, Math.max(1_000, rounds * lane.meanMs));
    return new Date(Date.now() + Math.round(ms * (0.8 + 0.4 * this.random())));
  }

  /**
   * `submitFromJob`'s rule for what already waits: a lane whose mean request time grew since
   * (a receiver that turned slow) keeps `jobRoom`, and its newest messages with a row beyond
   * that are written back as pending, due when it should have room, so that their jobs complete.
   * First deliveries without a row stay (the fan-out's admission bounds them, `spill` makes room).
   * Runs with the lease renewal.
   */
  private trimSlowLanes(): void {
    for (const lane of this.lanes.values()) {
      const room = this.jobRoom(lane);
      if (lane.queue.length <= room) continue;
      const tail = lane.queue.remove(room, lane.queue.length - room) ?? [];
      const back = tail.filter((w) => !w.item.unwritten);
      for (const w of tail) if (w.item.unwritten) lane.queue.push(w);
      if (back.length === 0) continue;
      this.dequeued(back);
      this.logger.info({ subscriptionId: lane.sub.id, messages: back.length }, 'lane slow: its newest messages with a row written back as pending, due when it should have room');
      for (const w of back) this.record(w, this.untried(w.item, 'pending', this.drainedAt(lane), null));
    }
  }

  /** Messages waiting in lanes and requests in flight, in this process (for tests and views). */
  depth(): { waiting: number; inFlight: number } {
    return { waiting: this.queued, inFlight: this.inFlight };
  }

  /** Messages of the subscription waiting in its lane here, not started. */
  waitingFor(subscriptionId: string): number {
    return this.lanes.get(subscriptionId)?.queue.length ?? 0;
  }

  /**
   * Room for `count` more first deliveries, once they fit: at most `limit` would then wait in
   * this process's lanes, counting those admitted and not yet submitted; a fan-out of more than
   * half the limit (one event to many subscriptions) goes once at most half waits, so it never
   * waits for every lane to empty. First come, first served. The fan-out's
   * backpressure: a burst waits in Postgres as events rather than in memory as messages. Once the
   * fan-out first in line has waited `spillAfterMs` there, the newest first deliveries of the deepest lanes are
   * written out to make room (`spill`), so a few stuck receivers cannot hold the fan-out up for
   * the others for longer. Messages that
   * came by delivery jobs (retries, spilled ones back) are not counted: the jobs' concurrency
   * bounds them. Once stopped, every admission is granted (its items are handed back).
   */
  admit(count: number, limit: number): Promise<Admission> {
    return new Promise((resolve) => {
      if (this.admissions.length === 0) this.headSince = Date.now();
      this.admissions.push({ count, limit, resolve });
      this.admitWaiting();
    });
  }

  /** Grants the admissions waiting, in order, as far as they fit. */
  private admitWaiting(): void {
    while (this.admissions.length > 0) {
      const next = this.admissions[0]!;
      if (!this.stopped && this.excess(next) > 0) {
        this.spillSoon();
        return;
      }
      this.admissions.shift();
      this.headSince = Date.now();
      this.admitted += next.count;
      let open = next.count;
      const end = () => {
        this.admitted -= open;
        open = 0;
        this.admitWaiting();
      };
      next.resolve({
        // Queued first, then no longer admitted: the count never dips in between.
        submit: (items) => {
          const delivered = this.submit(items);
          end();
          return delivered;
        },
        close: end,
      });
    }
  }

  /**
   * Stops taking work: items not yet started go back to the queue (as delivery jobs), those
   * in flight finish, and their outcomes are written.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    if (this.spillTimer) clearTimeout(this.spillTimer);
    for (const lane of this.holding) {
      this.giveBackSpare(lane);
      this.holding.delete(lane);
    }
    this.pump();
    const unstarted: Waiting[] = [];
    for (const lane of this.lanes.values()) {
      for (const waiting of this.take(lane)) unstarted.push(waiting);
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
    }
    this.ready.clear();
    this.admitWaiting();
    if (unstarted.length > 0) {
      await this.handBack(unstarted.map((u) => u.item));
      for (const { done } of unstarted) done();
    }
    // The slots of the last requests go back too (a stopped lane still exchanges to give them back).
    const settled = () => this.inFlight === 0 && this.busy === 0 && ![...this.lanes.values()].some((l) => l.releases.length > 0 || l.kept.length > 0);
    while (!settled()) await new Promise((r) => setTimeout(r, 20));
    await this.writer.flush();
  }

  /** Returns items to the queue as delivery jobs, due now. */
  private async handBack(items: DeliveryItem[]): Promise<void> {
    await this.options
      .handBack(items.map((i) => ({ ...heldLease(i), attempts: i.attemptsMade, subscriptionId: i.subscription.id })))
      .catch((err: unknown) => this.logger.warn({ err }, 'could not return unstarted deliveries; the reconciler will once their leases pass'));
  }

  private lane(sub: RoutedSubscription): Lane {
    let lane = this.lanes.get(sub.id);
    if (!lane) {
      lane = { sub, queue: new Denque(), inFlight: 0, held: 0, releases: [], kept: [], spare: [], closed: false, ready: false, releasing: false, busy: false, timer: null, starts: 0, meanMs: this.options.timeoutMs };
      this.lanes.set(sub.id, lane);
    }
    // A reloaded routing table carries the newest url, secrets and limits.
    lane.sub = sub;
    return lane;
  }

  private markReady(lane: Lane): void {
    if (lane.busy) return;
    // Slots to give back go at once (a failure's through the breaker's gate); the outcomes of
    // slots passed on wait a moment for an exchange the lane makes anyway.
    if (lane.releases.length > 0 || (lane.kept.length > 0 && (this.stopped || lane.kept[0]!.since <= Date.now() - this.spareHoldMs))) {
      if (!lane.releasing) {
        lane.releasing = true;
        this.releasing.push(lane);
      }
      return;
    }
    if (lane.kept.length > 0) this.hold(lane);
    if (this.stopped || lane.ready || lane.timer || lane.queue.length === 0) return;
    // This process's own slots count against the cap too: no need to ask Redis when they fill it.
    if (lane.held >= this.options.maxInFlightPerSubscription) return;
    lane.ready = true;
    this.ready.push(lane);
  }

  /** This process's slots not taken or asked for. */
  private room(): number {
    return this.options.concurrency - this.inFlight - this.reserved;
  }

  private pump(): void {
    // Giving slots back never waits for room.
    while (this.releasing.length > 0) {
      const lane = this.releasing.shift()!;
      lane.releasing = false;
      if (!lane.busy && (lane.releases.length > 0 || lane.kept.length > 0)) this.exchange(lane);
    }
    while (this.room() > 0 && this.ready.length > 0) {
      const lane = this.ready.shift()!;
      lane.ready = false;
      if (!lane.busy && lane.queue.length > 0) this.exchange(lane);
    }
    if (this.inFlight === 0 && this.busy === 0) this.forgetIdleLanes();
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

  /** One exchange of the lane with the shared limits: its finished slots back, new ones asked for; then starts what it got. */
  private exchange(lane: Lane): void {
    const fresh = this.options.current?.(lane.sub.id);
    if (fresh === null) {
      // Deleted: its pending messages were cancelled with it; those not yet written are owed nothing.
      const dropped = this.take(lane);
      if (dropped.length > 0) {
        this.logger.info({ subscriptionId: lane.sub.id, messages: dropped.length }, 'subscription deleted; not sending its waiting messages');
        this.options.gone?.(dropped.map((w) => w.item));
        for (const w of dropped) w.done();
      }
    } else if (fresh) {
      lane.sub = fresh;
    }
    const sub = lane.sub;
    if (sub.state !== 'active') {
      // Paused or disabled: keep the messages, untried, until the subscription is active again.
      for (const waiting of this.take(lane)) this.record(waiting, this.untried(waiting.item, 'held', null, null));
    }
    const cap = this.options.maxInFlightPerSubscription;
    const releases = lane.releases.splice(0);
    const kept = lane.kept.splice(0);
    lane.held -= releases.length;
    const want = this.stopped ? 0 : Math.max(0, Math.min(lane.queue.length, cap - lane.held, this.room()));
    if (want === 0 && releases.length === 0 && kept.length === 0) return;
    if (want > 0 && lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = null;
    }
    lane.busy = true;
    this.busy++;
    this.reserved += want;
    let reserved = want;
    const askedAt = Date.now();
    this.limits
      .exchange(
        { id: sub.id, maxInFlight: cap, ratePerSecond: sub.rateLimitPerSecond },
        releases,
        want,
        kept.map((k) => ({ token: k.slot.token, outcome: k.outcome })),
      )
      .then(
        async ({ grant, change, closed }) => {
          this.logChange(sub, change);
          lane.closed = closed;
          for (const k of kept) k.slot.until = Math.max(k.slot.until, askedAt + this.limits.slotLeaseMs);
          this.reserved -= reserved;
          reserved = 0;
          if (want > 0) await this.granted(lane, grant, askedAt);
        },
        (err: unknown) => {
          lane.closed = false;
          // Fail closed: without Redis no cap can be kept, so nothing starts; the leases are
          // renewed meanwhile. Slots not given back come back when their lease passes.
          this.logger.warn({ err, subscriptionId: sub.id }, 'shared limits unavailable; waiting');
          if (want > 0) this.waitUntil(lane, Date.now() + ERROR_WAIT_MS);
        },
      )
      .catch((err: unknown) => {
        this.logger.error({ err, subscriptionId: sub.id }, 'starting a delivery failed');
        this.waitUntil(lane, Date.now() + ERROR_WAIT_MS);
      })
      .finally(() => {
        this.reserved -= reserved;
        lane.busy = false;
        this.busy--;
        // Round robin: the lane goes to the back if it still has work and room.
        this.markReady(lane);
        this.pump();
      });
  }

  /** What the lane's exchange answered: start a message per slot granted, or decide how the lane waits. */
  private async granted(lane: Lane, grant: Grants | Denial, askedAt: number): Promise<void> {
    if (!grant.granted) {
      const now = Date.now();
      if (grant.reason === 'open') this.deferLane(lane, grant.retryAt);
      else if (grant.reason === 'cap') this.waitUntil(lane, Math.min(grant.retryAt, now + this.pollMs));
      else if (grant.reason === 'probing') this.waitUntil(lane, Math.min(grant.retryAt, now + PROBE_POLL_MS));
      else this.waitUntil(lane, grant.retryAt);
      return;
    }
    lane.held += grant.tokens.length;
    // Handed back while we asked (stopping): fewer heads than slots; the rest go back untouched.
    const slots = grant.tokens.map((token): Slot => ({ token, until: askedAt + this.limits.slotLeaseMs, probe: grant.probe }));
    let starts = this.take(lane, slots.length).map((waiting, i) => ({ waiting, slot: slots[i]! }));
    for (const slot of slots.slice(starts.length)) lane.releases.push({ token: slot.token, outcome: 'none' });
    const short = starts.filter((s) => s.waiting.item.lease.until - Date.now() < this.startNeedMs);
    if (short.length > 0) {
      // The lease must cover the whole request and the writing of its outcome: extend it first.
      const askedAt = Date.now();
      const renewed = await this.options.renew(short.map((s) => heldLease(s.waiting.item))).catch((err: unknown) => {
        this.logger.warn({ err, messages: short.length }, 'could not extend leases; waiting');
        return null;
      });
      const dropped = new Set<(typeof starts)[number]>();
      for (const s of short) {
        const { item } = s.waiting;
        if (renewed?.has(item.messageId) && !this.stopped) {
          item.lease.until = askedAt + this.options.leaseMs;
          continue;
        }
        dropped.add(s);
        lane.releases.push({ token: s.slot.token, outcome: 'none' });
        if (renewed === null || this.stopped) continue;
        this.logger.info({ messageId: item.messageId }, 'lease no longer ours; not sending');
        s.waiting.done();
      }
      const unsent = short.filter((s) => dropped.has(s) && (renewed === null || this.stopped)).map((s) => s.waiting);
      if (unsent.length > 0) {
        if (this.stopped) {
          await this.handBack(unsent.map((w) => w.item));
          for (const w of unsent) w.done();
        } else {
          for (let i = unsent.length - 1; i >= 0; i--) lane.queue.unshift(unsent[i]!);
          this.enqueued(unsent);
          this.waitUntil(lane, Date.now() + ERROR_WAIT_MS);
        }
      }
      starts = starts.filter((s) => !dropped.has(s));
    }
    for (const { waiting, slot } of starts) this.start(lane, waiting, slot);
  }

  /** Sends one message under `slot`; the slot passes to the lane's next message or goes back with its next exchange. */
  private start(lane: Lane, waiting: Waiting, slot: Slot): void {
    lane.starts++;
    lane.inFlight++;
    this.inFlight++;
    void this.run(lane, waiting.item).then(
      ({ record, outcome }) => {
        if (record.attempt !== null) lane.meanMs += (record.durationMs - lane.meanMs) / 5;
        this.finish(lane, slot, outcome);
        this.record(waiting, record);
      },
      (err: unknown) => {
        // A bug, not a receiver failure: leave the message to its lease and the reconciler.
        this.logger.error({ err, messageId: waiting.item.messageId }, 'delivery crashed');
        this.finish(lane, slot, 'none');
        waiting.done();
      },
    );
  }

  private finish(lane: Lane, slot: Slot, outcome: RequestOutcome): void {
    lane.inFlight--;
    this.inFlight--;
    const next = this.passOn(lane, slot, outcome) ? this.take(lane, 1)[0] : undefined;
    if (next) {
      lane.kept.push({ slot, outcome, since: Date.now() });
      this.start(lane, next, slot);
    } else if (lane.queue.length === 0 && this.mayKeep(lane, slot, outcome)) {
      this.keepSpare(lane, slot, outcome);
    } else {
      lane.releases.push({ token: slot.token, outcome });
    }
    this.markReady(lane);
    this.pumpSoon();
  }

  /** Starts the lane's waiting messages on its spare slots, as far as this process has room and their leases cover a request. */
  private startOnSpare(lane: Lane): void {
    const now = Date.now();
    while (lane.spare.length > 0 && this.room() > 0 && !this.stopped && lane.sub.state === 'active') {
      const head = lane.queue.peekFront();
      const spare = lane.spare[lane.spare.length - 1]!;
      if (head === undefined || head.item.lease.until - now < this.startNeedMs || spare.slot.until - now <= this.startNeedMs) break;
      const { slot, outcome } = lane.spare.pop()!;
      lane.kept.push({ slot, outcome, since: now });
      this.start(lane, this.take(lane, 1)[0]!, slot);
    }
  }

  /** The slot of a success whose lane has nothing waiting: kept a moment for the lane's next message (`spareHoldMs`). */
  private keepSpare(lane: Lane, slot: Slot, outcome: RequestOutcome): void {
    lane.spare.push({ slot, outcome, since: Date.now() });
    this.hold(lane);
  }

  /** The lane holds spare slots or outcomes not yet sent: the hold timer sees to them. */
  private hold(lane: Lane): void {
    this.holding.add(lane);
    this.holdTimer ??= setTimeout(() => this.endHolds(), this.spareHoldMs);
  }

  /**
   * Gives back the spare slots of each lane whose oldest was kept `spareHoldMs` ago, all of
   * that lane's at once, and sends the outcomes held as long, each lane's in one exchange; waits
   * again for the younger ones.
   */
  private endHolds(): void {
    this.holdTimer = null;
    const due = Date.now() - this.spareHoldMs;
    let oldest = Infinity;
    for (const lane of this.holding) {
      if (lane.spare.length > 0 && lane.spare[0]!.since <= due) this.giveBackSpare(lane);
      else this.markReady(lane);
      const since = Math.min(lane.spare[0]?.since ?? Infinity, lane.kept[0]?.since ?? Infinity);
      if (since === Infinity) this.holding.delete(lane);
      else if (since > due) oldest = Math.min(oldest, since);
    }
    // (markReady may have armed the timer again above: one is enough.)
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = this.holding.size > 0 ? setTimeout(() => this.endHolds(), Math.max(1, oldest === Infinity ? this.spareHoldMs : oldest + this.spareHoldMs - Date.now())) : null;
    this.pump();
  }

  /** Moves the lane's spare slots to its slots to give back (with its next exchange). */
  private giveBackSpare(lane: Lane): void {
    for (const s of lane.spare) lane.releases.push({ token: s.slot.token, outcome: s.outcome });
    lane.spare = [];
    this.markReady(lane);
  }

  /**
   * Whether a finished request's slot may pass straight to the lane's next message, without a
   * round trip: only after a success (a failure goes back through the breaker's gate), through
   * a closed circuit, not the probe, with no rate limit (each start must be counted), while no
   * other lane waits for this process's slots (fairness), and while the slot's lease and the
   * message's cover a whole request. The cap holds: the slot stays taken. The next exchange
   * counts the success and renews the slot's lease.
   */
  private passOn(lane: Lane, slot: Slot, outcome: RequestOutcome): boolean {
    if (this.ready.length > 0 || !this.mayKeep(lane, slot, outcome)) return false;
    const head = lane.queue.peekFront();
    return head !== undefined && head.item.lease.until - Date.now() >= this.startNeedMs;
  }

  /** Whether a finished request's slot may serve another of the lane's messages without a round trip (passOn, keepSpare). */
  private mayKeep(lane: Lane, slot: Slot, outcome: RequestOutcome): boolean {
    if (outcome !== 'success' || slot.probe || !lane.closed || this.stopped) return false;
    if (lane.sub.state !== 'active' || lane.sub.rateLimitPerSecond !== null) return false;
    return slot.until - Date.now() > this.startNeedMs;
  }

  /** Pumps once the answers that arrived together are all in (the check phase of this loop turn), so one exchange gives back all their slots. */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private logChange(sub: RoutedSubscription, change: BreakerChange): void {
    if (change === 'opened' || change === 'reopened') this.logger.warn({ subscriptionId: sub.id, change }, 'circuit opened');
    else if (change === 'closed') this.logger.info({ subscriptionId: sub.id }, 'circuit closed');
  }

  /** The circuit is open until `until`: every message of the lane waits for it, untried, out of memory. */
  private deferLane(lane: Lane, until: number): void {
    for (const waiting of this.take(lane)) {
      const at = new Date(until + Math.round(this.random() * DEFER_JITTER_MS));
      this.record(waiting, this.untried(waiting.item, 'pending', at, 'circuit_open'));
    }
  }

  private record(waiting: Waiting, record: AttemptRecord): void {
    void this.writer.add(record).then(waiting.done);
  }

  /**
   * Renews, in one statement, the leases of waiting messages before they run short: those that
   * may start before the next two ticks (a lane's first `maxInFlightPerSubscription`, and twice
   * as many as it started since the last tick) keep enough to start on; the rest only enough not
   * to lapse. Drops those no longer ours.
   */
  private async renewWaiting(): Promise<void> {
    if (this.renewing || this.stopped) return;
    this.renewing = true;
    try {
      this.trimSlowLanes();
      const askedAt = Date.now();
      const due: Waiting[] = [];
      const startSoon = this.startNeedMs + this.renewEveryMs * 2;
      for (const lane of this.lanes.values()) {
        const soon = this.options.maxInFlightPerSubscription + lane.starts * 2;
        lane.starts = 0;
        for (let i = 0; i < lane.queue.length; i++) {
          const w = lane.queue.get(i)!;
          if (w.item.lease.until - askedAt < (i < soon ? startSoon : this.keepNeedMs)) due.push(w);
        }
      }
      if (due.length === 0) return;
      const renewed = await this.options.renew(due.map((w) => heldLease(w.item)));
      const lost = new Set<Waiting>();
      for (const w of due) {
        if (renewed.has(w.item.messageId)) w.item.lease.until = Math.max(w.item.lease.until, askedAt + this.options.leaseMs);
        else lost.add(w);
      }
      if (lost.size === 0) return;
      for (const lane of this.lanes.values()) {
        const all = lane.queue.toArray();
        const kept = all.filter((w) => !lost.has(w));
        if (kept.length < all.length) {
          lane.queue = new Denque(kept);
          this.dequeued(all.filter((w) => lost.has(w)));
        }
      }
      this.logger.info({ messages: lost.size }, 'leases no longer ours (delivered, cancelled or taken over); not sending them');
      for (const w of lost) w.done();
    } catch (err) {
      this.logger.warn({ err }, 'could not renew leases; a request will not start on a short one');
    } finally {
      this.renewing = false;
    }
  }

  /** Takes up to `count` waiting from the front of the lane's queue, all of them by default. */
  private take(lane: Lane, count = lane.queue.length): Waiting[] {
    if (count <= 0 || lane.queue.length === 0) return [];
    const taken = count === 1 ? [lane.queue.shift()!] : lane.queue.remove(0, count)!;
    this.dequeued(taken);
    return taken;
  }

  /** These joined the lanes: counted as waiting (first deliveries apart). */
  private enqueued(added: Waiting[]): void {
    this.queued += added.length;
    for (const w of added) if (w.item.unwritten) this.queuedFirst++;
  }

  /** These left the lanes: room, perhaps, for the fan-outs waiting to be admitted. */
  private dequeued(gone: Waiting[]): void {
    this.queued -= gone.length;
    for (const w of gone) if (w.item.unwritten) this.queuedFirst--;
    if (this.admissions.length > 0) this.admitWaiting();
  }

  /** How many first deliveries must leave the lanes before the admission fits (`admit`). */
  private excess(admission: { count: number; limit: number }): number {
    return this.queuedFirst + this.admitted + Math.min(admission.count, admission.limit / 2) - admission.limit;
  }

  /**
   * Spills once the fan-out first in line has waited `spillAfterMs` as first (lanes that drain
   * make room by themselves: a burst, its fan-outs in line, must not go the dearer way), and at
   * most every `SPILL_EVERY_MS` (a fan-out waiting for room asks on every start).
   */
  private spillSoon(): void {
    if (this.spillTimer || this.stopped || this.admissions.length === 0) return;
    this.spillTimer = setTimeout(
      () => {
        this.spillTimer = null;
        this.spill();
      },
      Math.max(0, this.spilledAt + SPILL_EVERY_MS - Date.now(), this.headSince + this.spillAfterMs - Date.now()),
    );
  }

  /**
   * A fan-out waits for room: writes the newest first deliveries of the deepest lanes as pending
   * messages, due now (delivery jobs bring them back, as retries: a row written, claimed and
   * updated, dearer than the first delivery's one row), until the fan-out first in line fits.
   * A lane keeps its first `2 x maxInFlightPerSubscription`, its next starts. Lanes all that
   * short and still full: the fan-out waits for them to drain.
   */
  private spill(): void {
    this.spilledAt = Date.now();
    const next = this.admissions[0];
    if (!next || this.stopped) return;
    // Admitted meanwhile, and the one now first has not waited long enough yet.
    if (this.headSince + this.spillAfterMs > this.spilledAt) {
      if (this.excess(next) > 0) this.spillSoon();
      return;
    }
    let needed = this.excess(next);
    const keep = this.options.maxInFlightPerSubscription * 2;
    const deepest = [...this.lanes.values()].filter((l) => l.queue.length > keep).sort((a, b) => b.queue.length - a.queue.length);
    const spilled: Waiting[] = [];
    for (const lane of deepest) {
      if (needed <= 0) break;
      // Newest first: walk the lane's tail from its end; what stays goes back in its order.
      const tail = lane.queue.remove(keep, lane.queue.length - keep) ?? [];
      const stays: Waiting[] = [];
      for (let i = tail.length - 1; i >= 0; i--) {
        const w = tail[i]!;
        if (needed > 0 && w.item.unwritten) {
          spilled.push(w);
          needed--;
        } else {
          stays.push(w);
        }
      }
      for (let i = stays.length - 1; i >= 0; i--) lane.queue.push(stays[i]!);
    }
    if (spilled.length === 0) return;
    this.logger.info({ messages: spilled.length }, 'lanes full: the newest first deliveries of the deepest lanes written as pending; delivery jobs bring them back');
    const now = new Date();
    for (const w of spilled) this.record(w, this.untried(w.item, 'pending', now, null));
    this.dequeued(spilled);
  }

  /** Lanes with nothing queued, asked or in flight carry no state worth keeping (the breaker lives in Redis). */
  private forgetIdleLanes(): void {
    if (this.lanes.size < 10_000) return;
    for (const [id, lane] of this.lanes) {
      if (lane.queue.length === 0 && lane.held === 0 && lane.releases.length === 0 && lane.kept.length === 0 && lane.spare.length === 0 && !lane.busy && !lane.timer) this.lanes.delete(id);
    }
  }

  /** Makes one attempt, under a slot of the shared limits; says what to record and how it went for the breaker. */
  private async run(lane: Lane, item: DeliveryItem): Promise<{ record: AttemptRecord; outcome: RequestOutcome }> {
    const { sub } = lane;
    const attempt = item.attemptsMade + 1;
    const attemptedAt = new Date();
    const refusal = this.options.checkUrl(sub.url);
    const timestamp = Math.floor(Date.now() / 1000);
    const result: PostResult = refusal
      ? { kind: 'error', error: 'forbidden_address', message: refusal, durationMs: 0 }
      : await this.transport.post(sub.url, item.body, {
          'content-type': 'application/json',
          ...sign({ id: item.messageId, timestamp, body: item.body, secrets: sub.secrets }),
        });
    const outcome = classifyOutcome({ result });
    return { record: this.recordOf(item, attemptedAt, attempt, result, outcome), outcome: refusal ? 'none' : outcome.kind === 'success' ? 'success' : 'failure' };
  }

  /**
   * The record of an attempt made. Records are spelled out field by field, never `{ ...base,
   * more }`: on Node 20 an object spread followed by new properties costs microseconds (it was
   * 6 % of the worker's profile, issue 13), a literal a fraction of one.
   */
  private recordOf(item: DeliveryItem, attemptedAt: Date, attempt: number, result: PostResult, outcome: ReturnType<typeof classifyOutcome>): AttemptRecord {
    const response = result.kind === 'response' ? result : null;
    if (outcome.kind === 'success') {
      return {
        messageId: item.messageId,
        subscriptionId: item.subscription.id,
        entityKey: item.entityKey,
        unwritten: item.unwritten,
        attemptedAt,
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
      const record = this.failed(item, attemptedAt, attempt, result.durationMs, outcome.statusCode, null, response, null, true, outcome.message);
      record.status = 'dead';
      record.nextAttemptAt = null;
      record.disableReason = outcome.reason;
      return record;
    }
    return this.failed(item, attemptedAt, attempt, result.durationMs, outcome.statusCode, outcome.error, response, outcome.retryAfterMs, true, outcome.message);
  }

  /** A record for a message not tried: held (subscription not active) or deferred (circuit open). */
  private untried(item: DeliveryItem, status: 'held' | 'pending', nextAttemptAt: Date | null, error: string | null): AttemptRecord {
    return {
      messageId: item.messageId,
      subscriptionId: item.subscription.id,
      entityKey: item.entityKey,
      unwritten: item.unwritten,
      attemptedAt: new Date(),
      attempt: null,
      attemptsMade: item.attemptsMade,
      leaseOwner: item.lease.owner,
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
    item: DeliveryItem,
    attemptedAt: Date,
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
      messageId: item.messageId,
      subscriptionId: item.subscription.id,
      entityKey: item.entityKey,
      unwritten: item.unwritten,
      attemptedAt,
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

/** The lease an item is held under, as renewals and hand-backs name it. */
function heldLease(item: DeliveryItem): HeldLease {
  return { messageId: item.messageId, owner: item.lease.owner, ...(item.unwritten ? { unwritten: item.unwritten } : {}) };
}

