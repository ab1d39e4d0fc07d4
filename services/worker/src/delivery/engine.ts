import type { Config } from '#shared/config';
import type { Knex } from '#shared/db/knex';
import type { Logger } from '#shared/logger';
import type { Queues } from '#shared/queues/connection';
import { createSecretBox } from '#shared/secret-box';
import { createTransport } from '#shared/http/transport';
import { createRetryPolicy } from '#shared/delivery/retry-policy';
import { finishEventLeases, insertMessages, renewEventLeases, renewLeases, type EventLease } from '#shared/delivery/message-state';
import { enqueueDeliveries, handBackMessages } from '#shared/delivery/requeue';
import { SubscriptionLimits } from '#shared/delivery/limits';
import { RetrySchedule } from '#shared/delivery/retry-schedule';
import { dispatchMail } from '#shared/mail/outbox';
import type { RedisConnection } from '#shared/queues/connection';
import { checkUrl } from '#shared/url-guard';
import { receiverGuardOptions, receiverPolicy } from '#shared/receiver-guard';
import { RoutingCache } from '../fanout/routing-table.ts';
import { AttemptWriter } from './attempt-writer.ts';
import { Dispatcher } from './dispatcher.ts';
import { NO_OBSERVER, type DeliveryObserver } from './observer.ts';
import { RetryPump } from './retry-pump.ts';
import { HandOn } from './hand-on.ts';
import { claimItems } from './claim.ts';
import { UnwrittenMessages } from './unwritten.ts';
import type { HeldLease } from './dispatcher.ts';
import type { Unwritten } from './attempt-record.ts';

/** The delivery engine of one worker process: routing, dispatch and recording. */
export interface DeliveryEngine {
  routing: RoutingCache;
  dispatcher: Dispatcher;
  /** The per-subscription limits every worker process shares. */
  limits: SubscriptionLimits;
  writer: AttemptWriter;
  observer: DeliveryObserver;
  /** Retries waiting for their time. */
  retries: RetrySchedule;
  /** Ordered delivery: sends an entity's next message once the one before it finished. */
  handOn: HandOn;
  /** Events whose first deliveries this process holds, not yet written. */
  unwritten: UnwrittenMessages;
  /** Starts moving due retries into delivery jobs. */
  start(): void;
  /** Returns unstarted deliveries to the queue, lets those in flight finish, writes every outcome. */
  stop(): Promise<void>;
}

/** How often the routing version is read between events (a reload, when it moved, then happens off the events' path). */
const ROUTING_REFRESH_MS = 500;

/** Builds the engine from the configuration. */
export function createDeliveryEngine(
  deps: { config: Config; db: Knex; queues: Queues; logger: Logger },
  redis: RedisConnection,
  observer: DeliveryObserver = NO_OBSERVER,
): DeliveryEngine {
  const { config, db, queues, logger } = deps;
  if (!config.secretsKey) {
    throw new Error('SECRETS_KEY is not set: signing secrets cannot be read (npm start makes one in .data/dev-secrets.json)');
  }
  const box = createSecretBox(config.secretsKey);
  const policy = receiverPolicy(config);
  const transport = createTransport({
    timeoutMs: config.deliveryTimeoutMs,
    // The guarded lookup, and the address check Node's skipped lookup leaves IP literals without.
    ...receiverGuardOptions(policy),
    // Many subscriptions often share one receiver host: a pool smaller than the process's own
    // concurrency would queue their requests behind each other (and inside the request
    // deadline). The per-subscription cap and the lanes decide what runs, not the pool.
    connectionsPerOrigin: Math.max(16, config.maxInFlightPerSubscription * 2, config.deliveryConcurrency),
  });
  const urlVerdicts = new Map<string, string | null>();
  // The producers' shards: the same prefixes as the queues every process enqueues into.
  const schedule = new RetrySchedule(redis, queues.shards);
  const pump = new RetryPump(schedule, queues, logger, { shards: config.workerShards });
  const routing = new RoutingCache(db, box);
  const handOn = new HandOn(db, logger, {
    claim: (ids) => claimItems(db, engine.routing, config.deliveryLeaseMs, ids),
    submit: (items) => dispatcher.submit(items),
  });
  const unwritten = new UnwrittenMessages();
  const writer = new AttemptWriter(db, schedule, logger, observer, {
    unwritten,
    // Only then does a kept first success go with its message's row without outliving RETENTION_ATTEMPTS.
    keepFirstSuccessInRow: config.retentionAttemptsMs >= config.retentionMessagesMs,
    disableAfterMs: config.disableAfterMs,
    publicUrl: config.publicUrl,
    onMail: (mailIds) => dispatchMail(queues, mailIds, logger),
    onFinished: (records) => handOn.finished(records),
  });
  // A slot outlasts the longest request, so only a dead worker's slots wait for their lease.
  // The lanes that exchange with the limits in one turn of the event loop share one script call
  // (limits.ts): one command and one socket write for all of them.
  const limits = new SubscriptionLimits(redis, queues.shards, { slotLeaseMs: config.deliveryTimeoutMs + 5_000 });
  const dispatcher = new Dispatcher(transport, writer, createRetryPolicy({ scheduleMs: config.retryScheduleMs }), limits, logger, {
    handBack: async (messages) => {
      await handBackMessages(db, queues, messages.filter((m) => !m.unwritten));
      await handBackUnwritten(db, queues, unwritten, messages.filter((m) => m.unwritten));
    },
    renew: (leases) => renewHeld(db, unwritten, leases, config.deliveryLeaseMs),
    current: (id) => {
      const table = engine.routing.peek();
      return table ? (table.subscriptions.get(id) ?? null) : undefined;
    },
    gone: (items) => void leftHands(db, unwritten, items.flatMap((i) => i.unwritten ?? [])).catch((err: unknown) => logger.warn({ err }, 'could not give up event leases; they lapse')),
    timeoutMs: config.deliveryTimeoutMs,
    leaseMs: config.deliveryLeaseMs,
    concurrency: config.deliveryConcurrency,
    maxInFlightPerSubscription: config.maxInFlightPerSubscription,
    checkUrl: (url) => {
      let verdict = urlVerdicts.get(url);
      if (verdict === undefined) {
        const checked = checkUrl(url, policy);
        verdict = checked.ok ? null : `${checked.code}: ${checked.reason}`;
        if (urlVerdicts.size > 10_000) urlVerdicts.clear();
        urlVerdicts.set(url, verdict);
      }
      return verdict;
    },
  });
  // The engine's routing cache, whichever it is now (a test may swap it): the lanes and claims
  // must read the table the fan-out reads, or a subscription newer than another table looks deleted.
  const engine: DeliveryEngine = {
    routing,
    dispatcher,
    limits,
    writer,
    observer,
    retries: schedule,
    handOn,
    unwritten,
    start() {
      pump.start();
      routing.startRefreshing(ROUTING_REFRESH_MS);
    },
    async stop() {
      routing.stopRefreshing();
      await pump.stop();
      await dispatcher.stop();
      await handOn.stop();
      await transport.close();
    },
  };
  return engine;
}

