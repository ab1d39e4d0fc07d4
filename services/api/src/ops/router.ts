import { dispatchMail } from '#shared/mail/outbox';
import type { Metrics } from '#shared/metrics';
import { releaseHeldMessages } from '#shared/delivery/requeue';
import { findQueue } from '#shared/queues/connection';
import type { AppDeps } from '../deps.ts';
import { recordAudit } from '../audit/audit.ts';
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
  getOpsSubscription,
  listDeadLetters,
  listQueueStats,
  listUnroutable,
  queueStats,
  listSubscriptionHealth,
  replayDeadLetters,
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
      handler: async ({ actor, params }) => {
        const queue = findQueue(deps.queues, params.queueName);
        // Pausing is global (a flag in Redis): every worker of every process sees it. The
        // deliver queue pauses and resumes in every delivery shard.
        await Promise.all(queue.queues.map((q) => (action === 'pause' ? q.pause() : q.resume())));
        // Redis has no transaction with Postgres; the audit row follows the change it records.
        await recordAudit(deps.db, actor, { action: `queue.${action}`, targetType: 'queue', targetId: queue.name });
        return { status: 200, body: await queueStats(deps.queues, queue.name) };
      },
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
    handler: async ({ actor, body }) => {
      const replayed = await replayDeadLetters(deps, body);
      const done = new Set(replayed);
      const skipped = 'messageIds' in body ? [...new Set(body.messageIds)].filter((id) => !done.has(id)) : [];
      // The requeue commits before its jobs are queued; the audit row follows it.
      await recordAudit(db, actor, {
        action: 'dead_letters.replay',
        targetType: 'subscriptionId' in body ? 'subscription' : 'messages',
        targetId: 'subscriptionId' in body ? body.subscriptionId : `${replayed.length} messages`,
        data: { replayed, ...('since' in body ? { since: body.since } : {}) },
      });
      return { status: 202, body: { replayed: replayed.length, skipped } };
    },
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
    handler: async ({ actor, params, body }) => {
      const outcome = await db.transaction(async (trx) => {
        const disabled = await disableByOperator(trx, params.subscriptionId, body.reason, deps.config.publicUrl);
        if (disabled.count > 0) {
          await recordAudit(trx, actor, {
            action: 'subscription.disable',
            targetType: 'subscription',
            targetId: params.subscriptionId,
            data: { reason: body.reason ?? null },
          });
        }
        return disabled;
      });
      dispatchMail(deps.queues, outcome.mailIds, actor.log);
      if (outcome.count > 0) deps.metrics.subscriptionsDisabled.inc({ reason: 'operator' });
      return { status: 200, body: await getOpsSubscription(deps, params.subscriptionId) };
    },
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
    handler: async ({ actor, params }) => {
      const changed = await db.transaction(async (trx) => {
        const enabled = await enableByOperator(trx, params.subscriptionId);
        if (enabled) await recordAudit(trx, actor, { action: 'subscription.enable', targetType: 'subscription', targetId: params.subscriptionId });
        return enabled;
      });
      // After the commit, so a worker taking a released message sees the subscription active.
      if (changed) await releaseHeldMessages(db, deps.queues, params.subscriptionId);
      return { status: 200, body: await getOpsSubscription(deps, params.subscriptionId) };
    },
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
    handler: async ({ actor, params, body }) => {
      await db.transaction(async (trx) => {
        const previous = await setRateCeiling(trx, params.subscriptionId, body.maxRateLimitPerSecond);
        await recordAudit(trx, actor, {
          action: 'subscription.rate_limit',
          targetType: 'subscription',
          targetId: params.subscriptionId,
          data: { maxRateLimitPerSecond: { from: previous, to: body.maxRateLimitPerSecond } },
        });
      });
      return { status: 200, body: await getOpsSubscription(deps, params.subscriptionId) };
    },
  });
}
