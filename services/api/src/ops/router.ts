import type { Metrics } from '#shared/metrics';
import type { AppDeps } from '../deps.ts';
import type { ApiRoutes } from '../http/route.ts';
import { pageOf } from '../http/pagination.ts';
import {
  DeadLetter,
  DeadLetterQuery,
  DisableBody,
  RateLimitBody,
  OpsSubscription,
  QueueList,
  QueueParams,
  QueueStats,
  ReplayBody,
  ReplayResult,
  SubscriptionHealthQuery,
  SubscriptionParams,
  UnroutableEvent,
  UnroutableQuery,
} from './schema.ts';
import {
  disableByOperator,
  enableByOperator,
  listDeadLetters,
  listQueueStats,
  listUnroutable,
  listSubscriptionHealth,
  replayDeadLetters,
  setQueuePaused,
  setRateCeiling,
} from './service.ts';

/** Operators' queue and delivery repair routes (`/v1/ops/...`). */
export function registerOpsRoutes(api: ApiRoutes, deps: AppDeps & { metrics: Metrics }): void {
  const { db } = deps;

  api.add({
    method: 'get',
    path: '/v1/ops/queues',
    operationId: 'listQueues',
    auth: ['operator'],
    summary: 'Job counts per state of every queue, and whether it is paused',
    tags: ['ops'],
    responses: { 200: QueueList },
    handler: async () => ({ status: 200, body: { data: await listQueueStats(deps.queues) } }),
  });

  for (const action of ['pause', 'resume'] as const) {
    api.add({
      method: 'post',
      path: `/v1/ops/queues/:queueName/${action}`,
      operationId: `${action}Queue`,
      auth: ['operator'],
      summary:
        action === 'pause'
          ? 'Pause a queue: workers finish active jobs and take no new ones; jobs keep arriving and wait'
          : 'Resume a paused queue',
      tags: ['ops'],
      params: QueueParams,
      // 200 with the queue's new state, like every pause, resume, disable and enable of the API.
      responses: { 200: QueueStats, 404: 'No queue of that name' },
      handler: async ({ actor, params }) => ({ status: 200, body: await setQueuePaused(deps, actor, params.queueName, action) }),
    });
  }

  api.add({
    method: 'get',
    path: '/v1/ops/dead-letters',
    operationId: 'listDeadLetters',
    auth: ['operator'],
    summary: 'Dead letters (messages that failed their last retry), newest first',
    tags: ['ops'],
    query: DeadLetterQuery,
    responses: { 200: pageOf(DeadLetter), 400: 'A filter or the cursor is malformed' },
    handler: async ({ query }) => ({ status: 200, body: await listDeadLetters(db, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/ops/dead-letters/replay',
    operationId: 'replayDeadLetters',
    auth: ['operator'],
    summary: 'Deliver dead letters again: given ids, or a subscription\'s that died since a time',
    tags: ['ops'],
    body: ReplayBody,
    responses: { 202: ReplayResult, 400: 'Neither ids nor a subscription and a time, or both' },
    handler: async ({ actor, body }) => ({ status: 202, body: await replayDeadLetters(deps, actor, body) }),
  });

  api.add({
    method: 'get',
    path: '/v1/ops/unroutable-events',
    operationId: 'listUnroutableEvents',
    auth: ['operator'],
    summary: 'Accepted events nobody can route (an installation or event type hubhook does not know), newest first',
    tags: ['ops'],
    query: UnroutableQuery,
    responses: { 200: pageOf(UnroutableEvent), 400: 'A filter or the cursor is malformed' },
    handler: async ({ query }) => ({ status: 200, body: await listUnroutable(db, query) }),
  });

  api.add({
    method: 'get',
    path: '/v1/ops/subscriptions',
    operationId: 'listSubscriptionHealth',
    auth: ['operator'],
    summary: 'Subscriptions with their delivery health: success rate over a window, last success, failure streak, circuit',
    tags: ['ops'],
    query: SubscriptionHealthQuery,
    responses: { 200: pageOf(OpsSubscription), 400: 'A filter or the cursor is malformed' },
    handler: async ({ query }) => ({ status: 200, body: await listSubscriptionHealth(deps, query) }),
  });

  api.add({
    method: 'post',
    path: '/v1/ops/subscriptions/:subscriptionId/disable',
    operationId: 'disableSubscription',
    auth: ['operator'],
    summary: 'Disable a subscription (its partner is notified why); its waiting messages are held',
    tags: ['ops'],
    params: SubscriptionParams,
    body: DisableBody,
    responses: { 200: OpsSubscription, 404: 'No such subscription' },
    handler: async ({ actor, params, body }) => ({ status: 200, body: await disableByOperator(deps, actor, params.subscriptionId, body.reason) }),
  });

  api.add({
    method: 'post',
    path: '/v1/ops/subscriptions/:subscriptionId/enable',
    operationId: 'enableSubscription',
    auth: ['operator'],
    summary: 'Enable a disabled subscription: its held messages are delivered',
    tags: ['ops'],
    params: SubscriptionParams,
    responses: { 200: OpsSubscription, 404: 'No such subscription', 409: 'The partner paused it; only they resume it' },
    handler: async ({ actor, params }) => ({ status: 200, body: await enableByOperator(deps, actor, params.subscriptionId) }),
  });

  api.add({
    method: 'put',
    path: '/v1/ops/subscriptions/:subscriptionId/rate-limit',
    operationId: 'setSubscriptionRateLimit',
    auth: ['operator'],
    summary: 'Set the ceiling on requests started per second to a subscription (null: none); its partner may set a lower limit, not a higher one',
    tags: ['ops'],
    params: SubscriptionParams,
    body: RateLimitBody,
    responses: { 200: OpsSubscription, 404: 'No such subscription', 400: 'maxRateLimitPerSecond is missing or not a whole number from 1 to 10000, or null' },
    handler: async ({ actor, params, body }) => ({ status: 200, body: await setRateCeiling(deps, actor, params.subscriptionId, body.maxRateLimitPerSecond) }),
  });
}
