import { parseDuration } from '#shared/duration';
import { ConflictError } from '#shared/errors';
import { buildPayload } from '#shared/delivery/payload';
import { requeueMessages } from '#shared/delivery/requeue';
import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../app.ts';
import { pageOf, paginate, mapPage } from '../http/pagination.ts';
import {
  attemptsQuery,
  filterAttempts,
  filterMessages,
  findOwnMessage,
  findOwnSubscription,
  listAttempts,
  messagesQuery,
  toAttemptRecord,
  toMessage,
  type AttemptRow,
  type MessageRow,
} from './repository.ts';
import {
  AttemptRecord,
  Message,
  MessageAttemptsQuery,
  MessageDetail,
  MessageListQuery,
  MessageParams,
  RecoverBody,
  RecoveredMessages,
  ResentMessage,
  Stats,
  StatsQuery,
  SubscriptionAttemptsQuery,
  SubscriptionParams,
} from './schema.ts';

/** The delivery log of a partner's subscriptions: messages, attempts, resend, recover, stats. */
export function registerMessageRoutes(api: ApiRoutes, deps: AppDeps): void {
  const { db, queues } = deps;

  api.add({
    method: 'get',
    path: '/v1/subscriptions/:subscriptionId/messages',
    operationId: 'listSubscriptionMessages',
    auth: ['partner'],
    summary: 'The delivery log of a subscription, newest first; filter by status, time, event type, event id, installation',
    tags: ['delivery log'],
    params: SubscriptionParams,
    query: MessageListQuery,
    responses: { 200: pageOf(Message), 404: 'No such subscription' },
    handler: async ({ params, query, principal }) => {
      await findOwnSubscription(db, principal.partnerId, params.subscriptionId);
      const q = filterMessages(messagesQuery(db).where('m.subscription_id', params.subscriptionId), query);
      const page = await paginate<MessageRow>(db, q, query, { keys: ['m.created_at', 'm.id'], order: 'desc' });
      return { status: 200, body: mapPage(page, toMessage) };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/messages/:messageId',
    operationId: 'getMessage',
    auth: ['partner'],
    summary: 'A message with the payload it carries and every attempt',
    tags: ['delivery log'],
    params: MessageParams,
    responses: { 200: MessageDetail, 404: 'No such message' },
    handler: async ({ params, principal }) => {
      const row = await findOwnMessage(db, principal.partnerId, params.messageId);
      const payload = JSON.parse(
        buildPayload(
          { id: row.event_id, installationId: row.installation_id, type: row.type, entityId: row.entity_id, occurredAt: row.occurred_at, data: row.data },
          row.created_at,
        ),
      ) as unknown;
      return { status: 200, body: { ...toMessage(row), payload, attemptLog: await listAttempts(db, row.id) } };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/messages/:messageId/attempts',
    operationId: 'listMessageAttempts',
    auth: ['partner'],
    summary: 'The attempts of a message, newest first; filter by status class and time',
    tags: ['delivery log'],
    params: MessageParams,
    query: MessageAttemptsQuery,
    responses: { 200: pageOf(AttemptRecord), 404: 'No such message' },
    handler: async ({ params, query, principal }) => {
      const message = await findOwnMessage(db, principal.partnerId, params.messageId);
      const q = filterAttempts(attemptsQuery(db).where('a.message_id', message.id), query);
      const page = await paginate<AttemptRow>(db, q, query, { keys: ['a.attempted_at', 'a.id'], order: 'desc' });
      return { status: 200, body: mapPage(page, toAttemptRecord) };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/subscriptions/:subscriptionId/attempts',
    operationId: 'listSubscriptionAttempts',
    auth: ['partner'],
    summary: 'Every attempt of a subscription, newest first; filter by status class, time, event type, event id, installation',
    tags: ['delivery log'],
    params: SubscriptionParams,
    query: SubscriptionAttemptsQuery,
    responses: { 200: pageOf(AttemptRecord), 404: 'No such subscription' },
    handler: async ({ params, query, principal }) => {
      await findOwnSubscription(db, principal.partnerId, params.subscriptionId);
      const q = filterAttempts(attemptsQuery(db).where('a.subscription_id', params.subscriptionId), query);
      const page = await paginate<AttemptRow>(db, q, query, { keys: ['a.attempted_at', 'a.id'], order: 'desc' });
      return { status: 200, body: mapPage(page, toAttemptRecord) };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/messages/:messageId/resend',
    operationId: 'resendMessage',
    auth: ['partner'],
    summary: 'Send a message again now',
    tags: ['delivery log'],
    params: MessageParams,
    responses: { 202: ResentMessage, 404: 'No such message', 409: 'The message was cancelled' },
    handler: async ({ params, principal }) => {
      const row = await findOwnMessage(db, principal.partnerId, params.messageId);
      const requeued = await requeueMessages(db, queues, (q) => q.where('id', row.id));
      if (requeued.length === 0) throw new ConflictError('message_cancelled', 'the message was cancelled with its subscription');
      return { status: 202, body: { messageId: row.id } };
    },
  });

  api.add({
    method: 'post',
    path: '/v1/subscriptions/:subscriptionId/recover',
    operationId: 'recoverSubscriptionMessages',
    auth: ['partner'],
    summary: 'Send again every failed or dead message created since a time (and before `until`, when given)',
    tags: ['delivery log'],
    params: SubscriptionParams,
    body: RecoverBody,
    responses: { 202: RecoveredMessages, 404: 'No such subscription' },
    handler: async ({ params, body, principal }) => {
      await findOwnSubscription(db, principal.partnerId, params.subscriptionId);
      const requeued = await requeueMessages(db, queues, (q) =>
        q
          .where('subscription_id', params.subscriptionId)
          .where('created_at', '>=', body.since)
          .modify((w) => {
            if (body.until) w.where('created_at', '<', body.until);
          })
          .where((w) => w.where('status', 'dead').orWhere((p) => p.where('status', 'pending').where('attempts', '>', 0))),
      );
      return { status: 202, body: { requeued: requeued.length } };
    },
  });

  api.add({
    method: 'get',
    path: '/v1/subscriptions/:subscriptionId/stats',
    operationId: 'getSubscriptionStats',
    auth: ['partner'],
    summary: 'Attempts, success rate and latency over a window (default 24h)',
    tags: ['delivery log'],
    params: SubscriptionParams,
    query: StatsQuery,
    responses: { 200: Stats, 404: 'No such subscription' },
    handler: async ({ params, query, principal }) => {
      await findOwnSubscription(db, principal.partnerId, params.subscriptionId);
      const row = await db('attempts')
        .where('subscription_id', params.subscriptionId)
        .where('attempted_at', '>=', db.raw(`now() - (? * interval '1 millisecond')`, [parseDuration(query.window)]))
        // Circuit-open skips made no request: they are not latency samples.
        .whereRaw("coalesce(error, '') <> 'circuit_open'")
        .first(
          db.raw('count(*)::int as attempts'),
          db.raw("count(*) filter (where outcome = 'success')::int as successes"),
          db.raw('percentile_cont(0.5) within group (order by duration_ms) as p50'),
          db.raw('percentile_cont(0.95) within group (order by duration_ms) as p95'),
        );
      const attempts = Number(row?.attempts ?? 0);
      const successes = Number(row?.successes ?? 0);
      const round = (v: unknown) => (v === null || v === undefined ? null : Math.round(Number(v) * 10) / 10);
      return {
        status: 200,
        body: {
          window: query.window,
          attempts,
          successes,
          failures: attempts - successes,
          successRate: attempts === 0 ? null : successes / attempts,
          latencyMs: { p50: round(row?.p50), p95: round(row?.p95) },
        },
      };
    },
  });
}
