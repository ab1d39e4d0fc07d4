import { z } from 'zod';
import { MAX_RATE_PER_SECOND } from '#shared/delivery/limits';
import { WindowDuration } from '../http/window.ts';
import { Timestamp } from '../http/timestamp.ts';
import { QUEUE_NAMES } from '#shared/queues/catalog';
import { isId } from '#shared/ids';
import { PageQuery } from '../http/pagination.ts';
import { Message } from '../messages/schema.ts';

/** Job counts of one queue, and whether it is paused. */
export const QueueStats = z.object({
  name: z.enum(QUEUE_NAMES as [string, ...string[]]),
  /** Ready to run (or held by a pause), including prioritized jobs. */
  waiting: z.number().int(),
  active: z.number().int(),
  delayed: z.number().int(),
  failed: z.number().int(),
  completed: z.number().int(),
  paused: z.boolean(),
}).meta({ id: 'QueueStats' });
export type QueueStats = z.infer<typeof QueueStats>;

export const QueueList = z.object({ data: z.array(QueueStats) }).meta({ id: 'QueueList' });

export const QueueParams = z.object({ queueName: z.string() });

const subscriptionIdFilter = z.string().refine((value) => isId('subscription', value), 'not a subscription id (sub_…)');

/** `GET /v1/ops/dead-letters` filters: one subscription's, dead since a time. */
export const DeadLetterQuery = PageQuery.extend({
  subscriptionId: subscriptionIdFilter.optional(),
  /** Messages that became dead at or after this time. */
  since: Timestamp.optional(),
});

/** A dead message: its delivery log entry and whose it is. */
export const DeadLetter = Message.omit({ status: true, nextAttemptAt: true, succeededAt: true, waitingFor: true }).extend({
  partnerId: z.string(),
  productId: z.string(),
  /** When the last retry failed and the message became dead. */
  deadAt: z.string(),
}).meta({ id: 'DeadLetter' });
export type DeadLetter = z.infer<typeof DeadLetter>;

/** Replay by ids, or every dead letter of a subscription that died since a time (as the list filters them). */
export const ReplayBody = z.union([
  z.object({ messageIds: z.array(z.string()).min(1).max(1000) }).strict(),
  z.object({ subscriptionId: subscriptionIdFilter, since: Timestamp }).strict(),
]).meta({ id: 'ReplayDeadLettersRequest' });

export const ReplayResult = z.object({
  replayed: z.number().int(),
  /** Of the given ids, those that are not dead letters (unknown, or not dead): nothing was done with them. */
  skipped: z.array(z.string()),
}).meta({ id: 'ReplayDeadLettersResult' });

/** `GET /v1/ops/unroutable-events` filters. */
export const UnroutableQuery = PageQuery.extend({ reason: z.enum(['unknown_installation', 'unknown_event_type']).optional() });

/** An accepted event no subscription can receive, and why. */
export const UnroutableEvent = z.object({
  eventId: z.string(),
  installationId: z.string(),
  type: z.string(),
  reason: z.enum(['unknown_installation', 'unknown_event_type']),
  receivedAt: z.string(),
}).meta({ id: 'UnroutableEvent' });

export const SUBSCRIPTION_STATES = ['active', 'paused', 'disabled'] as const;

/** `GET /v1/ops/subscriptions` filters. */
export const SubscriptionHealthQuery = PageQuery.extend({
  status: z.enum(SUBSCRIPTION_STATES).optional(),
  state: z.enum(SUBSCRIPTION_STATES).optional().meta({ deprecated: true, description: 'Deprecated: use `status`; removed in the next version.' }),
  /** Only subscriptions whose deliveries are failing now (no success since their failures began). */
  failing: z.enum(['true', 'false']).optional(),
  /** The window of the success rate; default 24h. */
  window: WindowDuration,
});

/** How a subscription's deliveries are going. */
export const SubscriptionHealth = z.object({
  window: z.string(),
  /** Requests made to the receiver in the window (circuit-open skips are not requests). */
  attempts: z.number().int(),
  successes: z.number().int(),
  /** successes / attempts in the window; null without attempts. */
  successRate: z.number().nullable(),
  lastSuccessAt: z.string().nullable(),
  lastFailureAt: z.string().nullable(),
  /** Since when deliveries fail without a success; null when the last one succeeded. */
  failingSince: z.string().nullable(),
  consecutiveFailures: z.number().int(),
  /**
   * The circuit breaker every worker shares: `open` while messages wait for its reopening
   * (no attempts used), `half_open` while one probe may go; `closed` also when Redis lost it.
   */
  circuit: z.enum(['closed', 'open', 'half_open']),
}).meta({ id: 'SubscriptionHealth' });

export const OpsSubscription = z.object({
  id: z.string(),
  partnerId: z.string(),
  productId: z.string(),
  functionKey: z.string(),
  url: z.string(),
  eventTypes: z.array(z.string()),
  status: z.enum(SUBSCRIPTION_STATES),
  state: z.enum(SUBSCRIPTION_STATES).meta({ deprecated: true, description: 'Deprecated: the same as `status`; removed in the next version.' }),
  disabledReason: z.string().nullable(),
  /** The operator's ceiling on requests started per second; null: none. */
  maxRateLimitPerSecond: z.number().int().nullable(),
  /** The partner's own limit (at most the ceiling); null: none. The lower of the two is enforced. */
  rateLimitPerSecond: z.number().int().nullable(),
  createdAt: z.string(),
  health: SubscriptionHealth,
}).meta({ id: 'OpsSubscription' });
export type OpsSubscription = z.infer<typeof OpsSubscription>;

export const SubscriptionParams = z.object({ subscriptionId: z.string() });

/** `PUT /v1/ops/subscriptions/:id/rate-limit`: the ceiling on requests started per second, or null for none. */
export const RateLimitBody = z
  .object({ maxRateLimitPerSecond: z.number().int('must be a whole number of requests per second').min(1).max(MAX_RATE_PER_SECOND).nullable() })
  .strict()
  .meta({ id: 'SubscriptionRateLimitRequest' });

// The body is optional: a bare POST disables with no reason given.
export const DisableBody = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict().default({}).meta({ id: 'DisableSubscriptionRequest' });
