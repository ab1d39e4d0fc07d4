import type { Db, Knex } from '#shared/db/knex';
import { showBody } from '#shared/delivery/response-body';
import type { EventRow, MessageRow } from '#shared/db/rows';
import type { z } from 'zod';
import type { Attempt, Message } from './schema.ts';

/** A message with its event's type and installation, as `messagesQuery` selects it. */
export type MessageLogRow = Pick<
  MessageRow,
  | 'id'
  | 'subscription_id'
  | 'event_id'
  | 'status'
  | 'attempts'
  | 'next_attempt_at'
  | 'last_attempt_at'
  | 'last_status_code'
  | 'last_error'
  | 'created_at'
  | 'succeeded_at'
> &
  Pick<EventRow, 'type' | 'installation_id'>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A message row as the API shows it. */
export const toMessage = (row: MessageLogRow): z.infer<typeof Message> => ({
  id: row.id,
  subscriptionId: row.subscription_id,
  eventId: row.event_id,
  eventType: row.type,
  installationId: row.installation_id,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: iso(row.next_attempt_at),
  lastAttemptAt: iso(row.last_attempt_at),
  lastStatusCode: row.last_status_code,
  lastError: row.last_error,
  createdAt: row.created_at.toISOString(),
  succeededAt: iso(row.succeeded_at),
});

/** Messages joined with their events, as the delivery log reads them. */
export function messagesQuery(db: Db): Knex.QueryBuilder {
  return db('messages as m')
    .join('events as e', 'e.id', 'm.event_id')
    .select(
      'm.id',
      'm.subscription_id',
      'm.event_id',
      'e.type',
      'e.installation_id',
      'm.status',
      'm.attempts',
      'm.next_attempt_at',
      'm.last_attempt_at',
      'm.last_status_code',
      'm.last_error',
      'm.created_at',
      'm.succeeded_at',
    );
}

/** The partner's message (through its subscription), with its event; null when not theirs or unknown. */
export async function findPartnerMessage(db: Db, partnerId: string, id: string): Promise<(MessageLogRow & Pick<EventRow, 'entity_id' | 'occurred_at' | 'data'>) | null> {
  const row = (await messagesQuery(db)
    .join('subscriptions as s', 's.id', 'm.subscription_id')
    .where('m.id', id)
    .where('s.partner_id', partnerId)
    .select('e.entity_id', 'e.occurred_at', 'e.data')
    .first()) as (MessageLogRow & Pick<EventRow, 'entity_id' | 'occurred_at' | 'data'>) | undefined;
  return row ?? null;
}

/** Attempt counts and latency percentiles of a subscription since `windowMs` ago (circuit-open skips made no request: not samples). */
export async function attemptStats(
  db: Db,
  subscriptionId: string,
  windowMs: number,
): Promise<{ attempts: number; successes: number; p50: number | null; p95: number | null }> {
  const row = await db('attempts')
    .where('subscription_id', subscriptionId)
    .where('attempted_at', '>=', db.raw(`now() - (? * interval '1 millisecond')`, [windowMs]))
    .whereRaw("coalesce(error, '') <> 'circuit_open'")
    .first(
      db.raw('count(*)::int as attempts'),
      db.raw("count(*) filter (where outcome = 'success')::int as successes"),
      db.raw('percentile_cont(0.5) within group (order by duration_ms) as p50'),
      db.raw('percentile_cont(0.95) within group (order by duration_ms) as p95'),
    );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { attempts: Number(row?.attempts ?? 0), successes: Number(row?.successes ?? 0), p50: num(row?.p50), p95: num(row?.p95) };
}

/** Every attempt of a message, oldest first. */
export async function listAttempts(db: Db, messageId: string): Promise<z.infer<typeof Attempt>[]> {
  const rows = await db('attempts').where({ message_id: messageId }).orderBy([{ column: 'attempted_at' }, { column: 'id' }]);
  return rows.map((r) => {
    const headers = r.response_headers as { headers: Record<string, string>; omitted: number } | null;
    return {
      attempt: r.attempt,
      attemptedAt: r.attempted_at.toISOString(),
      durationMs: r.duration_ms,
      outcome: r.outcome,
      statusCode: r.status_code,
      error: r.error,
      errorMessage: r.error_message,
      ...showBody(r.response_body, r.response_body_bytes),
      responseBodyTruncated: r.response_body_truncated,
      responseStatusText: r.response_status_text,
      responseHeaders: headers?.headers ?? null,
      responseHeadersOmitted: headers?.omitted ?? 0,
    };
  });
}
