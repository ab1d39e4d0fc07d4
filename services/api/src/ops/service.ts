import type { z } from 'zod';
import type { Db } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { disableSubscriptions } from '#shared/delivery/disable';
import { parseDuration } from '#shared/duration';
import { releaseHeldMessages, requeueMessages } from '#shared/delivery/requeue';
import { dispatchMail } from '#shared/mail/outbox';
import type { Metrics } from '#shared/metrics';
import { QUEUE_NAMES, type QueueName } from '#shared/queues/catalog';
import { findQueue, type Queues } from '#shared/queues/connection';
import { queueCounts } from '#shared/metrics';
import { readCircuits } from '#shared/delivery/limits';
import type { CircuitState } from '#shared/delivery/breaker';
import type { AppDeps } from '../deps.ts';
import type { Actor } from '../http/actor.ts';
import { recordAudit } from '../audit/audit.ts';
import { type Page, mapPage } from '../http/pagination.ts';
import {
  attemptCounts,
  deadLettersToReplay,
  findSubscription,
  pageDeadLetters,
  pageSubscriptionHealth,
  pageUnroutableEvents,
  reactivateSubscription,
  setMaxRate,
  toDeadLetter,
  type SubscriptionRow,
} from './repository.ts';
import type { DeadLetter, DeadLetterQuery, OpsSubscription, QueueStats, ReplayBody, SubscriptionHealthQuery, UnroutableEvent, UnroutableQuery } from './schema.ts';

/** The accepted events nobody can route, newest first. */
export async function listUnroutable(db: Db, query: z.infer<typeof UnroutableQuery>): Promise<Page<z.infer<typeof UnroutableEvent>>> {
  const page = await pageUnroutableEvents(db, query);
  return mapPage(page, (r) => ({ eventId: r.event_id, installationId: r.installation_id, type: r.type, reason: r.reason, receivedAt: r.received_at.toISOString() }));
}

/**
 * Counts per state of one queue of the catalog, and whether it is paused. The deliver queue is
 * one BullMQ queue per delivery shard: its counts are summed, and it is paused when any shard is.
 */
export async function queueStats(queues: Queues, name: QueueName): Promise<QueueStats> {
  const shards = queues.of(name);
  const [counts, paused] = await Promise.all([queueCounts(shards), Promise.all(shards.map((q) => q.isPaused()))]);
  return { name, ...counts, paused: paused.some(Boolean) };
}

/** Counts per state of every queue of the catalog, in catalog order. */
export async function listQueueStats(queues: Queues): Promise<QueueStats[]> {
  return Promise.all(QUEUE_NAMES.map((name) => queueStats(queues, name)));
}

/**
 * Pauses or resumes a queue (404 for a name not in the catalog), audited, and answers its new
 * state. Pausing is global (a flag in Redis): every worker of every process sees it. The
 * deliver queue pauses and resumes in every delivery shard.
 */
export async function setQueuePaused(deps: Pick<AppDeps, 'db' | 'queues'>, actor: Actor, name: string, action: 'pause' | 'resume'): Promise<QueueStats> {
  const queue = findQueue(deps.queues, name);
  await Promise.all(queue.queues.map((q) => (action === 'pause' ? q.pause() : q.resume())));
  // Redis has no transaction with Postgres; the audit row follows the change it records.
  await recordAudit(deps.db, actor, { action: `queue.${action}`, targetType: 'queue', targetId: queue.name });
  return queueStats(deps.queues, queue.name);
}

/** What the subscription views read: Postgres, and the shared breaker in Redis under each subscription's shard. */
export type OpsViewDeps = Pick<AppDeps, 'db' | 'redis' | 'queues'>;

/** The shared circuits of subscriptions; if Redis does not answer, the view says `closed` rather than fail. */
async function circuitsOf(deps: OpsViewDeps, ids: string[]): Promise<Map<string, CircuitState>> {
  return readCircuits(deps.redis, deps.queues.shards, ids).catch(() => new Map<string, CircuitState>());
}

/**
 * An operator sets the ceiling on a subscription's requests started per second (null: none),
 * audited with the previous ceiling, and gets the subscription back. The partner's own limit
 * may stay above a lowered ceiling: the lower of the two is enforced. 404 unknown id.
 */
export async function setRateCeiling(deps: OpsViewDeps, actor: Actor, id: string, ceiling: number | null): Promise<OpsSubscription> {
  await deps.db.transaction(async (trx) => {
    const row = await requireSubscription(trx, id);
    await setMaxRate(trx, id, ceiling);
    await recordAudit(trx, actor, {
      action: 'subscription.rate_limit',
      targetType: 'subscription',
      targetId: id,
      data: { maxRateLimitPerSecond: { from: row.max_rate_per_second, to: ceiling } },
    });
  });
  return getOpsSubscription(deps, id);
}

/** Dead letters, newest death first, filtered by subscription and time of death. */
export async function listDeadLetters(db: Db, query: z.infer<typeof DeadLetterQuery>): Promise<Page<DeadLetter>> {
  return mapPage(await pageDeadLetters(db, query), toDeadLetter);
}

/**
 * Sends dead letters again through the engine's own requeue (they become pending with a fresh
 * delivery job); only messages still dead are touched, so a replay twice in a row sends once.
 * Audited after the requeue commits (its jobs are queued after the commit). Answers how many
 * went, and the ids asked for that were not dead.
 */
