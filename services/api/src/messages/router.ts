import type { ApiRoutes } from '../http/route.ts';
import type { AppDeps } from '../deps.ts';
import { pageOf } from '../http/pagination.ts';
import { getMessage, listMessageAttempts, listMessages, listSubscriptionAttempts, recoverMessages, resendMessage, subscriptionStats } from './service.ts';
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
    description:
      'A message is listed from its first outcome on: while its first request is in flight (or waits for a slot) it has no entry yet. ' +
      'Its id, the `webhook-id` the receiver gets, is fixed from the start (derived from the event and the subscription).',
    tags: ['delivery log'],
    params: SubscriptionParams,
    query: MessageListQuery,
    responses: { 200: pageOf(Message), 404: 'No such subscription' },
    handler: async ({ actor, params, query }) => ({ status: 200, body: await listMessages(db, actor, params.subscriptionId, query) }),
  });

  api.add({
    method: 'get',
    path: '/v1/messages/:messageId',
    operationId: 'getMessage',
    auth: ['partner'],
    summary: 'A message with the payload it carries and every attempt',
    description: 'A message exists from its first outcome on: looked up while its first request is still in flight, it is a 404.',
    tags: ['delivery log'],
    params: MessageParams,
    responses: { 200: MessageDetail, 404: 'No such message' },
    handler: async ({ actor, params }) => ({ status: 200, body: await getMessage(db, actor, params.messageId) }),
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
    handler: async ({ actor, params, query }) => ({ status: 200, body: await listMessageAttempts(db, actor, params.messageId, query) }),
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
    handler: async ({ actor, params, query }) => ({ status: 200, body: await listSubscriptionAttempts(db, actor, params.subscriptionId, query) }),
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
    handler: async ({ actor, params }) => ({ status: 202, body: { messageId: await resendMessage(db, queues, actor, params.messageId) } }),
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
    handler: async ({ actor, params, body }) => ({ status: 202, body: { requeued: await recoverMessages(db, queues, actor, params.subscriptionId, body) } }),
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
    handler: async ({ actor, params, query }) => ({ status: 200, body: await subscriptionStats(db, actor, params.subscriptionId, query) }),
  });
}
