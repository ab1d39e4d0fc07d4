import { z } from 'zod';
import { PageQuery } from '../http/pagination.ts';
import { WindowDuration } from '../http/window.ts';
import { Timestamp } from '../http/timestamp.ts';

export const MESSAGE_STATUSES = ['pending', 'held', 'succeeded', 'dead', 'cancelled'] as const;

/** Path parameters. */
export const SubscriptionParams = z.object({ subscriptionId: z.string() });
export const MessageParams = z.object({ messageId: z.string() });

/**
 * Message status filter: a stored status, or `failed`: pending after at least one failed
 * attempt (waiting for its next retry).
 */
export const MESSAGE_STATUS_FILTERS = [...MESSAGE_STATUSES, 'failed'] as const;
/** Attempt outcome classes: the receiver's status class, or `error` when no status came (timeout, connection, DNS). */
export const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'error'] as const;

/** Created (or attempted) at or after `since` and before `until`. */
const TimeRange = { since: Timestamp.optional(), until: Timestamp.optional() };
/** What an event carried: its type, HUB's event id, the installation. */
const EventFilters = {
  eventType: z.string().min(1).max(100).optional(),
  eventId: z.string().min(1).max(200).optional(),
  installationId: z.string().min(1).max(32).optional(),
};

export const MessageListQuery = PageQuery.extend({ status: z.enum(MESSAGE_STATUS_FILTERS).optional(), ...TimeRange, ...EventFilters });
export type MessageFilters = z.infer<typeof MessageListQuery>;

/** The attempts of one message: by outcome class and time. */
export const MessageAttemptsQuery = PageQuery.extend({ statusClass: z.enum(STATUS_CLASSES).optional(), ...TimeRange });
/** The attempts of a subscription: also by what the event carried. */
export const SubscriptionAttemptsQuery = MessageAttemptsQuery.extend(EventFilters);
export type AttemptFilters = z.infer<typeof SubscriptionAttemptsQuery>;

/** Resend the failed and dead messages created in [since, until) (until: now when left out). */
export const RecoverBody = z.object({ since: Timestamp, until: Timestamp.optional() }).refine((b) => b.until === undefined || Date.parse(b.until) > Date.parse(b.since), {
  path: ['until'],
  message: 'must be later than since',
}).meta({ id: 'RecoverMessagesRequest' });

export const StatsQuery = z.object({ window: WindowDuration });

export const Message = z.object({
  id: z.string(),
  subscriptionId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  installationId: z.string(),
  /** `pending` includes a message waiting for an earlier one of its entity: see `waitingFor`. */
  status: z.enum(MESSAGE_STATUSES),
  entityId: z.string().nullable().meta({ description: "The event's entityId; null when it had none." }),
  waitingFor: z
    .string()
    .nullable()
    .meta({
      description:
        "Subscriptions with ordering `entity`: the id of the earlier message of the same entity (installationId and entityId) that this pending message waits for; it is sent once that one succeeded or went dead, and has no nextAttemptAt meanwhile. Null when it waits for nothing (any other status, an unordered subscription, or its turn has come).",
    }),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  succeededAt: z.string().nullable(),
}).meta({ id: 'Message' });

export const Attempt = z.object({
  attempt: z.number().int(),
  attemptedAt: z.string(),
  durationMs: z.number().int(),
  outcome: z.enum(['success', 'failure']),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  /** One sentence saying what went wrong (null on success, and on attempts logged before it was kept). */
  errorMessage: z.string().nullable(),
  /** The kept start of the body as text: UTF-8, each NUL and invalid byte sequence shown as U+FFFD. */
  responseBody: z.string().nullable(),
  /** The kept start of the body, exactly as sent, base64. */
  responseBodyBase64: z.string().nullable(),
  /** `utf8`: responseBody is exactly the bytes; `binary`: it is a preview, the bytes are in responseBodyBase64. */
  responseBodyEncoding: z.enum(['utf8', 'binary']).nullable(),
  /** True when the receiver sent more body than was kept. */
  responseBodyTruncated: z.boolean(),
  responseStatusText: z.string().nullable(),
  /** Response headers (lower-case names), as many as fit 2 KiB. */
  responseHeaders: z.record(z.string(), z.string()).nullable(),
  /** Headers not kept past that bound. */
  responseHeadersOmitted: z.number().int(),
}).meta({ id: 'Attempt' });

export const MessageDetail = Message.extend({ payload: z.unknown(), attemptLog: z.array(Attempt) }).meta({ id: 'MessageDetail' });

/** An attempt in the attempt lists: which message and event it was for. */
export const AttemptRecord = Attempt.extend({
  id: z.string(),
  messageId: z.string(),
  subscriptionId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  installationId: z.string(),
}).meta({ id: 'AttemptRecord' });

export const Stats = z.object({
  window: z.string(),
  attempts: z.number().int(),
  successes: z.number().int(),
  failures: z.number().int(),
  successRate: z.number().nullable(),
  latencyMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
}).meta({ id: 'SubscriptionStats' });

export const ResentMessage = z.object({ messageId: z.string() }).meta({ id: 'ResentMessage' });
export const RecoveredMessages = z.object({ requeued: z.number().int() }).meta({ id: 'RecoveredMessages' });