export async function replayDeadLetters(
  deps: Pick<AppDeps, 'db' | 'queues'>,
  actor: Actor,
  request: z.infer<typeof ReplayBody>,
): Promise<{ replayed: number; skipped: string[] }> {
  const replayed = await requeueMessages(deps.db, deps.queues, deadLettersToReplay(request));
  const done = new Set(replayed);
  const skipped = 'messageIds' in request ? [...new Set(request.messageIds)].filter((id) => !done.has(id)) : [];
  await recordAudit(deps.db, actor, {
    action: 'dead_letters.replay',
    targetType: 'subscriptionId' in request ? 'subscription' : 'messages',
    targetId: 'subscriptionId' in request ? request.subscriptionId : `${replayed.length} messages`,
    data: { replayed, ...('since' in request ? { since: request.since } : {}) },
  });
  return { replayed: replayed.length, skipped };
}

function toOpsSubscription(row: SubscriptionRow, counts: { attempts: number; successes: number } | undefined, window: string, circuit: CircuitState): OpsSubscription {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const attempts = counts?.attempts ?? 0;
  const successes = counts?.successes ?? 0;
  return {
    id: row.id,
    partnerId: row.partner_id,
    productId: row.product_id,
    functionKey: row.function_key,
    url: row.url,
    eventTypes: row.event_types,
    status: row.state,
    state: row.state,
    disabledReason: row.disabled_reason,
    maxRateLimitPerSecond: row.max_rate_per_second,
    rateLimitPerSecond: row.rate_per_second,
    createdAt: row.created_at.toISOString(),
    health: {
      window,
      attempts,
      successes,
      successRate: attempts === 0 ? null : Math.round((successes / attempts) * 10_000) / 10_000,
      lastSuccessAt: iso(row.last_success_at),
      lastFailureAt: iso(row.last_failure_at),
      failingSince: iso(row.failing_since),
      consecutiveFailures: row.consecutive_failures,
      circuit,
    },
  };
}

/** The live subscription, or 404 (a malformed id too). */
async function requireSubscription(db: Db, id: string): Promise<SubscriptionRow> {
  const row = isId('subscription', id) ? await findSubscription(db, id) : null;
  if (!row) throw new NotFoundError('subscription', id);
  return row;
}

/** Subscriptions with their delivery health, oldest first, filtered by state and by failing now. */
export async function listSubscriptionHealth(deps: OpsViewDeps, query: z.infer<typeof SubscriptionHealthQuery>): Promise<Page<OpsSubscription>> {
  const { db } = deps;
  const page = await pageSubscriptionHealth(db, query);
  const counts = await attemptCounts(
    db,
    page.data.map((r) => r.id),
    parseDuration(query.window),
  );
  const circuits = await circuitsOf(deps, page.data.map((r) => r.id));
  return mapPage(page, (r) => toOpsSubscription(r, counts.get(r.id), query.window, circuits.get(r.id) ?? 'closed'));
}

/** One subscription as the ops views show it (health over the last 24 h). */
export async function getOpsSubscription(deps: OpsViewDeps, id: string): Promise<OpsSubscription> {
  const row = await requireSubscription(deps.db, id);
  const counts = await attemptCounts(deps.db, [id], parseDuration('24h'));
  const circuits = await circuitsOf(deps, [id]);
  return toOpsSubscription(row, counts.get(id), '24h', circuits.get(id) ?? 'closed');
}

/**
 * An operator disables a subscription: the engine's own disable (state, reason, a notice to
 * the partner saying why and a mail to its contact person) and the audit row, in one
 * transaction; the mail is queued after the commit. Its waiting messages are held, not
 * dropped, until it is enabled. Disabling a disabled one changes nothing and records nothing.
 * 404 unknown id.
 */
export async function disableByOperator(
  deps: OpsViewDeps & Pick<AppDeps, 'config'> & { metrics: Metrics },
  actor: Actor,
  id: string,
  reason: string | undefined,
): Promise<OpsSubscription> {
  const outcome = await deps.db.transaction(async (trx) => {
    await requireSubscription(trx, id);
    const disabled = await disableSubscriptions(trx, new Map([[id, `disabled by an operator${reason ? `: ${reason}` : ''}`]]), deps.config.publicUrl);
    if (disabled.count > 0) {
      await recordAudit(trx, actor, { action: 'subscription.disable', targetType: 'subscription', targetId: id, data: { reason: reason ?? null } });
    }
    return disabled;
  });
  dispatchMail(deps.queues, outcome.mailIds, actor.log);
  if (outcome.count > 0) deps.metrics.subscriptionsDisabled.inc({ reason: 'operator' });
  return getOpsSubscription(deps, id);
}

/**
 * An operator enables a disabled subscription: active again, with its failure streak cleared
 * (else the auto-disable would take it straight back), audited in the same transaction; its
 * held messages are released after the commit, so a worker taking one sees the subscription
 * active. A paused one is the partner's to resume: 409. An active one is left as it is.
 */
export async function enableByOperator(deps: OpsViewDeps & Pick<AppDeps, 'queues'>, actor: Actor, id: string): Promise<OpsSubscription> {
  const changed = await deps.db.transaction(async (trx) => {
    const row = await requireSubscription(trx, id);
    if (row.state === 'paused') {
      throw new ConflictError('subscription_paused', `subscription ${id} is paused by its partner; only they can resume it`);
    }
    if (row.state === 'active') return false;
    await reactivateSubscription(trx, id);
    await recordAudit(trx, actor, { action: 'subscription.enable', targetType: 'subscription', targetId: id });
    return true;
  });
  if (changed) await releaseHeldMessages(deps.db, deps.queues, id);
  return getOpsSubscription(deps, id);
}
