import type { z } from 'zod';
import type { Db, Knex } from '#shared/db/knex';
import { ConflictError, NotFoundError } from '#shared/errors';
import { isId } from '#shared/ids';
import { disableSubscriptions, type DisableOutcome } from '#shared/delivery/disable';
import { parseDuration } from '#shared/duration';
import { requeueMessages } from '#shared/delivery/requeue';
import { QUEUE_NAMES, type QueueName } from '#shared/queues/catalog';
import type { Queues } from '#shared/queues/connection';
import { queueCounts } from '#shared/metrics';
import { readCircuits } from '#shared/delivery/limits';
import type { CircuitState } from '#shared/delivery/breaker';
import type { AppDeps } from '../deps.ts';
import { paginate, type Page, mapPage } from '../http/pagination.ts';
import { attemptCounts, deadLettersQuery, findSubscription, subscriptionsQuery, toDeadLetter, type DeadLetterRow, type SubscriptionRow } from './repository.ts';
import type { DeadLetter, DeadLetterQuery, OpsSubscription, QueueStats, ReplayBody, SubscriptionHealthQuery, UnroutableEvent, UnroutableQuery } from './schema.ts';

type UnroutableRow = { event_id: string; installation_id: string; type: string; reason: 'unknown_installation' | 'unknown_event_type'; received_at: Date };

/** The accepted events nobody can route, newest first. */
export async function listUnroutable(db: Db, query: z.infer<typeof UnroutableQuery>): Promise<Page<z.infer<typeof UnroutableEvent>>> {
  const q = db('unroutable_events').select('event_id', 'installation_id', 'type', 'reason', 'received_at');
  if (query.reason) q.where('reason', query.reason);
  const page = await paginate<UnroutableRow>(db, q, query, { keys: ['received_at', 'id'], order: 'desc' });
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

/** What the subscription views read: Postgres, and the shared breaker in Redis under each subscription's shard. */
export type OpsViewDeps = Pick<AppDeps, 'db' | 'redis' | 'queues'>;

/** The shared circuits of subscriptions; if Redis does not answer, the view says `closed` rather than fail. */
async function circuitsOf(deps: OpsViewDeps, ids: string[]): Promise<Map<string, CircuitState>> {
  return readCircuits(deps.redis, deps.queues.shards, ids).catch(() => new Map<string, CircuitState>());
}

/**
 * An operator sets the ceiling on a subscription's requests started per second (null: none).
 * The partner's own limit may stay above a lowered ceiling: the lower of the two is enforced.
 * Returns the previous ceiling.
 */
export async function setRateCeiling(trx: Knex.Transaction, id: string, ceiling: number | null): Promise<number | null> {
  const row = await requireSubscription(trx, id);
  await trx('subscriptions').where({ id }).update({ max_rate_per_second: ceiling, updated_at: trx.fn.now() });
  return row.max_rate_per_second;
}

/** Dead letters, newest death first, filtered by subscription and time of death. */
export async function listDeadLetters(db: Db, query: z.infer<typeof DeadLetterQuery>): Promise<Page<DeadLetter>> {
  const q = deadLettersQuery(db);
  if (query.subscriptionId) q.where('m.subscription_id', query.subscriptionId);
  if (query.since) q.where('m.updated_at', '>=', query.since);
  const page = await paginate<DeadLetterRow>(db, q, query, { keys: ['m.updated_at', 'm.id'], order: 'desc' });
  return mapPage(page, toDeadLetter);
}

/**
 * Sends dead letters again through the engine's own requeue (they become pending with a fresh
 * delivery job); only messages still dead are touched, so a replay twice in a row sends once.
 * Returns the ids replayed.
 */
export async function replayDeadLetters(deps: Pick<AppDeps, 'db' | 'queues'>, request: z.infer<typeof ReplayBody>): Promise<string[]> {
  return requeueMessages(deps.db, deps.queues, (q) => {
    q.where('status', 'dead');
    if ('messageIds' in request) q.whereIn('id', request.messageIds);
    else q.where('subscription_id', request.subscriptionId).where('updated_at', '>=', request.since);
  });
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
  const q = subscriptionsQuery(db);
  const status = query.status ?? query.state;
  if (status) q.where('s.state', status);
  if (query.failing === 'true') q.whereNotNull('s.failing_since');
  if (query.failing === 'false') q.whereNull('s.failing_since');
  const page = await paginate<SubscriptionRow>(db, q, query, { keys: ['s.created_at', 's.id'] });
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
 * the partner saying why and a mail to its contact person), in the caller's transaction. Its
 * waiting messages are held, not dropped, until it is enabled. `count` is 0 when it was
 * already disabled (nothing changed); enqueue `mailIds` after the commit.
 */
export async function disableByOperator(
  trx: Knex.Transaction,
  id: string,
  reason: string | undefined,
  publicUrl: string | undefined,
): Promise<DisableOutcome> {
  await requireSubscription(trx, id);
  return disableSubscriptions(trx, new Map([[id, `disabled by an operator${reason ? `: ${reason}` : ''}`]]), publicUrl);
}

/**
 * An operator enables a disabled subscription: active again, with its failure streak cleared
 * (else the auto-disable would take it straight back). A paused one is the partner's to
 * resume: 409. Returns false when it was already active. Run in a transaction; release the
 * held messages after the commit.
 */
export async function enableByOperator(trx: Knex.Transaction, id: string): Promise<boolean> {
  const row = await requireSubscription(trx, id);
  if (row.state === 'paused') {
    throw new ConflictError('subscription_paused', `subscription ${id} is paused by its partner; only they can resume it`);
  }
  if (row.state === 'active') return false;
  await trx('subscriptions').where({ id }).update({
    state: 'active',
    disabled_reason: null,
    failing_since: null,
    consecutive_failures: 0,
    updated_at: trx.fn.now(),
  });
  return true;
}
