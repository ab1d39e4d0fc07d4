import type { Db, Knex } from '#shared/db/knex';
import { paginate, type Page, type PageRequest } from '../http/pagination.ts';
import { showBody } from '#shared/delivery/response-body';
import type { AttemptRow, EventRow, MessageRow } from '#shared/db/rows';
import type { z } from 'zod';
import type { Attempt, AttemptFilters, AttemptRecord, Message, MessageFilters } from './schema.ts';

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
  Pick<EventRow, 'type' | 'installation_id' | 'entity_id'> & { waiting_for: string | null };

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A message row as the API shows it. */
export const toMessage = (row: MessageLogRow): z.infer<typeof Message> => ({
  id: row.id,
  subscriptionId: row.subscription_id,
  eventId: row.event_id,
  eventType: row.type,
  installationId: row.installation_id,
  status: row.status,
  entityId: row.entity_id,
  waitingFor: row.waiting_for,
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
      'e.entity_id',
      // Ordered and pending: the earliest unfinished message before it of its entity (one probe per partition).
      db.raw(`case when m.entity_key is not null and m.status = 'pending' then (
          select p.id from messages p
          where p.entity_key = m.entity_key and p.subscription_id = m.subscription_id and p.seq < m.seq
            and p.entity_key is not null and p.status in ('pending', 'held')
          order by p.seq limit 1) end as waiting_for`),
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

/** Narrows a `messagesQuery` to the list filters (status, time range, what the event carried). */
export function filterMessages(q: Knex.QueryBuilder, filters: Omit<MessageFilters, 'limit' | 'cursor'>): Knex.QueryBuilder {
  if (filters.status === 'failed') q.where('m.status', 'pending').where('m.attempts', '>', 0);
  else if (filters.status) q.where('m.status', filters.status);
  if (filters.since) q.where('m.created_at', '>=', filters.since);
  if (filters.until) q.where('m.created_at', '<', filters.until);
  return filterEvents(q, filters);
}

function filterEvents(q: Knex.QueryBuilder, filters: { eventType?: string | undefined; eventId?: string | undefined; installationId?: string | undefined }) {
  if (filters.eventType) q.where('e.type', filters.eventType);
  if (filters.eventId) q.where('e.id', filters.eventId);
  if (filters.installationId) q.where('e.installation_id', filters.installationId);
  return q;
}

/** An attempt with its message's event, as `attemptsQuery` selects it. */
export type AttemptLogRow = AttemptRow & { event_id: string; type: string; installation_id: string };

/**
 * Every attempt, aliased `a`: the attempts table and the first successes kept in message rows
 * (`attempt_log`, migration 0014). The only way to read that view: its second branch has a row
 * per message, with a null id where none is kept, and this condition (the partial index's) is
 * what lets Postgres read both branches by index, merged in time order.
 */
export function attemptLog(db: Db): Knex.QueryBuilder {
  return db('attempt_log as a').whereNotNull('a.id');
}

/** Attempts joined with their messages and events, as the attempt lists read them. */
export function attemptsQuery(db: Db): Knex.QueryBuilder {
  return attemptLog(db)
    .join('messages as m', 'm.id', 'a.message_id')
    .join('events as e', 'e.id', 'm.event_id')
    .select(
      'a.id',
      'a.message_id',
      'a.subscription_id',
      'a.attempt',
      'a.attempted_at',
      'a.duration_ms',
      'a.outcome',
      'a.status_code',
      'a.error',
      'a.error_message',
      'a.response_body',
      'a.response_body_bytes',
      'a.response_body_truncated',
      'a.response_status_text',
      'a.response_headers',
      'e.id as event_id',
      'e.type',
      'e.installation_id',
    );
}

/** Narrows an `attemptsQuery` to the list filters: outcome class, time range, what the event carried. */
export function filterAttempts(q: Knex.QueryBuilder, filters: Partial<Omit<AttemptFilters, 'limit' | 'cursor'>>): Knex.QueryBuilder {
  const cls = filters.statusClass;
  if (cls === 'error') q.whereNull('a.status_code');
  else if (cls) {
    const low = Number(cls[0]) * 100;
    q.where('a.status_code', '>=', low).where('a.status_code', '<', low + 100);
  }
  if (filters.since) q.where('a.attempted_at', '>=', filters.since);
  if (filters.until) q.where('a.attempted_at', '<', filters.until);
  return filterEvents(q, filters);
}

/** An attempt row as the attempt lists show it. */
export const toAttemptRecord = (r: AttemptLogRow): z.infer<typeof AttemptRecord> => ({
  id: String(r.id),
  messageId: r.message_id,
  subscriptionId: r.subscription_id,
  eventId: r.event_id,
  eventType: r.type,
  installationId: r.installation_id,
  ...toAttempt(r),
});

/** The columns of an attempt as the API shows them (the message view's log and the attempt lists). */
function toAttempt(r: Omit<AttemptRow, 'id' | 'message_id' | 'subscription_id'>): z.infer<typeof Attempt> {
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
    responseHeaders: r.response_headers?.headers ?? null,
    responseHeadersOmitted: r.response_headers?.omitted ?? 0,
  };
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
  const row = await attemptLog(db)
    .where('a.subscription_id', subscriptionId)
    .where('a.attempted_at', '>=', db.raw(`now() - (? * interval '1 millisecond')`, [windowMs]))
    .whereRaw("coalesce(a.error, '') <> 'circuit_open'")
    .first(
      db.raw('count(*)::int as attempts'),
      db.raw("count(*) filter (where a.outcome = 'success')::int as successes"),
      db.raw('percentile_cont(0.5) within group (order by a.duration_ms) as p50'),
      db.raw('percentile_cont(0.95) within group (order by a.duration_ms) as p95'),
    );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { attempts: Number(row?.attempts ?? 0), successes: Number(row?.successes ?? 0), p50: num(row?.p50), p95: num(row?.p95) };
}

/** Every attempt of a message, oldest first (a first success kept in its row included). */
export async function listAttempts(db: Db, messageId: string): Promise<z.infer<typeof Attempt>[]> {
  const rows: AttemptRow[] = await attemptLog(db).where('a.message_id', messageId).orderBy([{ column: 'a.attempted_at' }, { column: 'a.id' }]);
  return rows.map(toAttempt);
}

/** A page of a subscription's messages, newest first, narrowed by the list filters. */
export async function pageSubscriptionMessages(db: Db, subscriptionId: string, query: MessageFilters & PageRequest): Promise<Page<MessageLogRow>> {
  const q = filterMessages(messagesQuery(db).where('m.subscription_id', subscriptionId), query);
  return paginate<MessageLogRow>(db, q, query, { keys: ['m.created_at', 'm.id'], order: 'desc' });
}

/** A page of attempts, newest first, of one message or of one subscription, narrowed by the list filters. */
export async function pageAttempts(db: Db, of: { messageId: string } | { subscriptionId: string }, query: AttemptFilters & PageRequest): Promise<Page<AttemptLogRow>> {
  const scoped = 'messageId' in of ? attemptsQuery(db).where('a.message_id', of.messageId) : attemptsQuery(db).where('a.subscription_id', of.subscriptionId);
  return paginate<AttemptLogRow>(db, filterAttempts(scoped, query), query, { keys: ['a.attempted_at', 'a.id'], order: 'desc' });
}

/** Narrows a messages query (for `requeueMessages`) to one message. */
export const oneMessage = (id: string) => (q: Knex.QueryBuilder) => q.where('id', id);

/**
 * Narrows a messages query (for `requeueMessages`) to what a recovery sends again: a
 * subscription's dead messages, and its pending ones that have failed, created in [since, until).
 */
export const messagesToRecover = (subscriptionId: string, range: { since: string; until?: string | undefined }) => (q: Knex.QueryBuilder) =>
  q
    .where('subscription_id', subscriptionId)
    .where('created_at', '>=', range.since)
    .modify((w) => {
      if (range.until) w.where('created_at', '<', range.until);
    })
    .where((w) => w.where('status', 'dead').orWhere((p) => p.where('status', 'pending').where('attempts', '>', 0)));