/**
 * Renews what the dispatcher holds: messages' own leases, and for messages not yet written their
 * events' leases (one per event). Returns the message ids still ours. An event lease not renewed
 * is lost: every unwritten message of that event is no longer this process's to send.
 */
async function renewHeld(db: Knex, unwritten: UnwrittenMessages, leases: HeldLease[], leaseMs: number): Promise<Set<string>> {
  const events = new Map<string, EventLease>();
  for (const l of leases) if (l.unwritten) events.set(l.unwritten.eventId, { eventId: l.unwritten.eventId, owner: l.owner });
  const askedAt = Date.now();
  const [renewed, renewedEvents] = await Promise.all([
    renewLeases(
      db,
      leases.filter((l) => !l.unwritten),
      leaseMs,
    ),
    renewEventLeases(db, [...events.values()], leaseMs),
  ]);
  for (const lease of events.values()) {
    if (renewedEvents.has(lease.eventId)) unwritten.renewed(lease, askedAt + leaseMs);
    else unwritten.lost(lease);
  }
  for (const l of leases) if (l.unwritten && renewedEvents.has(l.unwritten.eventId)) renewed.add(l.messageId);
  return renewed;
}

/**
 * Gives back unstarted messages not yet written (a stopping worker): each gets its row, pending
 * and due now, and a delivery job; the event's lease is given up once none of it is left here.
 */
async function handBackUnwritten(db: Knex, queues: Queues, unwritten: UnwrittenMessages, messages: (HeldLease & { attempts: number; subscriptionId: string })[]): Promise<void> {
  if (messages.length === 0) return;
  await insertMessages(
    db,
    messages.map((m) => ({
      id: m.messageId,
      eventId: m.unwritten!.eventId,
      subscriptionId: m.subscriptionId,
      status: 'pending',
      nextAttemptAt: new Date(),
      leaseOwner: null,
      createdAt: m.unwritten!.createdAt,
    })),
  );
  await enqueueDeliveries(
    queues,
    messages.map((m) => ({ id: m.messageId, attempts: m.attempts, subscriptionId: m.subscriptionId })),
    `.handback.${Date.now()}`,
  );
  await leftHands(db, unwritten, messages.map((m) => m.unwritten!));
}

/**
 * Messages not yet written that left this process's hands other than by their outcome (handed
 * back as rows, or owed nothing since their subscription was deleted): they count as done for
 * their events' leases, and a lease with none left is given up.
 */
async function leftHands(db: Knex, unwritten: UnwrittenMessages, messages: Unwritten[]): Promise<void> {
  const perEvent = new Map<string, { lease: EventLease; count: number }>();
  for (const m of messages) {
    const entry = perEvent.get(m.eventId) ?? { lease: { eventId: m.eventId, owner: m.owner }, count: 0 };
    entry.count++;
    perEvent.set(m.eventId, entry);
  }
  const finished = [...perEvent.values()].map(({ lease, count }) => unwritten.written(lease, count, false)).filter((l): l is EventLease => l !== null);
  await finishEventLeases(db, finished);
}
