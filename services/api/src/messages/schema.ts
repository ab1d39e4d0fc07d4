import { z } from 'zod';
import { PageQuery } from '../http/pagination.ts';
import { WindowDuration } from '../http/window.ts';
import { Timestamp } from '../http/timestamp.ts';

export const MESSAGE_STATUSES = ['pending', 'held', 'succeeded', 'dead', 'cancelled'] as const;

export const SubscriptionParams = z.object({ id: z.string() });
export const MessageParams = z.object({ id: z.string() });

export const MessageListQuery = PageQuery.extend({
  status: z.enum(MESSAGE_STATUSES).optional(),
  since: Timestamp.optional(),
  until: Timestamp.optional(),
});

export const RecoverBody = z.object({ since: Timestamp }).meta({ id: 'RecoverMessagesRequest' });

export const StatsQuery = z.object({ window: WindowDuration });

export const Message = z.object({
  id: z.string(),
  subscriptionId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  installationId: z.string(),
  status: z.enum(MESSAGE_STATUSES),
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
