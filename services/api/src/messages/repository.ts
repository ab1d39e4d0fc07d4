import type { Db, Knex } from '#shared/db/knex';
import { NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { showBody } from '#shared/delivery/response-body';
import type { z } from 'zod';
import type { Attempt, Message } from './schema.ts';
import { findPartnerSubscription } from '../subscriptions/repository.ts';

export type MessageRow = {
  id: string;
  subscription_id: string;
  event_id: string;
  type: string;
  installation_id: string;
  status: z.infer<typeof Message>['status'];
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  succeeded_at: Date | null;
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A message row as the API shows it. */
export const toMessage = (row: MessageRow): z.infer<typeof Message> => ({
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

/** The partner's live subscription, or 404 (another partner's is 404 too). */
export async function findOwnSubscription(db: Db, partnerId: string, id: string): Promise<{ id: string }> {
  const row = isId('subscription', id) ? await findPartnerSubscription(db, partnerId, id) : undefined;
  if (!row) throw new NotFoundError('subscription', id);
  return { id: row.id };
}

/** The partner's message (through its subscription), with its event, or 404. */
export async function findOwnMessage(db: Db, partnerId: string, id: string) {
  const row = isId('message', id)
    ? await messagesQuery(db)
        .join('subscriptions as s', 's.id', 'm.subscription_id')
        .where('m.id', id)
        .where('s.partner_id', partnerId)
        .select('e.entity_id', 'e.occurred_at', 'e.data')
        .first()
    : undefined;
  if (!row) throw new NotFoundError('message', id);
  return row as MessageRow & { entity_id: string | null; occurred_at: Date; data: unknown };
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
