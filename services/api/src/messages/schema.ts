import { z } from 'zod';
import { PageQuery } from '../http/pagination.ts';
import { WindowDuration } from '../http/window.ts';

export const MESSAGE_STATUSES = ['pending', 'held', 'succeeded', 'dead', 'cancelled'] as const;

export const SubscriptionParams = z.object({ subscriptionId: z.string() });
export const MessageParams = z.object({ messageId: z.string() });

export const MessageListQuery = PageQuery.extend({
  status: z.enum(MESSAGE_STATUSES).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});

export const RecoverBody = z.object({ since: z.iso.datetime({ offset: true }) });

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
});

export const Attempt = z.object({
  attempt: z.number().int(),
  attemptedAt: z.string(),
  durationMs: z.number().int(),
  outcome: z.enum(['success', 'failure']),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  responseBody: z.string().nullable(),
});

export const MessageDetail = Message.extend({ payload: z.unknown(), attemptLog: z.array(Attempt) });

export const Stats = z.object({
  window: z.string(),
  attempts: z.number().int(),
  successes: z.number().int(),
  failures: z.number().int(),
  successRate: z.number().nullable(),
  latencyMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
});
